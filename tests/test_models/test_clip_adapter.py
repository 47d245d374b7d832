# Copyright (c) mmprompt contributors. All rights reserved.
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from mmprompt.engine.feature_store import frozen_tower_reason
from mmprompt.errors import ConfigError, DataError
from mmprompt.models import TINY_MODEL
from mmprompt.offline import make_procedural_dataset
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATE = 'a photo of a {}.'
CLASSES = ['banded', 'dotted', 'striped']
TEXT_ENCODER = dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)


def _head(**kwargs):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='CLIPAdapterHead',
            text_encoder=TEXT_ENCODER,
            prompt_learner=dict(type='HandcraftedPrompts', templates=TEMPLATE),
            **kwargs))
    head.set_class_names(CLASSES, TEMPLATE)
    return head


def test_adapter_is_the_official_bottleneck():
    adapter = MODELS.build(dict(type='FeatureAdapter', in_channels=8))
    first, relu1, second, relu2 = adapter.fc
    assert first.weight.shape == (2, 8) and first.bias is None
    assert second.weight.shape == (8, 2) and second.bias is None
    x = torch.randn(5, 8)
    expected = F.relu(F.relu(x @ first.weight.t()) @ second.weight.t())
    torch.testing.assert_close(adapter(x), expected)
    assert (adapter(x) >= 0).all()


def test_head_blends_adapted_and_frozen_features_and_scores_the_texts():
    head = _head(ratio=0.3)
    assert head.adapter.in_channels == 64  # the embedding width by default
    x = torch.randn(4, 64)
    blended = 0.3 * head.adapter(x) + 0.7 * x
    torch.testing.assert_close(head.pre_logits((x, )), blended)
    text = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)
    logits = head.logit_scale * F.normalize(blended, dim=-1) @ text.t()
    torch.testing.assert_close(head((x, )), logits)
    # ratio 0 is zero-shot CLIP
    zero = _head(ratio=0.0)
    plain = zero.logit_scale * F.normalize(x, dim=-1) @ text.t()
    torch.testing.assert_close(zero((x, )), plain)


def test_only_the_adapter_trains_and_is_saved():
    head = _head()
    trainable = {n for n, p in head.named_parameters() if p.requires_grad}
    assert trainable == {'adapter.fc.0.weight', 'adapter.fc.2.weight'}
    assert set(head.state_dict()) == trainable
    samples = [DataSample().set_gt_label(i) for i in (0, 1, 2, 1)]
    loss = head.loss((torch.randn(4, 64), ), samples)['loss']
    loss.backward()
    assert head.adapter.fc[0].weight.grad is not None
    state = {k: v.clone() + 1 for k, v in head.state_dict().items()}
    other = _head()
    other.load_state_dict(state)  # strict: nothing else is expected
    torch.testing.assert_close(other.adapter.fc[0].weight,
                               state['adapter.fc.0.weight'])


@pytest.mark.parametrize('ratio', [-0.1, 1.5, '0.2', True])
def test_ratio_outside_the_unit_interval_is_an_error(ratio):
    with pytest.raises(ConfigError, match=r'ratio must be a number in \[0, 1'):
        _head(ratio=ratio)


def test_feature_width_mismatches_are_errors():
    with pytest.raises(ConfigError, match='in_channels=32 but the text enc'):
        _head(adapter=dict(type='FeatureAdapter', in_channels=32))
    with pytest.raises(ConfigError, match='reduction must be an int'):
        MODELS.build(dict(type='FeatureAdapter', in_channels=8, reduction=0))
    with pytest.raises(ConfigError, match='in_channels must be a positive'):
        MODELS.build(dict(type='FeatureAdapter', in_channels=0))
    head = _head()
    with pytest.raises(
            DataError,
            match=r'expects \(B, 64\) features, got '
            r'shape \(2, 32\)'):
        head((torch.randn(2, 32), ))


def test_the_feature_store_serves_clip_adapter():
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs/clip_adapter/'
            'clip-adapter_tinyclip_procdtd_fewshot4.py'))
    assert cfg.default_hooks.feature_store.train_views == 'exact'
    model = MODELS.build(cfg.model)
    assert frozen_tower_reason(model) is None


@pytest.mark.slow
def test_clip_adapter_beats_zero_shot_in_the_offline_world(tmp_path):
    root = str(tmp_path / 'procdtd')
    make_procedural_dataset(root, num_train=8, num_val=2, num_test=12, seed=7)

    def run(config, work_dir, options=None):
        cfg = Config.fromfile(osp.join(REPO, config))
        cfg.merge_from_dict(options or {})
        cfg.work_dir = str(tmp_path / work_dir)
        for split in ('train', 'val', 'test'):
            if cfg.get(f'{split}_dataloader'):
                cfg[f'{split}_dataloader'].dataset.data_root = root
        cfg.default_hooks.logger.interval = 50
        runner = Runner.from_cfg(cfg)
        if cfg.get('train_cfg'):
            runner.train()
        return runner.test()

    zero_shot = run('configs/zeroshot/clip_tinyclip_procdtd_fewshot.py', 'zs')
    # A fast test: 100 epochs at lr 0.01 instead of 200 at 0.002, on 4 fast
    # views per image encoded once (train_views=4) instead of one exact view
    # per epoch (the config's schedule is measured in
    # configs/clip_adapter/README.md).
    adapter = run(
        'configs/clip_adapter/clip-adapter_tinyclip_procdtd_fewshot4.py', 'ca',
        {
            'train_cfg.max_epochs': 100,
            'train_cfg.val_interval': 101,
            'optim_wrapper.optimizer.lr': 0.01,
            'default_hooks.checkpoint.interval': 100,
            'default_hooks.feature_store.train_views': 4
        })
    print(f'zero-shot {zero_shot}\nCLIP-Adapter {adapter}')
    assert adapter['accuracy/top1'] > zero_shot['accuracy/top1'] + 3
