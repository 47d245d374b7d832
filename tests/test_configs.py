# Copyright (c) mmprompt contributors. All rights reserved.
"""Every config in configs/ loads, names registered types and builds."""
import functools
import glob
import importlib.util
import os.path as osp
import re
import shutil
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.priority import get_priority

from mmprompt import registry

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
REGISTRIES = [
    registry.MODELS, registry.DATASETS, registry.TRANSFORMS, registry.HOOKS,
    registry.METRICS, registry.PARAM_SCHEDULERS, registry.OPTIMIZERS,
    registry.OPTIM_WRAPPERS, registry.DATA_SAMPLERS, registry.VISUALIZERS,
    registry.VISBACKENDS, registry.LOOPS, registry.WEIGHT_INITIALIZERS,
    registry.TASK_UTILS
]
#: Model config -> {parameter name: requires_grad} of the model it built
#: (the models themselves are not kept: dozens of ViT-B/16s do not fit).
_BUILT = {}
#: The default_hooks entries of configs/_base_/default_runtime.py.
PROMPT_HOOKS = dict(
    class_names='SetClassNamesHook', epoch_seed='EpochSeedHook')
#: mmengine's Runner takes each loop's three settings all or none (else it
#: raises before building anything).
LOOPS = (('train_dataloader', 'train_cfg',
          'optim_wrapper'), ('val_dataloader', 'val_cfg', 'val_evaluator'),
         ('test_dataloader', 'test_cfg', 'test_evaluator'))


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
    assert {
        'coop/coop_vitb16_dtd.py', 'zeroshot/clip_vitb16_dtd.py',
        'coop/coop_mmpretrain-vitb16_dtd.py', 'meta/meta_vitb16_dtd.py',
        'meta/meta_vitb16_10way_dtd.py', 'meta/meta_vitb16_20way_dtd.py',
        'meta/meta_tinyclip_procdtd.py'
    } <= names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmprompt'
    for name in _types(cfg._cfg_dict.to_dict()):
        assert any(r.get(name) is not None for r in REGISTRIES), \
            f'{name!r} in {path} is not a registered type'
    for keys in LOOPS:
        given = {key: cfg.get(key) is not None for key in keys}
        assert len(set(given.values())) == 1, \
            f'{path}: the Runner needs all or none of {given}'
    assert cfg.get('test_dataloader') is not None, f'{path} cannot be tested'
    method = osp.basename(osp.dirname(path))
    # The hooks every prompt config needs are default_hooks entries (merged
    # key by key), never custom_hooks (a list a leaf replaces wholesale).
    hooks = {name: hook.type for name, hook in cfg.default_hooks.items()}
    listed = [hook.type for hook in cfg.get('custom_hooks') or []]
    assert not set(PROMPT_HOOKS.values()) & set(listed), path
    if method == 'linear_probe':  # a linear head binds no class names
        assert not set(PROMPT_HOOKS.values()) & set(hooks.values()), path
    else:
        assert PROMPT_HOOKS.items() <= hooks.items(), path
    model_cfg = cfg.model
    # No weights can be downloaded here: random weights, same architecture
    # (the shipped 'procdtd' weights stay).
    if 'model_name' in model_cfg.backbone:
        if model_cfg.backbone.pretrained != 'procdtd':
            model_cfg.backbone.pretrained = None
            if 'text_encoder' in model_cfg.head:  # not linear probes
                model_cfg.head.text_encoder.pretrained = None
    else:
        model_cfg.backbone.pop('init_cfg')
        model_cfg.neck.pop('init_cfg')
        model_cfg.head.text_encoder.pretrained = None
    if 'num_shots' in model_cfg.head.get('prompt_learner', {}):
        # 2 classes x 1 shot keeps the RN50 text passes of the instance-wise
        # configs short (their real sizes are checked below)
        model_cfg.head.prompt_learner.update(num_classes=2, num_shots=1)
    key = repr(model_cfg.to_dict())
    if key not in _BUILT:  # many configs share a model: build and run once
        model = registry.MODELS.build(model_cfg)
        head = model.head
        # instance-wise prompts and linear probes are sized for the dataset
        learner = getattr(head, 'prompt_learner', None)
        num = getattr(learner, 'num_train_classes', None) or getattr(
            head, 'num_classes', 2)
        if hasattr(head, 'set_class_names'):
            head.set_class_names([f'class {i}' for i in range(num)],
                                 '{} texture.')
        if hasattr(head, 'set_instance_labels'):
            head.set_instance_labels(
                [i % num for i in range(learner.num_instances)])
        size = {
            'mmprompt-tiny': 32,
            'mmprompt-tinyclip': 64
        }.get(model_cfg.backbone.get('model_name'), 224)
        with torch.no_grad():
            logits = model(torch.randn(1, 3, size, size), mode='tensor')
        assert logits.shape == (1, num)
        _BUILT[key] = {n: p.requires_grad for n, p in model.named_parameters()}
        del model
    grads = _BUILT[key]
    trainable = {n.split('.')[1] for n, grad in grads.items() if grad}
    # CLIP stays frozen: only prompts (and the meta method's fusion) train.
    expected = {
        'zeroshot':
        set(),
        'coop': {'prompt_learner'},
        'meta': {'prompt_learner', 'fusion'},
        'maple': {'prompt_learner'},
        'ivlp': {'prompt_learner'},
        'vpt': {'prompt_learner'},
        'dapt': {'prompt_learner'},
        'instance': {'prompt_learner'},
        'linear_probe': {'fc'},
        'kgcoop': {'prompt_learner'},
        'cocoop': {'prompt_learner'},
        'promptsrc': {'prompt_learner'},
        'rpo': {'prompt_learner'},
        'prograd': {'prompt_learner'},
        'clip_adapter': {'adapter'},
        'lfa': {'weight'},
        # Tip-Adapter trains nothing; Tip-Adapter-F trains its cache keys
        'tip_adapter':
        ({'cache_keys'}
         if osp.basename(path).startswith('tip-adapter-f_') else set()),
    }
    assert trainable == expected[method]
    assert all(
        grad is (n.split('.')[1] in expected[method])
        for n, grad in grads.items())


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
    assert cfg.train_cfg.max_epochs == _t_max(cfg) == 100
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 2e-3, 0.9, 5e-4)
    head = cfg.model.head
    assert head.type == 'MetaPromptClsHead'
    assert head.prompt_learner.ctx_init == 'a photo of a'
    assert (head.kl_loss.loss_weight, head.kl_direction,
            head.detach_mm) == (0.2, 'mm_text', False)
    assert [h.type for h in cfg.custom_hooks] == ['MetaGapMonitorHook']
    assert [type(h).__name__ for h in _hooks(cfg)[2:5]
            ] == ['EpochSeedHook', 'SetClassNamesHook', 'IterTimerHook']


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
                assert _t_max(cfg) == epochs
                # ImageNet's val split is its test split: no validation.
                assert (cfg.val_dataloader is None) is (name == 'imagenet')
                assert (cfg.val_cfg is None) is (name == 'imagenet')
        else:
            assert b2n.train_dataloader is None
    assert registry.DATASETS.get(test.type) is not None


