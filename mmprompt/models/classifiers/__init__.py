# Copyright (c) mmprompt contributors. All rights reserved.
from .vl_prompt_classifier import VLPromptClassifier

__all__ = ['VLPromptClassifier']
