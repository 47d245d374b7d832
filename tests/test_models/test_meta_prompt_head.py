# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch.utils.flop_counter import FlopCounterMode

from mmprompt.models import TINY_MODEL, kl_divergence
from mmprompt.registry import MODELS

DEFAULT_ARGS = dict(
    type='MetaPromptClsHead',
    text_encoder=dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
    prompt_learner=dict(type='CoOpPromptLearner'))
CLASSES = ['banded', 'dotted', 'striped', 'zigzagged', 'veined', 'woven']
DIMS = 64  # the tiny CLIP's embedding width


def _identity(fusion):
    """Zero the residual branches: prototypes = the text features."""
    with torch.no_grad():
        for layer in (fusion.attn.out_proj, fusion.mlp[2]):
            layer.weight.zero_()
            layer.bias.zero_()


def _head(**kwargs):
    head = MODELS.build(dict(DEFAULT_ARGS, **kwargs))
    head.set_class_names(CLASSES)
    head.set_episode_layout(num_ways=3, num_support=2, num_query=4)
    return head


def _episodes(tasks=2, ways=3, per_class=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = []
    for _ in range(tasks):
        for c in torch.randperm(len(CLASSES), generator=g)[:ways].tolist():
            labels += [c] * per_class
    feats = torch.randn(len(labels), DIMS, generator=g)
    return (feats, ), [DataSample().set_gt_label(c) for c in labels]


def test_fusion_shapes_and_support_sets():
    fusion = MODELS.build(
        dict(type='CrossAttentionFusion', embed_dims=16, num_heads=4))
    text, support = torch.randn(2, 3, 16), torch.randn(2, 3, 2, 16)
    out = fusion(text, support)
    assert out.shape == (2, 3, 16)
    moved = support.clone()
    moved[0, 1] += 1.
    changed = (fusion(text, moved) - out).abs().sum(-1) > 1e-6
    # keys='class': only the prototype of that class of that task changes.
    assert changed.tolist() == [[False, True, False], [False, False, False]]
    task = MODELS.build(
        dict(type='CrossAttentionFusion', embed_dims=16, num_heads=4,
             keys='task'))
    changed = (task(text, moved) - task(text, support)).abs().sum(-1) > 1e-6
    assert changed.tolist() == [[True, True, True], [False, False, False]]


def test_fusion_residuals():
    fusion = MODELS.build(dict(type='CrossAttentionFusion', embed_dims=16))
    _identity(fusion)
    text, support = torch.randn(2, 3, 16), torch.randn(2, 3, 2, 16)
    torch.testing.assert_close(
        fusion(text, support), F.normalize(text, dim=-1))
    raw = MODELS.build(
        dict(type='CrossAttentionFusion', embed_dims=16,
             normalize_inputs=False))
    _identity(raw)
    torch.testing.assert_close(raw(text, support), text)
    no_res = MODELS.build(
        dict(type='CrossAttentionFusion', embed_dims=16, attn_residual=False,
             mlp_residual=False))
    _identity(no_res)
    assert no_res(text, support).abs().max() == 0
    # Without the attention residual the text only enters as the query.
    attn_only = MODELS.build(
        dict(type='CrossAttentionFusion', embed_dims=16, num_heads=1,
             attn_residual=False))
    one_key = torch.randn(2, 3, 1, 16)
    a = attn_only(text, one_key)
    b = attn_only(torch.randn(2, 3, 16), one_key)
    torch.testing.assert_close(a, b)  # softmax over one key = 1


def test_fusion_rejects_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="keys must be one of"):
        MODELS.build(dict(type='CrossAttentionFusion', embed_dims=16,
                          keys='all'))
    with pytest.raises(ValueError, match='num_heads=3 does not divide '
                       'embed_dims=16'):
        MODELS.build(dict(type='CrossAttentionFusion', embed_dims=16,
                          num_heads=3))
    fusion = MODELS.build(dict(type='CrossAttentionFusion', embed_dims=16))
    with pytest.raises(ValueError, match=r'text \(T, N, D\) and support '
                       r'\(T, N, K, D\), but got \(2, 3, 16\) and '
                       r'\(2, 4, 2, 16\)'):
        fusion(torch.randn(2, 3, 16), torch.randn(2, 4, 2, 16))


def _task_losses(head, feats, samples, task):
    """CE of P_mm and KL(P_mm || P_text) of one task, written out."""
    image = F.normalize(feats[0], dim=-1).reshape(-1, 3, 6, DIMS)[task]
    labels = [int(s.gt_label) for s in samples][task * 18:(task + 1) * 18:6]
    text = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)[labels]
    protos = F.normalize(
        head.fusion(text[None], image[None, :, :2])[0], dim=-1)
    query = image[:, 2:].reshape(12, DIMS)
    scale = head.text_encoder.logit_scale.exp()
    mm, txt = scale * query @ protos.t(), scale * query @ text.t()
    target = torch.arange(3).repeat_interleave(4)
    return F.cross_entropy(mm, target), kl_divergence(mm, txt)