def _peer_head(method, name, batch_size, epochs):
    """The settings a CoOp peer shares with CoOp's config (same data, SGD
    lr 2e-3, cosine) and its own batch and epochs; returns its head."""
    cfg = _cfg(method, f'{method}_vitb16_{name}.py')
    coop = _cfg('coop', f'coop_vitb16_{name}.py')
    assert cfg.train_dataloader.dataset == coop.train_dataloader.dataset
    assert cfg.test_dataloader.dataset == coop.test_dataloader.dataset
    assert cfg.train_dataloader.batch_size == batch_size
    assert cfg.train_cfg.max_epochs == _t_max(cfg) == epochs
    assert cfg.optim_wrapper.optimizer.lr == 2e-3
    assert (cfg.val_cfg is None) is (name == 'imagenet')
    return cfg.model.head


@pytest.mark.parametrize('name', BENCHMARK)
def test_kgcoop_and_cocoop_configs_have_the_papers_settings(name):
    head = _peer_head('kgcoop', name, batch_size=128, epochs=100)
    assert (head.type, head.prompt_learner.ctx_init,
            head.loss_kg.loss_weight) == ('KgCoOpHead', 'a photo of a', 8.)
    # KgCoOp's own template on DTD; CoOp's per-dataset one elsewhere.
    assert head.knowledge_prompts.templates == (
        'a photo of a {}, a type of texture.' if name == 'dtd' else 'dataset')
    head = _peer_head('cocoop', name, batch_size=1, epochs=10)
    assert (head.type, head.prompt_learner.type, head.prompt_learner.ctx_init,
            head.prompt_learner.reduction) == ('CoCoOpHead',
                                               'CoCoOpPromptLearner',
                                               'a photo of a', 16)


