# Copyright (c) mmprompt contributors. All rights reserved.
"""The one module of mmprompt that touches open_clip internals.

It builds an open_clip model by name and ``pretrained`` (an open_clip tag, a
local checkpoint file, or ``None`` for random weights) and splits it into the
two frozen towers the prompt learners work with:

* :class:`OpenCLIPImageEncoder`, an mmpretrain-style backbone returning
  CLIP-space image features, with an explicit token-level forward
  (``embed`` -> ``blocks`` -> ``pool``) that takes :class:`VisualPrompts`:
  prompt tokens inserted into the input sequence and, for deep prompts,
  replaced before chosen blocks, without forking open_clip;
* :class:`OpenCLIPTextEncoder`, which takes *token embeddings* (so soft
  prompts can be fed in) and optional deep prompts that replace the context
  positions before chosen blocks, and returns the projected EOT features,
  running the transformer only on the first ``max(EOT) + 1`` positions.

Prompt injection is this one mechanism for every method (MaPLe, IVLP,
VPT-deep, DAPT); with no prompts both towers compute exactly open_clip's
``encode_image`` / ``encode_text``.

Both towers are frozen by default and then keep their weights out of
checkpoints (see :class:`FrozenCLIPTower`).
"""
import contextlib
import difflib
import logging
import os
import os.path as osp
import socket
import threading
import warnings
import zipfile
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from mmengine.logging import print_log
from mmengine.model import BaseModule

from mmprompt.errors import ConfigError, PathNotFoundError, WeightsError
from mmprompt.registry import MODELS

try:
    import open_clip
except ImportError:  # pragma: no cover - exercised only without the extra
    open_clip = None

#: Directory of the model configs mmprompt adds to open_clip (tiny models for
#: tests and the offline demo).
MODEL_CONFIG_DIR = osp.join(osp.dirname(__file__), 'model_configs')
#: A ~3.5 M-parameter CLIP (32x32 images, 64-d embeddings) for tests.
TINY_MODEL = 'mmprompt-tiny'
#: An 8 M-parameter CLIP (64x64 images, 128-d embeddings) that mmprompt
#: pretrains on procedural textures (tools/misc/pretrain_tinyclip.py) and
#: ships as its pretrained tag ``'procdtd'``.
TINYCLIP_MODEL = 'mmprompt-tinyclip'
#: Weights shipped with mmprompt, as ``{model: {tag: file}}``.
SHIPPED_WEIGHTS = {
    TINYCLIP_MODEL: {
        'procdtd':
        osp.join(
            osp.dirname(__file__), 'weights',
            'mmprompt-tinyclip_procdtd.safetensors')
    }
}

_HUB_HOST = ('huggingface.co', 443)
_registered_configs = False


def _require_open_clip():
    if open_clip is None:
        raise ImportError(
            'open_clip is not installed; mmprompt needs it for its CLIP '
            "encoders: pip install 'open_clip_torch>=3.3,<4'")
    global _registered_configs
    if not _registered_configs:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        for model, tags in SHIPPED_WEIGHTS.items():
            known = open_clip.pretrained._PRETRAINED.setdefault(model, {})
            for tag, path in tags.items():
                known[tag] = open_clip.pretrained._pcfg(file=path)
        _registered_configs = True


def get_tokenizer(model_name: str):
    """open_clip's tokenizer of a model, mmprompt's configs included."""
    _require_open_clip()
    return open_clip.get_tokenizer(model_name)


def _is_offline() -> bool:
    """Whether the Hugging Face hub cannot be reached (decided in seconds)."""
    if os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true', 'yes'):
        return True
    reachable = []

    def probe():
        try:
            socket.create_connection(_HUB_HOST, timeout=3).close()
            reachable.append(True)
        except OSError:
            reachable.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(4)
    return not (reachable and reachable[0])


