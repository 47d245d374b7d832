# Copyright (c) mmprompt contributors. All rights reserved.
import argparse
import logging
import math
import os.path as osp
from unittest.mock import MagicMock

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from mmprompt.engine.hooks.checkpoint_check import check_checkpoint_fits
from mmprompt.errors import CheckpointError, ConfigError
from mmprompt.models import TINY_MODEL, kl_divergence
from mmprompt.registry import MODELS

DEFAULT_ARGS = dict(
    type='MetaPromptClsHead',
    text_encoder=dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
    prompt_learner=dict(type='CoOpPromptLearner'))
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSES = ['banded', 'dotted', 'striped', 'zigzagged', 'veined', 'woven']
DIMS = 64  # the tiny CLIP's embedding width


def _identity(fusion):
    """Zero the residual branches: prototypes = the text features."""
    with torch.no_grad():
        for layer in (fusion.attn.out_proj, fusion.mlp[2]):
            layer.weight.zero_()
            layer.bias.zero_()


def _fusion_by_hand(fusion, text, support, wrong=()):
    """CrossAttentionFusion written out from its parameters.

    ``h = w + W_o [softmax(q_i k_i^T / sqrt(d)) v_i]_i + b_o`` per head ``i``
    (``q = W_q w + b_q``, ``k, v`` likewise from the support features), then
    ``p = h + W_2 GELU(W_1 h + b_1) + b_2``, on L2-normalised inputs; no
    layer norm. Nothing of the module runs but its weights. ``wrong`` names
    deliberate deviations (to show this formula tells them apart).
    """
    dims = text.shape[-1]
    heads = fusion.attn.num_heads
    width = dims // heads
    if fusion.normalize_inputs and 'no_normalize' not in wrong:
        text = text / text.norm(dim=-1, keepdim=True)
        support = support / support.norm(dim=-1, keepdim=True)
    num_tasks, num_ways, num_shots, _ = support.shape
    if fusion.keys == 'class':  # class n attends over its own K images
        keys = support
    else:  # every class attends over all N * K images of its task
        keys = support.reshape(num_tasks, 1, num_ways * num_shots,
                               dims).expand(-1, num_ways, -1, -1)
    w_q, w_k, w_v = fusion.attn.in_proj_weight.split(dims)
    b_q, b_k, b_v = fusion.attn.in_proj_bias.split(dims)
    q = (text @ w_q.t() + b_q).reshape(num_tasks, num_ways, heads, width)
    k = (keys @ w_k.t() + b_k).reshape(num_tasks, num_ways, -1, heads, width)
    v = (keys @ w_v.t() + b_v).reshape(num_tasks, num_ways, -1, heads, width)
    scores = torch.einsum('tnhd,tnjhd->tnhj', q, k)
    if 'no_scale' not in wrong:
        scores = scores / math.sqrt(width)
    scores = (scores - scores.amax(-1, keepdim=True)).exp()
    weights = scores / scores.sum(-1, keepdim=True)  # softmax over keys
    mixed = torch.einsum('tnhj,tnjhd->tnhd', weights,
                         v).reshape(num_tasks, num_ways, dims)
    attended = mixed @ fusion.attn.out_proj.weight.t() + \
        fusion.attn.out_proj.bias
    hidden = attended
    if fusion.attn_residual and 'no_attn_residual' not in wrong:
        hidden = text + attended
    first, last = fusion.mlp[0], fusion.mlp[2]
    pre = hidden @ first.weight.t() + first.bias
    act = pre if 'no_act' in wrong else \
        0.5 * pre * (1 + torch.erf(pre / math.sqrt(2)))  # exact GELU
    out = act @ last.weight.t() + last.bias
    if fusion.mlp_residual and 'no_mlp_residual' not in wrong:
        return hidden + out
    return out