@pytest.mark.parametrize('name', VARIANTS)
def test_domain_generalisation_targets_are_test_only(name):
    for method, stem in (('zeroshot', 'clip'), ('coop', 'coop')):
        cfg = _cfg(method, f'{stem}_vitb16_{name}.py')
        assert cfg.train_dataloader is None and cfg.val_dataloader is None
        assert cfg.test_dataloader.dataset.type.startswith('CoOpImageNet')
        assert cfg.test_evaluator.type == 'Accuracy'


def _t_max(cfg):
    """The cosine's ``T_max`` as the runner builds it (``end`` defaults to
    ``train_cfg.max_epochs``, which ``DasslCosineLR`` anneals over)."""
    cosine = dict(cfg.param_scheduler[1])
    cosine.setdefault('end', cfg.train_cfg.max_epochs)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    with DefaultScope.overwrite_default_scope('mmprompt'):
        return registry.PARAM_SCHEDULERS.build(
            cosine, default_args=dict(optimizer=optimizer)).T_max


def _schedule(cfg):
    optimizer = cfg.optim_wrapper.optimizer
    return (cfg.train_dataloader.batch_size, cfg.train_cfg.max_epochs,
            _t_max(cfg), optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay)


@pytest.mark.parametrize('name', BENCHMARK)
def test_deep_prompt_configs_have_the_official_settings(name):
    learners = {
        'maple': ('maple', 'MaPLePromptLearner', 0.0035,
                  dict(n_ctx=2, ctx_init='a photo of a', depth=9)),
        'ivlp':
        ('ivlp', 'IVLPPromptLearner', 0.0035,
         dict(n_ctx=2, n_vision_ctx=2, ctx_init='a photo of a', depth=12)),
        'vpt': ('vpt-deep', 'VPTDeepPromptLearner', 0.0025,
                dict(n_vision_ctx=8, depth=12, phrase='a photo of a')),
        'promptsrc':
        ('promptsrc', 'IVLPPromptLearner', 0.0025,
         dict(n_ctx=4, n_vision_ctx=4, ctx_init='a photo of a', depth=9)),
    }
    for method, (stem, learner, lr, options) in learners.items():
        cfg = _cfg(method, f'{stem}_vitb16_{name}.py')
        assert cfg.model.type == 'VLPromptClassifier'
        prompts = cfg.model.head.prompt_learner
        assert prompts.type == learner
        assert {k: prompts[k] for k in options} == options
        epochs = 20 if method == 'promptsrc' else 5
        assert _schedule(cfg) == (4, epochs, epochs, 'SGD', lr, 0.9, 5e-4)
        dataset = cfg.train_dataloader.dataset
        assert (dataset.num_shots, dataset.subsample) == (16, 'base')
        assert (cfg.val_cfg is None) is (name == 'imagenet')
    head = cfg.model.head  # PromptSRC's
    assert 'frozen_feats_in_loss' not in cfg.model  # the head declares it
    assert (head.type, head.knowledge_prompts.templates,
            head.knowledge_prompts.average, head.loss_text.loss_weight,
            head.loss_image.loss_weight, head.loss_kl.loss_weight,
            head.loss_kl.reduction) == ('PromptSRCHead', 'promptsrc60', 'raw',
                                        25., 10., 1., 'elementwise_mean')
    assert cfg.default_hooks.prompt_aggregation == dict(
        type='GaussianPromptAggregationHook', mean=15, std=1)


