# Copyright (c) mmprompt contributors. All rights reserved.
"""TipAdapterHead (Tip-Adapter and Tip-Adapter-F) on tiny tensors, and
(slow) both methods in the offline world. The hook, the search and the loop
are tested in tests/test_engine/test_tip_adapter.py."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.engine.tip_adapter import TipAdapterHook
from mmprompt.errors import ConfigError
from mmprompt.models import TINY_MODEL
from mmprompt.models.heads.tip_adapter_head import (cache_logits,
                                                    tip_adapter_logits)
from mmprompt.registry import MODELS

TEMPLATE = 'a photo of a {}.'
CLASSES = ['banded', 'dotted', 'striped']
DEFAULT_ARGS = dict(
    type='TipAdapterHead',
    text_encoder=dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
    alpha=2.0,
    beta=1.0)


def _head(**kwargs):
    torch.manual_seed(0)
    head = MODELS.build(dict(DEFAULT_ARGS, **kwargs))
    head.set_class_names(CLASSES, TEMPLATE)
    return head


def _cache(num_per_class=2, dim=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(CLASSES)).repeat_interleave(num_per_class)
    keys = F.normalize(torch.randn(len(labels), dim, generator=g), dim=-1)
    return keys, F.one_hot(labels, len(CLASSES)).float()


def test_cache_logits_equal_the_direct_formula():
    g = torch.Generator().manual_seed(1)
    affinity = torch.rand(4, 6, generator=g) * 2 - 1
    values = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).float()
    beta = 3.5
    expected = torch.zeros(4, 3)
    for b in range(4):
        for m in range(6):
            expected[b] += torch.exp(-beta * (1 - affinity[b, m])) * values[m]
    assert torch.allclose(cache_logits(affinity, values, beta), expected)


def test_head_logits_are_clip_plus_alpha_times_cache():
    head = _head()
    keys, values = _cache()
    head.set_cache(keys, values)
    feats = torch.randn(5, 64)
    logits = head((feats, ))
    f = F.normalize(feats, dim=-1)
    w = head.text_features()
    expected = 100. * f @ w.t() + 2.0 * torch.exp(-1.0 *
                                                  (1 - f @ keys.t())) @ values
    assert logits.shape == (5, 3)
    assert torch.allclose(logits, expected, atol=1e-4)
    assert torch.allclose(
        tip_adapter_logits(f, w, keys, values, 2.0, 1.0, 100.),
        expected,
        atol=1e-4)
    # predict() fills the data samples with the same argmax
    preds = head.predict((feats, ), [DataSample() for _ in range(5)])
    assert [int(p.pred_label) for p in preds] == expected.argmax(1).tolist()


def test_finetune_keys_start_as_the_cache_keys_and_train():
    head = _head(finetune=True)
    assert isinstance(head.cache_keys, torch.nn.Parameter)
    param = head.cache_keys
    optimizer = torch.optim.AdamW([param], lr=1e-3, eps=1e-4)  # built first
    keys, values = _cache()
    head.set_cache(keys, values)
    assert head.cache_keys is param and param.requires_grad
    assert torch.equal(param.detach(), keys)
    head.train()
    feats = torch.randn(6, 64)
    samples = [DataSample().set_gt_label(i % 3) for i in range(6)]
    losses = head.loss((feats, ), samples)
    logits = head((feats, ))
    assert losses['loss'].item() == pytest.approx(
        F.cross_entropy(logits,
                        torch.arange(6) % 3).item(), rel=1e-5)
    optimizer.zero_grad()
    losses['loss'].backward()
    optimizer.step()
    assert not torch.equal(param.detach(), keys)
    # the training-free head has no trainable parameter
    plain = _head()
    assert not any(p.requires_grad for p in plain.parameters())
    assert not isinstance(plain.cache_keys, torch.nn.Parameter)


def test_checkpoint_holds_cache_alpha_beta_and_no_frozen_weights():
    head = _head(finetune=True)
    keys, values = _cache()
    head.set_cache(keys, values)
    head.set_alpha_beta(3.25, 5.5)
    state = head.state_dict()
    assert sorted(state) == [
        'alpha', 'beta', 'cache_classes', 'cache_keys', 'cache_labels'
    ]
    assert torch.equal(state['cache_labels'], values.argmax(1))
    # A fresh head (empty cache) takes the checkpoint's cache size.
    fresh = _head(finetune=True)
    assert fresh.cache_size == 0
    fresh.load_state_dict(state)
    assert torch.equal(fresh.cache_keys.detach(), keys)
    assert torch.equal(fresh.cache_values, values)
    assert float(fresh.alpha) == 3.25 and float(fresh.beta) == 5.5
    # (the frozen CLIP towers are left out of real checkpoints; the slow
    # test below checks a runner's checkpoint)


def test_head_errors():
    head = _head()
    feats = torch.randn(2, 64)
    samples = [DataSample().set_gt_label(0) for _ in range(2)]
    with pytest.raises(RuntimeError, match=r'no cache.*TipAdapterHook'):
        head.loss((feats, ), samples)
    # without a cache (a fresh model) the logits are zero-shot CLIP's
    assert torch.allclose(
        head((feats, )),
        100. * F.normalize(feats, dim=-1) @ head.text_features().t())
    keys, values = _cache()
    head.set_cache(keys, F.one_hot(values.argmax(1) % 2, 2).float())
    with pytest.raises(ConfigError, match=r'2 classes but the head is bound'):
        head((torch.randn(2, 64), ))
    with pytest.raises(ConfigError, match=r'do not fit'):
        head.set_cache(keys[:, :10], values)
    with pytest.raises(ConfigError, match=r'must be one-hot'):
        head.set_cache(keys, values * 0.5)
    with pytest.raises(ConfigError, match=r'alpha=-1.*non-negative'):
        _head(alpha=-1)
    with pytest.raises(ConfigError, match=r'has parameters.*Handcrafted'):
        _head(
            prompt_learner=dict(type='CoOpPromptLearner', ctx_init='a photo'))


# Offline world --------------------------------------------------------------
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(config, data_root, work_dir, train=True, options=None):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options or {})
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.feature_store.root = str(work_dir.parent / 'store')
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            loader.dataset.data_root = data_root
    cfg.default_hooks.logger.interval = 50
    runner = Runner.from_cfg(cfg)
    if train:
        runner.train()
    return runner.test(), runner


@pytest.mark.slow
def test_tip_adapter_and_tip_adapter_f_beat_zero_shot(tmp_path):
    from mmprompt.offline import make_procedural_dataset
    data_root = str(tmp_path / 'procdtd')
    make_procedural_dataset(
        data_root, num_train=4, num_val=4, num_test=12, seed=7)
    zero_shot, _ = _run(
        'configs/zeroshot/clip_tinyclip_procdtd_fewshot.py',
        data_root,
        tmp_path / 'zs',
        train=False)
    # 4 cache views instead of 10 and 5 epochs instead of 20 (one step
    # per epoch, batch 256 > 116 images), to keep the test short.
    tip, runner = _run(
        'configs/tip_adapter/tip-adapter_tinyclip_procdtd_fewshot4.py',
        data_root,
        tmp_path / 'tip',
        options={'default_hooks.tip_adapter.augment_epoch': 4})
    ckpt = torch.load(
        str(tmp_path / 'tip' / 'epoch_1.pth'),
        map_location='cpu',
        weights_only=False)
    assert sorted(ckpt['state_dict']) == [
        'head.alpha', 'head.beta', 'head.cache_classes', 'head.cache_keys',
        'head.cache_labels'
    ]
    assert ckpt['state_dict']['head.cache_keys'].shape == (116, 128)
    hook = next(h for h in runner.hooks if isinstance(h, TipAdapterHook))
    assert float(ckpt['state_dict']['head.alpha']) == pytest.approx(
        hook.result['alpha'])
    tip_f, runner = _run(
        'configs/tip_adapter/tip-adapter-f_tinyclip_procdtd_fewshot4.py',
        data_root,
        tmp_path / 'tipf',
        options={
            'default_hooks.tip_adapter.augment_epoch': 4,
            'train_cfg.max_epochs': 5,
            'train_cfg.val_interval': 5,
            'param_scheduler.0.T_max': 5,
            'param_scheduler.0.end': 5,
            'default_hooks.checkpoint.interval': 5,
        })
    ckpt = torch.load(
        str(tmp_path / 'tipf' / 'epoch_5.pth'),
        map_location='cpu',
        weights_only=False)
    assert not any('text_encoder' in k or 'backbone' in k
                   for k in ckpt['state_dict'])
    print(f'zero-shot {zero_shot}\nTip-Adapter {tip}\nTip-Adapter-F {tip_f}')
    assert tip['accuracy/top1'] > zero_shot['accuracy/top1'] + 2
    assert tip_f['accuracy/top1'] > zero_shot['accuracy/top1'] + 2
