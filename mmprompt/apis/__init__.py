# Copyright (c) mmprompt contributors. All rights reserved.
"""Inference APIs: classify images among any class names.

Import from here (``from mmprompt.apis import
PromptClassificationInferencer``); ``import mmprompt`` does not load it.
"""
from .inferencer import (DEFAULT_TEMPLATE, DEFAULT_TOPK,
                         PromptClassificationInferencer, check_classes,
                         check_template, check_topk, collect_inputs,
                         draw_predictions, uses_template)

__all__ = [
    'PromptClassificationInferencer', 'check_classes', 'check_template',
    'check_topk', 'collect_inputs', 'draw_predictions', 'uses_template',
    'DEFAULT_TEMPLATE', 'DEFAULT_TOPK'
]
