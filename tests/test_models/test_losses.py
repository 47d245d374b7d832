# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmprompt.models import kl_divergence
from mmprompt.registry import MODELS


def test_kl_is_zero_for_equal_distributions_and_matches_torch():
    p = torch.randn(6, 5)
    assert float(kl_divergence(p, p)) == pytest.approx(0, abs=1e-7)
    # Shifting logits does not change the distribution.
    assert float(kl_divergence(p, p + 3.)) == pytest.approx(0, abs=1e-6)
    q = torch.randn(6, 5)
    expected = F.kl_div(
        F.log_softmax(q, -1),
        F.log_softmax(p, -1),
        log_target=True,
        reduction='batchmean')  # torch's kl_div(input=log Q, target=P)
    torch.testing.assert_close(kl_divergence(p, q), expected)
    assert float(kl_divergence(p, q)) > 0
    assert float(kl_divergence(p, q)) != pytest.approx(
        float(kl_divergence(q, p)))  # the direction matters
    per_sample = kl_divergence(p, q, reduction='none')
    assert per_sample.shape == (6, )
    torch.testing.assert_close(kl_divergence(p, q, 'sum'), per_sample.sum())
    # PromptSRC's normalisation: the sum over the number of logits, which
    # is what torch's kl_div calls 'mean'.
    torch.testing.assert_close(
        kl_divergence(p, q, 'elementwise_mean'),
        F.kl_div(
            F.log_softmax(q, -1),
            F.log_softmax(p, -1),
            log_target=True,
            reduction='mean'))
    assert torch.equal(
        kl_divergence(p, q, 'elementwise_mean'),
        kl_divergence(p, q, 'sum') / p.numel())


def test_kl_loss_module_weights_and_checks():
    loss = MODELS.build(dict(type='KLDivergenceLoss', loss_weight=0.2))
    p, q = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    value = loss(p, q)
    torch.testing.assert_close(value, 0.2 * kl_divergence(p, q))
    value.backward()
    assert p.grad.abs().sum() > 0
    with pytest.raises(
            ValueError, match=r'shape \(3, 4\) but logits_q has '
            r'\(3, 5\)'):
        loss(p, torch.randn(3, 5))
    with pytest.raises(ValueError, match="reduction must be one of"):
        MODELS.build(dict(type='KLDivergenceLoss', reduction='batchmean'))


def test_dapt_intra_loss_by_hand():
    from mmprompt.models.losses import dapt_intra_loss
    feats = torch.tensor([[1., 0.], [0.6, 0.8]], requires_grad=True)
    protos = torch.tensor([[0.5, 0.5], [0., 0.9]])
    # rows: (1-.5)^2 + (0-.5)^2 = .5 ; (.6-0)^2 + (.8-.9)^2 = .37
    loss = dapt_intra_loss(feats, protos, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx((0.5 + 0.37) / 4)
    weighted = MODELS.build(dict(type='DAPTIntraLoss', loss_weight=10.))
    assert weighted(feats, protos, torch.tensor([0, 1])).item() == \
        pytest.approx(10 * (0.5 + 0.37) / 4)
    loss.backward()
    torch.testing.assert_close(feats.grad, 2 * (feats - protos).detach() / 4)
    with pytest.raises(ValueError, match='label 7 but only 2 prototypes'):
        dapt_intra_loss(feats, protos, torch.tensor([0, 7]))
    with pytest.raises(ValueError, match=r'must be \(B, D\) and \(C, D\)'):
        dapt_intra_loss(feats, torch.zeros(2, 3), torch.tensor([0, 1]))


def test_dapt_inter_loss_by_hand():
    import math

    from mmprompt.models.losses import dapt_inter_loss
    t = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]], requires_grad=True)
    # squared distances: (0,1) 2, (0,2) 4, (1,2) 2
    expected = (2 * math.exp(-4) + math.exp(-8)) / 3
    loss = dapt_inter_loss(t)
    assert loss.item() == pytest.approx(expected)
    weighted = MODELS.build(dict(type='DAPTInterLoss', loss_weight=0.1))
    assert weighted(t).item() == pytest.approx(0.1 * expected)
    loss.backward()
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # Identical classes: loss 1 and finite gradients.
    same = torch.tensor([[0.6, 0.8], [0.6, 0.8]], requires_grad=True)
    out = dapt_inter_loss(same)
    out.backward()
    assert out.item() == pytest.approx(1.0)
    assert torch.isfinite(same.grad).all()
    # Moving two classes apart lowers the loss.
    closer = torch.tensor([[1., 0.], [0.8, 0.6]])
    assert dapt_inter_loss(t.detach()) < dapt_inter_loss(closer)
    with pytest.raises(ValueError, match='at least 2 classes'):
        dapt_inter_loss(torch.ones(1, 4))
