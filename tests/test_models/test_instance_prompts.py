# Copyright (c) mmprompt contributors. All rights reserved.
"""Instance-wise prompt learning: the learner, the training draw, top-k
inference and the instance text-feature cache."""
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.models import TINY_MODEL
from mmprompt.models.heads import (class_members, draw_instance_prompts,
                                   topk_class_logits)
from mmprompt.registry import MODELS

CLASSES = ['banded', 'polka_dotted', 'zigzagged']
# sample i has label LABELS[i]: 3 classes x 3 shots, interleaved
LABELS = [0, 1, 2, 2, 0, 1, 1, 2, 0]


def _head(bind=True, **kwargs):
    learner = dict(
        type='InstancePromptLearner',
        num_classes=3,
        num_shots=3,
        n_ctx=2,
        n_instance_ctx=2)
    learner.update(kwargs.pop('learner', {}))
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='InstancePromptHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=learner,
            **kwargs))
    head.set_class_names(CLASSES)
    if bind:
        head.set_instance_labels(LABELS)
    return head


def _samples(indices):
    return [
        DataSample(metainfo=dict(sample_idx=i)).set_gt_label(LABELS[i])
        for i in indices
    ]


def test_class_members_lists_each_class_in_index_order():
    members = class_members(torch.tensor([1, 0, 1, 1, 2]), 4)
    assert members.tolist() == [[1, -1, -1], [0, 2, 3], [4, -1, -1],
                                [-1, -1, -1]]


def test_the_draw_keeps_the_own_prompt_and_two_of_every_class():
    members = class_members(torch.tensor(LABELS), 3)
    labels = torch.tensor([LABELS[i] for i in range(9)])
    own = torch.arange(9)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        drawn = draw_instance_prompts(members, labels, own, 2, gen)
        assert drawn.shape == (9, 3, 2)
        # the image's own prompt is always the first of its class's pair
        assert torch.equal(drawn[own, labels, 0], own)
        for c in range(3):
            pair = drawn[:, c]
            # two distinct prompts, both of class c
            assert (pair[:, 0] != pair[:, 1]).all()
            assert (torch.tensor(LABELS)[pair] == c).all()


def test_the_draw_is_seeded_and_uniform_over_the_other_prompts():
    members = class_members(torch.tensor(LABELS), 3)
    labels, own = torch.tensor([0]), torch.tensor([4])  # sample 4, class 0

    def draw(seed, n=1):
        gen = torch.Generator().manual_seed(seed)
        return torch.stack([
            draw_instance_prompts(members, labels, own, 2, gen)
            for _ in range(n)
        ])

    assert torch.equal(draw(3, 5), draw(3, 5))
    assert not torch.equal(draw(3, 5), draw(4, 5))
    many = draw(0, 3000)
    partner = many[:, 0, 0, 1]  # the other prompt of the own class
    for other in (0, 8):  # class 0 = samples 0, 4, 8
        assert abs((partner == other).float().mean() - 0.5) < 0.04
    assert (partner != 4).all()
    chosen = many[:, 0, 1].flatten()  # class 1 = samples 1, 5, 6: 2 of 3
    for sample in (1, 5, 6):
        assert abs((chosen == sample).float().mean() - 1 / 3) < 0.03


def test_the_draw_handles_small_classes_and_rejects_foreign_prompts():
    members = class_members(torch.tensor([0, 1, 1]), 2)  # class 0: 1 image
    drawn = draw_instance_prompts(members, torch.tensor([1]),
                                  torch.tensor([2]), 2)
    assert drawn[0, 0].tolist() == [0, 0]  # the only one, repeated
    assert drawn[0, 1].tolist() == [2, 1]
    with pytest.raises(
            ValueError, match='Instance 0 is not an instance of '
            'class 1'):
        draw_instance_prompts(members, torch.tensor([1]), torch.tensor([0]))


def test_top_k_averaging_on_a_hand_built_example():
    # 2-d features; class 0 has 5 prompts, class 1 has 2.
    angles = torch.tensor([0., 10., 20., 30., 170., 90., 100.]) * torch.pi / \
        180
    bank = torch.stack([angles.cos(), angles.sin()], dim=1)
    members = class_members(torch.tensor([0, 0, 0, 0, 0, 1, 1]), 2)
    gram = torch.stack(
        [bank[m.clamp(min=0)] * (m >= 0)[:, None] for m in members])
    gram = gram @ gram.transpose(1, 2)
    image = torch.tensor([[1., 0.]])  # angle 0
    cos = topk_class_logits(image, bank, members, gram, k=4)
    # class 0: the 4 nearest are 0, 10, 20, 30 degrees (170 is dropped)
    mean0 = F.normalize(bank[:4].mean(0), dim=0)
    # class 1 has only 2 prompts: both are averaged
    mean1 = F.normalize(bank[5:].mean(0), dim=0)
    torch.testing.assert_close(cos, torch.stack([mean0, mean1])[None, :, 0])
    assert cos[0, 0] == pytest.approx(
        torch.cos(torch.tensor(0.2618)).item(), abs=1e-4)  # 15 degrees
    # k=1: the single most similar prompt of each class
    cos1 = topk_class_logits(image, bank, members, gram, k=1)
    torch.testing.assert_close(cos1, torch.tensor([[1., bank[5:, 0].max()]]))


