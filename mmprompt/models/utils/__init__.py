# Copyright (c) mmprompt contributors. All rights reserved.
from .prototype_fusion import CrossAttentionFusion

__all__ = ['CrossAttentionFusion']
