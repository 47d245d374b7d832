# Copyright (c) mmprompt contributors. All rights reserved.
"""The meta-training method end to end through the user-facing tools."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, TORCHRUN, _run

from mmprompt.offline import make_procedural_dataset

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

META = osp.join(REPO, 'configs/meta/meta_tinyclip_procdtd.py')
COOP = osp.join(REPO, 'configs/coop/coop_tinyclip_procdtd.py')
PLOT = osp.join(REPO, 'tools/analysis_tools/plot_meta_gap.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('procdtd'))
    make_procedural_dataset(root, num_train=16, num_val=1, num_test=2, seed=5)
    return root


def _options(data_root, **extra):
    opts = {
        f'{split}_dataloader.dataset.data_root': data_root
        for split in ('train', 'val', 'test')
    }
    opts.update({
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'param_scheduler.1.T_max': 2,
        'train_dataloader.batch_sampler.iters_per_epoch': 3,
        'custom_hooks.0.interval': 1,  # MetaGapMonitorHook
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    })
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def _test(config, ckpt, work, data_root, tmp_path, name, *options):
    out = str(tmp_path / f'{name}.json')
    _run([
        'tools/test.py', config, ckpt, '--work-dir', work, '--out', out,
        '--out-item', 'metrics', '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}', *options
    ], REPO)
    with open(out) as f:
        return json.load(f)


def test_meta_trains_monitors_the_gap_and_tests_text_only(data_root, tmp_path):
    work = str(tmp_path / 'meta')
    log = _run(['tools/train.py', META, '--work-dir', work] +
               _options(data_root), REPO)
    assert 'bound the 15 classes of the train dataset' in log
    assert re.search(
        r'Epoch\(train\) +\[2\]\[3/3\].*loss_cls: [0-9.]+ +'
        r'loss_kl: [0-9.]+ +acc_mm: [0-9.]+ +acc_text', log)
    gaps = re.findall(
        r'MetaGapMonitorHook: epoch (\d+): top-1 on 30 base '
        r'test images, multimodal prototypes ([0-9.]+), text '
        r'only ([0-9.]+), gap ([-+][0-9.]+)', log)
    assert [int(g[0]) for g in gaps] == [0, 1, 2]
    for _, mm, text, gap in gaps:
        assert float(gap) == pytest.approx(float(mm) - float(text), abs=0.02)

    # The checkpoint holds the prompts and the fusion, nothing of CLIP.
    ckpt = osp.join(work, 'epoch_2.pth')
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert {k.split('.')[1] for k in state} == {'prompt_learner', 'fusion'}
    assert 'head.prompt_learner.ctx' in state

    # Inference is text-only: the head built without its fusion (what the
    # test needs in memory) loads the checkpoint and scores the same.
    meta = _test(META, ckpt, work, data_root, tmp_path, 'meta')
    text_only = _test(META, ckpt, work, data_root, tmp_path, 'text',
                      'model.head.fusion=None')
    assert set(meta) == {'base/top1', 'new/top1', 'hm'}
    assert meta == text_only
    # The CoOp config refuses it: the checkpoint is another method's.
    proc = subprocess.run([
        sys.executable, 'tools/test.py', COOP, ckpt, '--work-dir', work,
        '--cfg-options', f'test_dataloader.dataset.data_root={data_root}'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(
                              os.environ,
                              HF_HUB_OFFLINE='1',
                              OMP_NUM_THREADS='1'))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert re.search(
        r'error: Checkpoint \S+epoch_2.pth does not fit the '
        r"model of config 'coop_tinyclip_procdtd.py'.*holds "
        r"keys the model does not have: 'head.fusion.*written "
        r"by config 'meta_tinyclip_procdtd.py'", proc.stderr)
    assert 'Traceback' not in proc.stderr

    # The gap curve from the work dir's logs.
    png = str(tmp_path / 'gap.png')
    text = _run([PLOT, work, '--labels', '5-way', '--out', png], REPO)
    rows = re.findall(r'^ +(\d+) +([0-9.]+) +([0-9.]+) +([-+][0-9.]+)$', text,
                      re.M)
    assert [(int(r[0]), r[1], r[2]) for r in rows] == [(int(g[0]), g[1], g[2])
                                                       for g in gaps]
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_plot_tool_explains_a_work_dir_without_gap_values(tmp_path):
    with pytest.raises(
            AssertionError,
            match=r'no meta_gap/mm_top1 values '
            r'under .*MetaGapMonitorHook'):
        _run([PLOT, str(tmp_path)], REPO)


def test_two_process_ddp_meta_training(data_root, tmp_path):
    work = str(tmp_path / 'ddp')
    dist = TORCHRUN
    log = _run(
        dist +
        ['tools/train.py', META, '--work-dir', work, '--launcher', 'pytorch'] +
        _options(
            data_root, **{
                'train_cfg.val_interval': 5,
                'train_dataloader.batch_sampler.'
                'iters_per_epoch': 2
            }), REPO)
    assert 'gloo' in log
    assert re.search(r'Epoch\(train\) +\[2\]\[2/2\]', log)
    # Measured on rank 0 only, logged once.
    assert len(re.findall(r'MetaGapMonitorHook: epoch 2:', log)) == 1
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
