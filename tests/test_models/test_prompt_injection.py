# Copyright (c) mmprompt contributors. All rights reserved.
"""Prompt injection in the open_clip adapter: positions, depth, identity."""
import pytest
import torch

from mmprompt.models.clip import TINY_MODEL, VisualPrompts
from mmprompt.registry import MODELS


@pytest.fixture(scope='module')
def image_encoder():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL))


@pytest.fixture(scope='module')
def text_encoder():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL))


def _block_inputs(transformer):
    """Record the input tokens of every residual block (batch-first)."""
    inputs, handles = [], []
    for block in transformer.resblocks:
        handles.append(
            block.register_forward_pre_hook(
                lambda mod, args, kwargs: inputs.append(args[0].detach()),
                with_kwargs=True))
    return inputs, handles


def test_without_prompts_both_towers_are_plain_open_clip(
        image_encoder, text_encoder):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (ours, ) = image_encoder(x)
        assert torch.equal(ours, image_encoder.visual(x))
        tokens = text_encoder.tokenize(['a photo of a cat.', 'a dog.'])
        embeds = text_encoder.embed(tokens)
        plain = text_encoder(embeds, tokens)
        assert torch.equal(
            text_encoder(embeds, tokens, deep_prompts=[]), plain)
        # The same as open_clip's own transformer call on those positions.
        length = int(tokens.argmax(-1).max()) + 1
        h = embeds[:, :length] + text_encoder.positional_embedding[:length]
        h = text_encoder.transformer(
            h, attn_mask=text_encoder.attn_mask[:length, :length])
        h = text_encoder.ln_final(h)[torch.arange(2), tokens.argmax(-1)]
        torch.testing.assert_close(
            plain, h @ text_encoder.text_projection, rtol=0, atol=1e-6)


@pytest.mark.parametrize('position', ['append', 'after_cls'])
def test_shallow_visual_prompts_are_inserted_at_their_position(
        image_encoder, position):
    x = torch.randn(2, 3, 32, 32)
    prompt = torch.randn(3, image_encoder.width)
    plain = image_encoder.embed(x)
    tokens = image_encoder.embed(x, VisualPrompts([prompt], position))
    n = plain.shape[1]  # CLS + 16 patches
    assert tokens.shape == (2, n + 3, image_encoder.width)
    ln_pre = image_encoder.visual.ln_pre
    if position == 'append':
        assert torch.equal(tokens[:, :n], plain)
        # ln_pre acts per token: same as appending before ln_pre (MaPLe).
        torch.testing.assert_close(tokens[:, n:],
                                   ln_pre(prompt).expand(2, -1, -1))
    else:  # after ln_pre, right after CLS (DAPT)
        assert torch.equal(tokens[:, :1], plain[:, :1])
        assert torch.equal(tokens[:, 1:4], prompt.expand(2, -1, -1))
        assert torch.equal(tokens[:, 4:], plain[:, 1:])
    (feats, ) = image_encoder(x, VisualPrompts([prompt], position))
    assert feats.shape == (2, image_encoder.embed_dim)
    assert not torch.allclose(feats, image_encoder(x)[0])


@pytest.mark.parametrize('position', ['append', 'after_cls'])
def test_deep_visual_prompts_replace_the_previous_layers_prompts(
        image_encoder, position):
    x = torch.randn(2, 3, 32, 32)
    first, second = torch.randn(2, 4, 64)
    inputs, handles = _block_inputs(image_encoder.visual.transformer)
    try:
        with torch.no_grad():
            image_encoder(x, VisualPrompts([first, second], position))
    finally:
        for handle in handles:
            handle.remove()
    assert len(inputs) == 2  # the tiny model has 2 blocks
    where = slice(-4, None) if position == 'append' else slice(1, 5)
    assert torch.equal(inputs[1][:, where], second.expand(2, -1, -1))
    # Per-image prompts (B, P, width) are accepted as well.
    per_image = torch.randn(2, 4, 64)
    (feats, ) = image_encoder(x, VisualPrompts([per_image], position))
    assert feats.shape == (2, 64)


