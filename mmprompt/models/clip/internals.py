# Copyright (c) mmprompt contributors. All rights reserved.
"""The open_clip names mmprompt relies on beyond open_clip's public API.

open_clip documents its top-level functions (``create_model``,
``get_tokenizer``, ``list_models``, ...); the towers also reach into its
submodules and model classes. Every such name is listed here, so an
open_clip upgrade that renames one fails in one place
(:func:`check_open_clip_internals`, run before the first build, and a test
that also checks the attributes of built models) instead of deep inside a
forward pass. A test keeps the lists complete by scanning this package.
"""
from typing import Optional

import open_clip
import torch.nn as nn

#: Names inside open_clip's submodules (``open_clip.<module>.<name>``).
MODULE_NAMES = (
    'convert.convert_state_dict',
    'factory.load_checkpoint',  # followed step by step, named in docs
    'model.convert_to_custom_text_state_dict',
    'model.resize_pos_embed',
    'model.resize_text_pos_embed',
    'transformer.QuickGELU',  # export: the activation to convert
    'transformer.ResidualAttentionBlock',
    'transformer.VisionTransformer',
)
#: Attributes of an open_clip ``VisionTransformer`` (the image tower).
VISION_TRANSFORMER_ATTRS = ('_embeds', '_pool', 'ln_pre', 'ln_post', 'proj',
                            'transformer', 'patch_size', 'output_dim',
                            'set_grad_checkpointing', 'class_embedding',
                            'attn_pool')
#: Attributes of an open_clip ``Transformer`` (both towers' blocks).
TRANSFORMER_ATTRS = ('resblocks', 'batch_first', 'grad_checkpointing',
                     'get_cast_dtype', 'width')
#: Attributes of a CLIP model's text tower (the model itself, or its
#: ``text`` for a ``CustomTextCLIP``) and of the model.
TEXT_ATTRS = ('token_embedding', 'positional_embedding', 'transformer',
              'ln_final', 'text_projection', 'attn_mask')
MODEL_ATTRS = ('visual', 'logit_scale')


def _missing_module_names():
    missing = []
    for dotted in MODULE_NAMES:
        node = open_clip
        for part in dotted.split('.'):
            node = getattr(node, part, None)
            if node is None:
                missing.append(f'open_clip.{dotted}')
                break
    return missing


def check_open_clip_internals(model: Optional[nn.Module] = None) -> None:
    """Fail clearly when open_clip lacks a name mmprompt relies on.

    Args:
        model (nn.Module, optional): A built open_clip CLIP model with a
            vision transformer, whose attributes are checked too.

    Raises:
        ImportError: names every missing one and the open_clip version.
    """
    missing = _missing_module_names()
    if model is not None:
        text = getattr(model, 'text', model)
        for owner, attrs, where in (
            (model, MODEL_ATTRS, 'model'),
            (model.visual, VISION_TRANSFORMER_ATTRS, 'model.visual'),
            (model.visual.transformer, TRANSFORMER_ATTRS,
             'model.visual.transformer'),
            (text, TEXT_ATTRS, 'text tower'),
            (text.transformer, TRANSFORMER_ATTRS, 'text tower.transformer'),
        ):
            missing += [f'{where}.{a}' for a in attrs if not hasattr(owner, a)]
    if missing:
        raise ImportError(
            f'open_clip {open_clip.__version__} lacks {missing}, which '
            "mmprompt's CLIP towers rely on; install the tested range: pip "
            "install 'open_clip_torch>=3.3,<4'.")
