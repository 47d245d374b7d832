# Copyright (c) mmprompt contributors. All rights reserved.
from .data_preprocessor import CLIPDataPreprocessor
from .prototype_fusion import CrossAttentionFusion

__all__ = ['CLIPDataPreprocessor', 'CrossAttentionFusion']
