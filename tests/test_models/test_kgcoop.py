# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.models import TINY_MODEL
from mmprompt.models.losses import cosine_distance
from mmprompt.registry import MODELS

TEMPLATE = 'a photo of a {}.'
CLASSES = ['banded', 'dotted', 'striped']


def _head(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='KgCoOpHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(
                type='CoOpPromptLearner', ctx_init='a photo of a'),
            **kwargs))


def _samples(labels):
    return [DataSample().set_gt_label(label) for label in labels]


def test_cosine_distance():
    a = torch.tensor([[1., 0.], [0., 2.]])
    assert float(cosine_distance(a, a)) == pytest.approx(0.)
    b = torch.tensor([[0., 1.], [0., -1.]])  # cos 0 and -1
    assert float(cosine_distance(a, b)) == pytest.approx(1.5)
    loss = MODELS.build(dict(type='CosineDistanceLoss', loss_weight=8.))
    assert float(loss(a, b)) == pytest.approx(12.)
    with pytest.raises(ValueError, match=r'\(2, 2\) and targets \(1, 2\)'):
        cosine_distance(a, a[:1])


def test_loss_is_ce_plus_eight_times_the_distance_to_the_handcrafted_text():
    head = _head()
    head.set_class_names(CLASSES, TEMPLATE)
    feats = (torch.randn(4, 64), )
    samples = _samples([0, 1, 2, 1])
    # "X X X X {name}." with the context of "a photo of a" is the
    # hand-crafted prompt itself: nothing to pull towards yet.
    assert head.loss(feats, samples)['loss_kg'].item() == pytest.approx(
        0., abs=1e-5)
    with torch.no_grad():
        head.prompt_learner.ctx.add_(torch.randn_like(head.prompt_learner.ctx))
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss', 'loss_kg'}
    learned = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)
    tokens = head.text_encoder.tokenize([TEMPLATE.format(c) for c in CLASSES])
    clip = F.normalize(
        head.text_encoder(head.text_encoder.embed(tokens), tokens), dim=-1)
    expected = 8 * (1 - (learned * clip).sum(-1).mean())
    assert losses['loss_kg'].item() == pytest.approx(expected.item(), rel=1e-4)
    assert losses['loss_kg'].item() > 0.01
    logits = head((feats[0], ))
    torch.testing.assert_close(
        losses['loss'], F.cross_entropy(logits, torch.tensor([0, 1, 2, 1])))
    losses['loss_kg'].backward()
    assert head.prompt_learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in head.text_encoder.parameters())


def test_handcrafted_features_are_computed_once_per_class_list(monkeypatch):
    head = _head(loss_kg=dict(type='CosineDistanceLoss', loss_weight=2.))
    assert head.loss_kg.loss_weight == 2.
    head.set_class_names(CLASSES, TEMPLATE)
    calls = []
    orig = head.text_targets.prompts.forward
    monkeypatch.setattr(head.text_targets.prompts, 'forward',
                        lambda enc: calls.append(1) or orig(enc))
    feats = (torch.randn(2, 64), )
    for _ in range(3):
        head.loss(feats, _samples([0, 2]))
    assert len(calls) == 1
    head.set_class_names(CLASSES, TEMPLATE)  # same binding: kept
    head.loss(feats, _samples([0, 2]))
    assert len(calls) == 1
    head.set_class_names(CLASSES[:2], TEMPLATE)
    assert head.knowledge_features().shape == (2, 64) and len(calls) == 2
    head.set_class_names(CLASSES[:2], '{} texture.')  # 'dataset' template
    head.knowledge_features()
    assert len(calls) == 3


def test_checkpoints_and_inference_are_coops():
    head = _head()
    assert set(head.state_dict()) == {'prompt_learner.ctx'}
    with torch.no_grad():
        head.prompt_learner.ctx.add_(torch.randn_like(head.prompt_learner.ctx))
    torch.manual_seed(0)  # the same random (frozen, unsaved) encoder
    coop = MODELS.build(
        dict(
            type='PromptClsHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(
                type='CoOpPromptLearner', ctx_init='a photo of a')))
    coop.load_state_dict(head.state_dict())
    for h in (head, coop):
        h.set_class_names(CLASSES, TEMPLATE)
        h.eval()
    feats = (torch.randn(3, 64), )
    torch.testing.assert_close(head(feats), coop(feats))


def test_errors_name_what_to_fix():
    head = _head(knowledge_prompts=dict(type='HandcraftedPrompts'))
    with pytest.raises(ValueError, match="needs a dataset with a 'template'"):
        head.set_class_names(CLASSES)
    with pytest.raises(
            ValueError, match=r'\(CoOpPromptLearner\) has '
            'parameters'):
        _head(knowledge_prompts=dict(type='CoOpPromptLearner'))
