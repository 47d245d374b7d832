# Copyright (c) mmprompt contributors. All rights reserved.
"""Image towers, pipelines and preprocessors in plain mmpretrain terms.

The pieces of an exported classifier that mmprompt does not change, written
with modules mmpretrain (and mmcv, mmengine) registers themselves, so that
the result builds where mmprompt is not installed:

* :func:`open_clip_vit_to_mmpretrain`: an open_clip ``VisionTransformer``
  as mmpretrain's ``VisionTransformer`` in the CLIP layout (``pre_norm``,
  ``final_norm``, ``out_type='cls_token'``, LayerNorm eps and activation
  taken from the tower) plus a bias-free ``LinearNeck`` for the projection,
  with the weights renamed (the renaming of mmpretrain's
  ``openai-clip_to_mmpretrain-clip.py``);
* :func:`image_tower_to_mmpretrain`: the same for a model's image tower,
  also for an mmpretrain ``VisionTransformer`` already in that layout with
  mmprompt's ``CLIPProjectionNeck``;
* :func:`plain_pipeline` / :func:`plain_data_preprocessor`: a config's test
  pipeline and data preprocessor with mmprompt's types replaced by
  mmpretrain's (``LoadCoOpImage`` -> ``LoadImageFromFile`` with the pillow
  decoder and the same EXIF handling; ``CLIPDataPreprocessor`` ->
  ``ClsDataPreprocessor``).
"""
import copy
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import open_clip
import torch
import torch.nn as nn

from mmprompt.errors import ConfigError

__all__ = [
    'NotExportableError', 'open_clip_vit_to_mmpretrain',
    'image_tower_to_mmpretrain', 'plain_pipeline', 'plain_data_preprocessor'
]


class NotExportableError(ConfigError):
    """The model (or a part of its config) has no plain mmpretrain form."""


def _type_name(obj_type: Any) -> str:
    if inspect.isclass(obj_type):
        return obj_type.__name__
    return str(obj_type).split('.')[-1]


def _is_mmprompt_type(obj_type: Any) -> bool:
    if inspect.isclass(obj_type):
        return obj_type.__module__.split('.')[0] == 'mmprompt'
    return False


def _tensor(value: torch.Tensor) -> torch.Tensor:
    """A float32 copy that owns its storage (no view of a larger tensor)."""
    return value.detach().to(torch.float32).clone().contiguous()


def _activation_cfg(module: nn.Module, where: str) -> dict:
    if isinstance(module, open_clip.transformer.QuickGELU):
        return dict(type='QuickGELU')
    if type(module) is nn.GELU and module.approximate == 'none':
        return dict(type='GELU')
    raise NotExportableError(
        f'{where} uses the activation {module!r}; mmpretrain\'s '
        'VisionTransformer is exported with GELU or QuickGELU only.')


