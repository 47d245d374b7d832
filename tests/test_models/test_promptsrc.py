# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.engine.hooks import (GaussianPromptAggregationHook,
                                   gaussian_epoch_weights)
from mmprompt.models import TINY_MODEL
from mmprompt.models.heads import KgCoOpHead
from mmprompt.models.heads.text_targets import FrozenTextTargets
from mmprompt.registry import MODELS
from mmprompt.templates import (IMAGENET_TEMPLATES, PROMPTSRC_TEMPLATES,
                                get_templates)

CLASSES = ['banded', 'dotted', 'striped']
ENCODER = dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)


def test_promptsrc_templates():
    assert get_templates('promptsrc60') == PROMPTSRC_TEMPLATES
    assert len(set(PROMPTSRC_TEMPLATES)) == 60
    assert PROMPTSRC_TEMPLATES[0] == 'a photo of a {}.'
    assert PROMPTSRC_TEMPLATES[1:3] == IMAGENET_TEMPLATES[:2]
    assert PROMPTSRC_TEMPLATES[-1] == 'itap of the {}.'
    assert set(PROMPTSRC_TEMPLATES) <= set(IMAGENET_TEMPLATES)


def test_handcrafted_prompts_can_average_raw_features():
    torch.manual_seed(0)
    enc = MODELS.build(ENCODER)
    templates = ['a photo of a {}.', 'a drawing of the {}.']
    feats = {}
    for average in ('normalized', 'raw'):
        prompts = MODELS.build(
            dict(
                type='HandcraftedPrompts',
                templates=templates,
                average=average))
        prompts.set_class_names(CLASSES, enc)
        feats[average] = prompts(enc)
    raw = [enc.encode_text([t.format(c) for c in CLASSES]) for t in templates]
    torch.testing.assert_close(feats['raw'], (raw[0] + raw[1]) / 2)
    torch.testing.assert_close(
        feats['normalized'],
        (F.normalize(raw[0], dim=-1) + F.normalize(raw[1], dim=-1)) / 2)
    with pytest.raises(ValueError, match="average='mean'; choose one of"):
        MODELS.build(dict(type='HandcraftedPrompts', average='mean'))


def test_loss_terms_are_the_official_ones():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='PromptSRCHead',
            text_encoder=ENCODER,
            prompt_learner=dict(type='CoOpPromptLearner')))
    head.set_class_names(CLASSES, '{} texture.')
    feats = torch.randn(4, 64, requires_grad=True)
    frozen = torch.randn(4, 64)
    labels = [0, 2, 1, 1]
    losses = head.loss((feats, ),
                       [DataSample().set_gt_label(y) for y in labels],
                       frozen_feats=(frozen, ))
    assert set(losses) == {
        'loss', 'loss_scl_text', 'loss_scl_image', 'loss_scl_logits'
    }
    enc = head.text_encoder
    scale = enc.logit_scale.exp()
    image, image0 = F.normalize(feats, dim=-1), F.normalize(frozen, dim=-1)
    text = F.normalize(head.prompt_learner(enc), dim=-1)
    text0 = F.normalize(
        sum(
            enc.encode_text([t.format(c) for c in CLASSES])
            for t in PROMPTSRC_TEMPLATES) / 60,
        dim=-1)
    logits, logits0 = scale * image @ text.t(), scale * image0 @ text0.t()
    p0 = logits0.softmax(-1)
    kl = (p0 * (p0.log() - logits.log_softmax(-1))).sum() / logits.numel()
    expected = {
        'loss': F.cross_entropy(logits, torch.tensor(labels)),
        'loss_scl_text': 25 * (text - text0).abs().mean(),
        'loss_scl_image': 10 * (image - image0).abs().mean(),
        'loss_scl_logits': kl,
    }
    for key, value in expected.items():
        torch.testing.assert_close(
            losses[key], value, rtol=1e-4, atol=1e-6, msg=key)
        assert losses[key].item() > 0
    losses['loss_scl_image'].backward()
    assert feats.grad.abs().sum() > 0
    with pytest.raises(
            ValueError,
            match=r'needs the frozen \(unprompted\) '
            r"image features.*type='VLPromptClassifier'"):
        head.loss((feats, ), [DataSample().set_gt_label(0)])
    # Its own losses, not KgCoOp's: composition, not inheritance.
    assert not isinstance(head, KgCoOpHead)
    assert isinstance(head.text_targets, FrozenTextTargets)
    assert head.needs_frozen_image_feats
    assert (head.loss_text.loss_weight, head.loss_image.loss_weight,
            head.loss_kl.loss_weight,
            head.loss_kl.reduction) == (25., 10., 1., 'elementwise_mean')