def _cached_pretrained_file(cfg: dict,
                            cache_dir: Optional[str]) -> Optional[str]:
    """Find an open_clip pretrained weight in the local caches, no network."""
    if cfg.get('file'):
        if not osp.isfile(cfg['file']):
            raise PathNotFoundError(
                f"The weights file {cfg['file']} of this pretrained tag is "
                'missing. mmprompt ships it in the repository; for '
                f"{TINYCLIP_MODEL!r} recreate it with "
                'tools/misc/pretrain_tinyclip.py --out <that path>.')
        return cfg['file']
    hub = cfg.get('hf_hub', '')
    if hub:
        from huggingface_hub import hf_hub_download
        repo_id, filename = os.path.split(hub)
        names = [filename] if filename else [
            'open_clip_model.safetensors', 'open_clip_pytorch_model.bin'
        ]
        for name in names:
            try:
                return hf_hub_download(
                    repo_id, name, cache_dir=cache_dir, local_files_only=True)
            except Exception:  # noqa: BLE001 - any miss means "not cached"
                continue
    url = cfg.get('url', '')
    if url:
        root = cache_dir or osp.expanduser('~/.cache/clip')
        path = osp.join(root, osp.basename(url))
        if osp.isfile(path):
            return path
    return None


#: Non-weight entries of OpenAI's TorchScript archives (and of state dicts
#: taken from them); open_clip drops them too.
OPENAI_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
#: Files open_clip itself must read (big_vision SigLIP weights).
_OPEN_CLIP_ONLY_SUFFIXES = ('.npz', '.npy')
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
        raise _directory_error(path, model_name)
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


def _directory_error(path: str, model_name: str) -> WeightsError:
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


