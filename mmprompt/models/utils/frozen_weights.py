# Copyright (c) mmprompt contributors. All rights reserved.
"""Frozen weights that a checkpoint need not hold.

A prompt checkpoint holds only what trains when every frozen tensor can be
rebuilt from where it came from: an open_clip tag or file, or a module's
``Pretrained`` ``init_cfg``. Two helpers serve that:

* :func:`exclude_from_checkpoints` leaves chosen tensors out of a module's
  ``state_dict()`` and, when a checkpoint lacks them, keeps their current
  values on load instead of reporting them missing (every other key still
  loads strictly);
* :func:`init_from_pretrained` applies a module's ``Pretrained``
  ``init_cfg`` now, when the model is built (mmengine's runner calls
  ``init_weights`` only before training, never for ``tools/test.py``), and
  says which state-dict keys that checkpoint set.
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Set, Tuple

import torch
import torch.nn as nn
from mmengine.model.weight_init import PretrainedInit
from torch.utils.hooks import RemovableHandle

from mmprompt.errors import PathNotFoundError

__all__ = [
    'exclude_from_checkpoints', 'init_from_pretrained', 'pretrained_sources',
    'state_tensors'
]


def state_tensors(module: nn.Module) -> Dict[str, torch.Tensor]:
    """The tensors of ``module.state_dict()``, without calling it.

    Parameters and persistent buffers under their state-dict keys (relative
    to ``module``), shared ones under every name. Safe to call from a
    state-dict hook, which ``module.state_dict()`` itself is not.

    Args:
        module (nn.Module): The module.

    Returns:
        dict[str, torch.Tensor]: Key -> parameter or buffer.
    """
    tensors = dict(module.named_parameters(remove_duplicate=False))
    for name, sub in module.named_modules(remove_duplicate=False):
        for bname, buf in sub._buffers.items():
            if buf is not None and \
                    bname not in sub._non_persistent_buffers_set:
                tensors[f'{name}.{bname}' if name else bname] = buf
    return tensors


def exclude_from_checkpoints(
    module: nn.Module, tensors: Callable[[], Dict[str, torch.Tensor]]
) -> Tuple[RemovableHandle, RemovableHandle]:
    """Leave ``tensors()`` out of ``module``'s state dict; refill on load.

    Two hooks on ``module``: its ``state_dict()`` (and therefore the
    runner's checkpoints, and the state dict of any model holding it) drops
    the keys of ``tensors()``; ``load_state_dict`` fills each of those keys
    a checkpoint lacks with the tensor's current value, so it is neither
    missing under ``strict=True`` nor changed. Keys the checkpoint does
    hold (an older, complete checkpoint) are loaded as usual. Any other
    missing key is still an error under ``strict=True``.

    ``tensors`` is called at every save and load, so what it returns may
    depend on the module's state (e.g. only tensors that are still frozen).

    Args:
        module (nn.Module): The module whose state dict is filtered.
        tensors (Callable[[], dict[str, torch.Tensor]]): Returns the tensors
            to leave out, keyed relative to ``module``; their current values
            stand in for the absent keys on load.

    Returns:
        tuple[RemovableHandle, RemovableHandle]: The state-dict hook's and
        the load pre-hook's handles.
    """

    def drop(mod, state_dict, prefix, local_metadata):
        for name in tensors():
            state_dict.pop(prefix + name, None)

    def fill(mod, state_dict, prefix, local_metadata, strict, missing_keys,
             unexpected_keys, error_msgs):
        for name, tensor in tensors().items():
            state_dict.setdefault(prefix + name, tensor.detach())

    return (module.register_state_dict_post_hook(drop),
            module.register_load_state_dict_pre_hook(fill))


def pretrained_sources(module: nn.Module) -> List[dict]:
    """The ``Pretrained`` entries of ``module.init_cfg`` (its own only).

    Args:
        module (nn.Module): The module.

    Returns:
        list[dict]: The entries, in order; empty when there is none.
    """
    cfgs = getattr(module, 'init_cfg', None) or []
    if isinstance(cfgs, dict):
        cfgs = [cfgs]
    return [
        cfg for cfg in cfgs
        if cfg.get('type') in ('Pretrained', PretrainedInit)
    ]


def init_from_pretrained(module: nn.Module,
                         name: Optional[str] = None) -> Set[str]:
    """Initialise ``module`` from its ``Pretrained`` ``init_cfg`` now.

    Calls ``module.init_weights()`` (mmengine's ``PretrainedInit``, with the
    module's own additions, e.g. the position-embedding resize of
    mmpretrain's ``VisionTransformer``), which marks it initialised, so the
    runner's ``init_weights`` leaves it alone. While it runs, a load
    pre-hook records the keys the checkpoint offers; the keys it offers
    with the module's shapes are what it set.

    Nothing happens (and nothing is returned) when the module has no
    ``Pretrained`` init_cfg or was initialised already: its values then
    have no source to be rebuilt from.

    Args:
        module (nn.Module): A ``BaseModule``.
        name (str, optional): What to call the module in errors, e.g.
            ``'model.backbone'``. Defaults to its class name.

    Returns:
        set[str]: The state-dict keys (relative to ``module``) set from the
        pretrained checkpoint.

    Raises:
        PathNotFoundError: A local checkpoint file of the init_cfg does not
            exist.
    """
    sources = pretrained_sources(module)
    if not sources or getattr(module, 'is_init', False):
        return set()
    name = name or type(module).__name__
    for cfg in sources:
        path = str(cfg.get('checkpoint'))
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise PathNotFoundError(
                f'{name}: the checkpoint {path!r} of its Pretrained '
                f'init_cfg does not exist. Create or download it, or pass '
                f'another with --cfg-options {name}.init_cfg.checkpoint='
                'PATH.')
    own = {key: tensor.shape for key, tensor in state_tensors(module).items()}
    offered: Set[str] = set()

    def record(mod, state_dict, prefix, *args):
        offered.update(
            key for key, value in state_dict.items()
            if key in own and getattr(value, 'shape', None) == own[key])

    # Registered last, it sees the state dict after the module's own
    # pre-hooks (resizes, renames) have run.
    handle = module.register_load_state_dict_pre_hook(record)
    try:
        module.init_weights()
    finally:
        handle.remove()
    return offered