def test_top_k_matches_the_direct_computation():
    torch.manual_seed(0)
    labels = torch.randint(0, 5, (40, ))
    labels[:5] = torch.arange(5)
    bank = F.normalize(torch.randn(40, 16), dim=-1)
    image = F.normalize(torch.randn(6, 16), dim=-1)
    members = class_members(labels, 5)
    grouped = bank[members.clamp(min=0)] * (members >= 0)[..., None]
    cos = topk_class_logits(
        image, bank, members, grouped @ grouped.transpose(1, 2), k=4)
    for b in range(6):
        for c in range(5):
            feats = bank[labels == c]
            top = (feats @ image[b]).topk(min(4, len(feats))).indices
            expected = F.normalize(feats[top].mean(0), dim=0) @ image[b]
            assert cos[b, c] == pytest.approx(expected.item(), abs=1e-5)


def test_instance_prompts_are_global_then_instance_context_then_class():
    head = _head()
    text, learner = head.text_encoder, head.prompt_learner
    assert learner.ctx.shape == (2, text.width)
    assert learner.instance_ctx.shape == (9, 2, text.width)
    words = text.embed(text.tokenize('a photo of a'))[0, 1:5]
    with torch.no_grad():
        learner.ctx.copy_(words[:2])  # global: "a photo"
        learner.instance_ctx[7] = words[2:]  # instance 7: "of a"
    feats = learner.instance_features(text, torch.tensor([7, 3]))
    # sample 7 is class 2 ('zigzagged'): its prompt reads "a photo of a ..."
    expected = text.encode_text(['a photo of a zigzagged.'])
    torch.testing.assert_close(feats[:1], expected, rtol=0, atol=1e-5)
    assert not torch.allclose(feats[1:], expected, atol=1e-3)
    # forward: the mean normalised instance feature of every class
    all_feats = F.normalize(
        learner.instance_features(text, torch.arange(9)), dim=-1)
    class_feats = learner(text)
    torch.testing.assert_close(class_feats[1], all_feats[[1, 5, 6]].mean(0))


def test_training_logits_and_gradients():
    head = _head()
    head.train()
    feats = torch.randn(3, head.text_encoder.embed_dim)
    samples = _samples([0, 4, 7])
    torch.manual_seed(5)
    losses = head.loss((feats, ), samples)
    # the same draw by hand: cosine to the mean of each drawn pair
    torch.manual_seed(5)
    drawn = draw_instance_prompts(
        class_members(torch.tensor(LABELS), 3), torch.tensor([0, 0, 2]),
        torch.tensor([0, 4, 7]), 2)
    text = F.normalize(
        head.prompt_learner.instance_features(head.text_encoder,
                                              torch.arange(9)),
        dim=-1)
    image = F.normalize(feats, dim=-1)
    cos = torch.einsum('bd,bcd->bc', image,
                       F.normalize(text[drawn].mean(2), dim=-1))
    logits = head.logit_scale * cos
    expected = F.cross_entropy(logits, torch.tensor([0, 0, 2]))
    assert losses['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    losses['loss'].backward()
    grad = head.prompt_learner.instance_ctx.grad.abs().sum((1, 2))
    used = set(drawn.flatten().tolist())
    assert all(grad[i] > 0 for i in used)
    assert all(grad[i] == 0 for i in set(range(9)) - used)
    assert head.prompt_learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in head.text_encoder.parameters())


@pytest.mark.parametrize('reduce', ['max', 'mean_sim'])
def test_pair_reduce_options(reduce):
    head = _head(pair_reduce=reduce)
    feats = torch.randn(2, head.text_encoder.embed_dim)
    image = F.normalize(feats, dim=-1)
    torch.manual_seed(2)
    logits = head.train_logits(image, torch.tensor([0, 2]),
                               torch.tensor([0, 7]))
    torch.manual_seed(2)
    drawn = draw_instance_prompts(
        class_members(torch.tensor(LABELS), 3), torch.tensor([0, 2]),
        torch.tensor([0, 7]), 2)
    with torch.no_grad():
        text = F.normalize(
            head.prompt_learner.instance_features(head.text_encoder,
                                                  torch.arange(9)),
            dim=-1)
    sims = torch.einsum('bd,bckd->bck', image, text[drawn])
    cos = sims.max(-1).values if reduce == 'max' else sims.mean(-1)
    torch.testing.assert_close(logits.detach(), head.logit_scale * cos)