def test_prompts_beyond_the_depth_keep_the_previous_outputs(image_encoder):
    x = torch.randn(1, 3, 32, 32)
    prompt = torch.randn(2, 64)
    inputs, handles = _block_inputs(image_encoder.visual.transformer)
    try:
        with torch.no_grad():
            image_encoder(x, VisualPrompts([prompt, None], 'append'))
            shallow = list(inputs)
            inputs.clear()
            image_encoder(x, VisualPrompts([prompt], 'append'))
    finally:
        for handle in handles:
            handle.remove()
    # None at layer 1 and a one-layer list are the same (shallow prompts),
    # and block 1 sees block 0's outputs at the prompt positions.
    assert torch.equal(shallow[1], inputs[1])
    assert not torch.equal(inputs[1][:, -2:], prompt.expand(1, -1, -1))


def test_visual_prompt_errors(image_encoder):
    x = torch.randn(1, 3, 32, 32)
    p = torch.randn(2, 64)
    with pytest.raises(ValueError, match="position 'middle' is unknown"):
        image_encoder(x, VisualPrompts([p], 'middle'))
    with pytest.raises(
            ValueError,
            match='3 layers of visual prompts but '
            "the vision transformer of 'mmprompt-tiny' has 2"):
        image_encoder(x, VisualPrompts([p, p, p]))
    with pytest.raises(ValueError, match='layer 0 have width 32 but'):
        image_encoder(x, VisualPrompts([torch.randn(2, 32)]))
    with pytest.raises(ValueError, match=r'tokens\[0\] .* is missing'):
        image_encoder(x, VisualPrompts([None, p]))


def test_deep_text_prompts_replace_the_context_positions(text_encoder):
    tokens = text_encoder.tokenize(['X X a cat.', 'X X a big dog.'])
    embeds = text_encoder.embed(tokens)
    deep = torch.randn(2, text_encoder.width)
    inputs, handles = _block_inputs(text_encoder.transformer)
    try:
        with torch.no_grad():
            plain = text_encoder(embeds, tokens)
            block_inputs_plain = list(inputs)
            inputs.clear()
            prompted = text_encoder(embeds, tokens, deep_prompts=[deep])
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(inputs[0], block_inputs_plain[0])
    assert torch.equal(inputs[1][:, 1:3], deep.expand(2, -1, -1))
    # Only the two context positions were replaced.
    assert torch.equal(inputs[1][:, :1], block_inputs_plain[1][:, :1])
    assert torch.equal(inputs[1][:, 3:], block_inputs_plain[1][:, 3:])
    assert not torch.allclose(plain, prompted)
    with pytest.raises(ValueError, match='2 layers of deep text prompts'):
        text_encoder(embeds, tokens, deep_prompts=[deep, deep])


def test_resnet_towers_give_attention_pool_features():
    # mmprompt-tiny-rn: open_clip's ModifiedResNet (layers 1-1-1-1, width
    # 16) with its attention pool, the architecture of CLIP's RN50.
    encoder = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name='mmprompt-tiny-rn'))
    assert not encoder.is_vit
    assert type(encoder.visual.attnpool).__name__ == 'AttentionPool2d'
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (feats, ) = encoder(x)
        assert torch.equal(feats, encoder.visual(x))
    assert feats.shape == (2, encoder.embed_dim) == (2, 64)
    # Text-only prompt methods work; visual prompts say why they cannot.
    with pytest.raises(
            NotImplementedError,
            match="image tower of 'mmprompt-tiny-rn' is a "
            'ModifiedResNet; use a text-only prompt method'):
        encoder(x, VisualPrompts([torch.randn(2, 64)]))


def test_rn50_image_encoder_shapes():
    encoder = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name='RN50'))
    with torch.no_grad():
        (feats, ) = encoder(torch.randn(1, 3, 224, 224))
    assert feats.shape == (1, 1024) and encoder.embed_dim == 1024
