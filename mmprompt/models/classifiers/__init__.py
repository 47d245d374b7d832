# Copyright (c) mmprompt contributors. All rights reserved.
from .frozen_tower_classifier import FrozenTowerClassifier
from .vl_prompt_classifier import VLPromptClassifier

__all__ = ['FrozenTowerClassifier', 'VLPromptClassifier']