def open_clip_vit_to_mmpretrain(
    visual: nn.Module,
    name: str = 'the open_clip image tower'
) -> Tuple[dict, Optional[dict], Dict[str, torch.Tensor]]:
    """Convert an open_clip ViT into mmpretrain's CLIP-layout ViT + neck.

    open_clip's ``encode_image`` for a ViT is ``ln_post(blocks(ln_pre(patch
    + cls + pos)))[:, 0] @ proj``: mmpretrain's ``VisionTransformer`` with
    ``pre_norm=True`` (ln_pre), ``final_norm=True`` (its ``ln1`` is
    ln_post), ``out_type='cls_token'`` and a bias-free patch embedding,
    followed by ``LinearNeck`` (weight ``proj.T``, zero bias, no norm or
    activation). The same numbers, up to float rounding (< 1e-5 on the
    tiny CLIP).

    Args:
        visual (nn.Module): ``open_clip.transformer.VisionTransformer``.
        name (str): What to call it in errors. Defaults to
            'the open_clip image tower'.

    Returns:
        tuple: ``(backbone_cfg, neck_cfg, state_dict)``; ``neck_cfg`` is
        None when the tower has no projection. The state dict has the
        ``backbone.`` / ``neck.`` keys of an ``ImageClassifier``.

    Raises:
        NotExportableError: The tower is no ViT, or uses a feature
            mmpretrain's ``VisionTransformer`` does not have (attentional
            pooling, average pooling, layer scale, another block type or
            activation, a biased patch embedding).
    """
    if not isinstance(visual, open_clip.transformer.VisionTransformer):
        raise NotExportableError(
            f'{name} is a {type(visual).__name__}, not a vision '
            'transformer; export converts open_clip ViT towers (e.g. '
            "'ViT-B-16', 'mmprompt-tinyclip') into mmpretrain's "
            'VisionTransformer only.')
    unsupported = []
    if getattr(visual, 'attn_pool', None) is not None:
        unsupported.append('attentional pooling (attn_pool)')
    if getattr(visual, 'pool_type', 'tok') != 'tok':
        unsupported.append(f'pool_type={visual.pool_type!r}')
    if getattr(visual, 'final_ln_after_pool', False):
        unsupported.append('final_ln_after_pool=True')
    if visual.conv1.bias is not None:
        unsupported.append('a patch embedding with bias')
    blocks = list(visual.transformer.resblocks)
    for i, block in enumerate(blocks):
        if type(block) is not open_clip.transformer.ResidualAttentionBlock:
            unsupported.append(f'blocks of type {type(block).__name__}')
            break
        if not (isinstance(block.ls_1, nn.Identity)
                and isinstance(block.ls_2, nn.Identity)):
            unsupported.append('layer scale (ls_init_value)')
            break
        if (hasattr(block, 'ln_1_kv') or block.attn.in_proj_weight is None
                or block.attn.in_proj_bias is None):
            unsupported.append(f'the attention of block {i}')
            break
    if unsupported:
        raise NotExportableError(
            f'{name} uses {", ".join(unsupported)}, which mmpretrain\'s '
            'VisionTransformer does not have; export supports the CLIP ViT '
            'layout (class-token pooling after ln_post, plain pre-norm '
            'blocks).')
    width = visual.transformer.width
    first = blocks[0]
    norm = first.ln_1
    act_cfg = _activation_cfg(first.mlp.gelu, name)
    pre_norm = not isinstance(visual.ln_pre, nn.Identity)
    if pre_norm and visual.ln_pre.eps != norm.eps:
        raise NotExportableError(
            f'{name} has LayerNorm eps {visual.ln_pre.eps} before the blocks '
            f'and {norm.eps} inside them; mmpretrain uses one norm_cfg.')
    image_size = tuple(visual.image_size)
    patch_size = tuple(visual.patch_size)
    backbone = dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=width,
            num_layers=len(blocks),
            num_heads=first.attn.num_heads,
            feedforward_channels=first.mlp.c_fc.out_features),
        img_size=image_size[0]
        if image_size[0] == image_size[1] else list(image_size),
        patch_size=patch_size[0]
        if patch_size[0] == patch_size[1] else list(patch_size),
        pre_norm=pre_norm,
        final_norm=True,
        out_type='cls_token',
        drop_rate=0.,
        norm_cfg=dict(type='LN', eps=norm.eps),
        patch_cfg=dict(bias=False),
        layer_cfgs=dict(act_cfg=act_cfg))
    state = {
        'backbone.cls_token': visual.class_embedding.reshape(1, 1, -1),
        'backbone.pos_embed': visual.positional_embedding.unsqueeze(0),
        'backbone.patch_embed.projection.weight': visual.conv1.weight,
        'backbone.ln1.weight': visual.ln_post.weight,
        'backbone.ln1.bias': visual.ln_post.bias,
    }
    if pre_norm:
        state['backbone.pre_norm.weight'] = visual.ln_pre.weight
        state['backbone.pre_norm.bias'] = visual.ln_pre.bias
    for i, block in enumerate(blocks):
        pre = f'backbone.layers.{i}.'
        state.update({
            pre + 'ln1.weight': block.ln_1.weight,
            pre + 'ln1.bias': block.ln_1.bias,
            pre + 'attn.qkv.weight': block.attn.in_proj_weight,
            pre + 'attn.qkv.bias': block.attn.in_proj_bias,
            pre + 'attn.proj.weight': block.attn.out_proj.weight,
            pre + 'attn.proj.bias': block.attn.out_proj.bias,
            pre + 'ln2.weight': block.ln_2.weight,
            pre + 'ln2.bias': block.ln_2.bias,
            pre + 'ffn.layers.0.0.weight': block.mlp.c_fc.weight,
            pre + 'ffn.layers.0.0.bias': block.mlp.c_fc.bias,
            pre + 'ffn.layers.1.weight': block.mlp.c_proj.weight,
            pre + 'ffn.layers.1.bias': block.mlp.c_proj.bias,
        })
    neck = None
    if visual.proj is not None:
        neck, neck_state = _projection_neck(visual.proj)
        state.update(neck_state)
    return backbone, neck, {k: _tensor(v) for k, v in state.items()}


