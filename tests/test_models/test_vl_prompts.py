# Copyright (c) mmprompt contributors. All rights reserved.
"""Deep vision-language prompt learners (MaPLe, IVLP, VPT-deep, DAPT) and
the classifier that feeds their visual prompts to the image encoder."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.models.clip import TINY_MODEL
from mmprompt.registry import MODELS

CLASSES = ['cat', 'dog', 'traffic_light']
TEXT = dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)
IMAGE = dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL)


@pytest.fixture(scope='module')
def encoders():
    torch.manual_seed(0)
    return MODELS.build(TEXT), MODELS.build(IMAGE)


def _learner(encoders, **cfg):
    text, image = encoders
    learner = MODELS.build(cfg, default_args=dict(text_encoder=text))
    learner.bind_image_encoder(image)
    learner.set_class_names(CLASSES, text)
    return learner


def _model(learner, head='PromptClsHead', **head_cfg):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='VLPromptClassifier',
            backbone=IMAGE,
            head=dict(
                type=head,
                text_encoder=TEXT,
                prompt_learner=learner,
                **head_cfg)))
    model.head.set_class_names(CLASSES)
    return model


def _samples(labels):
    return [DataSample().set_gt_label(label) for label in labels]


def test_maple_learns_a_photo_and_keeps_of_a_as_text(encoders):
    text, _ = encoders
    maple = _learner(encoders, type='MaPLePromptLearner', depth=1)
    # "a photo" are the two learned tokens, initialised from their embeddings
    photo = text.embed(text.tokenize('a photo of a'))[0, 1:3]
    assert torch.equal(maple.ctx.data, photo)
    # depth 1: at init the prompts are exactly "a photo of a {class}."
    expected = text.encode_text(
        [f'a photo of a {n.replace("_", " ")}.' for n in CLASSES])
    torch.testing.assert_close(maple(text), expected, rtol=0, atol=1e-6)


def test_maple_parameters_and_coupling_shapes(encoders):
    maple = _learner(encoders, type='MaPLePromptLearner', depth=2)
    shapes = {n: tuple(p.shape) for n, p in maple.named_parameters()}
    assert shapes == {
        'ctx': (2, 64),
        'deep_text_prompts.0': (2, 64),
        'coupling.0.weight': (64, 64),
        'coupling.0.bias': (64, ),
        'coupling.1.weight': (64, 64),
        'coupling.1.bias': (64, ),
    }
    prompts = maple.visual_prompts()
    assert prompts.position == 'append'
    torch.testing.assert_close(prompts.tokens[0], maple.coupling[0](maple.ctx))
    torch.testing.assert_close(prompts.tokens[1],
                               maple.coupling[1](maple.deep_text_prompts[0]))


def test_maple_coupling_trains_the_text_prompts_through_the_image_loss(
        encoders):
    model = _model(dict(type='MaPLePromptLearner', depth=2))
    learner = model.head.prompt_learner
    x = torch.randn(2, 3, 32, 32)
    model.extract_feat(x)[0].sum().backward()  # image features only
    for name in ('ctx', 'deep_text_prompts.0', 'coupling.0.weight',
                 'coupling.1.weight'):
        grad = dict(learner.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.head.text_encoder.parameters())


def test_ivlp_visual_prompts_are_independent_of_the_text(encoders):
    model = _model(dict(type='IVLPPromptLearner', depth=2))
    learner = model.head.prompt_learner
    assert [tuple(p.shape) for p in learner.vision_prompts] == [(2, 64)] * 2
    assert learner.coupling is None
    model.extract_feat(torch.randn(2, 3, 32, 32))[0].sum().backward()
    assert learner.ctx.grad is None
    assert all(p.grad.abs().sum() > 0 for p in learner.vision_prompts)
    # N(0, 0.02^2) init, as MaPLe's code
    torch.manual_seed(1)
    big = _learner(
        encoders, type='IVLPPromptLearner', depth=2, n_vision_ctx=500)
    assert big.vision_prompts[0].std().item() == pytest.approx(0.02, rel=0.1)


def test_vpt_deep_has_fixed_text_and_only_visual_prompts(encoders):
    text, _ = encoders
    vpt = _learner(
        encoders, type='VPTDeepPromptLearner', n_vision_ctx=8, depth=2)
    assert vpt.ctx is None and len(vpt.deep_text_prompts) == 0
    assert {n
            for n, _ in vpt.named_parameters()
            } == {'vision_prompts.0', 'vision_prompts.1'}
    expected = text.encode_text(
        [f'a photo of a {n.replace("_", " ")}.' for n in CLASSES])
    torch.testing.assert_close(vpt(text), expected, rtol=0, atol=1e-6)
    assert vpt.visual_prompts().tokens[0].shape == (8, 64)


def test_dapt_prompts_uniform_after_cls_and_any_initialiser(encoders):
    text, image = encoders
    torch.manual_seed(0)
    dapt = _learner(encoders, type='DAPTPromptLearner', n_vision_ctx=300)
    assert dapt.ctx.shape == (16, 64)
    assert dapt.ctx.std().item() == pytest.approx(0.02, rel=0.2)
    prompts = dapt.visual_prompts()
    assert prompts.position == 'after_cls' and len(prompts.tokens) == 1
    bound = math.sqrt(6 / (3 * 8 * 8 + 64))  # patch 8, width 64
    vis = prompts.tokens[0]
    assert vis.abs().max() <= bound and vis.abs().max() > 0.9 * bound
    same = _learner(
        encoders,
        type='DAPTPromptLearner',
        ctx_init=dict(type='SameSTPromptInit'))
    assert torch.equal(same.ctx[0], same.ctx[15])
    eos = text.token_embedding.weight[text.eot_token_id]
    assert (same.ctx[0] - eos).norm().item() == pytest.approx(0.1, rel=1e-4)


def test_checkpoints_hold_only_the_prompts(encoders):
    model = _model(dict(type='MaPLePromptLearner', depth=2))
    keys = set(model.state_dict())
    assert keys == {
        'head.prompt_learner.' + k
        for k in ('ctx', 'deep_text_prompts.0', 'coupling.0.weight',
                  'coupling.0.bias', 'coupling.1.weight', 'coupling.1.bias')
    }
    other = _model(dict(type='MaPLePromptLearner', depth=2))
    other.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x, _samples([0, 1]), mode='predict')[0].pred_score,
            other(x, _samples([0, 1]), mode='predict')[0].pred_score)


def test_text_only_learner_in_the_vl_classifier_is_an_image_classifier():
    coop = dict(type='CoOpPromptLearner')
    model = _model(coop)
    plain = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=IMAGE,
            head=dict(
                type='PromptClsHead', text_encoder=TEXT, prompt_learner=coop)))
    plain.load_state_dict(model.state_dict(), strict=False)
    plain.backbone.load_state_dict(model.backbone.state_dict(), strict=False)
    plain.backbone.visual.load_state_dict(model.backbone.visual.state_dict())
    plain.head.text_encoder.transformer.load_state_dict(
        model.head.text_encoder.transformer.state_dict())
    plain.head.set_class_names(CLASSES)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.extract_feat(x)[0], plain.extract_feat(x)[0])


def test_learner_errors(encoders):
    text, image = encoders
    unbound = MODELS.build(
        dict(type='IVLPPromptLearner', depth=2),
        default_args=dict(text_encoder=text))
    unbound.set_class_names(CLASSES, text)
    with pytest.raises(RuntimeError, match="type='VLPromptClassifier'"):
        unbound(text)
    with pytest.raises(
            ValueError,
            match='vision_depth=3 but the vision '
            "transformer of 'mmprompt-tiny' has 2 blocks"):
        _learner(encoders, type='VLPromptLearner', vision_depth=3)
    with pytest.raises(
            ValueError, match='text_depth=3 but the text encoder '
            'has 2 blocks'):
        _learner(encoders, type='MaPLePromptLearner', depth=3)
    with pytest.raises(ValueError, match='coupling .* n_vision_ctx == n_ctx'):
        _learner(
            encoders,
            type='VLPromptLearner',
            text_depth=2,
            vision_depth=2,
            n_vision_ctx=3,
            coupling=True)
    with pytest.raises(ValueError, match="has only 4 tokens"):
        _learner(encoders, type='VLPromptLearner', n_ctx=5)
    with pytest.raises(ValueError, match="vision_position='middle'"):
        _learner(encoders, type='VLPromptLearner', vision_position='middle')
    with pytest.raises(ValueError, match='CoOp needs at least one'):
        MODELS.build(
            dict(type='CoOpPromptLearner', n_ctx=0, ctx_init=None),
            default_args=dict(text_encoder=text))


def test_dapt_head_losses_and_prototypes():
    model = _model(
        dict(type='DAPTPromptLearner'),
        head='DAPTHead',
        loss_intra=dict(type='DAPTIntraLoss', loss_weight=10.0),
        loss_inter=dict(type='DAPTInterLoss', loss_weight=0.5))
    x = torch.randn(4, 3, 32, 32)
    samples = _samples([0, 1, 2, 1])
    expected = r'default_hooks\.class_prototypes=dict\(type=.ClassPrototype'
    with pytest.raises(RuntimeError, match=expected):
        model(x, samples, mode='loss')
    protos = F.normalize(torch.randn(3, 64), dim=-1) * 0.9
    model.head.set_prototypes(protos)
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss', 'loss_intra', 'loss_inter'}
    feats = F.normalize(model.extract_feat(x)[0], dim=-1)
    text = model.head.text_features()
    labels = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(losses['loss_intra'],
                               10.0 * ((feats - protos[labels])**2).mean())
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3)]
    inter = sum(
        torch.exp(-2 * (text[i] - text[j]).pow(2).sum())
        for i, j in pairs) / len(pairs)
    torch.testing.assert_close(losses['loss_inter'], 0.5 * inter)
    logits = model.head.logit_scale * feats @ text.t()
    torch.testing.assert_close(losses['loss'], F.cross_entropy(logits, labels))
    # The prototypes are saved and loaded with the prompts.
    state = model.state_dict()
    assert torch.equal(state['head.prototypes'], protos)
    fresh = _model(dict(type='DAPTPromptLearner'), head='DAPTHead')
    fresh.load_state_dict(state, strict=True)
    assert torch.equal(fresh.head.prototypes, protos)
    model.head.set_prototypes(protos[:2])
    with pytest.raises(
            ValueError, match='2 class prototypes but is bound '
            'to 3 classes'):
        model(x, samples, mode='loss')


def test_fixed_text_is_encoded_once_while_visual_prompts_train():
    model = _model(dict(type='VPTDeepPromptLearner', n_vision_ctx=2, depth=2))
    calls = []
    model.head.text_encoder.register_forward_hook(
        lambda *args: calls.append(1))
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    for _ in range(3):
        loss = model(x, _samples([0, 1]), mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert len(calls) == 1  # VPT's text has no parameter: one text pass
    # MaPLe's text prompts train: a text pass with gradients every step.
    maple = _model(dict(type='MaPLePromptLearner', depth=2))
    calls.clear()
    maple.head.text_encoder.register_forward_hook(
        lambda *args: calls.append(1))
    maple.train()
    for _ in range(2):
        maple(x, _samples([0, 1]), mode='loss')['loss'].backward()
    assert len(calls) == 2
