# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError, DataError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


def procrustes(image: torch.Tensor,
               target: torch.Tensor,
               beta: float = 0.0) -> torch.Tensor:
    """LFA's (beta-)Procrustes map ``W`` with ``image @ W ~ target``.

    ``W = U V^T`` from the SVD ``image^T target = U S V^T`` (the orthogonal
    ``W`` minimising ``||image W - target||_F``), then pulled towards the
    identity: ``W <- W - beta (W - I)`` (``procrustes_align`` of saic-fi/LFA
    ``feature_alignment.py``; ``beta = 0`` is plain Procrustes).

    Args:
        image (torch.Tensor): Source features ``(N, D)`` (LFA passes them
            L2-normalised).
        target (torch.Tensor): Target features ``(N, D)``, the class text
            feature of each image's label.
        beta (float): Pull towards the identity, in ``[0, 1]``. Defaults
            to 0.

    Returns:
        torch.Tensor: ``W (D, D)``.
    """
    if image.dim() != 2 or image.shape != target.shape:
        raise DataError(
            'procrustes: the image and target features must both be (N, D) '
            f'with the same N and D; got {tuple(image.shape)} and '
            f'{tuple(target.shape)} (LFA aligns features of one width: the '
            "image encoder's output must be the text embedding's width).")
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f'procrustes: beta must be in [0, 1], not {beta!r}.')
    u, _, vh = torch.linalg.svd(image.double().t() @ target.double())
    w = u @ vh
    eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
    return (w - beta * (w - eye)).to(image.dtype)


@MODELS.register_module()
class LFAHead(PromptClsHead):
    """The head of LFA: a linear map of the image features onto the frozen
    class text features.

    Ouali et al., "Black Box Few-Shot Adaptation for Vision-Language
    models", ICCV 2023. With ``x`` the frozen CLIP image feature, ``t_c``
    the frozen hand-crafted class text features (the dataset's CoOp
    template, as LFA's ``--use-template``) and ``W (D, D)`` the learned
    alignment::

        logits = logit_scale * normalize(normalize(x) @ W) @ normalize(t)^T

    ``W`` is fitted on the stored training features by ``LFALoop``
    (:mod:`mmprompt.engine.lfa`): beta-Procrustes
    (:func:`procrustes`), then refinement by the adaptive re-ranking loss
    (``loss``, :class:`AdaptiveRerankingLoss`). It starts as the
    identity, i.e. zero-shot CLIP. Only ``W`` is saved in checkpoints.

    Args:
        loss (dict): The refinement loss. Defaults to
            ``dict(type='AdaptiveRerankingLoss', knn=3, scale=4.0)``.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ...).
    """

    def __init__(self,
                 loss: dict = dict(
                     type='AdaptiveRerankingLoss', knn=3, scale=4.0),
                 **kwargs):
        super().__init__(loss=loss, **kwargs)
        dim = self.text_encoder.embed_dim
        self.weight = nn.Parameter(torch.eye(dim))

    @property
    def embed_dim(self) -> int:
        return self.weight.shape[0]

    def set_alignment(self, weight: torch.Tensor) -> None:
        """Copy a fitted ``W (D, D)`` into the head."""
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise DataError(
                f'LFAHead: the alignment must be {tuple(self.weight.shape)}, '
                f'got {tuple(weight.shape)}.')
        with torch.no_grad():
            self.weight.copy_(weight)

    def align(self,
              feats: torch.Tensor,
              weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``normalize(x) @ W`` ``(B, D)`` of image features ``(B, D)``
        (``W`` the head's unless given)."""
        if feats.dim() != 2 or feats.shape[1] != self.embed_dim:
            raise DataError(
                f'LFAHead expects (B, {self.embed_dim}) image features, got '
                f'shape {tuple(feats.shape)}; LFA needs an image encoder '
                'whose output has the text embedding\'s width.')
        weight = self.weight if weight is None else weight
        return F.normalize(feats.to(weight.dtype), dim=-1) @ weight

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The aligned image feature ``normalize(x) @ W`` ``(B, D)`` (the
        logits normalise it again) of the last feature ``x``."""
        return self.align(feats[-1])

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """The re-ranking loss of a batch of image features."""
        labels = torch.cat([s.gt_label
                            for s in data_samples]).to(self.weight.device)
        return dict(
            loss=self.loss_module(
                self.pre_logits(feats), self.text_features(), labels))
