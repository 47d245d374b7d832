# Copyright (c) mmprompt contributors. All rights reserved.
"""Building open_clip models by name and weights, once per model."""
import contextlib
import difflib
import logging
import os
import os.path as osp
import socket
import threading
from typing import Optional, Tuple

import open_clip
import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmprompt.errors import ConfigError, PathNotFoundError
from .internals import check_open_clip_internals
from .weights import (OPEN_CLIP_ONLY_SUFFIXES, directory_error,
                      is_torchscript_archive, load_pretrained_file,
                      read_pretrained_file)

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


def _register_model_configs():
    """Add mmprompt's model configs to open_clip's (its public API), once.

    The shipped weights are not written into open_clip's tables:
    :func:`resolve_pretrained` turns their tags into files itself.
    """
    global _registered_configs
    if not _registered_configs:
        check_open_clip_internals()
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered_configs = True


def shipped_weights(model_name: str, tag: Optional[str]) -> Optional[str]:
    """The file of a pretrained tag mmprompt ships, or None.

    Raises:
        PathNotFoundError: the tag is shipped but its file is missing.
    """
    path = SHIPPED_WEIGHTS.get(model_name, {}).get(tag or '')
    if path is not None and not osp.isfile(path):
        raise PathNotFoundError(
            f'The weights file {path} of pretrained tag {tag!r} of '
            f'{model_name!r} is missing. mmprompt ships it in the '
            'repository; recreate it with tools/misc/pretrain_tinyclip.py '
            '--out <that path>.')
    return path


def get_tokenizer(model_name: str):
    """open_clip's tokenizer of a model, mmprompt's configs included."""
    _register_model_configs()
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
                f"The weights file {cfg['file']} of this open_clip "
                'pretrained tag is missing; reinstall open_clip or pass the '
                'path of a local checkpoint as pretrained.')
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
            open_clip pretrained tag such as ``'openai'``, or a tag mmprompt
            ships (:data:`SHIPPED_WEIGHTS`, e.g. ``'procdtd'`` of
            ``'mmprompt-tinyclip'``).
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
    _register_model_configs()
    shipped = shipped_weights(model_name, pretrained)
    if shipped is not None:
        return shipped, {}
    if pretrained.startswith('local-dir:'):
        return pretrained, {}
    if osp.isfile(pretrained):
        if is_torchscript_archive(pretrained):
            return pretrained, dict(force_quick_gelu=True)
        return pretrained, {}
    if osp.isdir(pretrained) and (
            os.sep in pretrained
            or not open_clip.get_pretrained_cfg(model_name, pretrained)):
        raise directory_error(pretrained, model_name)
    file_like = pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors'))
    if os.sep in pretrained or file_like:
        raise PathNotFoundError(
            f'pretrained={pretrained!r} for open_clip model {model_name!r} '
            'looks like a file path, but no such file exists. Give the path '
            'of a local checkpoint, an open_clip pretrained tag (e.g. '
            "'openai') or None for random weights.")
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name) + list(
            SHIPPED_WEIGHTS.get(model_name, {}))
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
        nn.Module: The model in eval mode, on CPU. Its random
        initialisation draws from a fork of torch's global generator, which
        is left as it was.
    """
    _register_model_configs()
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
            and not path.endswith(OPEN_CLIP_ONLY_SUFFIXES)
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
    # The random initialisation draws from a fork of the global generator:
    # a model's random weights depend on the seed alone, and what is drawn
    # after the build (prompt initialisations) does not depend on how many
    # models were built.
    with torch.random.fork_rng(devices=[]):
        if state_dict is None:
            model = open_clip.create_model(
                model_name, pretrained=path, cache_dir=cache_dir, **extra)
            return model.eval()
        # Built without weights, then loaded here; no hub text-tower
        # download.
        extra.setdefault('pretrained_text', False)
        with _loading_weights_afterwards():
            model = open_clip.create_model(
                model_name, pretrained=None, cache_dir=cache_dir, **extra)
    load_pretrained_file(model, state_dict, path, model_name)
    print_log(
        f'open_clip model {model_name!r} loaded its weights from {path}.',
        logger='current')
    return model.eval()


#: The last build whose other part no tower has taken yet:
#: ``(key, rng_state, part_taken, model)``, or None.
_spare = None
_spare_lock = threading.Lock()


def open_clip_for(part: str,
                  model_name: str,
                  pretrained: Optional[str] = None,
                  cache_dir: Optional[str] = None,
                  **model_kwargs) -> nn.Module:
    """The open_clip model a tower takes its ``part`` from: one build for
    an image and a text tower of the same CLIP.

    A classifier builds its image tower, then its text tower, from the same
    (name, weights, options). The first call builds the model and keeps it
    as the *spare*; the next call for the other part of the same model
    takes the spare instead of building again (reading the weights, ~3.5 s
    for ViT-B/16), so both towers come from one build. The spare is used
    only when a fresh build would be the same: same key, the other part
    (no two towers share a module), and torch's global generator where it
    was (random weights depend on it, see :func:`build_open_clip`). At most
    one spare is kept: any other call replaces it.

    Args:
        part (str): ``'visual'`` or ``'text'``: what the caller takes.
        model_name, pretrained, cache_dir, **model_kwargs: See
            :func:`build_open_clip`.

    Returns:
        nn.Module: The model, whose ``part`` no other tower holds.
    """
    global _spare
    key = (model_name, pretrained, cache_dir,
           repr(sorted(model_kwargs.items())))
    state = torch.get_rng_state()
    with _spare_lock:
        spare, _spare = _spare, None
    if (spare is not None and spare[0] == key and spare[2] != part
            and torch.equal(spare[1], state)):
        return spare[3]
    model = build_open_clip(model_name, pretrained, cache_dir, **model_kwargs)
    with _spare_lock:
        _spare = (key, state, part, model)
    return model
