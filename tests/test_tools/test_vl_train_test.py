# Copyright (c) mmprompt contributors. All rights reserved.
"""Deep vision-language prompt methods end to end through the tools."""
import json
import os.path as osp
import re

import pytest
import torch
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, TORCHRUN, _run

from mmprompt.offline import make_procedural_dataset

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

CONFIGS = {
    'maple': 'configs/maple/maple_tinyclip_procdtd.py',
    'ivlp': 'configs/ivlp/ivlp_tinyclip_procdtd.py',
    'vpt': 'configs/vpt/vpt-deep_tinyclip_procdtd.py',
    'dapt': 'configs/dapt/dapt-diff-st_tinyclip_procdtd.py',
    'promptsrc': 'configs/promptsrc/promptsrc_tinyclip_procdtd.py',
}
#: What a checkpoint holds: the prompts (and DAPT's prototypes), no CLIP.
STATE_KEYS = {
    'maple': {'head.prompt_learner.ctx'}
    | {f'head.prompt_learner.deep_text_prompts.{i}'
       for i in range(2)} | {
           f'head.prompt_learner.coupling.{i}.{p}'
           for i in range(3)
           for p in ('weight', 'bias')
       },
    'ivlp': {'head.prompt_learner.ctx'}
    | {f'head.prompt_learner.deep_text_prompts.{i}'
       for i in range(3)}
    | {f'head.prompt_learner.vision_prompts.{i}'
       for i in range(4)},
    'vpt': {f'head.prompt_learner.vision_prompts.{i}'
            for i in range(4)},
    'dapt': {
        'head.prompt_learner.ctx', 'head.prompt_learner.vision_prompts.0',
        'head.prototypes'
    },
}
STATE_KEYS['promptsrc'] = STATE_KEYS['ivlp']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('procdtd'))
    make_procedural_dataset(root, num_train=4, num_val=1, num_test=2, seed=5)
    return root


def _options(data_root, **extra):
    opts = {
        f'{split}_dataloader.dataset.data_root': data_root
        for split in ('train', 'val', 'test')
    }
    opts.update({
        'train_dataloader.dataset.num_shots': 4,
        'val_dataloader.dataset.num_shots': 4,
        'train_dataloader.batch_size': 8,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'param_scheduler.1.T_max': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    })
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_train_then_test(method, data_root, tmp_path):
    config = osp.join(REPO, CONFIGS[method])
    work = str(tmp_path / method)
    log = _run(['tools/train.py', config, '--work-dir', work] +
               _options(data_root), REPO)
    # 15 base classes x 4 shots = 60 images, batch 8: 8 iterations.
    assert re.search(r'Epoch\(train\) +\[2\]\[8/8\]', log)
    ckpt = osp.join(work, 'epoch_2.pth')
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert set(state) == STATE_KEYS[method]
    # Prompts + coupling + SGD momentum; the tiny CLIP alone is 32 MB.
    assert osp.getsize(ckpt) < 1024 * 1024
    if method == 'dapt':
        assert 'Class prototypes of 15 classes from 60 augmented training ' \
            'images (seed 1).' in log
        assert 'prototype views of CoOpProceduralDTD (60 samples)' in log
    out = str(tmp_path / 'metrics.json')
    _run([
        'tools/test.py', config, ckpt, '--work-dir', work, '--out', out,
        '--out-item', 'metrics'
    ] + _options(data_root), REPO)
    with open(out) as f:
        metrics = json.load(f)
    assert set(metrics) == {'base/top1', 'new/top1', 'hm'}


def test_dapt_resume_reuses_the_stored_prototype_views(data_root, tmp_path):
    config = osp.join(REPO, CONFIGS['dapt'])
    work = str(tmp_path / 'dapt')
    _run(['tools/train.py', config, '--work-dir', work] +
         _options(data_root, **{'default_hooks.checkpoint.interval': 1}), REPO)
    log = _run([
        'tools/train.py', config, '--work-dir', work, '--resume',
        osp.join(work, 'epoch_1.pth')
    ] + _options(data_root), REPO)
    assert re.search(
        r'Feature store hit: prototype views of '
        r'CoOpProceduralDTD \(60 samples\) read from', log)
    assert re.search(r'Epoch\(train\) +\[2\]\[8/8\]', log)


def test_two_process_ddp_maple(data_root, tmp_path):
    config = osp.join(REPO, CONFIGS['maple'])
    work = str(tmp_path / 'ddp')
    log = _run(
        TORCHRUN + [
            'tools/train.py', config, '--work-dir', work, '--launcher',
            'pytorch'
        ] + _options(data_root), REPO)
    # 60 images, 30 per rank, batch 8: 4 iterations.
    assert re.search(r'Epoch\(train\) +\[2\]\[4/4\]', log)
    state = torch.load(
        osp.join(work, 'epoch_2.pth'), weights_only=False)['state_dict']
    assert set(state) == STATE_KEYS['maple']


def test_promptsrc_aggregates_the_prompts_and_resumes_exactly(
        data_root, tmp_path):
    config = osp.join(REPO, CONFIGS['promptsrc'])
    # N(1.5, 1): epochs 1 and 2 weigh 1/2 each, so the final prompts are
    # the mean of the two epochs' (and a resume must restore epoch 1's).
    gpa = {
        'default_hooks.prompt_aggregation.mean': 1.5,
        'default_hooks.checkpoint.interval': 1
    }
    full, part = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    log = _run(['tools/train.py', config, '--work-dir', full] +
               _options(data_root, **gpa), REPO)
    assert 'the 8 trainable tensors now hold their N(1.5, 1^2)' in log
    for key in ('loss_scl_text', 'loss_scl_image', 'loss_scl_logits'):
        assert re.search(key + r': [0-9.]+', log), key
    one = torch.load(osp.join(full, 'epoch_1.pth'), weights_only=False)
    two = torch.load(osp.join(full, 'epoch_2.pth'), weights_only=False)
    # The running sum after epoch 2 is what the model now holds.
    for name, value in two['gaussian_prompt_sum'].items():
        torch.testing.assert_close(two['state_dict'][name], value)
        torch.testing.assert_close(one['gaussian_prompt_sum'][name],
                                   0.5 * one['state_dict'][name])
    # As if the run had stopped after epoch 1.
    _run([
        'tools/train.py', config, '--work-dir', part, '--resume',
        osp.join(full, 'epoch_1.pth')
    ] + _options(data_root, **gpa), REPO)
    resumed = torch.load(osp.join(part, 'epoch_2.pth'), weights_only=False)
    torch.testing.assert_close(
        resumed['state_dict'], two['state_dict'], rtol=0, atol=0)