def _projection_neck(proj: torch.Tensor) -> Tuple[dict, dict]:
    """``x @ proj`` as mmpretrain's ``LinearNeck`` (zero bias)."""
    in_channels, out_channels = proj.shape
    neck = dict(
        type='LinearNeck',
        in_channels=in_channels,
        out_channels=out_channels,
        norm_cfg=None,
        act_cfg=None)
    return neck, {
        'neck.fc.weight': proj.t(),
        'neck.fc.bias': proj.new_zeros(out_channels)
    }


def image_tower_to_mmpretrain(
    model: nn.Module,
    model_cfg: Optional[dict] = None
) -> Tuple[dict, Optional[dict], Dict[str, torch.Tensor]]:
    """The image tower (backbone + neck) of a prompt model, in mmpretrain.

    Args:
        model (nn.Module): An ``ImageClassifier`` whose backbone is an
            ``OpenCLIPImageEncoder`` with a ViT tower, or mmpretrain's
            ``VisionTransformer`` (with ``CLIPProjectionNeck`` or a
            ``LinearNeck`` as neck, or none).
        model_cfg (dict, optional): The model's config, for the
            ``VisionTransformer`` case (its backbone config is reused).
            Defaults to None.

    Returns:
        tuple: ``(backbone_cfg, neck_cfg, state_dict)``, see
        :func:`open_clip_vit_to_mmpretrain`.

    Raises:
        NotExportableError: Another backbone or neck.
    """
    from mmpretrain.models.backbones import VisionTransformer
    from mmpretrain.models.necks import LinearNeck

    from mmprompt.models import CLIPProjectionNeck, OpenCLIPImageEncoder
    from mmprompt.models.utils import state_tensors
    backbone = model.backbone
    neck = getattr(model, 'neck', None)
    if isinstance(backbone, OpenCLIPImageEncoder):
        if neck is not None:
            raise NotExportableError(
                f'model.neck ({type(neck).__name__}) after an '
                'OpenCLIPImageEncoder: its features are already in the joint '
                'space, and export knows no neck there.')
        return open_clip_vit_to_mmpretrain(
            backbone.visual,
            f'the image tower of open_clip model {backbone.model_name!r}')
    if type(backbone) is VisionTransformer:
        cfg = copy.deepcopy(dict((model_cfg or {}).get('backbone') or {}))
        if not cfg:
            raise NotExportableError(
                'model.backbone is mmpretrain\'s VisionTransformer, but its '
                'config was not given; pass the model config.')
        cfg.pop('init_cfg', None)  # the exported checkpoint holds it all
        cfg['type'] = 'VisionTransformer'
        state = {
            f'backbone.{k}': _tensor(v)
            for k, v in state_tensors(backbone).items()
        }
        neck_cfg = None
        if isinstance(neck, CLIPProjectionNeck):
            neck_cfg, neck_state = _projection_neck(neck.proj)
            state.update({k: _tensor(v) for k, v in neck_state.items()})
        elif type(neck) is LinearNeck and isinstance(neck.norm, nn.Identity) \
                and isinstance(neck.act, nn.Identity):
            neck_cfg = dict(
                type='LinearNeck',
                in_channels=neck.in_channels,
                out_channels=neck.out_channels,
                norm_cfg=None,
                act_cfg=None)
            state.update({
                f'neck.{k}': _tensor(v)
                for k, v in state_tensors(neck).items()
            })
        elif neck is not None:
            raise NotExportableError(
                f'model.neck is a {type(neck).__name__}; export converts '
                'CLIPProjectionNeck (or a plain LinearNeck) after '
                'mmpretrain\'s VisionTransformer.')
        return cfg, neck_cfg, state
    raise NotExportableError(
        f'model.backbone is a {type(backbone).__name__}; export converts an '
        'OpenCLIPImageEncoder with a ViT tower or mmpretrain\'s '
        'VisionTransformer.')