def test_instance_features_are_computed_once_and_cached():
    head = _head()
    head.eval()
    calls = []
    orig = head.prompt_learner.instance_features
    head.prompt_learner.instance_features = \
        lambda *a: calls.append(1) or orig(*a)
    feats = (torch.randn(4, head.text_encoder.embed_dim), )
    first = head(feats)
    assert first.shape == (4, 3)
    preds = head.predict(feats, _samples([0, 1, 2, 3]))
    assert len(calls) == 1, 'inference reuses the instance features'
    assert [int(p.pred_label) for p in preds] == first.argmax(1).tolist()
    # the logits are the top-4 rule over the cached features
    bank, members, gram = head.instance_bank()
    image = F.normalize(feats[0], dim=-1)
    torch.testing.assert_close(
        first,
        head.logit_scale * topk_class_logits(image, bank, members, gram, 4))
    with torch.no_grad():  # an optimiser step changes the prompts
        head.prompt_learner.instance_ctx.add_(
            torch.randn_like(head.prompt_learner.instance_ctx))
    changed = head(feats)
    assert len(calls) == 2 and not torch.allclose(first, changed)
    # a checkpoint load changes them too; the same state gives the same
    state = {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(state)
    torch.testing.assert_close(head(feats), changed)
    assert len(calls) == 3


def test_checkpoints_hold_only_the_prompts_and_the_instance_labels():
    head = _head()
    state = head.state_dict()
    assert sorted(state) == [
        'prompt_learner.ctx', 'prompt_learner.instance_ctx',
        'prompt_learner.instance_labels'
    ]
    torch.manual_seed(0)  # the same random text encoder as _head's
    fresh = MODELS.build(
        dict(
            type='InstancePromptHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(
                type='InstancePromptLearner',
                num_classes=3,
                num_shots=3,
                n_ctx=2,
                n_instance_ctx=2)))
    fresh.set_class_names(CLASSES)
    with pytest.raises(
            RuntimeError, match=r'no classes yet.*default_hooks\.class_names'):
        fresh.eval()((torch.randn(1, 64), ))
    fresh.load_state_dict(state)  # no training set needed to test
    feats = (torch.randn(2, 64), )
    torch.testing.assert_close(fresh.eval()(feats), head.eval()(feats))


def test_training_labels_come_from_the_training_set_once_per_set():
    head = _head(bind=False)
    loader = MagicMock()
    loader.dataset.get_gt_labels.return_value = np.array(LABELS)
    head.bind_training_set(loader)
    head.bind_training_set(loader)  # e.g. after a validation epoch
    loader.dataset.get_gt_labels.assert_called_once()  # read once, reused
    assert head.prompt_learner.instance_labels.tolist() == LABELS
    other = MagicMock()
    other.dataset.get_gt_labels.return_value = np.array(LABELS[::-1])
    head.bind_training_set(other)
    assert head.prompt_learner.instance_labels.tolist() == LABELS[::-1]
    unlabelled = MagicMock()
    unlabelled.dataset = MagicMock(spec=['metainfo'])
    with pytest.raises(
            TypeError,
            match=r'InstancePromptHead learns one '
            r'prompt per training image.*no get_gt_labels\(\)'):
        head.bind_training_set(unlabelled)


