# Copyright (c) mmprompt contributors. All rights reserved.
"""The feature store through the tools: one process and two (DDP)."""
import json
import os
import os.path as osp
import re

import pytest
import torch
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import CONFIG, REPO, TORCHRUN, _options, _run

from mmprompt.offline import make_synthetic_coop_dataset

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic-store'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(16, 4, 6), seed=3)
    return root


def _metrics(path):
    with open(path) as f:
        return json.load(f)


def test_ddp_runs_on_the_store_equal_runs_without(data_root, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv('MMPROMPT_FEATURE_STORE', str(tmp_path / 'store'))
    off = {
        'default_hooks.feature_store.test': False,
        'default_hooks.feature_store.val': False
    }
    exact = {'default_hooks.feature_store.train_views': 'exact'}
    ckpts = {}
    for name, extra in (('off', off), ('exact', exact)):
        work = str(tmp_path / name)
        log = _run(
            TORCHRUN + [
                'tools/train.py', CONFIG, '--work-dir', work, '--launcher',
                'pytorch'
            ] + _options(data_root, epochs=2, **extra), REPO)
        ckpts[name] = osp.join(work, 'epoch_2.pth')
        if name == 'exact':  # ranks encode their own batches, rank 0 writes
            assert 'Feature store miss: encoding epoch 1 training views of ' \
                'CoOpSynthetic (48 samples) on 2 processes.' in log
    state = {
        name: torch.load(path, weights_only=False)['state_dict']
        for name, path in ckpts.items()
    }
    assert torch.equal(state['off']['head.prompt_learner.ctx'],
                       state['exact']['head.prompt_learner.ctx'])
    # Testing on 2 processes with the store (a miss, then a hit) and on one
    # without it: the same metrics.
    results = []
    for name, dist, extra in (('miss', TORCHRUN, {}), ('hit', TORCHRUN, {}),
                              ('single', [], off)):
        out = str(tmp_path / f'{name}.json')
        log = _run(
            dist + [
                'tools/test.py', CONFIG, ckpts['off'], '--work-dir',
                str(tmp_path / f'test-{name}'), '--out', out, '--out-item',
                'metrics'
            ] + (['--launcher', 'pytorch'] if dist else []) +
            _options(data_root, epochs=2, **extra), REPO)
        results.append(_metrics(out))
        if name == 'hit':
            assert re.search(
                r'Feature store hit: test features of '
                r'CoOpSynthetic \(36 samples\) read from', log)
    assert results[0] == results[1]
    assert results[2] == pytest.approx(results[0], abs=1e-9)
    assert os.listdir(str(tmp_path / 'store'))
