# Copyright (c) mmprompt contributors. All rights reserved.
import os
import os.path as osp
import re
import subprocess
import sys

import open_clip
import pytest
import torch

from mmprompt.models import SHIPPED_WEIGHTS, TINYCLIP_MODEL, build_open_clip

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _pretrain(out, seed=0):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    proc = subprocess.run([
        sys.executable, 'tools/misc/pretrain_tinyclip.py', '--out', out,
        '--steps', '2', '--batch-size', '16', '--pool-per-class', '1',
        '--eval-per-class', '1', '--warmup', '1', '--seed',
        str(seed), '--threads', '1'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_pretraining_is_deterministic_and_open_clip_loadable(tmp_path):
    a, b = str(tmp_path / 'a.safetensors'), str(tmp_path / 'b.safetensors')
    log_a, log_b = _pretrain(a), _pretrain(b)
    losses = re.findall(r'loss ([0-9.]+)', log_a)
    assert losses and losses == re.findall(r'loss ([0-9.]+)', log_b)
    from safetensors.torch import load_file
    weights_a, weights_b = load_file(a), load_file(b)
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:  # same seed and one thread: same weights
        assert torch.equal(weights_a[key], weights_b[key]), key
    model = build_open_clip(TINYCLIP_MODEL, pretrained=a)  # open_clip-loadable
    embedding = model.token_embedding.weight
    kept = (embedding.abs().sum(dim=1) > 0).sum().item()
    assert 20 < kept < 1000, 'only the caption vocabulary is kept'


def test_shipped_weights_load_through_the_tag():
    path = SHIPPED_WEIGHTS[TINYCLIP_MODEL]['procdtd']
    assert osp.getsize(path) < 20 * 2**20
    model = build_open_clip(TINYCLIP_MODEL, pretrained='procdtd')
    direct = open_clip.create_model(TINYCLIP_MODEL, pretrained=path)
    torch.testing.assert_close(model.text_projection, direct.text_projection)
    assert model.logit_scale.exp().item() > 10, 'a trained temperature'
