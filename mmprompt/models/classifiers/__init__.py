# Copyright (c) mmprompt contributors. All rights reserved.
from .frozen_tower_classifier import FrozenTowerClassifier
from .prograd_classifier import ProGradClassifier  # noqa: F401
from .vl_prompt_classifier import VLPromptClassifier

__all__ = ['FrozenTowerClassifier', 'VLPromptClassifier']
