# Copyright (c) mmprompt contributors. All rights reserved.
"""Frozen class text features of hand-crafted prompts, as a loss target."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..clip import OpenCLIPTextEncoder as TextEncoder


class FrozenTextTargets(nn.Module):
    """The frozen text features of parameter-free prompts, per class.

    KgCoOp pulls its learned class features towards these (cosine) and
    PromptSRC towards a template ensemble of them (L1); neither trains
    them. They are computed without gradients once per class list, text
    encoder weights and device, and reused by every training step.

    Args:
        prompts (dict | nn.Module): A prompt learner without parameters,
            e.g. ``dict(type='HandcraftedPrompts', templates='dataset')``;
            a config is built with ``text_encoder`` as default argument.
        text_encoder (nn.Module): The head's frozen text encoder.
        owner (str): The head's name, for error messages.

    Raises:
        ConfigError: ``prompts`` has parameters.
    """

    def __init__(self, prompts: Union[dict, nn.Module],
                 text_encoder: TextEncoder, owner: str):
        super().__init__()
        if isinstance(prompts, dict):
            prompts = MODELS.build(
                prompts, default_args=dict(text_encoder=text_encoder))
        if any(True for _ in prompts.parameters()):
            raise ConfigError(
                f'{owner}: knowledge_prompts ({type(prompts).__name__}) has '
                'parameters, but the knowledge prompts must be fixed; use '
                "dict(type='HandcraftedPrompts', templates=...).")
        self.prompts = prompts
        self._classes = None
        self._cache = None  # (key, features)

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        """Bind the class list (see ``PromptClsHead.set_class_names``);
        cheap when it did not change."""
        key = (tuple(classnames), template, dataset_name)
        if key == self._classes:
            return
        self.prompts.set_class_names(
            list(classnames),
            text_encoder,
            template=template,
            dataset_name=dataset_name)
        self._classes, self._cache = key, None

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        """L2-normalised target features ``(num_classes, D)``, without
        gradients."""
        key = (self._classes, text_encoder.device,
               tuple(p._version for p in text_encoder.parameters()))
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key,
                               F.normalize(self.prompts(text_encoder), dim=-1))
        return self._cache[1]
