# Copyright (c) mmprompt contributors. All rights reserved.
"""``tools/train.py --amp --amp-dtype``: bfloat16 also on the CPU."""
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import data_root  # noqa: F401  (a fixture)
from test_train_test import CONFIG, REPO, _fails, _options, _run  # noqa

from mmprompt.compat import _has_accelerator
from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS

cpu_only = pytest.mark.skipif(
    _has_accelerator(),
    reason='the CPU paths of AMP need a machine without '
    'CUDA/NPU/MLU/MUSA devices')


def _train_tool():
    spec = importlib.util.spec_from_file_location(
        'mmprompt_train_tool', osp.join(REPO, 'tools/train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train_tool():
    return _train_tool()


def _merged(train_tool, *argv):
    args = train_tool.parse_args([CONFIG, *argv])
    return train_tool.merge_args(Config.fromfile(CONFIG), args), args


def test_amp_dtype_sets_the_optim_wrapper_dtype(train_tool):
    cfg, _ = _merged(train_tool, '--amp', '--amp-dtype', 'bfloat16')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    # Plain --amp: float16 as in mmpretrain, unless the config says more.
    cfg, _ = _merged(train_tool, '--amp')
    assert cfg.optim_wrapper.dtype == 'float16'
    cfg, _ = _merged(train_tool, '--amp', '--cfg-options',
                     'optim_wrapper.dtype=bfloat16')
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    cfg, _ = _merged(train_tool)
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert 'dtype' not in cfg.optim_wrapper
    with pytest.raises(SystemExit):
        train_tool.parse_args([CONFIG, '--amp-dtype', 'bfloat16'])
    with pytest.raises(SystemExit):
        train_tool.parse_args([CONFIG, '--amp', '--amp-dtype', 'float32'])


def test_amp_keeps_prograds_two_gradient_update(train_tool):
    config = osp.join(REPO, 'configs/prograd/prograd_tinyclip_procdtd.py')
    cfg = train_tool.merge_args(
        Config.fromfile(config),
        train_tool.parse_args([config, '--amp', '--amp-dtype', 'bfloat16']))
    assert cfg.optim_wrapper.type == 'AmpProGradOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    cfg = train_tool.merge_args(
        Config.fromfile(config), train_tool.parse_args([config]))
    assert cfg.optim_wrapper.type == 'ProGradOptimWrapper'


@cpu_only
def test_float16_amp_on_cpu_is_a_clear_error(train_tool):
    for argv in (['--amp'], ['--amp', '--amp-dtype', 'float16']):
        cfg, args = _merged(train_tool, *argv)
        with pytest.raises(
                ConfigError,
                match=r'^--amp in float16 needs a CUDA \(or NPU/MLU/MUSA\) '
                r'device, and none is available; on the CPU mixed precision '
                r'works in bfloat16 only\. Pass --amp --amp-dtype bfloat16, '
                r'or train without --amp\.$'):
            train_tool.check_amp(cfg, args)
    cfg, args = _merged(train_tool, '--amp', '--amp-dtype', 'bfloat16')
    train_tool.check_amp(cfg, args)  # no error


@cpu_only
def test_amp_optim_wrapper_builds_on_cpu_in_bfloat16():
    model = torch.nn.Linear(4, 3)
    optim = dict(type='SGD', lr=0.1)
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='AmpOptimWrapper',
            dtype='bfloat16',
            loss_scale='dynamic',
            optimizer=optim))
    assert wrapper.cast_dtype is torch.bfloat16
    assert not wrapper.loss_scaler.is_enabled()  # bf16: no loss scaling
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') is torch.bfloat16
        y = model(x)
    assert y.dtype is torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(y.float().square().sum())
    assert not torch.equal(model.weight, before)
    assert wrapper.state_dict()['loss_scaler'] == {}
    for dtype in ('float16', None):
        cfg = dict(type='AmpOptimWrapper', optimizer=optim)
        if dtype:
            cfg['dtype'] = dtype
        with pytest.raises(
                ConfigError,
                match=rf"^AmpOptimWrapper with dtype={dtype!r} needs a CUDA "
                r'\(or NPU/MLU/MUSA\) device, and none is available; on the '
                r"CPU only bfloat16 autocast works: set optim_wrapper.dtype="
                r"'bfloat16' \(tools/train.py --amp --amp-dtype bfloat16\)"):
            build_optim_wrapper(model, cfg)


def test_prompt_learner_features_under_cpu_bfloat16_autocast():
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    head = model.head
    head.set_class_names(['cat', 'dog', 'big red car'], 'a photo of a {}.')
    model.train()
    images = torch.randn(2, 3, 32, 32)
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(0)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = head.prompt_learner(head.text_encoder)
        (image, ) = model.backbone(images)
        logits = head((image, ))
        loss = head.loss((image, ), samples)['loss']
    # The towers' matmuls run in bfloat16; the loss (cross entropy) and the
    # learned context stay float32, and so does the context's gradient.
    assert feats.dtype is torch.bfloat16 and feats.shape == (3, 64)
    assert image.dtype is torch.bfloat16
    assert logits.dtype is torch.bfloat16 and logits.shape == (2, 3)
    assert loss.dtype is torch.float32 and torch.isfinite(loss)
    loss.backward()
    ctx = head.prompt_learner.ctx
    assert ctx.dtype is torch.float32 and ctx.grad.dtype is torch.float32
    assert ctx.grad.abs().sum() > 0
    # Close to the float32 features (bfloat16 keeps ~3 significant digits).
    with torch.no_grad():
        full = head.prompt_learner(head.text_encoder)
    assert full.dtype is torch.float32
    torch.testing.assert_close(feats.float(), full, rtol=0.05, atol=0.05)


@cpu_only
@pytest.mark.slow
def test_train_tool_bfloat16_amp_on_cpu(data_root, tmp_path):  # noqa: F811
    work = str(tmp_path / 'bf16')
    log = _run([
        'tools/train.py', CONFIG, '--work-dir', work, '--amp', '--amp-dtype',
        'bfloat16'
    ] + _options(data_root, epochs=1), REPO)
    assert 'AmpOptimWrapper on the CPU: autocast in bfloat16' in log
    losses = [float(x) for x in re.findall(r'loss: ([0-9.]+)', log)]
    assert losses and all(0 < x < 10 for x in losses)
    dumped = Config.fromfile(osp.join(work, 'coop_tiny_synthetic.py'))
    assert dumped.optim_wrapper.type == 'AmpOptimWrapper'
    assert dumped.optim_wrapper.dtype == 'bfloat16'
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), weights_only=False)
    assert list(ckpt['state_dict']) == ['head.prompt_learner.ctx']
    assert ckpt['state_dict']['head.prompt_learner.ctx'].dtype is \
        torch.float32
    assert ckpt['optimizer']['loss_scaler'] == {}
    # float16 stops before anything is built, with the one-paragraph error.
    err = _fails([
        'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path / 'fp16'), '--amp', '--amp-dtype', 'float16'
    ] + _options(data_root, epochs=1), REPO)
    assert 'error: --amp in float16 needs a CUDA (or NPU/MLU/MUSA) device' \
        in err
    assert 'Pass --amp --amp-dtype bfloat16' in err
