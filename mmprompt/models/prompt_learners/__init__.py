# Copyright (c) mmprompt contributors. All rights reserved.
from .base import BasePromptLearner
from .cocoop import CoCoOpPromptLearner
from .coop import CoOpPromptLearner
from .handcrafted import HandcraftedPrompts
from .initializers import (BasePromptInit, DiffSTPromptInit, PhrasePromptInit,
                           RandomPromptInit, SameSTPromptInit,
                           build_prompt_init)
from .instance import InstancePromptLearner
from .rpo import RPOPromptLearner  # noqa: F401
from .vl_prompts import (DAPTPromptLearner, IVLPPromptLearner,
                         MaPLePromptLearner, VLPromptLearner,
                         VPTDeepPromptLearner)

__all__ = [
    'BasePromptLearner', 'CoOpPromptLearner', 'HandcraftedPrompts',
    'BasePromptInit', 'PhrasePromptInit', 'RandomPromptInit',
    'SameSTPromptInit', 'DiffSTPromptInit', 'build_prompt_init',
    'VLPromptLearner', 'MaPLePromptLearner', 'IVLPPromptLearner',
    'VPTDeepPromptLearner', 'DAPTPromptLearner', 'InstancePromptLearner',
    'CoCoOpPromptLearner'
]