def _randomise(module, seed=0, std=.5):
    """Random weights and biases (PyTorch's init zeroes the attention's
    biases)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=g) * std)


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
        dict(
            type='CrossAttentionFusion',
            embed_dims=16,
            num_heads=4,
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
        dict(
            type='CrossAttentionFusion', embed_dims=16,
            normalize_inputs=False))
    _identity(raw)
    torch.testing.assert_close(raw(text, support), text)
    no_res = MODELS.build(
        dict(
            type='CrossAttentionFusion',
            embed_dims=16,
            attn_residual=False,
            mlp_residual=False))
    _identity(no_res)
    assert no_res(text, support).abs().max() == 0
    # Without the attention residual the text only enters as the query.
    attn_only = MODELS.build(
        dict(
            type='CrossAttentionFusion',
            embed_dims=16,
            num_heads=1,
            attn_residual=False))
    one_key = torch.randn(2, 3, 1, 16)
    a = attn_only(text, one_key)
    b = attn_only(torch.randn(2, 3, 16), one_key)
    torch.testing.assert_close(a, b)  # softmax over one key = 1


@pytest.mark.parametrize('settings', [
    dict(),
    dict(keys='task'),
    dict(num_heads=1, mlp_ratio=2.),
    dict(attn_residual=False, normalize_inputs=False),
    dict(keys='task', mlp_residual=False),
])
def test_fusion_matches_the_written_out_formula(settings):
    fusion = MODELS.build(
        dict(
            dict(type='CrossAttentionFusion', embed_dims=16, num_heads=4),
            **settings))
    _randomise(fusion)
    g = torch.Generator().manual_seed(1)
    text = torch.randn(2, 3, 16, generator=g) * 3
    support = torch.randn(2, 3, 2, 16, generator=g) * 3
    out = fusion(text, support)
    torch.testing.assert_close(
        out, _fusion_by_hand(fusion, text, support), rtol=1e-5, atol=1e-5)
    # The formula tells apart a missing activation, scaling, residual or
    # normalisation: each changes the prototypes far beyond the tolerance.
    switches = (('no_attn_residual', fusion.attn_residual),
                ('no_mlp_residual', fusion.mlp_residual),
                ('no_normalize', fusion.normalize_inputs))
    wrongs = ['no_act', 'no_scale'] + [w for w, on in switches if on]
    for wrong in wrongs:
        off = _fusion_by_hand(fusion, text, support, wrong=(wrong, ))
        assert (off - out).abs().max() > 1e-2, wrong


def test_fusion_rejects_bad_settings_and_shapes():
    with pytest.raises(ValueError, match="keys must be one of"):
        MODELS.build(
            dict(type='CrossAttentionFusion', embed_dims=16, keys='all'))
    with pytest.raises(
            ValueError, match='num_heads=3 does not divide '
            'embed_dims=16'):
        MODELS.build(
            dict(type='CrossAttentionFusion', embed_dims=16, num_heads=3))
    fusion = MODELS.build(dict(type='CrossAttentionFusion', embed_dims=16))
    with pytest.raises(
            ValueError,
            match=r'text \(T, N, D\) and support '
            r'\(T, N, K, D\), but got \(2, 3, 16\) and '
            r'\(2, 4, 2, 16\)'):
        fusion(torch.randn(2, 3, 16), torch.randn(2, 4, 2, 16))


def _task_losses(head, feats, samples, task):
    """CE of P_mm and KL(P_mm || P_text) of one task, written out."""
    image = F.normalize(feats[0], dim=-1).reshape(-1, 3, 6, DIMS)[task]
    labels = [int(s.gt_label) for s in samples][task * 18:(task + 1) * 18:6]
    text = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)[labels]
    protos = F.normalize(
        _fusion_by_hand(head.fusion, text[None], image[None, :, :2])[0],
        dim=-1)
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
    (ce0, kl0), (ce1, kl1) = (
        _task_losses(head, feats, samples, t) for t in (0, 1))
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
    with pytest.raises(
            RuntimeError,
            match=r'has no episode layout.*default_hooks\.class_names'):
        head.loss(feats, samples)
    head.set_episode_layout(num_ways=3, num_support=2, num_query=4)
    with pytest.raises(
            ValueError,
            match=r'a batch of 35 images is not a '
            r'whole number of tasks of 3 ways x \(2 support \+ 4 '
            r'query\) = 18 images'):
        head.loss((feats[0][:35], ), samples[:35])
    shuffled = samples[1:] + samples[:1]
    with pytest.raises(ValueError, match='labels do not follow the episode'):
        head.loss(feats, shuffled)


def test_the_episode_layout_comes_from_the_training_batch_sampler():
    head = MODELS.build(DEFAULT_ARGS)
    assert head.episode_layout is None
    loader = MagicMock()
    loader.batch_sampler.episode_layout = dict(
        num_ways=5, num_support=2, num_query=14)
    head.bind_training_set(loader)
    assert head.episode_layout == dict(num_ways=5, num_support=2, num_query=14)
    # A plain batch sampler cannot feed an episodic head.
    plain = DataLoader(list(range(4)), batch_size=2)
    with pytest.raises(
            TypeError,
            match=r'MetaPromptClsHead trains on '
            r'episodes, but the train dataloader draws plain '
            r'batches \(BatchSampler\).*'
            r"type='EpisodicBatchSampler'"):
        head.bind_training_set(plain)


def _coop_twin(head):
    """A CoOp head with the same encoder and the meta head's prompts."""
    coop = MODELS.build(
        dict(
            type='PromptClsHead',
            text_encoder=head.text_encoder,
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
    with pytest.raises(
            ValueError,
            match=r'support must be \(C, K, D\) with '
            r'C = 6 bound classes'):
        head.compare_predictions(images, support[:4])


def test_compare_predictions_pairs_each_class_text_with_its_own_support():
    head = _head()
    _randomise(head.fusion, std=.3)  # a fusion far from the identity
    head.eval()
    g = torch.Generator().manual_seed(3)
    images = torch.randn(5, DIMS, generator=g)
    # Every class's support is different (and far from the others').
    support = torch.randn(len(CLASSES), 2, DIMS, generator=g) + \
        3 * torch.randn(len(CLASSES), 1, DIMS, generator=g)
    mm, text_logits = head.compare_predictions(images, support)

    with torch.no_grad():
        text = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)

        def by_hand(order):
            # prototype c fuses the text of class c with support[order[c]]
            protos = torch.stack([
                _fusion_by_hand(head.fusion, text[c][None, None],
                                support[order[c]][None, None])[0, 0]
                for c in range(len(CLASSES))
            ])
            return head.logit_scale * F.normalize(images, dim=-1) @ \
                F.normalize(protos, dim=-1).t()

        own = list(range(len(CLASSES)))
        torch.testing.assert_close(mm, by_hand(own), rtol=1e-4, atol=1e-4)
        # Fusing each class's text with another class's support differs.
        shifted = own[1:] + own[:1]
        assert (mm - by_hand(shifted)).abs().max() > 0.1
    torch.testing.assert_close(
        text_logits,
        head.logit_scale * F.normalize(images, dim=-1) @ text.t())


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


class _Messages(logging.Handler):
    """Keeps the messages of a logger."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_text_only_test_head_drops_the_fusion_and_loads_full_checkpoints():
    full = _head()
    _randomise(full.fusion)
    with torch.no_grad():  # trained prompts
        full.prompt_learner.ctx.add_(
            torch.randn(
                full.prompt_learner.ctx.shape,
                generator=torch.Generator().manual_seed(4)))
    checkpoint = full.state_dict()
    assert any(k.startswith('fusion.') for k in checkpoint)

    # The same frozen CLIP (not in checkpoints), built without the fusion.
    test_head = _head(fusion=None, text_encoder=full.text_encoder)
    assert test_head.fusion is None
    assert not any(k.startswith('fusion') for k in test_head.state_dict())
    # The fusion's 6 D^2 + 6 D parameters are gone ...
    dims = full.text_encoder.embed_dim
    assert _num_params(full) - _num_params(test_head) == \
        6 * dims**2 + 6 * dims
    # ... which is 1.58 M at CLIP ViT-B/16's width 512.
    wide = MODELS.build(dict(type='CrossAttentionFusion', embed_dims=512))
    assert _num_params(wide) == 6 * 512**2 + 6 * 512 == 1_575_936

    # A checkpoint trained with the fusion loads strictly: its fusion keys
    # are expected and dropped on purpose (and said so in the log).
    logger = MMLogger.get_current_instance()
    log = _Messages()
    logger.addHandler(log)
    try:
        result = test_head.load_state_dict(checkpoint, strict=True)
    finally:
        logger.removeHandler(log)
    assert result.unexpected_keys == [] and result.missing_keys == []
    assert any('ignored the 8 fusion weights (fusion.*) of the checkpoint: '
               'this head was built with fusion=None' in m
               for m in log.messages), log.messages
    assert 'fusion.mlp.0.weight' in checkpoint  # the caller's dict is kept

    full.eval()
    test_head.eval()
    images = (torch.randn(7, DIMS), )
    torch.testing.assert_close(test_head(images), full(images))
    for got, want in zip(test_head.predict(images), full.predict(images)):
        torch.testing.assert_close(got.pred_score, want.pred_score)

    # Only the fusion keys are ignored: any other foreign key is reported.
    foreign = dict(checkpoint, **{'adapter.weight': torch.zeros(1)})
    with pytest.raises(
            RuntimeError,
            match=r'Unexpected key\(s\) in '
            r'state_dict: "adapter\.weight"'):
        test_head.load_state_dict(foreign, strict=True)
    # The head with a fusion still loads its fusion weights.
    twin = _head(text_encoder=full.text_encoder)
    twin.load_state_dict(checkpoint, strict=True)
    torch.testing.assert_close(twin.fusion.mlp[0].weight,
                               full.fusion.mlp[0].weight)


def test_checkpoint_check_accepts_a_full_checkpoint_for_the_text_only_head():
    full, test_head = nn.Module(), nn.Module()
    full.head = _head()
    test_head.head = _head(fusion=None, text_encoder=full.head.text_encoder)
    check_checkpoint_fits(test_head, dict(state_dict=full.state_dict()))
    state = dict(full.state_dict(), **{'head.extra.bias': torch.zeros(1)})
    with pytest.raises(
            CheckpointError,
            match=r"holds keys the model does "
            r"not have: 'head\.extra\.bias'"):
        check_checkpoint_fits(test_head, dict(state_dict=state))


def test_text_only_head_cannot_train_or_monitor():
    head = _head(fusion=None)
    feats, samples = _episodes()
    with pytest.raises(
            ConfigError,
            match=r'MetaPromptClsHead\.loss needs the '
            r'multimodal fusion, but the head was built with '
            r'fusion=None'):
        head.loss(feats, samples)
    with pytest.raises(
            ConfigError,
            match=r'compare_predictions needs the '
            r"multimodal fusion.*fusion=dict\(type="
            r"'CrossAttentionFusion'\)"):
        head.compare_predictions(
            torch.randn(2, DIMS), torch.randn(len(CLASSES), 2, DIMS))


def test_the_test_command_line_option_builds_the_text_only_head():
    """``tools/test.py <meta config> CKPT --cfg-options
    model.head.fusion=None`` (or ``run_protocol.py --test-cfg-options
    model.head.fusion=None``) tests without the fusion."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'model.head.fusion=None'])
    cfg = Config.fromfile(osp.join(REPO, 'configs/meta/meta_vitb16_dtd.py'))
    assert cfg.model.head.fusion.type == 'CrossAttentionFusion'
    cfg.merge_from_dict(args.cfg_options)
    head_cfg = cfg.model.head
    assert head_cfg.type == 'MetaPromptClsHead' and head_cfg.fusion is None
    # (the ViT-B/16 text tower is swapped for the tiny one to stay fast)
    head = MODELS.build(
        dict(head_cfg, text_encoder=DEFAULT_ARGS['text_encoder']))
    assert head.fusion is None
    assert not any(n.startswith('fusion') for n, _ in head.named_parameters())
