# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


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
    value). The hand-crafted features are computed once per class list
    without gradients and reused; they only enter the loss, so inference is
    :class:`PromptClsHead`'s and costs what CoOp's does.

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
        if isinstance(knowledge_prompts, dict):
            knowledge_prompts = MODELS.build(
                knowledge_prompts,
                default_args=dict(text_encoder=self.text_encoder))
        if any(True for _ in knowledge_prompts.parameters()):
            name = type(knowledge_prompts).__name__
            raise ConfigError(
                f'KgCoOpHead: knowledge_prompts ({name}) has parameters, but '
                'the knowledge prompts must be fixed; use '
                "dict(type='HandcraftedPrompts', templates=...).")
        self.knowledge_prompts = knowledge_prompts
        self.loss_kg = MODELS.build(loss_kg)

    def set_class_names(self,
                        classnames: Sequence[str],
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        changed = (tuple(classnames), template,
                   dataset_name) != self._classes_key
        super().set_class_names(classnames, template, dataset_name)
        if changed:
            self.knowledge_prompts.set_class_names(
                list(classnames),
                self.text_encoder,
                template=template,
                dataset_name=dataset_name)

    def knowledge_features(self) -> torch.Tensor:
        """L2-normalised hand-crafted class features ``(num_classes, D)``,
        computed without gradients once per class list, encoder weights and
        device."""
        key = (self._classes_key, self.text_encoder.device,
               tuple(p._version for p in self.text_encoder.parameters()))
        return self._cached(
            lambda: F.normalize(
                self.knowledge_prompts(self.text_encoder), dim=-1),
            key=key,
            slot='knowledge')

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """CE (``loss`` and, with ``cal_acc``, the accuracy) and
        ``loss_kg`` of a batch."""
        logits, _, text = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        losses['loss_kg'] = self.loss_kg(
            text, self.knowledge_features().to(text))
        return losses
