# Copyright (c) mmprompt contributors. All rights reserved.
from .clip_projection import CLIPProjectionNeck

__all__ = ['CLIPProjectionNeck']
