# Copyright (c) mmprompt contributors. All rights reserved.
"""FrozenTowerClassifier: an mmpretrain image tower out of checkpoints."""
import copy
import io
import logging
import os.path as osp

import open_clip
import pytest
import torch
from mmengine.logging import MMLogger

from mmprompt.engine.hooks.checkpoint_check import check_checkpoint_fits
from mmprompt.errors import CheckpointError, ConfigError, PathNotFoundError
from mmprompt.models import TINY_MODEL
from mmprompt.models.utils import state_tensors
from mmprompt.registry import MODELS

CLASSES = ['banded', 'dotted', 'striped']
HEAD = dict(
    type='PromptClsHead',
    text_encoder=dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
    prompt_learner=dict(type='CoOpPromptLearner'))
#: mmpretrain's CLIP-layout ViT, tiny (the tiny CLIP's joint space is 64-d).
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


class _Messages(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _logged(fn):
    """``fn()`` and the messages the current MMLogger got meanwhile."""
    logger = MMLogger.get_current_instance()
    log = _Messages()
    logger.addHandler(log)
    try:
        return fn(), log.messages
    finally:
        logger.removeHandler(log)


def _config(checkpoint=None, text=None, **kwargs):
    """A CoOp model on the tiny ViT + neck, from ``checkpoint`` if given,
    with the tiny CLIP's text tower from the open_clip file ``text``."""
    backbone, neck = copy.deepcopy(BACKBONE), copy.deepcopy(NECK)
    head = copy.deepcopy(HEAD)
    head['text_encoder']['pretrained'] = text
    if checkpoint:
        backbone['init_cfg'] = dict(
            type='Pretrained', checkpoint=checkpoint, prefix='visual.')
        neck['init_cfg'] = dict(
            type='Pretrained', checkpoint=checkpoint, prefix='visual_proj.')
    return dict(
        type='FrozenTowerClassifier',
        backbone=backbone,
        neck=neck,
        head=head,
        **kwargs)


def _build(cfg, seed):
    """Build with its own seed: random initial values differ per seed."""
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.head.set_class_names(CLASSES)
    return model.eval()


@pytest.fixture(scope='module')
def text_weights(tmp_path_factory):
    """The tiny CLIP's weights in a file: a text tower every build shares
    (random weights would follow each build's seed)."""
    torch.manual_seed(101)
    path = str(tmp_path_factory.mktemp('clip') / 'tiny.pt')
    torch.save(open_clip.create_model(TINY_MODEL).state_dict(), path)
    return path


@pytest.fixture
def pretrained(tmp_path):
    """A checkpoint in the layout of mmpretrain's OpenAI-CLIP converter."""
    torch.manual_seed(100)
    backbone, neck = MODELS.build(BACKBONE), MODELS.build(NECK)
    backbone.init_weights()  # e.g. pos_embed is all zero before
    state = {f'visual.{k}': v for k, v in backbone.state_dict().items()}
    state.update({f'visual_proj.{k}': v for k, v in neck.state_dict().items()})
    path = str(tmp_path / 'clip_mmpretrain.pth')
    torch.save({'state_dict': state}, path)
    return path, state


def _size(state_dict) -> int:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.tell()


def test_checkpoint_holds_only_the_prompt_like_open_clip(pretrained):
    path, state = pretrained
    model, messages = _logged(lambda: _build(_config(path), seed=0))
    assert list(model.state_dict()) == ['head.prompt_learner.ctx']
    assert any(
        'frozen backbone (VisionTransformer) is loaded from its pretrained '
        'checkpoint when the model is built; checkpoints leave out its 19 '
        'tensors' in m for m in messages), messages
    # The weights are the file's, not the random initial ones.
    for key, tensor in state_tensors(model.backbone).items():
        assert torch.equal(tensor, state[f'visual.{key}']), key
    assert torch.equal(model.neck.proj, state['visual_proj.proj'])
    # Frozen, and in eval mode even when the model trains.
    assert [n for n, p in model.named_parameters()
            if p.requires_grad] == ['head.prompt_learner.ctx']
    model.train()
    assert model.head.training
    assert not model.backbone.training and not model.neck.training
    assert not any(m.training for m in model.backbone.modules())
    # Same keys (and about the size) as the open_clip image tower's model.
    open_clip_model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL),
            head=copy.deepcopy(HEAD)))
    ours, theirs = model.state_dict(), open_clip_model.state_dict()
    assert set(ours) == set(theirs)
    assert _size(ours) < 1.5 * _size(theirs)
    # Unfrozen (frozen=()), it is an ImageClassifier saving everything.
    full = _build(_config(path, frozen=()), seed=0)
    assert len(full.state_dict()) == 1 + 19 + 1
    assert _size(full.state_dict()) > 3 * _size(ours)


