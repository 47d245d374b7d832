# Copyright (c) mmprompt contributors. All rights reserved.
"""End to end through the user-facing tools: train -> test, resume, DDP."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmprompt.offline import make_synthetic_coop_dataset

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')
ZERO_SHOT = osp.join(REPO, 'configs/zeroshot/clip_tiny_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(16, 4, 6), seed=3)
    return root


def _run(args, cwd, timeout=300):
    env = dict(
        os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _fails(args, cwd, timeout=300):
    """Run a tool that must stop with a user error: its stderr."""
    env = dict(
        os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


def _options(data_root, epochs=4, **extra):
    opts = {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'param_scheduler.1.T_max': 4,
        'param_scheduler.1.end': 4,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    }
    opts.update(extra)
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def _losses(log_text):
    return [float(x) for x in re.findall(r'loss: ([0-9.]+)', log_text)]


def test_train_then_test_reports_base_new_h(data_root, tmp_path):
    work = str(tmp_path / 'coop')
    _run(['tools/train.py', CONFIG, '--work-dir', work] + _options(data_root),
         REPO)
    ckpt = osp.join(work, 'epoch_4.pth')
    # Only the prompts (and optimiser / scheduler state) are saved.
    state = torch.load(ckpt, weights_only=False)['state_dict']
    assert list(state) == ['head.prompt_learner.ctx']
    assert osp.getsize(ckpt) < 100 * 1024
    out = str(tmp_path / 'metrics.json')
    _run([
        'tools/test.py', CONFIG, ckpt, '--work-dir', work, '--out', out,
        '--out-item', 'metrics'
    ] + _options(data_root), REPO)
    with open(out) as f:
        metrics = json.load(f)
    assert set(metrics) == {'base/top1', 'new/top1', 'hm'}
    b, n = metrics['base/top1'], metrics['new/top1']
    assert metrics['hm'] == pytest.approx(2 * b * n / (b + n) if b + n else 0)
    # Nothing silent: a finished training is not "resumed" into nothing,
    # and a config that trains prompts is not tested untrained.
    err = _fails([
        'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path / 'again'), '--resume', ckpt
    ] + _options(data_root), REPO)
    assert re.search(
        r'error: --resume: checkpoint \S+epoch_4.pth is at '
        r'epoch 4 and train_cfg.max_epochs is 4, so nothing is '
        r'left to train', err)
    err = _fails(['tools/test.py', CONFIG, '--work-dir', work] +
                 _options(data_root), REPO)
    assert re.search(
        r"error: \S+coop_tiny_synthetic.py trains 1 parameter "
        r"tensor\(s\) \('head.prompt_learner.ctx'\), but no "
        r'checkpoint was given.*--untrained', err)
    # Zero-shot: the test tool without a checkpoint.
    text = _run([
        'tools/test.py', ZERO_SHOT, '--work-dir',
        str(tmp_path / 'zs'), '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ], REPO)
    assert re.search(r"'base/top1': [0-9.]+, 'new/top1'", text)


def test_resume_continues_exactly(data_root, tmp_path):
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    full_log = _run(['tools/train.py', CONFIG, '--work-dir', full] +
                    _options(data_root), REPO)
    _run(['tools/train.py', CONFIG, '--work-dir', part] +
         _options(data_root, epochs=2), REPO)
    resumed_log = _run(
        ['tools/train.py', CONFIG, '--work-dir', part, '--resume'] +
        _options(data_root), REPO)
    assert 'resumed epoch: 2' in resumed_log
    full_losses = _losses(full_log)
    resumed_losses = _losses(resumed_log)
    assert len(full_losses) == 2 * len(resumed_losses) > 0
    assert resumed_losses == full_losses[len(resumed_losses):]
    a = torch.load(osp.join(full, 'epoch_4.pth'), weights_only=False)
    b = torch.load(osp.join(part, 'epoch_4.pth'), weights_only=False)
    torch.testing.assert_close(
        a['state_dict'], b['state_dict'], rtol=0, atol=0)


# torchrun's standalone mode picks a free rendezvous port itself (choosing
# one here and passing it leaves a window for another process to take it).
TORCHRUN = [
    '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2'
]


def test_two_process_cpu_ddp_trains_and_tests(data_root, tmp_path):
    work = str(tmp_path / 'ddp')
    dist = TORCHRUN
    log = _run(
        dist + [
            'tools/train.py', CONFIG, '--work-dir', work, '--launcher',
            'pytorch'
        ] + _options(data_root), REPO)
    assert 'gloo' in log
    # 3 base classes x 16 shots = 48 images, 24 per rank, batch 16: 2 iters.
    assert re.search(r'Epoch\(train\) +\[4\]\[2/2\]', log)
    ckpt = osp.join(work, 'epoch_4.pth')
    log = _run(
        dist + [
            'tools/test.py', CONFIG, ckpt, '--work-dir', work, '--launcher',
            'pytorch'
        ] + _options(data_root), REPO)
    assert re.search(r"'base/top1': [0-9.]+, 'new/top1': [0-9.]+, 'hm'", log)


def test_coop_on_a_resnet_clip(data_root, tmp_path):
    # The tiny ResNet CLIP (attention-pool output) with CoOp: RN50's path.
    work = str(tmp_path / 'rn')
    rn = {
        'model.backbone.model_name': 'mmprompt-tiny-rn',
        'model.head.text_encoder.model_name': 'mmprompt-tiny-rn'
    }
    _run(['tools/train.py', CONFIG, '--work-dir', work] +
         _options(data_root, epochs=2, **rn), REPO)
    state = torch.load(
        osp.join(work, 'epoch_2.pth'), weights_only=False)['state_dict']
    assert list(state) == ['head.prompt_learner.ctx']
    text = _run([
        'tools/test.py', CONFIG,
        osp.join(work, 'epoch_2.pth'), '--work-dir', work
    ] + _options(data_root, **rn), REPO)
    assert re.search(r"'base/top1': [0-9.]+, 'new/top1'", text)
