# Copyright (c) mmprompt contributors. All rights reserved.
"""KL divergence between the class distributions of two sets of logits."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.registry import MODELS

_REDUCTIONS = ('mean', 'sum', 'none', 'elementwise_mean')


def kl_divergence(logits_p: torch.Tensor,
                  logits_q: torch.Tensor,
                  reduction: str = 'mean') -> torch.Tensor:
    """``KL(P || Q)`` for ``P = softmax(logits_p)``, ``Q = softmax(logits_q)``.

    Args:
        logits_p (torch.Tensor): Logits of P, shape ``(..., C)``.
        logits_q (torch.Tensor): Logits of Q, the same shape.
        reduction (str): ``'mean'`` over samples (every leading position),
            ``'sum'``, ``'none'`` (one value per sample) or
            ``'elementwise_mean'`` (the sum divided by the number of
            logits, ``B * C``: PromptSRC's normalisation, and what
            ``F.kl_div`` calls ``'mean'``). Defaults to ``'mean'``.

    Returns:
        torch.Tensor: ``sum_c P_c (log P_c - log Q_c)``, reduced.

    Examples:
        >>> p = torch.tensor([[2., 0.]])
        >>> float(kl_divergence(p, p))
        0.0
    """
    if logits_p.shape != logits_q.shape:
        raise ValueError(
            f'kl_divergence: logits_p has shape {tuple(logits_p.shape)} but '
            f'logits_q has {tuple(logits_q.shape)}.')
    if reduction not in _REDUCTIONS:
        raise ValueError(f'kl_divergence: reduction must be one of '
                         f'{_REDUCTIONS}, but got {reduction!r}.')
    log_p = F.log_softmax(logits_p, dim=-1)
    log_q = F.log_softmax(logits_q, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    if reduction == 'mean':
        return kl.mean()
    if reduction == 'sum':
        return kl.sum()
    if reduction == 'elementwise_mean':
        return kl.sum() / logits_q.numel()
    return kl


@MODELS.register_module()
class KLDivergenceLoss(nn.Module):
    """``loss_weight * KL(P || Q)`` between two predictions given as logits.

    Which prediction is P and whether one of them is a fixed target
    (detached) is the caller's choice: the loss is the plain divergence of
    the first distribution from the second (see :func:`kl_divergence`).

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        reduction (str): ``'mean'`` over samples, ``'sum'``, ``'none'`` or
            ``'elementwise_mean'`` (see :func:`kl_divergence`). Defaults to
            ``'mean'``.
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean'):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'KLDivergenceLoss: reduction must be one of '
                             f'{_REDUCTIONS}, but got {reduction!r}.')
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self,
                logits_p: torch.Tensor,
                logits_q: torch.Tensor,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Weighted ``KL(softmax(logits_p) || softmax(logits_q))``.

        Args:
            logits_p (torch.Tensor): Logits of P, shape ``(..., C)``.
            logits_q (torch.Tensor): Logits of Q, the same shape.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            torch.Tensor: The weighted divergence.
        """
        reduction = reduction_override or self.reduction
        return self.loss_weight * kl_divergence(logits_p, logits_q, reduction)