@pytest.mark.parametrize('method', ['maple', 'cocoop', 'kgcoop', 'promptsrc'])
def test_cross_dataset_source_and_targets_share_the_model(method):
    source = _cfg(method, f'{method}-xd_vitb16_imagenet.py')
    prompts = source.model.head.prompt_learner
    shots = 16
    if method == 'maple':
        assert (prompts.type, prompts.n_ctx,
                prompts.depth) == ('MaPLePromptLearner', 2, 3)
        assert _schedule(source) == (4, 2, 2, 'SGD', 0.0026, 0.9, 5e-4)
    elif method == 'cocoop':  # CoCoOp's base-to-new settings
        assert (source.model.head.type,
                prompts.type) == ('CoCoOpHead', 'CoCoOpPromptLearner')
        assert _schedule(source) == (1, 10, 10, 'SGD', 0.002, 0.9, 5e-4)
    elif method == 'kgcoop':  # KgCoOp's scripts/xd_train.sh: 4 shots
        assert (source.model.head.type, source.model.head.loss_kg.loss_weight,
                prompts.type, prompts.ctx_init) == ('KgCoOpHead', 8.,
                                                    'CoOpPromptLearner',
                                                    'a photo of a')
        assert _schedule(source) == (128, 100, 100, 'SGD', 0.002, 0.9, 5e-4)
        shots = 4
    else:  # PromptSRC's vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets
        assert (source.model.head.type, prompts.type, prompts.n_ctx,
                prompts.n_vision_ctx,
                prompts.depth) == ('PromptSRCHead', 'IVLPPromptLearner', 4, 4,
                                   3)
        assert _schedule(source) == (4, 20, 20, 'SGD', 0.0025, 0.9, 5e-4)
        assert source.default_hooks.prompt_aggregation == dict(
            type='GaussianPromptAggregationHook', mean=6, std=10)
    dataset = source.train_dataloader.dataset
    assert (dataset.type, dataset.num_shots,
            dataset.subsample) == ('CoOpImageNet', shots, 'all')
    # ImageNet's val split is its test split: no validation loop.
    assert source.val_dataloader is None and source.val_cfg is None
    for name in BENCHMARK[1:] + VARIANTS:
        target = _cfg(method, f'{method}-xd_vitb16_{name}.py')
        assert target.model == source.model
        # Test-only: tools/test.py loads the source's checkpoint.
        assert target.train_dataloader is None and target.get(
            'train_cfg') is None
        assert target.val_dataloader is None
        assert target.test_evaluator.type == 'Accuracy'
        assert target.test_dataloader.dataset.get('subsample', 'all') == 'all'


@pytest.mark.parametrize('name', BENCHMARK)
def test_promptsrc_few_shot_configs_have_the_official_settings(name):
    # Official vit_b16_c2_ep50_batch4_4+4ctx_few_shot.yaml: 50 epochs for
    # every K; GPA N(30, 30) on six datasets, N(45, 5) on the other five.
    cfg = _cfg('promptsrc', f'promptsrc_vitb16_{name}_fewshot.py')
    prompts = cfg.model.head.prompt_learner
    assert (prompts.type, prompts.n_ctx, prompts.n_vision_ctx,
            prompts.depth) == ('IVLPPromptLearner', 4, 4, 9)
    assert _schedule(cfg) == (4, 50, 50, 'SGD', 0.0025, 0.9, 5e-4)
    dataset = cfg.train_dataloader.dataset
    assert (dataset.num_shots, dataset.subsample) == (16, 'all')
    assert cfg.test_evaluator.type == 'Accuracy'
    assert (cfg.val_cfg is None) is (name == 'imagenet')
    wide = name in ('imagenet', 'caltech101', 'oxford-pets', 'food101',
                    'ucf101', 'sun397')
    assert cfg.default_hooks.prompt_aggregation == dict(
        type='GaussianPromptAggregationHook',
        mean=30 if wide else 45,
        std=30 if wide else 5)


#: DAPT's official (lr, beta_v, beta_t) per dataset.
DAPT = {
    'caltech101': (0.2, 10, 0.01),
    'dtd': (20, 100, 0.01),
    'eurosat': (20, 100, 10),
    'fgvc-aircraft': (2, 100, 0.01),
    'food101': (20, 10, 0.01),
    'imagenet': (2, 0.01, 0.01),
    'oxford-flowers': (0.002, 10, 0.01),
    'oxford-pets': (0.02, 10, 0.1),
    'stanford-cars': (0.002, 100, 0.1),
    'sun397': (20, 100, 0.01),
    'ucf101': (20, 0.1, 0.1)
}
DAPT_EPOCHS = {1: 50, 2: 100, 4: 100, 8: 200, 16: 200}


