# Copyright (c) mmprompt contributors. All rights reserved.
"""The one package of mmprompt that touches open_clip internals.

* :mod:`.loading`: open_clip models by name and ``pretrained`` (an open_clip
  tag, a tag mmprompt ships, a local file, or ``None`` for random weights),
  built once for an image and a text tower of the same model
  (:func:`open_clip_for`);
* :mod:`.weights`: reading weight files (OpenAI TorchScript, state dicts,
  safetensors) and loading them as open_clip does, with clear errors;
* :mod:`.tower`: what both towers share: freezing with kilobyte checkpoints
  (:class:`FrozenCLIPTower`) and the prompt-injection mechanism
  (:class:`VisualPrompts`, residual blocks run one at a time) and read-only
  tokens (:class:`ReadOnlyTokens`, RPO: appended with an attention mask so
  the towers' own tokens never see them);
* :mod:`.image_encoder` / :mod:`.text_encoder`: the two frozen towers.

With no prompts both towers compute exactly open_clip's ``encode_image`` /
``encode_text``. :data:`OPEN_CLIP_INTERNALS` lists the private open_clip
names the package relies on (a test checks them against the installed
open_clip).
"""
from .image_encoder import OpenCLIPImageEncoder
from .loading import (SHIPPED_WEIGHTS, TINY_MODEL, TINYCLIP_MODEL,
                      build_open_clip, get_tokenizer, open_clip_for,
                      resolve_pretrained)
from .text_encoder import OpenCLIPTextEncoder
from .tower import (READONLY_ATTENTION, VISION_PROMPT_POSITIONS,
                    FrozenCLIPTower, ReadOnlyTokens, VisualPrompts,
                    readonly_attention_mask)
from .weights import read_pretrained_file

__all__ = [
    'SHIPPED_WEIGHTS', 'TINY_MODEL', 'TINYCLIP_MODEL', 'FrozenCLIPTower',
    'OpenCLIPImageEncoder', 'OpenCLIPTextEncoder', 'build_open_clip',
    'get_tokenizer', 'resolve_pretrained', 'read_pretrained_file',
    'open_clip_for', 'VISION_PROMPT_POSITIONS', 'VisualPrompts',
    'READONLY_ATTENTION', 'ReadOnlyTokens', 'readonly_attention_mask'
]
