# Copyright (c) mmprompt contributors. All rights reserved.
from .data_preprocessor import CLIPDataPreprocessor
from .frozen_weights import (exclude_from_checkpoints, init_from_pretrained,
                             pretrained_sources, state_tensors)
from .prototype_fusion import CrossAttentionFusion

__all__ = [
    'CLIPDataPreprocessor', 'CrossAttentionFusion', 'exclude_from_checkpoints',
    'init_from_pretrained', 'pretrained_sources', 'state_tensors'
]
