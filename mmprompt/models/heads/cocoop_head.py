# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Tuple

import torch
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


@MODELS.register_module()
class CoCoOpHead(PromptClsHead):
    """The head of CoCoOp: every image is scored against its own prompts.

    With :class:`~mmprompt.models.prompt_learners.CoCoOpPromptLearner`,
    image ``b`` gets class text features ``t_b = norm(text(ctx + pi(x_b)))``
    and the logits ``logit_scale * x_b . t_b^T``. The loss is
    :class:`PromptClsHead`'s (cross-entropy). Nothing can be cached: the
    text encoder runs ``B * num_classes`` prompts per batch, in training
    and in inference, which is CoCoOp's cost.

    Args:
        max_prompts (int): At most this many prompts go through the text
            encoder at once; a batch is split into groups of
            ``max(1, max_prompts // num_classes)`` images (only the peak
            memory changes, not the result). Defaults to 4096.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).
    """

    def __init__(self, max_prompts: int = 4096, **kwargs):
        super().__init__(**kwargs)
        if not callable(
                getattr(self.prompt_learner, 'conditional_features', None)):
            raise TypeError(
                f'CoCoOpHead needs a prompt learner with image-conditioned '
                f'prompts (conditional_features), such as '
                f"dict(type='CoCoOpPromptLearner'); got "
                f'{type(self.prompt_learner).__name__}.')
        if not isinstance(max_prompts, int) or max_prompts < 1:
            raise ConfigError(
                f'CoCoOpHead: max_prompts={max_prompts!r} must be a '
                'positive int.')
        self.max_prompts = max_prompts

    def cosine_logits(self, feats: Tuple[torch.Tensor]) -> tuple:
        """The logits with the features they come from.

        Returns:
            tuple: ``(logits, image, text)``: logits ``(B, num_classes)``,
            L2-normalised image features ``(B, D)`` and the per-image class
            text features ``(B, num_classes, D)``.
        """
        image = F.normalize(self.pre_logits(feats), dim=-1)
        step = max(1, self.max_prompts // max(1, len(self.classnames or ())))
        text = torch.cat([
            F.normalize(
                self.prompt_learner.conditional_features(
                    self.text_encoder, image[i:i + step]),
                dim=-1) for i in range(0, len(image), step)
        ]).to(image.dtype)
        logits = torch.einsum('bd,bcd->bc', image, text)
        return self.logit_scale.to(image.device) * logits, image, text
