# Copyright (c) mmprompt contributors. All rights reserved.
import os.path as osp

import open_clip
import pytest
import torch

from mmprompt.models import (TINY_MODEL, OpenCLIPImageEncoder,
                             OpenCLIPTextEncoder, build_open_clip,
                             resolve_pretrained)
from mmprompt.registry import MODELS


def _tiny_clip_like(encoder):
    """A plain open_clip model holding the encoder's weights."""
    clip = open_clip.create_model(TINY_MODEL)
    params = dict(encoder.named_parameters())
    if isinstance(encoder, OpenCLIPImageEncoder):
        params = {'visual.' + k[len('visual.'):]: v for k, v in params.items()}
    missing = clip.load_state_dict(params, strict=False).missing_keys
    assert not [k for k in params if k in missing]
    return clip.eval()


def test_text_encoder_matches_encode_text():
    encoder = MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL))
    clip = _tiny_clip_like(encoder)
    texts = ['a photo of a dog.', 'banded texture.', 'x']
    tokens = open_clip.get_tokenizer(TINY_MODEL)(texts)
    with torch.no_grad():
        expected = clip.encode_text(tokens)
        ours = encoder.encode_text(texts)
        full = OpenCLIPTextEncoder(model_name=TINY_MODEL, truncate=False)
        full.load_state_dict({
            k: v
            for k, v in encoder.named_parameters()
        },
                             strict=False)
        untruncated = full.encode_text(texts)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(untruncated, expected, atol=1e-5, rtol=0)


def test_text_encoder_runs_only_up_to_last_eot():
    encoder = OpenCLIPTextEncoder(model_name=TINY_MODEL)
    seen = []
    encoder.transformer.resblocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].shape[1]))
    tokens = encoder.tokenize(['a b', 'a b c d'])
    encoder(encoder.embed(tokens), tokens)
    # [SOS] a b c d [EOT] -> 6 positions instead of 77.
    assert seen == [6]


def test_text_encoder_rejects_too_long_text():
    encoder = OpenCLIPTextEncoder(model_name=TINY_MODEL)
    with pytest.raises(ValueError, match='does not fit'):
        encoder.tokenize(' '.join(['word'] * 100))


def test_image_encoder_matches_visual_and_is_frozen():
    encoder = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL))
    clip = _tiny_clip_like(encoder)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (ours, ) = encoder(x)
        expected = clip.encode_image(x)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    assert ours.shape == (2, 64)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training, 'a frozen tower stays in eval mode'
    # The runner's init_weights must not touch library weights.
    before = encoder.visual.proj.clone()
    encoder.init_weights()
    assert torch.equal(before, encoder.visual.proj)


def test_frozen_towers_stay_out_of_checkpoints():
    encoder = OpenCLIPImageEncoder(model_name=TINY_MODEL)
    assert encoder.state_dict() == {}
    # Loading a checkpoint without them keeps the weights, reports nothing.
    before = encoder.visual.proj.clone()
    result = encoder.load_state_dict({}, strict=True)
    assert not result.missing_keys
    assert torch.equal(before, encoder.visual.proj)
    trainable = OpenCLIPImageEncoder(model_name=TINY_MODEL, frozen=False)
    assert 'visual.proj' in trainable.state_dict()
    assert trainable.visual.proj.requires_grad
    # The text tower's non-persistent buffers (attention mask, temperature)
    # are never checkpoint keys, so an empty state dict loads strictly.
    text = OpenCLIPTextEncoder(model_name=TINY_MODEL)
    assert text.state_dict() == {}
    result = text.load_state_dict({}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_unknown_model_and_tags_fail_fast(tmp_path, monkeypatch):
    with pytest.raises(
            ValueError,
            match=r"Unknown open_clip model 'ViT-B-61'"
            r".*Did you mean"):
        build_open_clip('ViT-B-61')
    with pytest.raises(
            ValueError, match="Unknown pretrained tag 'opnai'.*"
            "openai"):
        resolve_pretrained('ViT-B-16', 'opnai')
    missing = str(tmp_path / 'nope.pt')
    with pytest.raises(FileNotFoundError, match='nope.pt'):
        resolve_pretrained('ViT-B-16', missing)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    empty_cache = str(tmp_path / 'cache')
    with pytest.raises(
            RuntimeError,
            match=r"'openai'.*not in the local cache.*pretrained="):
        resolve_pretrained('ViT-B-16', 'openai', cache_dir=empty_cache)


def test_local_checkpoint_file_is_loaded(tmp_path):
    clip = open_clip.create_model(TINY_MODEL)
    path = str(tmp_path / 'tiny.pt')
    torch.save(clip.state_dict(), path)
    encoder = OpenCLIPTextEncoder(model_name=TINY_MODEL, pretrained=path)
    torch.testing.assert_close(encoder.text_projection, clip.text_projection)
    torch.testing.assert_close(encoder.logit_scale, clip.logit_scale)
    assert osp.exists(path)


def test_mmpretrain_backbone_with_clip_projection_neck():
    """Prompt heads work on mmpretrain backbones that output CLIP space."""
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=32,
                    num_layers=1,
                    num_heads=2,
                    feedforward_channels=64),
                img_size=32,
                patch_size=8,
                pre_norm=True,
                out_type='cls_token',
                layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
                frozen_stages=1),
            neck=dict(
                type='CLIPProjectionNeck', in_channels=32, out_channels=64),
            head=dict(
                type='PromptClsHead',
                text_encoder=dict(
                    type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
                prompt_learner=dict(type='CoOpPromptLearner'))))
    model.head.set_class_names(['banded', 'dotted', 'striped'])
    logits = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 3)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['head.prompt_learner.ctx']
