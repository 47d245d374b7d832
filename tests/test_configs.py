# Copyright (c) mmprompt contributors. All rights reserved.
"""Every config in configs/ loads, names registered types and builds."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmprompt import registry

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)
REGISTRIES = [
    registry.MODELS, registry.DATASETS, registry.TRANSFORMS, registry.HOOKS,
    registry.METRICS, registry.PARAM_SCHEDULERS, registry.OPTIMIZERS,
    registry.OPTIM_WRAPPERS, registry.DATA_SAMPLERS, registry.VISUALIZERS,
    registry.VISBACKENDS, registry.LOOPS, registry.WEIGHT_INITIALIZERS
]
_BUILT = {}


def _types(node):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types(value)


def test_configs_are_found():
    names = {osp.relpath(p, osp.join(REPO, 'configs')) for p in CONFIGS}
    assert {'coop/coop_vitb16_dtd.py', 'zeroshot/clip_vitb16_dtd.py',
            'coop/coop_mmpretrain-vitb16_dtd.py', 'meta/meta_vitb16_dtd.py',
            'meta/meta_vitb16_10way_dtd.py', 'meta/meta_vitb16_20way_dtd.py',
            'meta/meta_tinyclip_procdtd.py'} <= names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmprompt'
    for name in _types(cfg._cfg_dict.to_dict()):
        assert any(r.get(name) is not None for r in REGISTRIES), \
            f'{name!r} in {path} is not a registered type'
    model_cfg = cfg.model
    # No weights can be downloaded here: random weights, same architecture
    # (the shipped 'procdtd' weights stay).
    if 'model_name' in model_cfg.backbone:
        if model_cfg.backbone.pretrained != 'procdtd':
            model_cfg.backbone.pretrained = None
            model_cfg.head.text_encoder.pretrained = None
    else:
        model_cfg.backbone.pop('init_cfg')
        model_cfg.neck.pop('init_cfg')
        model_cfg.head.text_encoder.pretrained = None
    key = repr(model_cfg.to_dict())
    if key not in _BUILT:  # many configs share a model: build it once
        _BUILT[key] = registry.MODELS.build(model_cfg)
    model = _BUILT[key]
    model.head.set_class_names(['banded', 'dotted'], template='{} texture.')
    size = {'mmprompt-tiny': 32, 'mmprompt-tinyclip': 64}.get(
        model_cfg.backbone.get('model_name'), 224)
    with torch.no_grad():
        logits = model(torch.randn(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, 2)
    trainable = {
        n.split('.')[1]
        for n, p in model.named_parameters() if p.requires_grad
    }
    # CLIP stays frozen: only prompts (and the meta method's fusion) train.
    expected = {'zeroshot': set(), 'coop': {'prompt_learner'},
                'meta': {'prompt_learner', 'fusion'}}
    method = osp.basename(osp.dirname(path))
    assert trainable == expected[method]
    assert all(p.requires_grad is (n.split('.')[1] in expected[method])
               for n, p in model.named_parameters())


@pytest.mark.parametrize('name,ways', [('meta_vitb16_dtd', 5),
                                       ('meta_vitb16_10way_dtd', 10),
                                       ('meta_vitb16_20way_dtd', 20)])
def test_meta_configs_have_the_papers_settings(name, ways):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'meta', f'{name}.py'))
    loader = cfg.train_dataloader
    sampler = loader.batch_sampler
    assert (sampler.type, sampler.num_ways, sampler.num_support,
            sampler.num_query, sampler.iters_per_epoch,
            loader.batch_size) == ('EpisodicBatchSampler', ways, 2, None, 10,
                                   4)
    assert (loader.dataset.type, loader.dataset.num_shots,
            loader.dataset.subsample) == ('CoOpDTD', 16, 'base')
    assert cfg.train_cfg.max_epochs == cfg.param_scheduler[1].T_max == 100
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 2e-3, 0.9, 5e-4)
    head = cfg.model.head
    assert head.type == 'MetaPromptClsHead'
    assert head.prompt_learner.ctx_init == 'a photo of a'
    assert (head.kl_loss.loss_weight, head.kl_direction,
            head.detach_mm) == (0.2, 'mm_text', False)
    assert [h.type for h in cfg.custom_hooks] == [
        'SetClassNamesHook', 'EpochSeedHook', 'MetaGapMonitorHook']


BENCHMARK = ('imagenet', 'caltech101', 'oxford-pets', 'stanford-cars',
             'oxford-flowers', 'food101', 'fgvc-aircraft', 'sun397', 'dtd',
             'eurosat', 'ucf101')
VARIANTS = ('imagenetv2', 'imagenet-sketch', 'imagenet-a', 'imagenet-r')


def _cfg(*parts):
    return Config.fromfile(osp.join(REPO, 'configs', *parts))


@pytest.mark.parametrize('name', BENCHMARK)
def test_protocol_configs_of_every_dataset(name):
    for method, stem in (('zeroshot', 'clip'), ('coop', 'coop')):
        b2n = _cfg(method, f'{stem}_vitb16_{name}.py')
        few = _cfg(method, f'{stem}_vitb16_{name}_fewshot.py')
        test = b2n.test_dataloader.dataset
        assert test.data_root == few.test_dataloader.dataset.data_root
        assert (test.split, test.subsample) == ('test', 'all')
        assert b2n.test_evaluator.type == 'BaseNewAccuracy'
        assert few.test_evaluator.type == 'Accuracy'
        assert few.test_dataloader.dataset.subsample == 'all'
        if method == 'coop':
            assert b2n.train_dataloader.dataset.subsample == 'base'
            assert few.train_dataloader.dataset.subsample == 'all'
            assert few.train_dataloader.dataset.num_shots == 16
            epochs = 50 if name == 'imagenet' else 200
            for cfg in (b2n, few):
                assert cfg.train_cfg.max_epochs == epochs
                assert cfg.param_scheduler[1].T_max == epochs
                # ImageNet's val split is its test split: no validation.
                assert (cfg.val_dataloader is None) is (name == 'imagenet')
                assert (cfg.val_cfg is None) is (name == 'imagenet')
        else:
            assert b2n.train_dataloader is None
    assert registry.DATASETS.get(test.type) is not None


@pytest.mark.parametrize('name', VARIANTS)
def test_domain_generalisation_targets_are_test_only(name):
    for method, stem in (('zeroshot', 'clip'), ('coop', 'coop')):
        cfg = _cfg(method, f'{stem}_vitb16_{name}.py')
        assert cfg.train_dataloader is None and cfg.val_dataloader is None
        assert cfg.test_dataloader.dataset.type.startswith('CoOpImageNet')
        assert cfg.test_evaluator.type == 'Accuracy'
