# Copyright (c) mmprompt contributors. All rights reserved.
"""Losses that keep learned features near frozen CLIP ones: KgCoOp's
knowledge guidance (Yao, Zhang and Xu, CVPR 2023) and PromptSRC's L1
consistency (Khattak et al., ICCV 2023)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.registry import MODELS


def cosine_distance(feats: torch.Tensor,
                    targets: torch.Tensor,
                    eps: float = 1e-7) -> torch.Tensor:
    """``1 - mean_c cos(feats_c, targets_c)`` over paired rows.

    KgCoOp's ``L_kg`` as its official code computes it. The paper writes the
    mean squared distance ``||w_c - w_c^clip||^2``, which for unit vectors
    is twice this value; the factor is absorbed by the weight (8.0).

    Args:
        feats (torch.Tensor): ``(C, D)`` features, e.g. learned class text
            features.
        targets (torch.Tensor): ``(C, D)`` features to stay close to, e.g.
            the hand-crafted prompts' frozen CLIP text features.
        eps (float): Added to the norms, as ``nn.CosineSimilarity``'s.
            Defaults to 1e-7.

    Returns:
        torch.Tensor: A scalar in ``[0, 2]``; 0 when every pair points the
        same way.

    Examples:
        >>> a = torch.tensor([[1., 0.], [0., 1.]])
        >>> float(cosine_distance(a, a))
        0.0
        >>> float(cosine_distance(a, torch.tensor([[0., 1.], [0., 1.]])))
        0.5
    """
    if feats.dim() != 2 or feats.shape != targets.shape:
        raise ValueError(
            f'cosine_distance: features {tuple(feats.shape)} and targets '
            f'{tuple(targets.shape)} must both be (C, D), the same shape.')
    return 1.0 - F.cosine_similarity(feats, targets, dim=1, eps=eps).mean()


@MODELS.register_module()
class CosineDistanceLoss(nn.Module):
    """``loss_weight * (1 - mean cos)`` of paired rows, see
    :func:`cosine_distance` (KgCoOp's ``L_kg`` with ``loss_weight=8.0``).

    Args:
        loss_weight (float): Weight of the loss (KgCoOp's ``lambda``).
            Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * cosine_distance(feats, targets)


@MODELS.register_module()
class L1DistanceLoss(nn.Module):
    """``loss_weight * mean |feats - targets|`` over all entries (PromptSRC's
    ``L_SCL-text`` and ``L_SCL-image`` with weights 25 and 10).

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, feats: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        if feats.shape != targets.shape:
            raise ValueError(
                f'L1DistanceLoss: features {tuple(feats.shape)} and targets '
                f'{tuple(targets.shape)} must have the same shape.')
        return self.loss_weight * F.l1_loss(feats, targets)