@pytest.mark.parametrize('name', BENCHMARK)
def test_dapt_configs_have_the_official_settings(name):
    lr, beta_v, beta_t = DAPT[name]
    for shots, epochs in DAPT_EPOCHS.items():
        cfg = _cfg('dapt', f'dapt_vitb16_{name}_{shots}shot.py')
        epochs = 50 if name == 'imagenet' else epochs
        assert _schedule(cfg) == (32, epochs, epochs, 'SGD', lr, 0.9, 5e-4)
        head = cfg.model.head
        assert (head.type, head.prompt_learner.type) == ('DAPTHead',
                                                         'DAPTPromptLearner')
        assert (head.loss_intra.loss_weight,
                head.loss_inter.loss_weight) == (beta_v, beta_t)
        assert (head.prompt_learner.n_ctx, head.prompt_learner.n_vision_ctx,
                head.prompt_learner.ctx_init) == (16, 16, None)
        dataset = cfg.train_dataloader.dataset
        assert (dataset.num_shots, dataset.subsample) == (shots, 'all')
        assert cfg.test_evaluator.type == 'Accuracy'
        assert cfg.default_hooks.class_prototypes.type == 'ClassPrototypeHook'
        assert (cfg.val_cfg is None) is (name == 'imagenet')
        if name == 'imagenet':
            assert cfg.val_dataloader is None
        else:  # the val split is sampled too: min(shots, 4) per class
            assert cfg.val_dataloader.dataset.num_shots == shots
        if name not in ('eurosat', 'oxford-pets'):
            continue
        for init, kind in (('same-st', 'SameSTPromptInit'),
                           ('diff-st', 'DiffSTPromptInit')):
            variant = _cfg('dapt', f'dapt-{init}_vitb16_{name}_{shots}shot.py')
            # The whole config equals its DAPT leaf's but for ctx_init.
            expected = cfg._cfg_dict.to_dict()
            actual = variant._cfg_dict.to_dict()
            assert expected['model']['head']['prompt_learner'].pop(
                'ctx_init') is None
            assert actual['model']['head']['prompt_learner'].pop(
                'ctx_init') == dict(
                    type=kind, scale=0.1, noise='unit')
            assert actual == expected


@pytest.mark.parametrize(
    'name', ['oxford-flowers', 'caltech101', 'oxford-pets', 'fgvc-aircraft'])
def test_rn50_baselines_of_the_instance_wise_table(name):
    coop = _cfg('coop', f'coop_rn50_{name}_fewshot4.py')
    zero_shot = _cfg('zeroshot', f'clip_rn50_{name}_fewshot.py')
    for cfg in (coop, zero_shot):
        assert cfg.model.backbone.model_name == 'RN50'
        assert cfg.model.head.text_encoder.model_name == 'RN50'
        assert cfg.model.backbone.pretrained == 'openai'
        assert cfg.test_evaluator.type == 'Accuracy'
    prompts = coop.model.head.prompt_learner
    assert (prompts.type, prompts.n_ctx,
            prompts.ctx_init) == ('CoOpPromptLearner', 16, None)
    assert coop.train_dataloader.dataset.num_shots == 4
    assert coop.train_dataloader.dataset.subsample == 'all'
    assert _schedule(coop) == (32, 100, 100, 'SGD', 0.002, 0.9, 5e-4)
    assert zero_shot.train_dataloader is None


RN50_TABLE = {
    'oxford-flowers': 102,
    'caltech101': 100,
    'oxford-pets': 37,
    'fgvc-aircraft': 100
}