def test_the_classifier_passes_the_unprompted_image_features():
    torch.manual_seed(0)
    cfg = dict(
        type='VLPromptClassifier',
        backbone=dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL),
        head=dict(
            type='PromptSRCHead',
            text_encoder=ENCODER,
            prompt_learner=dict(
                type='IVLPPromptLearner', n_ctx=2, n_vision_ctx=2, depth=2)))
    with pytest.raises(
            ValueError,
            match=r'frozen_feats_in_loss is no longer '
            r'a classifier option.*Remove '
            r'model\.frozen_feats_in_loss'):
        MODELS.build(dict(cfg, frozen_feats_in_loss=True))
    model = MODELS.build(cfg)  # the head asks for the frozen features
    assert model.frozen_feats_in_loss
    seen = {}
    model.head.loss = lambda feats, samples, **kw: seen.update(
        feats=feats, **kw) or {}
    images = torch.randn(2, 3, 32, 32)
    model.loss(images, [DataSample().set_gt_label(0)] * 2)
    (frozen, ), (prompted, ) = seen['frozen_feats'], seen['feats']
    assert not frozen.requires_grad and prompted.requires_grad
    torch.testing.assert_close(frozen, model.backbone(images)[0])
    assert not torch.allclose(frozen, prompted)


def test_gaussian_epoch_weights_match_promptsrc():
    weights = gaussian_epoch_weights(20, mean=15, std=1)
    assert sum(weights) == pytest.approx(1)
    assert max(weights) == weights[14] == pytest.approx(0.39894, abs=1e-5)
    assert weights[13] == weights[15] == pytest.approx(0.24197, abs=1e-5)
    with pytest.raises(ValueError, match='std=0'):
        gaussian_epoch_weights(20, 15, 0)
    with pytest.raises(ValueError, match='move the mean'):
        gaussian_epoch_weights(3, 1e6, 1)


class _Runner:

    def __init__(self, model, max_epochs):
        self.model, self.max_epochs, self.epoch = model, max_epochs, 0


def test_the_hook_replaces_the_prompts_by_their_weighted_average():
    model = torch.nn.Linear(1, 1)
    model.bias.requires_grad_(False)  # frozen: left alone
    runner = _Runner(model, max_epochs=3)
    hook = GaussianPromptAggregationHook(mean=2, std=1)
    w = gaussian_epoch_weights(3, 2, 1)
    for epoch, value in enumerate([1., 2., 4.]):
        runner.epoch = epoch
        with torch.no_grad():
            model.weight.fill_(value)
        hook.after_train_epoch(runner)
        if epoch == 0:  # a checkpoint after epoch 1 carries the sum
            checkpoint = {}
            hook.before_save_checkpoint(runner, checkpoint)
            restored = GaussianPromptAggregationHook(mean=2, std=1)
            restored.after_load_checkpoint(runner, checkpoint)
            assert set(checkpoint['gaussian_prompt_sum']) == {'weight'}
            hook = restored
    expected = w[0] * 1 + w[1] * 2 + w[2] * 4
    assert model.weight.item() == pytest.approx(expected)
