# Copyright (c) mmprompt contributors. All rights reserved.
"""An mmpretrain image tower: kilobyte checkpoints, exact tools/test.py."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner

from mmprompt.cli import load_config
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import MODELS

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
    img_size=32,
    patch_size=8,
    pre_norm=True,
    out_type='cls_token',
    layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))
NECK = dict(type='CLIPProjectionNeck', in_channels=32, out_channels=64)
# coop_tiny_synthetic.py with the image tower of
# coop_mmpretrain-vitb16_dtd.py, tiny.
CONFIG = f"""
_base_ = [{osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')!r}]
model = dict(
    type='FrozenTowerClassifier',
    frozen=('backbone', 'neck'),
    backbone=dict(
        BACKBONE, _delete_=True,
        init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='visual.')),
    neck=dict(
        NECK,
        init_cfg=dict(
            type='Pretrained', checkpoint=CKPT, prefix='visual_proj.')))
"""


def test_checkpoint_is_small_and_tools_test_gives_the_same_scores(tmp_path):
    data = str(tmp_path / 'synthetic')
    make_synthetic_coop_dataset(
        data, num_classes=6, images_per_class=(16, 4, 6), seed=3)
    torch.manual_seed(100)
    backbone, neck = MODELS.build(BACKBONE), MODELS.build(NECK)
    backbone.init_weights()
    weights = {f'visual.{k}': v for k, v in backbone.state_dict().items()}
    weights['visual_proj.proj'] = neck.proj.detach()
    ckpt = str(tmp_path / 'clip_mmpretrain.pth')
    torch.save(weights, ckpt)
    config = str(tmp_path / 'coop_mmpretrain-tiny_synthetic.py')
    with open(config, 'w') as f:
        f.write(f'CKPT = {ckpt!r}\nBACKBONE = {BACKBONE!r}\n'
                f'NECK = {NECK!r}\n{CONFIG}')
    options = {
        'train_dataloader.dataset.data_root': data,
        'val_dataloader.dataset.data_root': data,
        'test_dataloader.dataset.data_root': data,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
    }
    work = str(tmp_path / 'work')
    cfg = load_config(config)
    cfg.merge_from_dict(options)
    cfg.work_dir = work
    runner = Runner.from_cfg(cfg)
    runner.train()
    trained = osp.join(work, 'trained.pkl')
    runner.test_evaluator.metrics.append(DumpResults(out_file_path=trained))
    runner.test()

    # The checkpoint holds the prompt only, as with open_clip's towers.
    epoch = osp.join(work, 'epoch_2.pth')
    state = torch.load(epoch, weights_only=False)['state_dict']
    assert list(state) == ['head.prompt_learner.ctx']
    assert osp.getsize(epoch) < 100 * 1024

    # A fresh process (which never calls init_weights) scores the same.
    fresh = str(tmp_path / 'fresh.pkl')
    # The same thread count as here: the same float sums.
    env = dict(
        os.environ,
        HF_HUB_OFFLINE='1',
        OMP_NUM_THREADS=str(torch.get_num_threads()),
        PYTHONPATH=REPO)
    proc = subprocess.run(
        [
            sys.executable, 'tools/test.py', config, epoch, '--work-dir',
            str(tmp_path / 'test'), '--out', fresh, '--cfg-options'
        ] + [f'{k}={v}' for k, v in options.items()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(trained, 'rb') as f:
        expected = pickle.load(f)
    with open(fresh, 'rb') as f:
        got = pickle.load(f)
    assert len(got) == len(expected) == 36
    for a, b in zip(got, expected):
        assert torch.equal(a['pred_score'], b['pred_score'])