@pytest.mark.parametrize('name', sorted(RN50_TABLE))
def test_instance_and_linear_probe_configs_of_the_rn50_table(name):
    num_classes = RN50_TABLE[name]
    instance = _cfg('instance', f'instance_rn50_{name}_fewshot4.py')
    probe = _cfg('linear_probe', f'lp_rn50_{name}_fewshot4.py')
    coop = _cfg('coop', f'coop_rn50_{name}_fewshot4.py')
    for cfg in (instance, probe):
        assert cfg.model.backbone.model_name == 'RN50'
        assert cfg.model.backbone.pretrained == 'openai'
        assert cfg.test_evaluator.type == 'Accuracy'
        for split in ('train', 'val', 'test'):
            assert cfg[f'{split}_dataloader'].dataset == dict(
                coop[f'{split}_dataloader'].dataset,
                pipeline=cfg[f'{split}_dataloader'].dataset.pipeline)
    # instance-wise: CoOp's 16 random global ctx + 4 per image, one prompt
    # per training image, CoOp's 4-shot schedule
    head = instance.model.head
    assert (head.type, head.prompts_per_class, head.pair_reduce,
            head.test_topk) == ('InstancePromptHead', 2, 'mean', 4)
    learner = head.prompt_learner
    assert (learner.num_classes, learner.num_shots, learner.n_ctx,
            learner.ctx_init, learner.n_instance_ctx) == (num_classes, 4, 16,
                                                          None, 4)
    assert head.text_encoder.model_name == 'RN50'
    assert _schedule(instance) == _schedule(coop)
    assert instance.train_dataloader.dataset.pipeline == \
        coop.train_dataloader.dataset.pipeline
    # linear probe: features of the training images under the test
    # transform, a linear layer on the 1024-d attention-pool output
    assert probe.train_dataloader.dataset.pipeline == \
        coop.test_dataloader.dataset.pipeline
    assert probe.train_cfg.type == 'LinearProbeLoop'
    assert probe.train_cfg.get('C') is None  # searched on val
    assert (probe.model.head.type, probe.model.head.num_classes,
            probe.model.head.in_channels) == ('LinearClsHead', num_classes,
                                              1024)
    assert probe.val_dataloader.dataset.num_shots == 4


def test_no_leaf_restates_the_schedule_and_max_epochs_alone_sets_it():
    leaves = [
        path for path in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in path
    ]
    restating = [
        osp.relpath(path, REPO) for path in leaves
        # (a checkpoint hook's save_param_scheduler=False is no schedule)
        if re.search(r'^param_scheduler\b',
                     open(path).read(), re.M)
    ]
    assert restating == []
    cfg = _cfg('coop', 'coop_tinyclip_procdtd.py')
    assert cfg.param_scheduler[1] == dict(
        type='DasslCosineLR', eta_min=0., by_epoch=True, begin=1)
    assert _t_max(cfg) == cfg.train_cfg.max_epochs == 50
    cfg.merge_from_dict({'train_cfg.max_epochs': 7})  # as --cfg-options does
    assert _t_max(cfg) == 7


def _hooks(cfg):
    """The hooks mmengine's Runner registers for ``cfg``, in calling order
    (``Runner.register_hooks`` on a stand-in runner: no model is built)."""
    fake = types.SimpleNamespace(_hooks=[])
    fake.register_hook = functools.partial(Runner.register_hook, fake)
    fake.register_default_hooks = functools.partial(
        Runner.register_default_hooks, fake)
    fake.register_custom_hooks = functools.partial(
        Runner.register_custom_hooks, fake)
    from mmengine.visualization import Visualizer
    Visualizer.get_instance('test_configs')  # VisualizationHook needs one
    with DefaultScope.overwrite_default_scope('mmprompt'):
        Runner.register_hooks(fake, cfg.get('default_hooks'),
                              cfg.get('custom_hooks'))
    return fake._hooks


@pytest.mark.parametrize('config,method_hook', [
    ('coop/coop_tinyclip_procdtd.py', None),
    ('meta/meta_tinyclip_procdtd.py', 'MetaGapMonitorHook'),
    ('dapt/dapt_tinyclip_procdtd.py', 'ClassPrototypeHook'),
    ('promptsrc/promptsrc_tinyclip_procdtd.py',
     'GaussianPromptAggregationHook'),
    ('instance/instance_tinyclip_procdtd_fewshot4.py', None),
])
def test_a_leafs_own_custom_hooks_keep_the_prompt_hooks(
        tmp_path, config, method_hook):
    """A leaf (or --cfg-options) that sets custom_hooks replaces the list,
    but the prompt hooks (and DAPT's / PromptSRC's) are default_hooks
    entries: they stay, at their own priorities, before the new hook."""
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f"_base_ = [{osp.join(REPO, 'configs', config)!r}]\n"
                    "custom_hooks = [dict(type='EmptyCacheHook')]\n")
    by_leaf = Config.fromfile(str(leaf))
    by_option = _cfg(*config.split('/'))
    by_option.merge_from_dict({'custom_hooks': [dict(type='EmptyCacheHook')]})
    for cfg in (by_leaf, by_option):
        hooks = _hooks(cfg)
        names = [type(hook).__name__ for hook in hooks]
        assert names[:4] == [
            'RuntimeInfoHook', 'CheckpointCheckHook', 'EpochSeedHook',
            'SetClassNamesHook'
        ]
        assert 'EmptyCacheHook' in names
        if method_hook == 'MetaGapMonitorHook':  # a custom hook: replaced
            assert method_hook not in names
        elif method_hook is not None:
            assert method_hook in names
        priorities = [get_priority(hook.priority) for hook in hooks]
        assert priorities == sorted(priorities)


