# Copyright (c) mmprompt contributors. All rights reserved.
"""One open_clip build per model, and the open_clip internals we rely on."""
import ast
import glob
import os.path as osp
import re
from unittest import mock

import open_clip
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmprompt.models import (TINY_MODEL, TINYCLIP_MODEL, OpenCLIPImageEncoder,
                             OpenCLIPTextEncoder, build_open_clip)
from mmprompt.models.clip import internals, loading
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP_PACKAGE = osp.join(REPO, 'mmprompt', 'models', 'clip')


@pytest.fixture
def builds():
    """The model names open_clip.create_model is called with (no spare
    left from an earlier test)."""
    loading._spare = None
    calls = []
    create = open_clip.create_model

    def spy(name, *args, **kwargs):
        calls.append(name)
        return create(name, *args, **kwargs)

    with mock.patch.object(open_clip, 'create_model', spy):
        yield calls


def _model(config):
    init_default_scope('mmprompt')
    return MODELS.build(Config.fromfile(osp.join(REPO, config)).model)


@pytest.mark.parametrize('config', [
    'configs/coop/coop_tiny_synthetic.py',
    'configs/maple/maple_tinyclip_procdtd.py',
    'configs/meta/meta_tinyclip_procdtd.py',
])
def test_a_classifier_builds_its_clip_once(builds, config):
    model = _model(config)
    assert len(builds) == 1, builds
    visual = {id(p) for p in model.backbone.parameters()}
    text = {id(p) for p in model.head.text_encoder.parameters()}
    assert visual and text and not visual & text


def test_one_build_gives_the_towers_of_two(builds):
    for pretrained in ('procdtd', None):
        builds.clear()
        torch.manual_seed(3)
        shared = (OpenCLIPImageEncoder(TINYCLIP_MODEL, pretrained),
                  OpenCLIPTextEncoder(TINYCLIP_MODEL, pretrained))
        after_shared = torch.rand(3)
        assert len(builds) == 1
        torch.manual_seed(3)
        image = OpenCLIPImageEncoder(TINYCLIP_MODEL, pretrained)
        OpenCLIPImageEncoder(TINY_MODEL)  # replaces the spare
        text = OpenCLIPTextEncoder(TINYCLIP_MODEL, pretrained)
        assert builds == [TINYCLIP_MODEL, TINYCLIP_MODEL, TINY_MODEL] * 1 + [
            TINYCLIP_MODEL
        ]
        for ours, alone in zip(shared, (image, text)):
            a, b = ours.state_dict(keep_vars=True), alone.state_dict()
            assert a.keys() == b.keys()
            ours_all = dict(ours.named_parameters())
            for name, param in alone.named_parameters():
                assert torch.equal(ours_all[name], param), (pretrained, name)
        # Building draws from a fork: what comes after does not depend on
        # how many models were built.
        torch.manual_seed(3)
        assert torch.equal(torch.rand(3), after_shared)


def test_random_weights_after_the_generator_moved_are_built_anew(builds):
    image = OpenCLIPImageEncoder(TINY_MODEL)
    torch.rand(1)  # a fresh build would draw other random weights now
    text = OpenCLIPTextEncoder(TINY_MODEL)
    assert len(builds) == 2
    spare = build_open_clip(TINY_MODEL)  # from the same generator state
    assert torch.equal(spare.token_embedding.weight,
                       text.token_embedding.weight)
    assert not torch.equal(spare.visual.conv1.weight,
                           image.visual.conv1.weight)


def test_a_part_is_never_handed_out_twice(builds):
    first = OpenCLIPImageEncoder(TINY_MODEL)
    second = OpenCLIPImageEncoder(TINY_MODEL)
    text = OpenCLIPTextEncoder(TINY_MODEL)
    assert len(builds) == 2  # the text tower takes the second build's half
    assert first.visual is not second.visual
    other = OpenCLIPTextEncoder(TINY_MODEL)  # the spare is gone
    assert len(builds) == 3
    assert other.transformer is not text.transformer
    OpenCLIPTextEncoder(TINY_MODEL, model_kwargs=dict(force_quick_gelu=True))
    OpenCLIPImageEncoder(TINY_MODEL)  # other options: its own build
    assert len(builds) == 5


def test_shipped_weights_stay_out_of_open_clips_tables():
    build_open_clip(TINYCLIP_MODEL, pretrained='procdtd')
    assert open_clip.list_pretrained_tags_by_model(TINYCLIP_MODEL) == []
    assert open_clip.get_pretrained_cfg(TINYCLIP_MODEL, 'procdtd') == {}


def test_the_open_clip_internals_we_rely_on_exist():
    model = build_open_clip(TINY_MODEL)
    internals.check_open_clip_internals(model)


def test_a_missing_internal_fails_in_one_place(monkeypatch):
    monkeypatch.delattr(open_clip.model, 'resize_text_pos_embed')
    with pytest.raises(
            ImportError,
            match=r'lacks \[.open_clip\.model\.resize_text_pos_'
            r'embed.\].*open_clip_torch>=3.3,<4'):
        internals.check_open_clip_internals()
    tiny = open_clip.create_model(TINY_MODEL)
    monkeypatch.delattr(open_clip.transformer.VisionTransformer, '_pool')
    with pytest.raises(ImportError, match=r'model\.visual\._pool'):
        internals.check_open_clip_internals(tiny)


def _sources(folder):
    for path in sorted(
            glob.glob(osp.join(folder, '**', '*.py'), recursive=True)):
        with open(path) as f:
            yield path, f.read()


def test_every_internal_the_package_uses_is_listed():
    listed_attrs = set(internals.VISION_TRANSFORMER_ATTRS +
                       internals.TRANSFORMER_ATTRS + internals.TEXT_ATTRS)
    for path, source in _sources(CLIP_PACKAGE):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            dotted = ast.unparse(node)
            # open_clip.<submodule>.<name>
            parts = dotted.split('.')
            if parts[0] == 'open_clip' and len(parts) == 3:
                assert '.'.join(parts[1:]) in internals.MODULE_NAMES, (
                    f'{path} uses {dotted}; list it in '
                    'internals.MODULE_NAMES')
            # private attributes of open_clip's modules (visual._embeds)
            if (node.attr.startswith('_') and not node.attr.startswith('__')
                    and isinstance(node.value, ast.Attribute)
                    and node.value.attr in ('visual', 'text', 'transformer')):
                assert node.attr in listed_attrs, (
                    f'{path} uses {dotted}; list it in internals')


def test_only_the_clip_package_imports_open_clip():
    package = osp.join(REPO, 'mmprompt')
    for path, source in _sources(package):
        if path.startswith(CLIP_PACKAGE + osp.sep):
            continue
        assert not re.search(r'^\s*(import|from) open_clip\b', source,
                             re.M), path
