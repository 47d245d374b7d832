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
        F.log_softmax(q, -1), F.log_softmax(p, -1), log_target=True,
        reduction='batchmean')  # torch's kl_div(input=log Q, target=P)
    torch.testing.assert_close(kl_divergence(p, q), expected)
    assert float(kl_divergence(p, q)) > 0
    assert float(kl_divergence(p, q)) != pytest.approx(
        float(kl_divergence(q, p)))  # the direction matters
    per_sample = kl_divergence(p, q, reduction='none')
    assert per_sample.shape == (6, )
    torch.testing.assert_close(kl_divergence(p, q, 'sum'), per_sample.sum())


def test_kl_loss_module_weights_and_checks():
    loss = MODELS.build(dict(type='KLDivergenceLoss', loss_weight=0.2))
    p, q = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    value = loss(p, q)
    torch.testing.assert_close(value, 0.2 * kl_divergence(p, q))
    value.backward()
    assert p.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r'shape \(3, 4\) but logits_q has '
                       r'\(3, 5\)'):
        loss(p, torch.randn(3, 5))
    with pytest.raises(ValueError, match="reduction must be one of"):
        MODELS.build(dict(type='KLDivergenceLoss', reduction='batchmean'))