def test_save_fresh_build_load_gives_identical_logits(pretrained, tmp_path,
                                                      text_weights):
    path, _ = pretrained
    trained = _build(_config(path, text_weights), seed=0)
    with torch.no_grad():  # "training": move the prompt
        trained.head.prompt_learner.ctx.add_(
            torch.randn_like(trained.head.prompt_learner.ctx))
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': trained.state_dict()}, ckpt)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = trained(images, mode='tensor')

    fresh = _build(_config(path, text_weights), seed=1)
    checkpoint = torch.load(ckpt)
    check_checkpoint_fits(fresh, checkpoint, ckpt)  # CheckpointCheckHook
    result = fresh.load_state_dict(checkpoint['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        assert torch.equal(fresh(images, mode='tensor'), expected)
    # The runner's init_weights (before training) leaves the tower alone.
    before = fresh.backbone.pos_embed.clone()
    fresh.init_weights()
    assert torch.equal(fresh.backbone.pos_embed, before)
    # An older checkpoint that holds the tower still loads strictly.
    full = _build(_config(path, text_weights, frozen=()), seed=2)
    result = fresh.load_state_dict(full.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_a_checkpoint_without_the_trained_prompt_still_fails(pretrained):
    path, _ = pretrained
    model = _build(_config(path), seed=0)
    with pytest.raises(
            RuntimeError,
            match=r'Missing key\(s\).*"head.prompt_learner.ctx"'):
        model.load_state_dict({}, strict=True)
    with pytest.raises(
            CheckpointError,
            match=r"the weights 'head.prompt_learner.ctx' that this model "
            'trains are not in it'):
        check_checkpoint_fits(model, {'state_dict': {}}, 'empty.pth')
    # A stray tower key is still unexpected.
    with pytest.raises(RuntimeError, match='Unexpected key.*backbone.nope'):
        model.load_state_dict(
            dict(model.state_dict(), **{'backbone.nope': torch.zeros(1)}))


def test_without_pretrained_source_the_tower_stays_in_checkpoints(
        text_weights):
    # Random image-tower weights: nothing to rebuild them from.
    cfg = _config(text=text_weights)
    model, messages = _logged(lambda: _build(cfg, seed=0))
    keys = list(model.state_dict())
    assert 'head.prompt_learner.ctx' in keys
    assert 'backbone.pos_embed' in keys and 'neck.proj' in keys
    assert len(keys) == 1 + 19 + 1
    assert any(
        'frozen backbone (VisionTransformer) has no Pretrained init_cfg, '
        'so checkpoints keep its 19 tensors' in m for m in messages), messages
    assert not any(p.requires_grad for p in model.backbone.parameters())
    # Another seed draws another tower; the checkpoint restores it exactly.
    images = torch.randn(2, 3, 32, 32)
    fresh = _build(cfg, seed=1)
    weight = 'patch_embed.projection.weight'
    assert not torch.equal(
        fresh.backbone.get_parameter(weight),
        model.backbone.get_parameter(weight))
    fresh.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(
            fresh(images, mode='tensor'), model(images, mode='tensor'))
    # ... and a checkpoint that lacks it does not load strictly.
    with pytest.raises(RuntimeError, match=r'Missing key.*"backbone\.'):
        fresh.load_state_dict(
            {'head.prompt_learner.ctx': model.head.prompt_learner.ctx},
            strict=True)


def test_keys_the_pretrained_file_lacks_stay_in_checkpoints(
        pretrained, tmp_path):
    _, state = pretrained
    state = dict(state)
    state.pop('visual.ln1.bias')
    path = str(tmp_path / 'partial.pth')
    torch.save(state, path)
    model, messages = _logged(lambda: _build(_config(path), seed=0))
    assert list(model.state_dict()) == [
        'backbone.ln1.bias', 'head.prompt_learner.ctx'
    ]
    assert any(
        "its pretrained checkpoint sets 18 of its tensors but not "
        "'ln1.bias'. These keep their initial values, and checkpoints keep "
        'them.' in m for m in messages), messages
    fresh = _build(_config(path), seed=1)
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(fresh.backbone.ln1.bias, model.backbone.ln1.bias)


def test_config_errors(pretrained, tmp_path):
    with pytest.raises(
            ConfigError,
            match=r"names \['head'\]; it takes "
            r"\('backbone', 'neck'\)"):
        MODELS.build(_config(frozen=('backbone', 'head')))
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(
            PathNotFoundError,
            match=r"model.backbone: the checkpoint '.*nope.pth' of its "
            r'Pretrained init_cfg does not exist.*--cfg-options '
            r'model.backbone.init_cfg.checkpoint=PATH'):
        MODELS.build(_config(missing))
    assert not osp.exists(missing)
    # Only the backbone: the neck (frozen by its own frozen=True) is saved.
    model = MODELS.build(_config(pretrained[0], frozen='backbone'))
    assert model.frozen == ('backbone', )
    assert list(model.state_dict()) == ['neck.proj', 'head.prompt_learner.ctx']
    # No neck: 'neck' is skipped.
    cfg = _config()
    cfg['neck'] = None
    assert MODELS.build(cfg).frozen == ('backbone', )