def test_errors_name_the_setting_to_fix():
    head = _head()
    with pytest.raises(
            ValueError,
            match='9 instance prompts .*num_classes=3 '
            'x num_shots=3.* training set has 8 images'):
        head.set_instance_labels(LABELS[:8])
    with pytest.raises(ValueError, match='labels are 0..3'):
        head.set_instance_labels([0, 1, 2, 3, 0, 1, 2, 0, 1])
    with pytest.raises(
            ValueError, match='only classify the classes they '
            'were trained on'):
        head.set_class_names(CLASSES + ['woven'])
    with pytest.raises(KeyError, match='sample_idx'):
        head.loss((torch.randn(1, 64), ), [DataSample().set_gt_label(0)])
    with pytest.raises(IndexError, match='sample_idx 9 is outside the 9'):
        head.loss((torch.randn(1, 64), ),
                  [DataSample(metainfo=dict(sample_idx=9)).set_gt_label(0)])
    with pytest.raises(ValueError, match='not an instance of class 1'):
        head.loss((torch.randn(1, 64), ),
                  [DataSample(metainfo=dict(sample_idx=0)).set_gt_label(1)])
    other = _head(bind=False, learner=dict(num_shots=2))
    with pytest.raises(
            ValueError,
            match=r'expects \(6, 2, 64\) \(num_classes'
            '=3 x num_shots=2 instances'):
        other.load_state_dict(head.state_dict())
    with pytest.raises(
            ConfigError,
            match=r"pair_reduce='sum'; choose one "
            r"of \('mean', 'max', 'mean_sim', 'prompt'\) "
            r'\(model\.head\.pair_reduce\)'):
        _head(pair_reduce='sum')
    with pytest.raises(
            ValueError,
            match='num_shots=-1 must be a positive '
            'int .*-1, all images, is not supported'):
        _head(learner=dict(num_shots=-1))
    with pytest.raises(TypeError, match='InstancePromptLearner'):
        MODELS.build(
            dict(
                type='InstancePromptHead',
                text_encoder=dict(
                    type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
                prompt_learner=dict(type='CoOpPromptLearner')))


def test_prompt_level_loss_is_cross_entropy_over_all_drawn_prompts():
    head = _head(pair_reduce='prompt', cal_acc=True)
    head.train()
    feats = torch.randn(
        3,
        head.text_encoder.embed_dim,
        generator=torch.Generator().manual_seed(3))
    samples = _samples([0, 4, 7])  # classes 0, 0, 2
    torch.manual_seed(5)
    losses = head.loss((feats, ), samples)
    # by hand: the same draw, 2 prompts x 3 classes = 6 logits per image,
    # the image's own prompt is the target
    torch.manual_seed(5)
    drawn = draw_instance_prompts(
        class_members(torch.tensor(LABELS), 3), torch.tensor([0, 0, 2]),
        torch.tensor([0, 4, 7]), 2)
    with torch.no_grad():
        text = F.normalize(
            head.prompt_learner.instance_features(head.text_encoder,
                                                  torch.arange(9)),
            dim=-1)
    image = F.normalize(feats, dim=-1)
    logits = torch.stack([
        torch.stack([
            head.logit_scale * image[b] @ text[int(drawn[b, c, j])]
            for c in range(3) for j in range(2)
        ]) for b in range(3)
    ])
    own_column = [[int(drawn[b].flatten()[col]) for col in range(6)].index(i)
                  for b, i in enumerate([0, 4, 7])]
    assert own_column == [0, 0, 4]  # class * 2 + first slot
    expected = F.cross_entropy(logits, torch.tensor(own_column))
    assert losses['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    # It is not the class-level loss of any pair reduction: the partner of
    # the own prompt is a negative here.
    for reduce in ('mean', 'max', 'mean_sim'):
        other = _head(pair_reduce=reduce)
        torch.manual_seed(5)
        assert other.loss((feats, ), samples)['loss'].item() != \
            pytest.approx(expected.item(), rel=1e-3)
    # training accuracy: the class of the most similar drawn prompt
    best = logits.argmax(1) // 2
    acc = (best == torch.tensor([0, 0, 2])).float().mean() * 100
    assert float(losses['accuracy_top-1'][0]) == pytest.approx(acc.item())
    losses['loss'].backward()
    grad = head.prompt_learner.instance_ctx.grad.abs().sum((1, 2))
    assert all(grad[i] > 0 for i in set(drawn.flatten().tolist()))


def test_prompt_level_logits_count_a_repeated_draw_once():
    # class 0 has a single instance: its pair is that prompt twice
    labels = [0, 1, 1, 2, 2, 1, 2, 1, 2]
    head = _head(bind=False, pair_reduce='prompt')
    head.set_instance_labels(labels)
    image = F.normalize(torch.randn(2, head.text_encoder.embed_dim), dim=-1)
    torch.manual_seed(1)
    logits = head.train_logits(image, torch.tensor([1, 0]),
                               torch.tensor([2, 0]))
    assert logits.shape == (2, 6)
    assert torch.isinf(logits[:, 1]).all() and (logits[:, 1] < 0).all()
    assert torch.isfinite(logits[:, [0, 2, 3, 4, 5]]).all()
    with torch.no_grad():
        text = F.normalize(
            head.prompt_learner.instance_features(head.text_encoder,
                                                  torch.tensor([0])),
            dim=-1)
    torch.testing.assert_close(logits[:, 0].detach(),
                               head.logit_scale * (image @ text.t())[:, 0])
    # the image of class 0 has the only prompt of its class as target
    loss = F.cross_entropy(logits, torch.tensor([2, 0]))
    assert torch.isfinite(loss)
