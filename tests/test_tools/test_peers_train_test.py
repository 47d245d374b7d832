# Copyright (c) mmprompt contributors. All rights reserved.
"""KgCoOp and CoCoOp end to end through tools/train.py and tools/test.py."""
import json
import os.path as osp
import re

import pytest
import torch
# yapf: disable
from test_train_test import (CONFIG, REPO, TORCHRUN, _options, _run,  # noqa
                             data_root)

# yapf: enable

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

COCOOP = osp.join(REPO, 'configs/cocoop/cocoop_tiny_synthetic.py')


def _test_metrics(config, ckpt, work, root, tmp_path, ddp=False, **kw):
    out = str(tmp_path / f'metrics_ddp{ddp}.json')
    args = [
        'tools/test.py', config, ckpt, '--work-dir', work, '--out', out,
        '--out-item', 'metrics'
    ]
    if ddp:
        args = TORCHRUN + args + ['--launcher', 'pytorch']
    _run(args + _options(root, **kw), REPO)
    with open(out) as f:
        return json.load(f)


def test_kgcoop_trains_with_both_losses_and_tests(
        data_root,  # noqa: F811
        tmp_path):
    work = str(tmp_path / 'kgcoop')
    kg = {'model.head.type': 'KgCoOpHead'}
    log = _run(['tools/train.py', CONFIG, '--work-dir', work] +
               _options(data_root, **kg), REPO)
    kg_losses = [float(x) for x in re.findall(r'loss_kg: ([0-9.]+)', log)]
    assert len(kg_losses) >= 4 and max(kg_losses) > 0
    ckpt = osp.join(work, 'epoch_4.pth')
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert list(state) == ['head.prompt_learner.ctx']
    metrics = _test_metrics(CONFIG, ckpt, work, data_root, tmp_path, **kg)
    assert set(metrics) == {'base/top1', 'new/top1', 'hm'}


def test_cocoop_trains_with_ddp_and_tests(data_root, tmp_path):  # noqa: F811
    work = str(tmp_path / 'cocoop')
    log = _run(
        TORCHRUN + [
            'tools/train.py', COCOOP, '--work-dir', work, '--launcher',
            'pytorch'
        ] + _options(data_root), REPO)
    # 3 base classes x 16 shots = 48 images, 24 per rank, batch 16: 2 iters.
    assert re.search(r'Epoch\(train\) +\[4\]\[2/2\]', log)
    ckpt = osp.join(work, 'epoch_4.pth')
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert sorted(state) == [
        'head.prompt_learner.ctx', 'head.prompt_learner.meta_net.0.bias',
        'head.prompt_learner.meta_net.0.weight',
        'head.prompt_learner.meta_net.2.bias',
        'head.prompt_learner.meta_net.2.weight'
    ]
    one = _test_metrics(COCOOP, ckpt, work, data_root, tmp_path)
    assert set(one) == {'base/top1', 'new/top1', 'hm'}
    two = _test_metrics(COCOOP, ckpt, work, data_root, tmp_path, ddp=True)
    assert two == one
