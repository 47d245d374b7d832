# Copyright (c) mmprompt contributors. All rights reserved.
"""DAPT's distribution losses (Cho, Kim and Kim, ICCV 2023)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.registry import MODELS


def dapt_intra_loss(image_feats: torch.Tensor, prototypes: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
    """``L_intra``: mean squared error of image features to their prototype.

    Args:
        image_feats (torch.Tensor): ``(B, D)`` L2-normalised prompted image
            features.
        prototypes (torch.Tensor): ``(C, D)`` class prototypes (means of
            unit frozen-encoder features, not re-normalised).
        labels (torch.Tensor): ``(B, )`` labels in ``[0, C)``.

    Returns:
        torch.Tensor: ``mean over B x D of (f - s_y)^2``.

    Examples:
        >>> f, s = torch.tensor([[1., 0.]]), torch.tensor([[0., 0.]])
        >>> float(dapt_intra_loss(f, s, torch.tensor([0])))
        0.5
    """
    if image_feats.dim() != 2 or prototypes.dim() != 2 or \
            image_feats.shape[1] != prototypes.shape[1]:
        raise ValueError(
            f'dapt_intra_loss: image features {tuple(image_feats.shape)} and '
            f'prototypes {tuple(prototypes.shape)} must be (B, D) and '
            '(C, D) with the same D.')
    if labels.numel() and (labels.min() < 0
                           or labels.max() >= prototypes.shape[0]):
        raise ValueError(
            f'dapt_intra_loss: label {int(labels.max())} but only '
            f'{prototypes.shape[0]} prototypes.')
    return F.mse_loss(image_feats, prototypes[labels])


def dapt_inter_loss(text_feats: torch.Tensor) -> torch.Tensor:
    """``L_inter``: mean over class pairs of ``exp(-2 ||t_i - t_j||^2)``.

    Small when the class text features are spread apart. The seed's
    Algorithm 1 writes the loss with a leading minus; DAPT's official code
    minimises this positive mean (which spreads the classes), and so do we.
    Squared distances are taken as ``||t_i||^2 + ||t_j||^2 - 2 t_i.t_j``
    (clamped at 0), which has finite gradients for identical rows.

    Args:
        text_feats (torch.Tensor): ``(C, D)`` L2-normalised class text
            features, ``C >= 2``.

    Returns:
        torch.Tensor: The mean over the ``C (C - 1) / 2`` pairs ``i < j``.

    Examples:
        >>> t = torch.tensor([[1., 0.], [0., 1.]])  # distance^2 = 2
        >>> round(float(dapt_inter_loss(t)), 4)  # exp(-4)
        0.0183
    """
    if text_feats.dim() != 2 or text_feats.shape[0] < 2:
        raise ValueError(
            'dapt_inter_loss needs (C, D) text features of at least 2 '
            f'classes, but got shape {tuple(text_feats.shape)}.')
    sq = text_feats.pow(2).sum(dim=1)
    dist = (sq[:, None] + sq[None, :] - 2 * text_feats @ text_feats.t())
    i, j = torch.triu_indices(*dist.shape, offset=1, device=dist.device)
    return torch.exp(-2 * dist[i, j].clamp(min=0)).mean()


@MODELS.register_module()
class DAPTIntraLoss(nn.Module):
    """``loss_weight * L_intra`` (DAPT's ``beta_v``), see
    :func:`dapt_intra_loss`.

    Args:
        loss_weight (float): ``beta_v``. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, image_feats: torch.Tensor, prototypes: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * dapt_intra_loss(image_feats, prototypes,
                                                  labels)


@MODELS.register_module()
class DAPTInterLoss(nn.Module):
    """``loss_weight * L_inter`` (DAPT's ``beta_t``), see
    :func:`dapt_inter_loss`.

    Args:
        loss_weight (float): ``beta_t``. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, text_feats: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * dapt_inter_loss(text_feats)
