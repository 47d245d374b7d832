# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead
from .text_targets import FrozenTextTargets


@MODELS.register_module()
class PromptSRCHead(PromptClsHead):
    """The head of PromptSRC: CE plus three self-regulating constraints.

    Khattak et al., "Self-regulating Prompts: Foundational Model Adaptation
    without Forgetting", ICCV 2023, as its official code computes it. With
    ``f``/``t`` the L2-normalised prompted image and class text features,
    ``f0`` the frozen (unprompted) image features and ``t0`` the frozen
    text features of a template ensemble::

        L = CE + 25 * L1(t, t0) + 10 * L1(f, f0)
            + KL(softmax(s f0 t0^T) || softmax(s f t^T))

    The KL term is summed over the batch and divided by ``B * C``, as the
    official code does (``KLDivergenceLoss(reduction='elementwise_mean')``).
    The frozen text features ``t0`` are computed once per class list
    (:class:`FrozenTextTargets`, as KgCoOp's hand-crafted ones). The head
    declares that its loss needs ``f0`` (:attr:`needs_frozen_image_feats`),
    so ``VLPromptClassifier`` passes them as ``frozen_feats`` (an unprompted
    pass of the tower, or the stored exact views of the feature store).
    Gaussian averaging of the prompts over epochs is
    ``GaussianPromptAggregationHook``. Inference is
    :class:`PromptClsHead`'s.

    The logged terms are ``loss`` (CE), ``loss_scl_text``,
    ``loss_scl_image`` and ``loss_scl_logits`` (the paper's names).

    Args:
        knowledge_prompts (dict | nn.Module): The frozen text targets.
            Defaults to PromptSRC's 60 templates, averaged unnormalised:
            ``dict(type='HandcraftedPrompts', templates='promptsrc60',
            average='raw')``.
        loss_text (dict): ``L_SCL-text``. Defaults to
            ``dict(type='L1DistanceLoss', loss_weight=25.0)``.
        loss_image (dict): ``L_SCL-image``. Defaults to
            ``dict(type='L1DistanceLoss', loss_weight=10.0)``.
        loss_kl (dict): ``L_SCL-logits``. Defaults to
            ``dict(type='KLDivergenceLoss', loss_weight=1.0,
            reduction='elementwise_mean')``.
        **kwargs: :class:`PromptClsHead` arguments.
    """

    needs_frozen_image_feats = True

    def __init__(
            self,
            knowledge_prompts: Union[dict, nn.Module] = dict(
                type='HandcraftedPrompts',
                templates='promptsrc60',
                average='raw'),
            loss_text: dict = dict(type='L1DistanceLoss', loss_weight=25.0),
            loss_image: dict = dict(type='L1DistanceLoss', loss_weight=10.0),
            loss_kl: dict = dict(
                type='KLDivergenceLoss',
                loss_weight=1.0,
                reduction='elementwise_mean'),
            **kwargs):
        super().__init__(**kwargs)
        self.text_targets = FrozenTextTargets(knowledge_prompts,
                                              self.text_encoder,
                                              type(self).__name__)
        self.loss_text = MODELS.build(loss_text)
        self.loss_image = MODELS.build(loss_image)
        self.loss_kl = MODELS.build(loss_kl)

    def set_class_names(self,
                        classnames: Sequence[str],
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        super().set_class_names(classnames, template, dataset_name)
        self.text_targets.set_class_names(classnames, self.text_encoder,
                                          template, dataset_name)

    def loss(self,
             feats: Tuple[torch.Tensor],
             data_samples: List[DataSample],
             frozen_feats: Optional[Tuple[torch.Tensor]] = None,
             **kwargs) -> dict:
        """CE (``loss``) and ``loss_scl_text``, ``loss_scl_image``,
        ``loss_scl_logits`` of a batch.

        Raises:
            ConfigError: ``frozen_feats`` were not given.
        """
        if frozen_feats is None:
            raise ConfigError(
                'PromptSRCHead.loss needs the frozen (unprompted) image '
                'features (frozen_feats): build the model as '
                "model=dict(type='VLPromptClassifier', ...), which passes "
                'them to a head with needs_frozen_image_feats.')
        logits, image, text = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        text0 = self.text_targets(self.text_encoder).to(text)
        image0 = F.normalize(self.pre_logits(frozen_feats), dim=-1).to(image)
        logits0 = self.logit_scale.to(image.device) * image0 @ text0.t()
        losses['loss_scl_text'] = self.loss_text(text, text0)
        losses['loss_scl_image'] = self.loss_image(image, image0)
        losses['loss_scl_logits'] = self.loss_kl(logits0, logits)
        return losses
