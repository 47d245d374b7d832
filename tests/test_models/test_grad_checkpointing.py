# Copyright (c) mmprompt contributors. All rights reserved.
"""Gradient checkpointing of the open_clip towers: same numbers, less kept."""
import os.path as osp

import pytest
import torch
import torch.utils.checkpoint
from mmengine.config import Config

from mmprompt.models.clip import TINY_MODEL, VisualPrompts
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The tiny vision tower with 4 blocks, so that prompts go 3 layers deep.
DEEP_VISION = dict(
    vision_cfg=dict(
        image_size=32, layers=4, width=64, head_width=32, patch_size=8))


@pytest.fixture(scope='module')
def text_encoder():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='OpenCLIPTextEncoder',
            model_name=TINY_MODEL,
            grad_checkpointing=True))


@pytest.fixture(scope='module')
def image_encoder():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='OpenCLIPImageEncoder',
            model_name=TINY_MODEL,
            model_kwargs=DEEP_VISION,
            grad_checkpointing=True))


@pytest.fixture
def checkpoint_calls(monkeypatch):
    """Count the calls of ``torch.utils.checkpoint.checkpoint``."""
    calls = []
    original = torch.utils.checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(kwargs.get('use_reentrant'))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', counting)
    return calls


def _with_and_without(transformer, run):
    """``run()`` with checkpointing on, then off: outputs and gradients."""
    results = []
    for enabled in (True, False):
        transformer.grad_checkpointing = enabled
        try:
            results.append(run())
        finally:
            transformer.grad_checkpointing = True
    return results


def _text_run(encoder, ctx, deep):
    tokens = encoder.tokenize(['X X X X cat.', 'X X X X big dog.'])

    def run():
        embeds = encoder.embed(tokens)
        embeds = torch.cat([
            embeds[:, :1],
            ctx.expand(2, -1, -1), embeds[:, 1 + ctx.shape[0]:]
        ],
                           dim=1)
        params = [ctx] + ([deep] if deep is not None else [])
        feats = encoder(
            embeds, tokens, deep_prompts=None if deep is None else [deep])
        grads = torch.autograd.grad(feats.square().sum(), params)
        return [feats.detach()] + list(grads)

    return run


def test_the_constructor_argument_turns_it_on():
    torch.manual_seed(0)
    text = MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL))
    image = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL))
    assert text.transformer.grad_checkpointing is False
    assert image.visual.transformer.grad_checkpointing is False
    # As a config writes it (the head's text encoder of CoOp).
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py'))
    cfg.merge_from_dict({'model.head.text_encoder.grad_checkpointing': True})
    model = MODELS.build(cfg.model)
    assert model.head.text_encoder.transformer.grad_checkpointing is True
    assert model.backbone.visual.transformer.grad_checkpointing is False


@pytest.mark.parametrize('truncate', [True, False])
@pytest.mark.parametrize('deep', [False, True])
def test_text_encoder_same_features_and_gradients(text_encoder,
                                                  checkpoint_calls, truncate,
                                                  deep):
    gen = torch.Generator().manual_seed(1)
    width = text_encoder.width
    ctx = (torch.randn(4, width, generator=gen) * 0.02).requires_grad_()
    deep_prompt = (torch.randn(4, width, generator=gen) *
                   0.02).requires_grad_() if deep else None
    text_encoder.truncate = truncate
    try:
        on, off = _with_and_without(text_encoder.transformer,
                                    _text_run(text_encoder, ctx, deep_prompt))
    finally:
        text_encoder.truncate = True
    # One checkpoint per block, non-reentrant like open_clip; none when off.
    blocks = len(text_encoder.transformer.resblocks)
    assert checkpoint_calls == [False] * blocks
    assert len(on) == len(off) == (3 if deep else 2)
    for a, b in zip(on, off):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize('position', ['append', 'after_cls'])
def test_image_encoder_deep_prompts_same_features_and_gradients(
        image_encoder, checkpoint_calls, position):
    assert image_encoder.num_layers == 4
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 32, 32, generator=gen)
    # Input prompts and deep prompts before blocks 1 and 2 (block 3 keeps
    # the outputs of block 2 there).
    prompts = [(torch.randn(3, image_encoder.width, generator=gen) *
                0.02).requires_grad_() for _ in range(3)]

    def run():
        (feats, ) = image_encoder(x, VisualPrompts(prompts, position))
        grads = torch.autograd.grad(feats.square().sum(), prompts)
        return [feats.detach()] + list(grads)

    on, off = _with_and_without(image_encoder.visual.transformer, run)
    assert checkpoint_calls == [False] * 4
    for a, b in zip(on, off):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # Without prompts the tower still checkpoints (and matches open_clip).
    checkpoint_calls.clear()
    (plain, ) = image_encoder(x)
    assert checkpoint_calls == [False] * 4
    with torch.no_grad():
        torch.testing.assert_close(
            plain, image_encoder.visual(x), rtol=0, atol=1e-6)


def test_no_checkpointing_without_grad(text_encoder, image_encoder,
                                       checkpoint_calls):
    tokens = text_encoder.tokenize(['a photo of a cat.'])
    x = torch.randn(1, 3, 32, 32)
    prompts = VisualPrompts([torch.zeros(2, image_encoder.width)] * 2)
    with torch.no_grad():
        text_encoder(text_encoder.embed(tokens), tokens)
        image_encoder(x, prompts)
    assert checkpoint_calls == []
    # Grad enabled but nothing requires grad: checkpointed, still correct.
    text_encoder(text_encoder.embed(tokens), tokens)
    assert len(checkpoint_calls) == len(text_encoder.transformer.resblocks)
