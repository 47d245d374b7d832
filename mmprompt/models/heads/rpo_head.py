# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Tuple

import torch
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


@MODELS.register_module()
class RPOHead(PromptClsHead):
    """The head of RPO: logits averaged over the K read-only prompt pairs.

    Lee et al., "Read-only Prompt Optimization for Vision-Language Few-shot
    Learning", ICCV 2023. With ``f_i`` the L2-normalised output of visual
    prompt ``i`` of an image and ``t_{c,i}`` that of text prompt ``i`` of
    class ``c`` (``RPOPromptLearner``; the backbone, given the learner's
    :class:`~mmprompt.models.clip.ReadOnlyTokens`, returns
    ``(features, prompt_features)``)::

        logits[c] = logit_scale / K * sum_i f_i . t_{c,i}

    in training (cross-entropy) and inference alike, as in the official
    ``CustomCLIP.forward`` (mlvlab/RPO ``trainers/rpo.py``). The towers'
    own features (CLS / EOT) are not used.

    Args:
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).
    """

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The ``(B, K, embed_dim)`` visual prompt features (the last
        backbone output)."""
        prompt_feats = feats[-1]
        if prompt_feats.dim() != 3:
            raise ConfigError(
                f'RPOHead takes the (B, K, embed_dim) read-only prompt '
                f'features of the image encoder, but got a tensor of shape '
                f'{tuple(prompt_feats.shape)}; use model '
                "type='VLPromptClassifier' with an RPOPromptLearner and an "
                'OpenCLIPImageEncoder backbone, no neck, no feature store.')
        return prompt_feats

    def cosine_logits(self, feats: Tuple[torch.Tensor]) -> tuple:
        """The pair-averaged logits with the features they come from.

        Returns:
            tuple: ``(logits, image, text)``: ``(B, num_classes)`` logits,
            the L2-normalised ``(B, K, D)`` image and ``(num_classes, K,
            D)`` text prompt features.
        """
        image = F.normalize(self.pre_logits(feats), dim=-1)
        text = self.text_features().to(image.dtype)
        if text.dim() != 3 or text.shape[1] != image.shape[1]:
            raise ConfigError(
                f'RPOHead: {image.shape[1]} visual prompt features per image '
                f'but text features of shape {tuple(text.shape)}; the '
                'prompt learner must be an RPOPromptLearner (K pairs).')
        logits = torch.einsum('bkd,ckd->bc', image, text) / image.shape[1]
        return self.logit_scale.to(image.device) * logits, image, text
