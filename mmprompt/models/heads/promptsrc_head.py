# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..losses import kl_divergence
from .kgcoop_head import KgCoOpHead


@MODELS.register_module()
class PromptSRCHead(KgCoOpHead):
    """The head of PromptSRC: CE plus three self-regulating constraints.

    Khattak et al., "Self-regulating Prompts: Foundational Model Adaptation
    without Forgetting", ICCV 2023, as its official code computes it. With
    ``f``/``t`` the L2-normalised prompted image and class text features,
    ``f0`` the frozen (unprompted) image features and ``t0`` the frozen
    text features of a template ensemble::

        L = CE + 25 * L1(t, t0) + 10 * L1(f, f0)
            + KL(softmax(s f0 t0^T) || softmax(s f t^T)) * C_w

    The KL term is summed over the batch and divided by ``B * C``, as the
    official code does (``logits_weight`` scales it). The frozen text
    features are computed once per class list (as KgCoOp's hand-crafted
    ones, which this head shares); ``f0`` comes from the classifier
    (``VLPromptClassifier(frozen_feats_in_loss=True)``). Gaussian averaging
    of the prompts over epochs is ``GaussianPromptAggregationHook``.
    Inference is :class:`PromptClsHead`'s.

    Args:
        knowledge_prompts (dict | nn.Module): The frozen text targets.
            Defaults to PromptSRC's 60 templates, averaged unnormalised:
            ``dict(type='HandcraftedPrompts', templates='promptsrc60',
            average='raw')``.
        loss_kg (dict): ``L_SCL-text``. Defaults to
            ``dict(type='L1DistanceLoss', loss_weight=25.0)``.
        loss_image (dict): ``L_SCL-image``. Defaults to
            ``dict(type='L1DistanceLoss', loss_weight=10.0)``.
        logits_weight (float): Weight of ``L_SCL-logits``. Defaults to 1.0.
        **kwargs: :class:`PromptClsHead` arguments.
    """

    def __init__(self,
                 knowledge_prompts: Union[dict, nn.Module] = dict(
                     type='HandcraftedPrompts',
                     templates='promptsrc60',
                     average='raw'),
                 loss_kg: dict = dict(type='L1DistanceLoss', loss_weight=25.0),
                 loss_image: dict = dict(
                     type='L1DistanceLoss', loss_weight=10.0),
                 logits_weight: float = 1.0,
                 **kwargs):
        super().__init__(
            knowledge_prompts=knowledge_prompts, loss_kg=loss_kg, **kwargs)
        self.loss_image = MODELS.build(loss_image)
        self.logits_weight = logits_weight

    def loss(self,
             feats: Tuple[torch.Tensor],
             data_samples: List[DataSample],
             frozen_feats: Optional[Tuple[torch.Tensor]] = None,
             **kwargs) -> dict:
        """CE (``loss``) and ``loss_scl_text``, ``loss_scl_image``,
        ``loss_scl_logits`` of a batch.

        Raises:
            ValueError: ``frozen_feats`` were not given.
        """
        if frozen_feats is None:
            raise ConfigError(
                'PromptSRCHead.loss needs the frozen (unprompted) image '
                "features: use model=dict(type='VLPromptClassifier', "
                'frozen_feats_in_loss=True, ...).')
        logits, image, text = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        text0 = self.knowledge_features().to(text)
        image0 = F.normalize(self.pre_logits(frozen_feats), dim=-1).to(image)
        logits0 = self.logit_scale.to(image.device) * image0 @ text0.t()
        losses['loss_scl_text'] = self.loss_kg(text, text0)
        losses['loss_scl_image'] = self.loss_image(image, image0)
        losses['loss_scl_logits'] = self.logits_weight * kl_divergence(
            logits0, logits, reduction='sum') / logits.numel()
        return losses