def test_loss_is_ce_of_prototypes_plus_weighted_kl():
    head = _head()
    feats, samples = _episodes()
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'loss_kl', 'acc_mm', 'acc_text'}
    (ce0, kl0), (ce1, kl1) = (_task_losses(head, feats, samples, t)
                              for t in (0, 1))
    # Averaged over all queries of the meta-batch (= over its tasks).
    torch.testing.assert_close(losses['loss_cls'], (ce0 + ce1) / 2)
    torch.testing.assert_close(losses['loss_kl'], 0.2 * (kl0 + kl1) / 2)
    assert kl0.item() > 0 and ce0.item() > 0
    assert 0 <= float(losses['acc_mm']) <= 100


def test_gradients_reach_prompts_and_fusion_not_clip():
    head = _head()
    feats, samples = _episodes()
    losses = head.loss(feats, samples)
    (losses['loss_cls'] + losses['loss_kl']).backward()
    assert head.prompt_learner.ctx.grad.abs().sum() > 0
    for name, param in head.fusion.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in head.text_encoder.parameters())

    # The KL alone trains both the prompts and the fusion ...
    head.zero_grad()
    head.loss(feats, samples)['loss_kl'].backward()
    assert head.prompt_learner.ctx.grad.abs().sum() > 0
    assert head.fusion.mlp[2].weight.grad.abs().sum() > 0
    # ... unless P_mm is a detached teacher.
    teacher = _head(detach_mm=True)
    teacher.load_state_dict(head.state_dict())
    teacher.loss(feats, samples)['loss_kl'].backward()
    assert teacher.prompt_learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.fusion.parameters())


def test_kl_vanishes_when_prototypes_equal_texts_and_has_a_direction():
    head = _head()
    feats, samples = _episodes()
    mm_text = head.loss(feats, samples)['loss_kl'].item()
    reverse = _head(kl_direction='text_mm')
    reverse.load_state_dict(head.state_dict())
    text_mm = reverse.loss(feats, samples)['loss_kl'].item()
    assert mm_text > 0 and text_mm > 0
    assert mm_text != pytest.approx(text_mm)
    _identity(head.fusion)
    losses = head.loss(feats, samples)
    assert losses['loss_kl'].item() == pytest.approx(0, abs=1e-6)
    assert float(losses['acc_mm']) == float(losses['acc_text'])
    with pytest.raises(ValueError, match="kl_direction must be one of"):
        _head(kl_direction='both')


def test_batches_must_follow_the_episode_layout():
    head = MODELS.build(DEFAULT_ARGS)
    head.set_class_names(CLASSES)
    feats, samples = _episodes()
    with pytest.raises(RuntimeError, match='has no episode layout'):
        head.loss(feats, samples)
    head.set_episode_layout(num_ways=3, num_support=2, num_query=4)
    with pytest.raises(ValueError, match=r'a batch of 35 images is not a '
                       r'whole number of tasks of 3 ways x \(2 support \+ 4 '
                       r'query\) = 18 images'):
        head.loss((feats[0][:35], ), samples[:35])
    shuffled = samples[1:] + samples[:1]
    with pytest.raises(ValueError, match='labels do not follow the episode'):
        head.loss(feats, shuffled)


def _coop_twin(head):
    """A CoOp head with the same encoder and the meta head's prompts."""
    coop = MODELS.build(
        dict(type='PromptClsHead', text_encoder=head.text_encoder,
             prompt_learner=dict(type='CoOpPromptLearner')))
    coop.set_class_names(CLASSES)
    coop.prompt_learner.load_state_dict(head.prompt_learner.state_dict())
    return coop


def test_inference_is_text_only_and_costs_what_coop_costs():
    head = _head()
    feats, samples = _episodes()
    # One SGD step so the prompts differ from their initialisation.
    optim = torch.optim.SGD(head.parameters(), lr=1.)
    losses = head.loss(feats, samples)
    (losses['loss_cls'] + losses['loss_kl']).backward()
    optim.step()
    coop = _coop_twin(head)
    head.eval()
    coop.eval()

    calls = []
    head.fusion.register_forward_hook(lambda *args: calls.append(1))
    images = (torch.randn(7, DIMS), )
    with FlopCounterMode(display=False) as meta_flops:
        preds = head.predict(images)
    with FlopCounterMode(display=False) as coop_flops:
        expected = coop.predict(images)
    assert calls == []
    assert meta_flops.get_total_flops() == coop_flops.get_total_flops() > 0
    for got, want in zip(preds, expected):
        torch.testing.assert_close(got.pred_score, want.pred_score)
        assert got.pred_label == want.pred_label


def test_compare_predictions_over_all_bound_classes():
    head = _head()
    head.eval()
    images = torch.randn(5, DIMS)
    support = torch.randn(len(CLASSES), 2, DIMS)
    mm, text = head.compare_predictions(images, support)
    assert mm.shape == text.shape == (5, len(CLASSES))
    torch.testing.assert_close(text, head((images, )))
    assert not torch.allclose(mm, text)
    _identity(head.fusion)
    mm, _ = head.compare_predictions(images, support)
    torch.testing.assert_close(mm, text)
    with pytest.raises(ValueError, match=r'support must be \(C, K, D\) with '
                       r'C = 6 bound classes'):
        head.compare_predictions(images, support[:4])
