# Copyright (c) mmprompt contributors. All rights reserved.
from .base import BasePromptLearner
from .coop import CoOpPromptLearner
from .handcrafted import HandcraftedPrompts

__all__ = ['BasePromptLearner', 'CoOpPromptLearner', 'HandcraftedPrompts']
