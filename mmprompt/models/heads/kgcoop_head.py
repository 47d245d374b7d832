# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead
from .text_targets import FrozenTextTargets


@MODELS.register_module()
class KgCoOpHead(PromptClsHead):
    """The head of KgCoOp: CE plus a pull towards hand-crafted prompts.

    Yao, Zhang and Xu, "Visual-Language Prompt Tuning with Knowledge-guided
    Context Optimization", CVPR 2023. With ``w_c`` the learned class text
    features and ``w_c^clip`` the frozen CLIP text features of a
    hand-crafted prompt of the same class (both L2-normalised)::

        L = CE(logit_scale * f w^T, y)
            + lambda * (1 - mean_c cos(w_c, w_c^clip))

    ``lambda`` is the ``loss_weight`` of ``loss_kg`` (8.0, the official
    value). The hand-crafted features (:class:`FrozenTextTargets`) are
    computed once per class list without gradients and reused; they only
    enter the loss, so inference is :class:`PromptClsHead`'s and costs what
    CoOp's does.

    Args:
        knowledge_prompts (dict | nn.Module): The hand-crafted prompts, a
            text-prompt learner without parameters. Defaults to the
            dataset's own template,
            ``dict(type='HandcraftedPrompts', templates='dataset')``.
        loss_kg (dict): The knowledge-guidance loss. Defaults to
            ``dict(type='CosineDistanceLoss', loss_weight=8.0)``.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).
    """

    def __init__(self,
                 knowledge_prompts: Union[dict, nn.Module] = dict(
                     type='HandcraftedPrompts', templates='dataset'),
                 loss_kg: dict = dict(
                     type='CosineDistanceLoss', loss_weight=8.0),
                 **kwargs):
        super().__init__(**kwargs)
        self.text_targets = FrozenTextTargets(knowledge_prompts,
                                              self.text_encoder,
                                              type(self).__name__)
        self.loss_kg = MODELS.build(loss_kg)

    def set_class_names(self,
                        classnames: Sequence[str],
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        super().set_class_names(classnames, template, dataset_name)
        self.text_targets.set_class_names(classnames, self.text_encoder,
                                          template, dataset_name)

    def knowledge_features(self) -> torch.Tensor:
        """L2-normalised hand-crafted class features ``(num_classes, D)``,
        computed without gradients once per class list, encoder weights and
        device (:class:`FrozenTextTargets`)."""
        return self.text_targets(self.text_encoder)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """CE (``loss`` and, with ``cal_acc``, the accuracy) and
        ``loss_kg`` of a batch."""
        logits, _, text = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        losses['loss_kg'] = self.loss_kg(text,
                                         self.knowledge_features().to(text))
        return losses
