# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.models import TINY_MODEL
from mmprompt.registry import MODELS

CLASSES = ['banded', 'dotted', 'striped']
ENCODER = dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)


def _head(learner=dict(type='CoCoOpPromptLearner'), **kwargs):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='CoCoOpHead',
            text_encoder=ENCODER,
            prompt_learner=learner,
            **kwargs))
    head.set_class_names(CLASSES)
    return head


def test_meta_net_shapes_and_checkpoint_keys():
    head = _head()
    learner = head.prompt_learner
    enc = head.text_encoder
    first, _, last = learner.meta_net
    assert (first.in_features, first.out_features) == (enc.embed_dim,
                                                       enc.embed_dim // 16)
    assert last.out_features == enc.width
    assert learner.ctx.shape == (4, enc.width)  # "a photo of a"
    assert set(head.state_dict()) == {
        'prompt_learner.ctx', 'prompt_learner.meta_net.0.weight',
        'prompt_learner.meta_net.0.bias', 'prompt_learner.meta_net.2.weight',
        'prompt_learner.meta_net.2.bias'
    }


def test_each_image_is_scored_with_its_own_shifted_context():
    head = _head()
    learner, enc = head.prompt_learner, head.text_encoder
    feats = torch.randn(3, enc.embed_dim)
    logits = head((feats, ))
    assert logits.shape == (3, len(CLASSES))
    image = F.normalize(feats, dim=-1)
    bias = learner.meta_net(image)
    assert bias.abs().sum() > 0
    for b in range(3):  # CoOp's prompts with the context ctx + pi(x_b)
        text = F.normalize(
            enc(learner.assemble(learner.ctx + bias[b]), learner.tokens),
            dim=-1)
        torch.testing.assert_close(logits[b],
                                   enc.logit_scale.exp() * text @ image[b])
    # a zero meta-net leaves CoOp: the unshifted context for every image
    torch.nn.init.zeros_(learner.meta_net[2].weight)
    torch.nn.init.zeros_(learner.meta_net[2].bias)
    coop = F.normalize(learner(enc), dim=-1)
    torch.testing.assert_close(
        head((feats, )),
        enc.logit_scale.exp() * image @ coop.t())


def test_splitting_the_text_pass_changes_nothing():
    head = _head()
    feats = (torch.randn(5, head.text_encoder.embed_dim), )
    whole = head(feats)
    head.max_prompts = 4  # one image (3 prompts) per text pass
    calls = []
    orig = head.prompt_learner.conditional_features
    head.prompt_learner.conditional_features = \
        lambda enc, img: calls.append(len(img)) or orig(enc, img)
    torch.testing.assert_close(head(feats), whole)
    assert calls == [1] * 5


def test_loss_trains_the_context_and_the_meta_net_only():
    head = _head()
    feats = (torch.randn(2, head.text_encoder.embed_dim), )
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    losses = head.loss(feats, samples)
    torch.testing.assert_close(
        losses['loss'], F.cross_entropy(head(feats), torch.tensor([0, 2])))
    losses['loss'].backward()
    learner = head.prompt_learner
    assert learner.ctx.grad.abs().sum() > 0
    assert all(p.grad.abs().sum() > 0 for p in learner.meta_net.parameters())
    assert all(p.grad is None for p in head.text_encoder.parameters())


def test_errors_name_what_to_fix():
    with pytest.raises(
            TypeError, match="CoCoOpPromptLearner'.*got "
            'CoOpPromptLearner'):
        _head(learner=dict(type='CoOpPromptLearner'))
    with pytest.raises(ValueError, match='reduction=0 must be an int'):
        _head(learner=dict(type='CoCoOpPromptLearner', reduction=0))
    with pytest.raises(ValueError, match='max_prompts=0'):
        _head(max_prompts=0)
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='CoCoOpHead',
            text_encoder=ENCODER,
            prompt_learner=dict(type='CoCoOpPromptLearner')))
    with pytest.raises(
            RuntimeError,
            match=r'default_hooks\.class_names=dict\(type=.SetClassNamesHook'):
        head((torch.randn(1, head.text_encoder.embed_dim), ))
