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
            'coop/coop_mmpretrain-vitb16_dtd.py'} <= names


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
    model = registry.MODELS.build(model_cfg)
    model.head.set_class_names(['banded', 'dotted'], template='{} texture.')
    size = {'mmprompt-tiny': 32, 'mmprompt-tinyclip': 64}.get(
        model_cfg.backbone.get('model_name'), 224)
    with torch.no_grad():
        logits = model(torch.randn(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, 2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ([] if 'zeroshot' in path else
                         ['head.prompt_learner.ctx'])