#: tools/misc/generate_configs.py, loaded from its path (tools/ is no package).
_spec = importlib.util.spec_from_file_location(
    'generate_configs', osp.join(REPO, 'tools', 'misc', 'generate_configs.py'))
generate_configs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate_configs)


def test_generated_configs_are_up_to_date(tmp_path):
    """configs/ holds what tools/misc/generate_configs.py writes from its
    tables; an edit of a generated file (or a stale one) is caught."""
    files = generate_configs.generate()
    configs = osp.join(REPO, 'configs')
    assert generate_configs.check(
        configs, files) == [], ('run python tools/misc/generate_configs.py')
    assert all(
        text.startswith(generate_configs.HEADER) for text in files.values())
    # every generated leaf is a config the suite builds, and none is new
    leaves = {p for p in files if not p.startswith('_base_')}
    assert leaves <= {osp.relpath(p, configs) for p in CONFIGS}
    assert {
        'coop/coop_vitb16_dtd.py', 'dapt/dapt_vitb16_dtd_16shot.py',
        'zeroshot/clip_vitb16_imagenet-a.py'
    } <= leaves
    # a copy edited by hand, and a file the tables no longer produce
    copy = tmp_path / 'configs'
    shutil.copytree(configs, copy)
    edited = copy / 'dapt' / 'dapt_vitb16_dtd_16shot.py'
    edited.write_text(edited.read_text().replace('lr=20', 'lr=2'))
    stale = copy / 'coop' / 'coop_vitb16_mnist.py'
    stale.write_text(generate_configs.HEADER)
    problems = generate_configs.check(str(copy), files)
    assert len(problems) == 2
    assert '-optim_wrapper = dict(optimizer=dict(lr=2))' in problems[0]
    assert '+optim_wrapper = dict(optimizer=dict(lr=20))' in problems[0]
    assert 'coop/coop_vitb16_mnist.py' in problems[1]
    assert generate_configs.main(['--check', '--root', str(copy)]) == 1
    # writing repairs the edit (the stale file is reported, not deleted)
    assert generate_configs.write(str(copy),
                                  files) == ['dapt/dapt_vitb16_dtd_16shot.py']
    assert generate_configs.check(str(copy), files) == [problems[1]]


@pytest.mark.parametrize('name,epochs', [('dtd', 20), ('eurosat', 100)])
def test_tip_adapter_f_cosine_follows_max_epochs(name, epochs):
    # The official cosine runs over every iteration of train_epoch epochs;
    # the Runner sets `end` from train_cfg.max_epochs, so leaves set only that.
    cfg = _cfg('tip_adapter', f'tip-adapter-f_vitb16_{name}_fewshot.py')
    assert cfg.train_cfg.max_epochs == epochs
    cosine = dict(cfg.param_scheduler[0])
    assert 'end' not in cosine and 'T_max' not in cosine
    cosine.setdefault('end', cfg.train_cfg.max_epochs)  # as the Runner does
    cosine.pop('convert_to_iter_based')
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    with DefaultScope.overwrite_default_scope('mmprompt'):
        scheduler = registry.PARAM_SCHEDULERS.get(
            cosine.pop('type')).build_iter_from_epoch(
                optimizer, epoch_length=7, **cosine)
    assert (scheduler.T_max, scheduler.end) == (7 * epochs, 7 * epochs)
