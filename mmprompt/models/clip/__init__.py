# Copyright (c) mmprompt contributors. All rights reserved.
from .open_clip_adapter import (TINY_MODEL, CLIPProjectionNeck,
                                FrozenCLIPTower, OpenCLIPImageEncoder,
                                OpenCLIPTextEncoder, build_open_clip,
                                resolve_pretrained)

__all__ = [
    'TINY_MODEL', 'CLIPProjectionNeck', 'FrozenCLIPTower',
    'OpenCLIPImageEncoder', 'OpenCLIPTextEncoder', 'build_open_clip',
    'resolve_pretrained'
]
