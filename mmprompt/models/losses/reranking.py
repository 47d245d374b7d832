# Copyright (c) mmprompt contributors. All rights reserved.
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.errors import DataError
from mmprompt.registry import MODELS


def adaptive_reranking_loss(image: torch.Tensor,
                            text: torch.Tensor,
                            labels: torch.Tensor,
                            knn: int = 3,
                            scale: float = 4.0) -> torch.Tensor:
    """LFA's adaptive re-ranking loss (``adaptive_reranking_loss`` of
    saic-fi/LFA ``alignment_utils.py``).

    With ``v_i`` and ``t_c`` the L2-normalised image and class features,
    ``d_ic = ||v_i - t_c||_2``, ``N_k(i)`` the ``k`` classes nearest to
    ``v_i`` and ``y_i`` its label::

        L = mean_{i, c in N_k(i)} max(0, d_{i y_i} + m_{y_i c} - d_ic),
        m_{y c} = (1 - t_y . t_c) / scale

    a hinge that pushes the true class ahead of the ``k`` nearest ones by
    a margin that grows with their dissimilarity to the true class (the
    true class itself, when among them, contributes 0).

    Args:
        image (torch.Tensor): Image features ``(N, D)`` (normalised here).
        text (torch.Tensor): Class features ``(C, D)`` (normalised here).
        labels (torch.Tensor): Labels ``(N, )`` in ``[0, C)``.
        knn (int): Nearest classes per image ``k`` (capped at ``C``).
            Defaults to 3.
        scale (float): Margin scale. Defaults to 4.0.

    Returns:
        torch.Tensor: The scalar loss.
    """
    if image.dim() != 2 or text.dim() != 2 or image.shape[1] != text.shape[1]:
        raise DataError(
            'adaptive_reranking_loss: image features (N, D) and class '
            f'features (C, D) must have the same width D; got '
            f'{tuple(image.shape)} and {tuple(text.shape)}.')
    if labels.shape != (image.shape[0], ):
        raise DataError(
            f'adaptive_reranking_loss: {image.shape[0]} image features but '
            f'labels of shape {tuple(labels.shape)}.')
    knn = min(int(knn), text.shape[0])
    image = F.normalize(image, dim=-1)
    text = F.normalize(text, dim=-1).to(image.dtype)
    distances = torch.cdist(image, text)  # (N, C)
    nearest, index = distances.topk(knn, dim=1, largest=False)  # (N, k)
    positive = text[labels]  # (N, D)
    anchor = (image - positive).norm(dim=-1, keepdim=True)  # (N, 1)
    margins = (1.0 - (text[index] * positive[:, None]).sum(-1)) / scale
    return (anchor + margins - nearest).clamp(min=0).mean()


@MODELS.register_module()
class AdaptiveRerankingLoss(nn.Module):
    """:func:`adaptive_reranking_loss` times ``loss_weight``.

    Args:
        knn (int): Nearest classes per image. Defaults to 3 (LFA's
            ``--knn``).
        scale (float): Margin scale. Defaults to 4.0 (LFA's
            ``--arerank-scale``).
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 knn: int = 3,
                 scale: float = 4.0,
                 loss_weight: float = 1.0):
        super().__init__()
        self.knn = knn
        self.scale = scale
        self.loss_weight = loss_weight

    def forward(self, image: torch.Tensor, text: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Image ``(N, D)``, class features ``(C, D)`` and labels ``(N, )``
        -> the weighted scalar loss."""
        return self.loss_weight * adaptive_reranking_loss(
            image, text, labels, self.knn, self.scale)
