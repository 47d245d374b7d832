# Copyright (c) mmprompt contributors. All rights reserved.
from .open_clip_adapter import (SHIPPED_WEIGHTS, TINY_MODEL, TINYCLIP_MODEL,
                                VISION_PROMPT_POSITIONS, CLIPProjectionNeck,
                                FrozenCLIPTower, OpenCLIPImageEncoder,
                                OpenCLIPTextEncoder, VisualPrompts,
                                build_open_clip, get_tokenizer,
                                resolve_pretrained)

__all__ = [
    'SHIPPED_WEIGHTS', 'TINY_MODEL', 'TINYCLIP_MODEL', 'CLIPProjectionNeck',
    'FrozenCLIPTower', 'OpenCLIPImageEncoder', 'OpenCLIPTextEncoder',
    'build_open_clip', 'get_tokenizer', 'resolve_pretrained',
    'VISION_PROMPT_POSITIONS', 'VisualPrompts'
]