def plain_pipeline(
        pipeline: Sequence[dict],
        where: str = 'test_dataloader.dataset.pipeline') -> List[dict]:
    """A test pipeline with mmprompt's transforms replaced by mmpretrain's.

    ``LoadCoOpImage`` becomes ``LoadImageFromFile(imdecode_backend=
    'pillow')`` with ``color_type='color_ignore_orientation'`` (or
    ``'color'`` for ``exif_orientation=True``): the decoding
    ``LoadCoOpImage`` documents as byte-identical for JPEGs (and PNGs).
    Every other step must be a transform mmpretrain (or mmcv) registers.

    Args:
        pipeline (Sequence[dict]): The transforms.
        where (str): The config field, for errors.

    Returns:
        list[dict]: The converted transforms.

    Raises:
        NotExportableError: A step that only mmprompt registers.
    """
    from mmpretrain.registry import TRANSFORMS

    from mmprompt.datasets.transforms import LoadCoOpImage
    out = []
    for i, step in enumerate(pipeline):
        step = copy.deepcopy(dict(step))
        step_type = step.get('type')
        if step_type in ('LoadCoOpImage', LoadCoOpImage):
            exif = step.pop('exif_orientation', False)
            step.pop('type')
            step = dict(
                type='LoadImageFromFile',
                imdecode_backend='pillow',
                color_type='color' if exif else 'color_ignore_orientation',
                **step)
        elif _is_mmprompt_type(step_type) or (isinstance(
                step_type, str) and TRANSFORMS.get(step_type) is None):
            raise NotExportableError(
                f'{where}[{i}] is {_type_name(step_type)}, which mmpretrain '
                'does not register, so the exported config would need '
                'mmprompt. Export with a test pipeline of mmpretrain '
                'transforms (LoadImageFromFile, ResizeEdge, CenterCrop, '
                'PackInputs, ...).')
        elif inspect.isclass(step_type):
            step['type'] = step_type.__name__
        out.append(step)
    return out


def plain_data_preprocessor(cfg: Optional[dict]) -> dict:
    """The model's data preprocessor as mmpretrain's ``ClsDataPreprocessor``.

    Args:
        cfg (dict, optional): ``model.data_preprocessor`` of the config.

    Returns:
        dict: The config; ``CLIPDataPreprocessor`` (mmprompt's, which also
        passes stored features) becomes ``ClsDataPreprocessor`` with the
        same arguments.

    Raises:
        NotExportableError: Another preprocessor only mmprompt registers.
    """
    from mmpretrain.registry import MODELS
    cfg = copy.deepcopy(dict(cfg or dict(type='ClsDataPreprocessor')))
    cfg_type = cfg.get('type', 'ClsDataPreprocessor')
    if _type_name(cfg_type) == 'CLIPDataPreprocessor':
        cfg['type'] = 'ClsDataPreprocessor'
    elif _is_mmprompt_type(cfg_type) or (isinstance(cfg_type, str)
                                         and MODELS.get(cfg_type) is None):
        raise NotExportableError(
            f'model.data_preprocessor is {_type_name(cfg_type)}, which '
            'mmpretrain does not register; use ClsDataPreprocessor or '
            'CLIPDataPreprocessor.')
    elif inspect.isclass(cfg_type):
        cfg['type'] = cfg_type.__name__
    return cfg
