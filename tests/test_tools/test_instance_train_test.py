# Copyright (c) mmprompt contributors. All rights reserved.
"""Instance-wise prompts and linear-probe CLIP through tools/train.py and
tools/test.py on the embedded tiny CLIP (single process and 2-process CPU
DDP)."""
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from sklearn.linear_model import LogisticRegression
from test_train_test import REPO, TORCHRUN, _run

from mmprompt.offline import make_procedural_dataset
from mmprompt.registry import DATASETS

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

INSTANCE = osp.join(REPO,
                    'configs/instance/instance_tinyclip_procdtd_fewshot4.py')
PROBE = osp.join(REPO, 'configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py')
NUM_CLASSES = 29


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('procdtd'))
    make_procedural_dataset(root, num_train=5, num_val=2, num_test=2, seed=5)
    return root


def _options(data_root, **extra):
    opts = {
        f'{split}_dataloader.dataset.data_root': data_root
        for split in ('train', 'val', 'test')
    }
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def _train_labels(config, data_root):
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = data_root
    with DefaultScope.overwrite_default_scope('mmprompt'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return dataset.get_gt_labels().tolist()


def _metrics(config, ckpt, work, data_root, tmp_path):
    out = str(tmp_path / 'metrics.json')
    _run([
        'tools/test.py', config, ckpt, '--work-dir', work, '--out', out,
        '--out-item', 'metrics'
    ] + _options(data_root), REPO)
    with open(out) as f:
        return json.load(f)


SHORT = {
    'train_cfg.max_epochs': 2,
    'train_cfg.val_interval': 2,
    'param_scheduler.1.T_max': 2,
    'default_hooks.checkpoint.interval': 2,
}


def test_instance_prompts_train_with_ddp_and_test(data_root, tmp_path):
    # Training runs on 2 CPU processes (the in-process single-process path
    # is the learning test's); the checkpoint is tested on one.
    work = str(tmp_path / 'instance')
    log = _run(
        TORCHRUN + [
            'tools/train.py', INSTANCE, '--work-dir', work, '--launcher',
            'pytorch'
        ] + _options(data_root, **SHORT), REPO)
    assert 'gloo' in log
    # 29 classes x 4 shots = 116 images, 58 per rank, batch 32: 2 iterations
    assert re.search(r'Epoch\(train\) +\[2\]\[2/2\]', log)
    ckpt = osp.join(work, 'epoch_2.pth')
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert sorted(state) == [
        'head.prompt_learner.ctx', 'head.prompt_learner.instance_ctx',
        'head.prompt_learner.instance_labels'
    ]
    assert state['head.prompt_learner.instance_ctx'].shape == (116, 4, 128)
    # instance i is training sample i
    assert state['head.prompt_learner.instance_labels'].tolist() == \
        _train_labels(INSTANCE, data_root)
    metrics = _metrics(INSTANCE, ckpt, work, data_root, tmp_path)
    assert set(metrics) == {'accuracy/top1'}
    assert 100 / NUM_CLASSES < metrics['accuracy/top1'] <= 100


def test_linear_probe_fits_the_same_on_one_or_two_processes(
        data_root, tmp_path):
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    log = _run(['tools/train.py', PROBE, '--work-dir', one] +
               _options(data_root), REPO)
    assert re.search(
        r'LinearProbeLoop: logistic regression on 116 '
        r'features of dim 128, C=\S+ \(searched on 58 '
        r'validation images', log)
    _run(
        TORCHRUN +
        ['tools/train.py', PROBE, '--work-dir', two, '--launcher', 'pytorch'] +
        _options(data_root), REPO)
    a = torch.load(osp.join(one, 'epoch_1.pth'), weights_only=False)
    b = torch.load(osp.join(two, 'epoch_1.pth'), weights_only=False)
    assert sorted(a['state_dict']) == ['head.fc.bias', 'head.fc.weight']
    # the ranks' features are gathered back into dataset order
    torch.testing.assert_close(a['state_dict'], b['state_dict'])
    metrics = _metrics(PROBE, osp.join(one, 'epoch_1.pth'), one, data_root,
                       tmp_path)
    assert set(metrics) == {'accuracy/top1'}
    assert metrics['accuracy/top1'] > 100 / NUM_CLASSES
    # the search history: 7 grid values and 2 x 8 bisection fits
    search = json.load(
        open(
            next(
                osp.join(one, d, 'linear_probe.json')
                for d in sorted(__import__('os').listdir(one))
                if osp.isfile(osp.join(one, d, 'linear_probe.json')))))
    assert len(search['search']) == 7 + 16
    assert search['C'] in [s['C'] for s in search['search'][-2:]]


def test_linear_probe_weights_are_sklearns(data_root, tmp_path):
    """The head predicts what scikit-learn's fit at the chosen C predicts."""
    from mmengine.runner import Runner

    from mmprompt.engine import extract_features
    cfg = Config.fromfile(PROBE)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_cfg.C = 0.5  # fixed: no search
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    feats, labels = extract_features(model, runner.train_dataloader)
    assert labels.tolist() == _train_labels(PROBE, data_root)
    reference = LogisticRegression(C=0.5, max_iter=1000).fit(feats, labels)
    with torch.no_grad():
        logits = model.head.fc(torch.as_tensor(feats))
    np.testing.assert_allclose(
        model.head.fc.weight.detach().numpy(),
        reference.coef_,
        rtol=1e-5,
        atol=1e-6)
    assert logits.argmax(1).tolist() == reference.predict(feats).tolist()


def test_linear_probe_errors(data_root, tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(PROBE)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path / 'a')
    cfg.experiment_name = 'lp_errors_a'  # two runners within one second
    with pytest.raises(ValueError, match='searches C on the validation'):
        Runner.from_cfg(cfg).train()
    cfg.train_cfg.C = 1.
    cfg.model.head.in_channels = 64
    cfg.work_dir = str(tmp_path / 'b')
    cfg.experiment_name = 'lp_errors_b'
    with pytest.raises(ValueError, match='in_channels=128'):
        Runner.from_cfg(cfg).train()
