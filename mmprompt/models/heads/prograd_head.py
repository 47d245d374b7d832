# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead
from .text_targets import FrozenTextTargets


@MODELS.register_module()
class ProGradHead(PromptClsHead):
    """The head of ProGrad: CE and the KL to zero-shot CLIP, kept apart.

    Zhu, Niu, Han, Wu and Zhang, "Prompt-aligned Gradient for Prompt
    Tuning", ICCV 2023. With ``z`` the prompted logits and ``z^zs`` the
    zero-shot logits of the same images against the frozen CLIP text
    features of a hand-crafted prompt per class, the head returns::

        loss_ce = CE(z, y)                                  # G_d
        loss_kg = T^2 * mean_b KL(softmax(z^zs / T) || softmax(z / T))  # G_g

    The two losses are *not* trained as a sum: :class:`ProGradClassifier`
    hands them to :class:`ProGradOptimWrapper`, which backpropagates them
    separately and steps with ``G_d`` projected off ``G_g`` where the two
    conflict. The official ``ProGradLoss`` (``trainers/prograd.py`` of
    BeierZhu/Prompt-align) computes the soft cross-entropy
    ``-sum_c p^zs_c log p_c`` instead of the KL; the two differ by the
    entropy of the fixed zero-shot prediction, so their gradients (all that
    ProGrad uses) are equal and only the logged value differs (ours is 0
    when the prompts reproduce zero-shot CLIP).

    The image features are the frozen tower's, the same for both logits, so
    the zero-shot logits cost a matmul with the cached hand-crafted text
    features (:class:`FrozenTextTargets`). Inference is
    :class:`PromptClsHead`'s (CoOp's).

    Args:
        knowledge_prompts (dict | nn.Module): The hand-crafted prompts of the
            zero-shot predictions, a text-prompt learner without parameters.
            Defaults to the dataset's own template,
            ``dict(type='HandcraftedPrompts', templates='dataset')``.
        loss_kg (dict): The divergence ``KL(zero-shot || prompted)``.
            Defaults to ``dict(type='KLDivergenceLoss', loss_weight=1.0)``;
            the projection does not depend on its weight (only on the
            direction of ``G_g``), so the weight only scales the logged
            value.
        temperature (float): ``T`` of the KL (official ``LOSS.T``). Defaults
            to 1.0.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).

    Raises:
        ConfigError: ``temperature`` is not a positive number.
    """

    def __init__(self,
                 knowledge_prompts: Union[dict, nn.Module] = dict(
                     type='HandcraftedPrompts', templates='dataset'),
                 loss_kg: dict = dict(
                     type='KLDivergenceLoss', loss_weight=1.0),
                 temperature: float = 1.0,
                 **kwargs):
        number = isinstance(
            temperature, (int, float)) and not isinstance(temperature, bool)
        if not (number and temperature > 0):
            raise ConfigError(
                f'ProGradHead: temperature must be a positive number (the '
                f'official T is 1.0), but got {temperature!r}.')
        super().__init__(**kwargs)
        self.text_targets = FrozenTextTargets(knowledge_prompts,
                                              self.text_encoder,
                                              type(self).__name__)
        self.loss_kg = MODELS.build(loss_kg)
        self.temperature = float(temperature)

    def set_class_names(self,
                        classnames: Sequence[str],
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        super().set_class_names(classnames, template, dataset_name)
        self.text_targets.set_class_names(classnames, self.text_encoder,
                                          template, dataset_name)

    def zero_shot_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Zero-shot CLIP logits ``(B, num_classes)`` of L2-normalised image
        features ``(B, D)``, against the hand-crafted class features;
        without gradients."""
        with torch.no_grad():
            text = self.text_targets(self.text_encoder).to(image)
            scale = self.logit_scale.to(image.device)
            return scale * image.detach() @ text.t()

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """``loss_ce`` (and, with ``cal_acc``, the accuracy) and ``loss_kg``
        of a batch."""
        logits, image, _ = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        losses['loss_ce'] = losses.pop('loss')
        t = self.temperature
        losses['loss_kg'] = t * t * self.loss_kg(
            self.zero_shot_logits(image) / t, logits / t)
        return losses