class _DropRandomInitWarning(logging.Filter):
    """Hide open_clip's "initialized randomly" while mmprompt loads a file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('No pretrained weights loaded')


@contextlib.contextmanager
def _loading_weights_afterwards():
    root = logging.getLogger()
    drop = _DropRandomInitWarning()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def resolve_pretrained(model_name: str,
                       pretrained: Optional[str],
                       cache_dir: Optional[str] = None) -> Tuple[str, dict]:
    """Turn ``pretrained`` into something open_clip loads without surprises.

    Args:
        model_name (str): The open_clip model name, e.g. ``'ViT-B-16'``.
        pretrained (str, optional): ``None``/``''`` for random weights, a
            local weights file (OpenAI's TorchScript ``.pt``, a state dict
            ``.pt``/``.pth``/``.bin``, ``.safetensors``; see
            :func:`read_pretrained_file`), a ``local-dir:`` path, or an
            open_clip pretrained tag such as ``'openai'``.
        cache_dir (str, optional): open_clip's download cache.

    Returns:
        tuple[str, dict]: The weights file, tag or ``None`` and extra
        keyword arguments for ``open_clip.create_model``
        (``force_quick_gelu=True`` for OpenAI weights: a tag with
        ``quick_gelu`` or a TorchScript archive).

    Raises:
        PathNotFoundError: ``pretrained`` looks like a path that does not
            exist (a ``FileNotFoundError``).
        WeightsError: ``pretrained`` is a directory.
        ConfigError: an unknown pretrained tag for this model (a
            ``ValueError``).
        RuntimeError: the tag's weights are not cached and the hub cannot be
            reached (fails in seconds instead of a minute of retries).
    """
    if not pretrained:
        return None, {}
    if pretrained.startswith('local-dir:'):
        return pretrained, {}
    if osp.isfile(pretrained):
        if is_torchscript_archive(pretrained):
            return pretrained, dict(force_quick_gelu=True)
        return pretrained, {}
    if osp.isdir(pretrained) and (
            os.sep in pretrained
            or not open_clip.get_pretrained_cfg(model_name, pretrained)):
        raise _directory_error(pretrained, model_name)
    file_like = pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors'))
    if os.sep in pretrained or file_like:
        raise PathNotFoundError(
            f'pretrained={pretrained!r} for open_clip model {model_name!r} '
            'looks like a file path, but no such file exists. Give the path '
            'of a local checkpoint, an open_clip pretrained tag (e.g. '
            "'openai') or None for random weights.")
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise ConfigError(
            f'Unknown pretrained tag {pretrained!r} for open_clip model '
            f'{model_name!r}. Known tags: {tags or "none"}. Or pass the path '
            'of a local checkpoint file as pretrained.')
    extra = dict(force_quick_gelu=bool(cfg.get('quick_gelu', False)))
    path = _cached_pretrained_file(cfg, cache_dir)
    if path is not None:
        return path, extra
    if _is_offline():
        source = cfg.get('hf_hub') or cfg.get('url')
        raise RuntimeError(
            f'Pretrained weights {pretrained!r} of open_clip model '
            f'{model_name!r} are not in the local cache and the hub cannot '
            f'be reached (offline). On a machine with internet, download '
            f'them (source: {source}), e.g. with open_clip.create_model('
            f"'{model_name}', pretrained='{pretrained}'), copy the file here "
            'and set pretrained="/path/to/open_clip_pytorch_model.bin" '
            '(or a .safetensors / OpenAI .pt file) in the config. OpenAI '
            'weights also need model_kwargs=dict(force_quick_gelu=True).')
    return pretrained, {}


def build_open_clip(model_name: str,
                    pretrained: Optional[str] = None,
                    cache_dir: Optional[str] = None,
                    **model_kwargs) -> nn.Module:
    """Build an open_clip CLIP model, failing fast and clearly.

    A local weights file (given as ``pretrained`` or found in the cache for
    a tag) is read by mmprompt (:func:`read_pretrained_file`) before the
    model is built, so OpenAI's TorchScript ``.pt`` files load and a bad file
    fails at once with a :class:`~mmprompt.errors.WeightsError`. For an
    OpenAI TorchScript archive ``force_quick_gelu`` is turned on unless
    ``model_kwargs`` sets it (OpenAI trained with QuickGELU).

    Args:
        model_name (str): An open_clip model name (``open_clip.list_models()``
            plus mmprompt's ``'mmprompt-tiny'``).
        pretrained (str, optional): See :func:`resolve_pretrained`.
        cache_dir (str, optional): open_clip's download cache.
        **model_kwargs: Forwarded to ``open_clip.create_model`` (e.g.
            ``force_image_size``, ``force_quick_gelu``).

    Returns:
        nn.Module: The model in eval mode, on CPU.
    """
    _require_open_clip()
    hub = model_name.startswith(('hf-hub:', 'local-dir:'))
    if model_name not in open_clip.list_models() and not hub:
        close = difflib.get_close_matches(
            model_name, open_clip.list_models(), n=3)
        raise ConfigError(f'Unknown open_clip model {model_name!r}.' +
                          (f' Did you mean {close}?' if close else '') +
                          ' See open_clip.list_models().')
    path, extra = resolve_pretrained(model_name, pretrained, cache_dir)
    state_dict = None
    if (path is not None and model_name in open_clip.list_models()
            and not path.startswith('local-dir:')
            and not path.endswith(_OPEN_CLIP_ONLY_SUFFIXES)
            and osp.isfile(path)):
        state_dict = read_pretrained_file(path, model_name)
        quick_gelu = (open_clip.get_model_config(model_name)
                      or {}).get('quick_gelu', False)
        if (is_torchscript_archive(path)
                and 'force_quick_gelu' not in model_kwargs and not quick_gelu):
            extra['force_quick_gelu'] = True
            print_log(
                f'{path} is an OpenAI TorchScript archive: open_clip model '
                f'{model_name!r} is built with QuickGELU '
                '(force_quick_gelu=True), as OpenAI trained it. Set '
                'model_kwargs=dict(force_quick_gelu=False) to override.',
                logger='current')
    extra.update(model_kwargs)
    if path is None:
        print_log(
            f'open_clip model {model_name!r} is built with RANDOM weights '
            '(pretrained=None).',
            logger='current')
    if state_dict is None:
        model = open_clip.create_model(
            model_name, pretrained=path, cache_dir=cache_dir, **extra)
        return model.eval()
    # Built without weights, then loaded here; no hub text-tower download.
    extra.setdefault('pretrained_text', False)
    with _loading_weights_afterwards():
        model = open_clip.create_model(
            model_name, pretrained=None, cache_dir=cache_dir, **extra)
    load_pretrained_file(model, state_dict, path, model_name)
    print_log(
        f'open_clip model {model_name!r} loaded its weights from {path}.',
        logger='current')
    return model.eval()


#: Where visual prompt tokens enter a vision transformer's input sequence.
VISION_PROMPT_POSITIONS = ('append', 'after_cls')


class VisualPrompts(NamedTuple):
    """Prompt tokens for the layers of a vision transformer.

    Attributes:
        tokens (Sequence[torch.Tensor | None]): ``tokens[0]`` is inserted
            into the input sequence; ``tokens[i]`` (``i >= 1``) replaces the
            prompt tokens (the outputs of block ``i - 1`` at the prompt
            positions) before block ``i``. ``None`` or a shorter list keeps
            the previous layer's outputs there (shallow prompts: one entry).
            Each is ``(P, width)``, shared by the batch, or ``(B, P, width)``.
        position (str): ``'append'``: after the patch tokens, with
            ``ln_pre`` applied to them (MaPLe, IVLP and VPT in the MaPLe
            code base append after the positional embedding and before
            ``ln_pre``; ``ln_pre`` acts per token, so this is the same);
            ``'after_cls'``: right after the CLS token, after ``ln_pre``
            (DAPT, VPT's paper). Defaults to 'append'.
    """
    tokens: Sequence[Optional[torch.Tensor]]
    position: str = 'append'


def _expand(prompt: torch.Tensor, batch: int,
            like: torch.Tensor) -> torch.Tensor:
    """``(P, D)`` or ``(B, P, D)`` prompts -> ``(B, P, D)`` like ``like``."""
    prompt = prompt.to(like.dtype)
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0).expand(batch, -1, -1)
    return prompt


def _run_blocks(transformer: nn.Module,
                x: torch.Tensor,
                attn_mask: Optional[torch.Tensor] = None,
                inject: Optional[Callable] = None) -> torch.Tensor:
    """Run open_clip's residual blocks on batch-first tokens ``(N, L, D)``.

    ``inject(i, x)`` may edit the batch-first tokens before block ``i >= 1``
    (deep prompts). Without it this is ``transformer(x, attn_mask)``.

    With ``transformer.grad_checkpointing`` (open_clip's
    ``set_grad_checkpointing``) each block runs, like in open_clip's
    ``Transformer.forward``, as ``checkpoint(block, x, None, None, attn_mask,
    use_reentrant=False)``: its activations are recomputed in the backward
    pass instead of kept. The injections stay outside the checkpoints. When
    no gradient is recorded (``torch.no_grad``) or when scripting, the
    blocks run plainly (nothing would be saved anyway); the outputs are the
    same either way.
    """
    checkpointing = (
        getattr(transformer, 'grad_checkpointing', False)
        and torch.is_grad_enabled() and not torch.jit.is_scripting())
    seq_first = not transformer.batch_first
    if seq_first:
        x = x.transpose(0, 1)
    for i, block in enumerate(transformer.resblocks):
        if i and inject is not None:
            x = inject(i, x.transpose(0, 1)).transpose(
                0, 1) if seq_first else inject(i, x)
        if not checkpointing:
            x = block(x, attn_mask=attn_mask)
        elif isinstance(block, open_clip.transformer.ResidualAttentionBlock):
            # Positional (q_x, k_x, v_x, attn_mask), as open_clip passes
            # them (checkpoint forwards no keyword arguments, pytorch#79887).
            x = torch.utils.checkpoint.checkpoint(
                block, x, None, None, attn_mask, use_reentrant=False)
        else:  # CustomResidualAttentionBlock.forward(x, attn_mask)
            x = torch.utils.checkpoint.checkpoint(
                block, x, attn_mask, use_reentrant=False)
    return x.transpose(0, 1) if seq_first else x


class FrozenCLIPTower(BaseModule):
    """Base of the two towers: freezing and kilobyte checkpoints.

    With ``frozen=True`` every parameter is set to ``requires_grad=False``,
    the tower stays in eval mode, and the frozen tensors are left out of
    ``state_dict()`` (so a prompt checkpoint holds only what trains). When a
    checkpoint without them is loaded, the current frozen values are kept
    instead of being reported as missing keys. ``_is_init`` is set so the
    runner's ``init_weights`` never re-initialises the library's weights.

    Args:
        frozen (bool): Freeze the tower. Defaults to True.
        init_cfg (dict, optional): Unused; kept for the BaseModule contract.
    """

    def __init__(self, frozen: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.frozen = frozen
        self._is_init = True
        self._register_state_dict_hook(self._drop_frozen)
        self._register_load_state_dict_pre_hook(
            self._fill_frozen, with_module=True)

    def _freeze(self):
        if self.frozen:
            for param in self.parameters():
                param.requires_grad_(False)
            self.train(False)

    def _frozen_tensors(self) -> Dict[str, torch.Tensor]:
        if not self.frozen:
            return {}
        tensors = {
            name: p
            for name, p in self.named_parameters() if not p.requires_grad
        }
        # Persistent buffers only: the others are not in a state_dict.
        for module_name, module in self.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None and \
                        name not in module._non_persistent_buffers_set:
                    key = f'{module_name}.{name}' if module_name else name
                    tensors[key] = buf
        return tensors

    @staticmethod
    def _drop_frozen(module, state_dict, prefix, local_metadata):
        for name in module._frozen_tensors():
            state_dict.pop(prefix + name, None)
        return state_dict

    def _fill_frozen(self, module, state_dict, prefix, *args):
        for name, tensor in self._frozen_tensors().items():
            state_dict.setdefault(prefix + name, tensor.detach())

    def train(self, mode: bool = True):
        """Keep a frozen tower in eval mode."""
        return super().train(mode and not self.frozen)


@MODELS.register_module()
class OpenCLIPImageEncoder(FrozenCLIPTower):
    """The image tower of an open_clip model as an mmpretrain backbone.

    Returns features in CLIP's joint embedding space (after the projection).
    For vision transformers the forward is spelled out token by token:
    :meth:`embed` (patchify, CLS, positional embedding, ``ln_pre``),
    :meth:`blocks` (the residual blocks, one at a time) and :meth:`pool`
    (``ln_post``, pooling, projection), so visual prompts can be inserted or
    replaced between them. Other towers (ResNets, timm) run as a whole.

    Args:
        model_name (str): open_clip model name. Defaults to 'ViT-B-16'.
        pretrained (str, optional): open_clip tag, local file or None.
            Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
        frozen (bool): Freeze the tower. Defaults to True.
        model_kwargs (dict, optional): Extra ``open_clip.create_model``
            arguments. Defaults to None.
        grad_checkpointing (bool): Recompute the activations of each
            residual block in the backward pass instead of keeping them
            (open_clip's ``set_grad_checkpointing``): less memory for
            gradients through the tower (deep visual prompts), about one
            more forward pass of time; the same outputs and gradients.
            Defaults to False.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``(B, 3, H, W)`` images -> a tuple holding one ``(B, embed_dim)``
        feature tensor.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 frozen: bool = True,
                 model_kwargs: Optional[dict] = None,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        clip = build_open_clip(model_name, pretrained, cache_dir,
                               **(model_kwargs or {}))
        self.model_name = model_name
        self.visual = clip.visual
        if grad_checkpointing:
            self.visual.set_grad_checkpointing(True)
        self.embed_dim = clip.visual.output_dim
        self.is_vit = isinstance(self.visual,
                                 open_clip.transformer.VisionTransformer)
        self._freeze()

    def _require_vit(self):
        if not self.is_vit:
            raise NotImplementedError(
                f'Visual prompts need a vision transformer, but the image '
                f'tower of {self.model_name!r} is a '
                f'{type(self.visual).__name__}; use a text-only prompt '
                'method (CoOp, ...) with it.')

    @property
    def width(self) -> int:
        """Token width of the vision transformer."""
        self._require_vit()
        return self.visual.transformer.width

    @property
    def num_layers(self) -> int:
        """Number of residual blocks of the vision transformer."""
        self._require_vit()
        return len(self.visual.transformer.resblocks)

    @property
    def patch_size(self) -> Tuple[int, int]:
        """Patch size ``(h, w)`` of the vision transformer."""
        self._require_vit()
        return tuple(self.visual.patch_size)

    def _check_prompts(self, prompts: VisualPrompts):
        self._require_vit()
        if prompts.position not in VISION_PROMPT_POSITIONS:
            raise ValueError(
                f'Visual prompt position {prompts.position!r} is unknown; '
                f'choose one of {VISION_PROMPT_POSITIONS}.')
        if not prompts.tokens or prompts.tokens[0] is None:
            raise ValueError('VisualPrompts.tokens[0] (the prompts inserted '
                             'into the input) is missing.')
        if len(prompts.tokens) > self.num_layers:
            raise ValueError(
                f'{len(prompts.tokens)} layers of visual prompts but the '
                f'vision transformer of {self.model_name!r} has '
                f'{self.num_layers} blocks; lower the prompt depth.')
        for i, tokens in enumerate(prompts.tokens):
            if tokens is not None and tokens.shape[-1] != self.width:
                raise ValueError(
                    f'Visual prompts of layer {i} have width '
                    f'{tokens.shape[-1]} but the vision transformer of '
                    f'{self.model_name!r} has width {self.width}.')

    def embed(self,
              x: torch.Tensor,
              prompts: Optional[VisualPrompts] = None) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` -> tokens ``(B, 1 + N [+ P], width)``.

        With ``prompts``, ``prompts.tokens[0]`` is inserted at
        ``prompts.position`` (see :class:`VisualPrompts`).
        """
        tokens = self.visual._embeds(x)
        if prompts is None:
            return tokens
        first = _expand(prompts.tokens[0], tokens.shape[0], tokens)
        if prompts.position == 'append':
            return torch.cat([tokens, self.visual.ln_pre(first)], dim=1)
        return torch.cat([tokens[:, :1], first, tokens[:, 1:]], dim=1)

    def blocks(self,
               tokens: torch.Tensor,
               prompts: Optional[VisualPrompts] = None) -> torch.Tensor:
        """Run the residual blocks, replacing deep prompts before each."""
        if prompts is None or len(prompts.tokens) < 2:
            return _run_blocks(self.visual.transformer, tokens)
        num = prompts.tokens[0].shape[-2]

        def inject(i, x):
            if i >= len(prompts.tokens) or prompts.tokens[i] is None:
                return x
            new = _expand(prompts.tokens[i], x.shape[0], x)
            if prompts.position == 'append':
                return torch.cat([x[:, :x.shape[1] - num], new], dim=1)
            return torch.cat([x[:, :1], new, x[:, 1 + num:]], dim=1)

        return _run_blocks(self.visual.transformer, tokens, inject=inject)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens -> projected image features ``(B, embed_dim)``."""
        pooled, _ = self.visual._pool(tokens)
        if self.visual.proj is not None:
            pooled = pooled @ self.visual.proj
        return pooled

    def forward(
            self,
            x: torch.Tensor,
            prompts: Optional[VisualPrompts] = None) -> Tuple[torch.Tensor]:
        """Images (and optional visual prompts) -> ``(features, )``.

        ``(B, embed_dim)`` inputs are image features this tower computed
        before (served by the feature store, see
        :mod:`mmprompt.engine.feature_store`) and are returned unchanged;
        they cannot take visual prompts.
        """
        if x.dim() == 2:
            if prompts is not None:
                raise ConfigError(
                    'OpenCLIPImageEncoder got stored image features, which '
                    'cannot take visual prompts; turn the feature store off '
                    "for this model (default_hooks.feature_store.test=False).")
            if x.shape[1] != self.embed_dim:
                raise ConfigError(
                    f'OpenCLIPImageEncoder got 2-d inputs of width '
                    f'{x.shape[1]}, but stored features of '
                    f'{self.model_name!r} have width {self.embed_dim}.')
            return (x, )
        if prompts is not None:
            self._check_prompts(prompts)
        elif not self.is_vit:
            return (self.visual(x), )
        return (self.pool(self.blocks(self.embed(x, prompts), prompts)), )


@MODELS.register_module()
class OpenCLIPTextEncoder(FrozenCLIPTower):
    """The text tower of an open_clip model, fed with token embeddings.

    :meth:`tokenize` and :meth:`embed` turn text into token ids and token
    embeddings; prompt learners replace some of the embeddings with learned
    vectors and call :meth:`forward`. Because attention is causal, the EOT
    feature depends only on the positions up to it, so the transformer runs
    on the first ``max(EOT) + 1`` positions (``truncate=True``): the same
    features as ``encode_text`` at a fraction of the cost.

    Args:
        model_name (str): open_clip model name. Defaults to 'ViT-B-16'.
        pretrained (str, optional): open_clip tag, local file or None.
            Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
        frozen (bool): Freeze the tower. Defaults to True.
        truncate (bool): Run only up to the last EOT position. Defaults to
            True.
        model_kwargs (dict, optional): Extra ``open_clip.create_model``
            arguments. Defaults to None.
        grad_checkpointing (bool): Recompute the activations of each
            residual block in the backward pass instead of keeping them
            (open_clip's ``set_grad_checkpointing``): much less memory for
            prompt learners whose gradients flow through the tower (CoOp,
            ...), about one more forward pass of time; the same features
            and gradients. Defaults to False.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``(N, L, width)`` embeddings and ``(N, L)`` token ids (``L`` up to the
        context length; only positions up to each row's EOT matter, so
        prompt learners may pass sequences cut after the last EOT) ->
        ``(N, embed_dim)`` features.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 frozen: bool = True,
                 truncate: bool = True,
                 model_kwargs: Optional[dict] = None,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        clip = build_open_clip(model_name, pretrained, cache_dir,
                               **(model_kwargs or {}))
        text = getattr(clip, 'text', clip)  # CustomTextCLIP keeps a tower
        for attr in ('token_embedding', 'positional_embedding', 'transformer',
                     'ln_final', 'text_projection'):
            if not hasattr(text, attr):
                raise NotImplementedError(
                    f'open_clip model {model_name!r} has no CLIP-style text '
                    f'transformer (missing {attr!r}); mmprompt supports '
                    'models whose text tower is open_clip\'s transformer.')
        pool_type = getattr(text, 'text_pool_type',
                            getattr(text, 'pool_type', 'argmax'))
        if pool_type != 'argmax' or getattr(text, 'cls_emb', None) is not None:
            raise NotImplementedError(
                f'open_clip model {model_name!r} pools text with '
                f'{pool_type!r}; mmprompt supports EOT (argmax) pooling.')
        self.model_name = model_name
        self.truncate = truncate
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.transformer = text.transformer
        self.transformer.grad_checkpointing = grad_checkpointing
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.register_buffer('attn_mask', text.attn_mask, persistent=False)
        self.register_buffer(
            'logit_scale', clip.logit_scale.detach().clone(), persistent=False)
        self.context_length = self.positional_embedding.shape[0]
        self.width = self.token_embedding.weight.shape[1]
        self._tokenizer = get_tokenizer(model_name)
        self._freeze()

    @property
    def device(self) -> torch.device:
        return self.token_embedding.weight.device

    @property
    def embed_dim(self) -> int:
        """Width of the joint (projected) embedding space."""
        proj = self.text_projection
        return proj.out_features if isinstance(proj,
                                               nn.Linear) else proj.shape[1]

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Texts -> ``(N, context_length)`` token ids on the tower's device.

        Raises:
            ValueError: a text is longer than the context (open_clip would
                silently cut it off).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        for text in texts:
            if len(self._tokenizer.encode(text)) + 2 > self.context_length:
                raise ConfigError(
                    f'Text {text!r} does not fit the text encoder\'s context '
                    f'of {self.context_length} tokens; shorten the class '
                    'name or template, or use fewer context tokens.')
        tokens = self._tokenizer(texts)
        return tokens.to(self.device)

    def encode_words(self, text: str) -> List[int]:
        """Token ids of ``text`` without start/end tokens."""
        return self._tokenizer.encode(text)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> token embeddings ``(N, L, width)``."""
        return self.token_embedding(tokens.to(self.device))

    def forward(
            self,
            embeddings: torch.Tensor,
            tokens: torch.Tensor,
            deep_prompts: Optional[Sequence[torch.Tensor]] = None
    ) -> torch.Tensor:
        """Token embeddings -> projected EOT features ``(N, embed_dim)``.

        Args:
            embeddings (torch.Tensor): ``(N, L, width)`` token embeddings
                (with the learned context already in them).
            tokens (torch.Tensor): ``(N, L')`` token ids (for the EOT).
            deep_prompts (Sequence[torch.Tensor], optional): Deep text
                prompts: ``deep_prompts[j]`` (``(P, width)``) replaces
                positions ``1 .. P`` (the context after the start token)
                before block ``j + 1`` (MaPLe, IVLP). Defaults to None.
        """
        deep_prompts = list(deep_prompts or [])
        if len(deep_prompts) >= len(self.transformer.resblocks):
            raise ValueError(
                f'{len(deep_prompts)} layers of deep text prompts (plus the '
                'input context) but the text transformer of '
                f'{self.model_name!r} has {len(self.transformer.resblocks)} '
                'blocks; lower the prompt depth.')
        eot = tokens.argmax(dim=-1)
        last = int(eot.max())
        if embeddings.shape[1] <= last:
            raise ValueError(
                f'Embeddings of length {embeddings.shape[1]} end before the '
                f'EOT token at position {last}.')
        length = last + 1 if self.truncate else self.context_length
        if embeddings.shape[1] < length:  # truncate=False on short prompts
            embeddings = F.pad(embeddings,
                               (0, 0, 0, length - embeddings.shape[1]))
        cast_dtype = self.transformer.get_cast_dtype()
        x = embeddings[:, :length].to(cast_dtype)
        x = x + self.positional_embedding[:length].to(cast_dtype)
        mask = self.attn_mask
        if mask is not None:
            mask = mask[:length, :length]

        def inject(i, x):
            if i > len(deep_prompts) or deep_prompts[i - 1] is None:
                return x
            new = _expand(deep_prompts[i - 1], x.shape[0], x)
            return torch.cat([x[:, :1], new, x[:, 1 + new.shape[1]:]], dim=1)

        x = _run_blocks(self.transformer, x, mask,
                        inject if deep_prompts else None)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    def encode_text(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Plain texts -> ``(N, embed_dim)`` features (unnormalised)."""
        tokens = self.tokenize(texts)
        return self(self.embed(tokens), tokens)

    @property
    def eot_token_id(self) -> int:
        return self._tokenizer.eot_token_id

    @property
    def sot_token_id(self) -> int:
        return self._tokenizer.sot_token_id


@MODELS.register_module()
class CLIPProjectionNeck(BaseModule):
    """Project backbone features into CLIP's joint space: ``x @ proj``.

    For mmpretrain backbones (e.g. its CLIP ``VisionTransformer`` with
    ``out_type='cls_token'``, ``pre_norm=True``) whose features must meet the
    text features of an :class:`OpenCLIPTextEncoder`. The parameter is named
    ``proj`` with shape ``(in_channels, out_channels)`` like the projection
    in mmpretrain's converted OpenAI CLIP weights.

    Args:
        in_channels (int): Backbone feature width. Defaults to 768.
        out_channels (int): Joint embedding width. Defaults to 512.
        frozen (bool): Freeze the projection. Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 768,
                 out_channels: int = 512,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Parameter(
            torch.randn(in_channels, out_channels) * in_channels**-0.5,
            requires_grad=not frozen)

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        return (x @ self.proj, )
