# Copyright (c) mmprompt contributors. All rights reserved.
"""Reading CLIP weight files and loading them into open_clip models."""
import os
import os.path as osp
import warnings
import zipfile
from typing import Dict, List

import open_clip
import torch
import torch.nn as nn

from mmprompt.errors import PathNotFoundError, WeightsError

#: Non-weight entries of OpenAI's TorchScript archives (and of state dicts
#: taken from them); open_clip drops them too.
OPENAI_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
#: Files open_clip itself must read (big_vision SigLIP weights).
OPEN_CLIP_ONLY_SUFFIXES = ('.npz', '.npy')
#: Keys whose shape open_clip adapts (interpolates) on load.
_RESIZED_KEYS = ('visual.positional_embedding', 'positional_embedding',
                 'text.positional_embedding')
#: Keys that tell an architecture apart best, reported first on a mismatch.
_TELLING_KEYS = ('visual.conv1.weight', 'visual.layer1.0.conv1.weight',
                 'token_embedding.weight', 'text.token_embedding.weight')


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (e.g. OpenAI's ``.pt``).

    Like torch's own check, a zip archive with a ``constants.pkl`` record
    (``torch.save`` archives have none); only the zip index is read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(
        name.count('/') == 1 and name.endswith('/constants.pkl')
        for name in names)


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file starts with a little-endian header size and '{'."""
    return (len(head) >= 9 and head[8:9] == b'{'
            and int.from_bytes(head[:8], 'little') < size)


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = str(error).strip().splitlines()
    text = text[0] if text else ''
    text = text if len(text) <= limit else text[:limit] + '...'
    return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _cannot_load(path: str, model_name: str, problem: str,
                 fix: str) -> WeightsError:
    return WeightsError(f'Cannot load pretrained={path!r} into open_clip '
                        f'model {model_name!r}: {problem}. {fix}')


_ACCEPTED_FILES = (
    'Pass an OpenAI CLIP .pt file (TorchScript or state dict), an open_clip '
    'checkpoint (.pt/.pth/.bin, also an open_clip training checkpoint) or a '
    '.safetensors file.')


def _read_checkpoint(path: str, model_name: str):
    """The object a weights file holds, read without running pickled code.

    Returns:
        object: What ``torch.load`` / safetensors give; for a TorchScript
        archive its module's ``state_dict()``.
    """
    size = osp.getsize(path)
    if size == 0:
        raise _cannot_load(
            path, model_name, 'the file is empty (0 bytes), so the download '
            'or copy did not finish', 'Download or copy the file again.')
    with open(path, 'rb') as file:
        head = file.read(9)
    torchscript = is_torchscript_archive(path)
    safetensors = not torchscript and (_looks_like_safetensors(head, size)
                                       or path.endswith('.safetensors'))
    try:
        if torchscript:
            with warnings.catch_warnings():  # torch 2.x deprecates jit.load
                warnings.filterwarnings(
                    'ignore', '.*torch.jit.load', category=FutureWarning)
                module = torch.jit.load(path, map_location='cpu')
            return module.state_dict()
        if safetensors:
            from safetensors.torch import load_file
            return load_file(path, device='cpu')
        return torch.load(path, map_location='cpu', weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - every reader failure
        reason = _first_line(error)
        if head.startswith(b'PK') and not zipfile.is_zipfile(path):
            problem = ('the file is a zip archive (the PyTorch/TorchScript '
                       'format) whose end is missing: it is truncated or '
                       'corrupted')
            fix = 'Download or copy the file again.'
        elif safetensors:
            problem = ('the file is not a complete safetensors file, it is '
                       f'truncated or corrupted ({reason})')
            fix = 'Download or copy the file again.'
        elif (head.startswith((b'PK', b'\x80'))
              and 'weights only load failed' in str(error).lower()):
            # A pickle (zip or legacy) that needs more than tensors.
            problem = ('the file holds pickled Python objects besides '
                       'tensors, which torch.load(weights_only=True) does not '
                       'run')
            fix = ('If you trust the file, save its tensors alone, e.g. '
                   "torch.save(torch.load(path, weights_only=False)"
                   "['state_dict'], 'weights.pt'), and pass that file.")
        else:
            problem = ('the file is not a weights file that torch.load, '
                       f'torch.jit.load or safetensors can read ({reason}); '
                       'it is not a checkpoint, or it is truncated')
            fix = _ACCEPTED_FILES
        raise _cannot_load(path, model_name, problem, fix) from error


def read_pretrained_file(path: str,
                         model_name: str) -> Dict[str, torch.Tensor]:
    """Read the weights of a CLIP model from a local file.

    Accepts what users have: OpenAI's TorchScript ``.pt`` archives (read with
    ``torch.jit.load``), ``torch.save`` state dicts in OpenAI's / open_clip's
    key layout (also wrapped as ``{'state_dict': ...}`` like open_clip's
    training checkpoints, or with DDP's ``module.`` prefix), ``.bin`` files
    and ``.safetensors`` files (recognised by content, not by suffix). Pickles
    are read with ``weights_only=True``: no code in a file is run.

    Args:
        path (str): The weights file.
        model_name (str): The open_clip model the weights are for (named in
            error messages).

    Returns:
        dict[str, torch.Tensor]: The tensors by parameter name, without the
        ``module.`` prefix and without OpenAI's non-weight entries
        (:data:`OPENAI_EXTRA_KEYS`), in the file's dtype.

    Raises:
        PathNotFoundError: No such file.
        WeightsError: ``path`` is a directory, or the file is empty,
            truncated, not a checkpoint, or holds no state dict.
    """
    if osp.isdir(path):
        raise directory_error(path, model_name)
    if not osp.isfile(path):
        raise PathNotFoundError(
            f'The pretrained weights file {path!r} for open_clip model '
            f'{model_name!r} does not exist.')
    checkpoint = _read_checkpoint(path, model_name)
    if isinstance(checkpoint, dict) and isinstance(
            checkpoint.get('state_dict'), dict):
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, dict):
        raise _cannot_load(
            path, model_name, f'the file holds a {type(checkpoint).__name__}, '
            'not a state dict (a dict of parameter names to tensors)',
            _ACCEPTED_FILES)
    state_dict = {
        key: value
        for key, value in checkpoint.items()
        if isinstance(key, str) and isinstance(value, torch.Tensor)
    }
    if not state_dict:
        keys = ', '.join(repr(k) for k in list(checkpoint)[:5]) or 'none'
        raise _cannot_load(
            path, model_name, 'the file holds a dict without tensors '
            f'(its keys: {keys})', _ACCEPTED_FILES)
    if all(key.startswith('module.') for key in state_dict):
        state_dict = {key[7:]: value for key, value in state_dict.items()}
    for key in OPENAI_EXTRA_KEYS:
        state_dict.pop(key, None)
    return state_dict


def directory_error(path: str, model_name: str) -> WeightsError:
    files = sorted(
        name for name in os.listdir(path)
        if name.endswith(('.pt', '.pth', '.bin', '.safetensors')))
    fix = ('Pass the weights file inside it' +
           (f', e.g. {osp.join(path, files[0])!r}' if files else '') + '.')
    if osp.isfile(osp.join(path, 'open_clip_config.json')):
        fix += (' For an open_clip model folder with open_clip_config.json '
                f"set model_name='local-dir:{path}' instead.")
    return _cannot_load(path, model_name,
                        'it is a directory, not a weights file', fix)


def _to_model_layout(model: nn.Module, state_dict: dict) -> dict:
    """Bring a CLIP state dict into ``model``'s key layout, as open_clip does.

    The steps of ``open_clip.factory.load_checkpoint`` before resizing:
    third-party conversions, CLIP <-> CustomTextCLIP text keys (OpenAI's
    layout is open_clip's ``CLIP`` layout), scalar-vs-1d ``logit_scale`` /
    ``logit_bias`` and a zero ``logit_bias`` for SigLIP-style models.
    """
    state_dict = open_clip.convert.convert_state_dict(model, dict(state_dict))
    text_at_top = hasattr(model, 'positional_embedding')
    if 'positional_embedding' in state_dict and not text_at_top:
        state_dict = open_clip.model.convert_to_custom_text_state_dict(
            state_dict)
    elif text_at_top and 'text.positional_embedding' in state_dict:
        state_dict = {
            key[len('text.'):] if key.startswith('text.') else key: value
            for key, value in state_dict.items()
        }
    for name in ('logit_scale', 'logit_bias'):
        param = getattr(model, name, None)
        value = state_dict.get(name)
        if (param is not None and value is not None
                and value.ndim != param.ndim
                and value.numel() == param.numel()):
            state_dict[name] = value.reshape(param.shape)
    if (getattr(model, 'logit_bias', None) is not None
            and 'logit_bias' not in state_dict
            and 'logit_scale' in state_dict):
        state_dict['logit_bias'] = torch.zeros_like(state_dict['logit_scale'])
    state_dict.pop('text.transformer.embeddings.position_ids', None)
    return state_dict


def _resizable(model: nn.Module, key: str, got: torch.Tensor,
               want: torch.Tensor) -> bool:
    """Whether open_clip interpolates ``got`` to ``want`` on load."""
    if key not in _RESIZED_KEYS or got.ndim != 2 or want.ndim != 2 or \
            got.shape[1] != want.shape[1]:
        return False
    if key != 'visual.positional_embedding':
        return True
    grid = int(round((got.shape[0] - 1)**0.5))
    return (hasattr(model.visual, 'grid_size')
            and grid * grid == got.shape[0] - 1)


def _architectures_like(state_dict: Dict[str, torch.Tensor]) -> List[str]:
    """open_clip model names whose config fits a ViT CLIP state dict."""
    weights = {
        key[len('text.'):] if key.startswith('text.') else key: value
        for key, value in state_dict.items()
    }
    try:
        conv = weights['visual.conv1.weight']
        grid = round(
            (weights['visual.positional_embedding'].shape[0] - 1)**0.5)
        proj = weights.get('text_projection')
        if proj is None:
            embed_dim = weights['text_projection.weight'].shape[0]
        else:
            embed_dim = proj.shape[1]
        vision = dict(
            width=conv.shape[0],
            patch_size=conv.shape[-1],
            image_size=conv.shape[-1] * grid,
            layers=len({
                key.split('.')[3]
                for key in weights
                if key.startswith('visual.transformer.resblocks.')
            }))
        text = dict(
            width=weights['token_embedding.weight'].shape[1],
            layers=len({
                key.split('.')[2]
                for key in weights if key.startswith('transformer.resblocks.')
            }))
    except (KeyError, IndexError):
        return []
    names = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name) or {}
        vision_cfg = cfg.get('vision_cfg', {})
        text_cfg = cfg.get('text_cfg', {})
        if cfg.get('embed_dim') == embed_dim and all(
                vision_cfg.get(k) == v for k, v in vision.items()) and all(
                    text_cfg.get(k) == v for k, v in text.items()):
            names.append(name)
    return names


def _check_fits(model: nn.Module, state_dict: dict, path: str,
                model_name: str):
    """Raise one clear WeightsError unless ``state_dict`` fits ``model``."""
    expected = model.state_dict()
    mismatched = [
        key for key, want in expected.items()
        if key in state_dict and state_dict[key].shape != want.shape
        and not _resizable(model, key, state_dict[key], want)
    ]
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if not (mismatched or missing or unexpected):
        return
    like = _architectures_like(state_dict)
    like = [name for name in like if name != model_name]
    guess = (f" (its shapes fit open_clip model {', '.join(like[:3])})"
             if like else '')
    name_hint = f"'{like[0]}'" if like else "'<the file's architecture>'"
    if mismatched:
        key = next((k for k in _TELLING_KEYS if k in mismatched),
                   mismatched[0])
        problem = (f'{model_name} expects {key} of shape '
                   f'{tuple(expected[key].shape)}, the file has '
                   f'{tuple(state_dict[key].shape)}')
        if len(mismatched) > 1:
            problem += f' ({len(mismatched) - 1} more tensors differ)'
        problem += f': the file holds another architecture{guess}'
        fix = (f'Pass model_name={name_hint} or the weights file of '
               f'{model_name}.')
    else:
        parts = []
        if missing:
            parts.append(f'{model_name} needs {len(missing)} tensors the '
                         f"file lacks (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f'the file has {len(unexpected)} tensors '
                         f'{model_name} does not have (e.g. '
                         f"{', '.join(unexpected[:3])})")
        problem = (' and '.join(parts) + ': the file holds another '
                   f'architecture{guess}, another code base\'s key layout or '
                   'only part of a CLIP model')
        fix = (f'Pass a full OpenAI / open_clip checkpoint of {model_name}' +
               (f' or model_name={name_hint}' if like else '') + '.')
    raise _cannot_load(path, model_name, problem, fix)


def load_pretrained_file(model: nn.Module, state_dict: Dict[str, torch.Tensor],
                         path: str, model_name: str):
    """Load weights read by :func:`read_pretrained_file` into ``model``.

    Follows ``open_clip.factory.load_checkpoint`` (key conversions, then
    ``resize_pos_embed`` / ``resize_text_pos_embed`` for another image size
    or context length, then a strict ``load_state_dict``), but first checks
    that the file fits, so a file of another architecture gives one clear
    error. Values are copied exactly; fp16 weights (OpenAI's files) are cast
    to the model's dtype by ``load_state_dict`` as in open_clip.

    Args:
        model (nn.Module): An open_clip model (``CLIP``/``CustomTextCLIP``).
        state_dict (dict[str, torch.Tensor]): The file's tensors.
        path (str): The file (named in error messages).
        model_name (str): open_clip model name of ``model``.

    Raises:
        WeightsError: The weights do not fit ``model``.
    """
    state_dict = _to_model_layout(model, state_dict)
    _check_fits(model, state_dict, path, model_name)
    open_clip.model.resize_pos_embed(state_dict, model)
    open_clip.model.resize_text_pos_embed(state_dict, model)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:  # what _check_fits cannot foresee
        raise _cannot_load(
            path, model_name, f'the weights do not fit ({_first_line(error)})',
            f'Pass the weights file of {model_name}.') from error
