# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
from mmpretrain.structures import DataSample

from mmprompt.models import TINY_MODEL
from mmprompt.registry import MODELS

DEFAULT_ARGS = dict(
    type='PromptClsHead',
    text_encoder=dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
    prompt_learner=dict(type='CoOpPromptLearner'))
CLASSES = ['banded', 'dotted', 'striped']


def _samples(labels):
    return [DataSample().set_gt_label(label) for label in labels]


def test_logits_are_scaled_cosine_similarities():
    head = MODELS.build(DEFAULT_ARGS)
    head.set_class_names(CLASSES)
    feats = torch.randn(4, 64)
    logits = head((feats, ))
    image = torch.nn.functional.normalize(feats, dim=-1)
    text = torch.nn.functional.normalize(
        head.prompt_learner(head.text_encoder), dim=-1)
    scale = head.text_encoder.logit_scale.exp()
    torch.testing.assert_close(logits, scale * image @ text.t())
    assert torch.allclose(scale, torch.tensor(1 / 0.07), atol=1e-3)
    fixed = MODELS.build(dict(DEFAULT_ARGS, logit_scale=10.))
    fixed.set_class_names(CLASSES)
    assert fixed((feats, )).abs().max() <= 10 + 1e-5


def test_loss_and_predict_follow_the_cls_head_contract():
    head = MODELS.build(DEFAULT_ARGS)
    head.set_class_names(CLASSES)
    feats = (torch.randn(4, 64), )
    losses = head.loss(feats, _samples([0, 1, 2, 1]))
    assert set(losses) == {'loss'} and losses['loss'].requires_grad
    losses['loss'].backward()
    assert head.prompt_learner.ctx.grad is not None
    head.eval()
    preds = head.predict(feats, _samples([0, 1, 2, 1]))
    assert len(preds) == 4
    assert preds[0].pred_score.shape == (3, )
    assert torch.allclose(preds[0].pred_score.sum(), torch.tensor(1.))


def test_eval_text_features_are_cached_until_prompts_or_classes_change(
        monkeypatch):
    head = MODELS.build(DEFAULT_ARGS)
    head.set_class_names(CLASSES)
    head.eval()
    calls = []
    orig = head.prompt_learner.forward
    monkeypatch.setattr(head.prompt_learner, 'forward',
                        lambda enc: calls.append(1) or orig(enc))
    feats = (torch.randn(2, 64), )
    first = head(feats)
    head(feats)
    assert len(calls) == 1, 'second eval forward reuses the text features'
    with torch.no_grad():  # an optimiser step bumps the version counter
        ctx = head.prompt_learner.ctx
        ctx.add_(torch.randn_like(ctx))
    changed = head(feats)
    assert len(calls) == 2 and not torch.allclose(first, changed)
    head.set_class_names(CLASSES)  # same classes: nothing to redo
    head(feats)
    assert len(calls) == 2
    head.set_class_names(CLASSES[:2])
    assert head(feats).shape == (2, 2) and len(calls) == 3
    head.train()
    head(feats)
    head(feats)
    assert len(calls) == 5, 'training recomputes every step'


def test_unbound_head_says_how_to_bind():
    head = MODELS.build(DEFAULT_ARGS)
    with pytest.raises(
            RuntimeError,
            match=r'default_hooks\.class_names=dict\(type=.SetClassNamesHook'):
        head((torch.randn(1, 64), ))


def test_zero_shot_head_has_nothing_to_train_or_save():
    head = MODELS.build(
        dict(DEFAULT_ARGS, prompt_learner=dict(type='HandcraftedPrompts')))
    head.set_class_names(CLASSES, template='{} texture.')
    assert not [p for p in head.parameters() if p.requires_grad]
    assert head.state_dict() == {}
    assert head((torch.randn(2, 64), )).shape == (2, 3)
