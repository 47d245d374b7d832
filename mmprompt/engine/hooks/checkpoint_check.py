# Copyright (c) mmprompt contributors. All rights reserved.
"""Refuse checkpoints that do not fit the model they are loaded into."""
import os.path as osp
import re
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmprompt.errors import CheckpointError
from mmprompt.registry import HOOKS

#: Where :class:`CheckpointCheckHook` keeps its record in ``meta``.
META_KEY = 'mmprompt'


def describe_method(model: nn.Module) -> str:
    """A short name of the method a model implements.

    The classifier, its head and the head's prompt learner, as far as they
    exist, e.g. ``'ImageClassifier/PromptClsHead/CoOpPromptLearner'``.

    Args:
        model (nn.Module): The (unwrapped) model.

    Returns:
        str: The names joined by ``/``.
    """
    parts = [type(model).__name__]
    head = model._modules.get('head')
    if head is not None:
        parts.append(type(head).__name__)
        learner = head._modules.get('prompt_learner')
        if learner is not None:
            parts.append(type(learner).__name__)
    return '/'.join(parts)


def _has_trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def frozen_keys(model: nn.Module) -> List[str]:
    """The state-dict keys of ``model`` that a checkpoint may leave out.

    These are frozen parameters (``requires_grad=False``) and the buffers of
    modules with no trainable parameter (e.g. batch-norm statistics of a
    frozen backbone). Buffers of modules that train (DAPT's prototypes, the
    instance labels of instance-wise prompts) are part of what a checkpoint
    must hold.

    Args:
        model (nn.Module): The (unwrapped) model.

    Returns:
        list[str]: The keys, in state-dict order.
    """
    keys = []
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        frozen_module = not _has_trainable(module)
        for pname, param in module._parameters.items():
            if param is not None and not param.requires_grad:
                keys.append(prefix + pname)
        if frozen_module:
            for bname, buf in module._buffers.items():
                if (buf is not None
                        and bname not in module._non_persistent_buffers_set):
                    keys.append(prefix + bname)
    return keys


def _summarise(keys: List[str], limit: int = 6) -> str:
    shown = ', '.join(repr(k) for k in keys[:limit])
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return shown + more


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Record what wrote a checkpoint, and refuse one that does not fit.

    On save, the checkpoint's ``meta['mmprompt']`` records the method
    (:func:`describe_method`) and the config file that wrote it. On load
    (``tools/test.py CHECKPOINT``, ``load_from``, ``--resume``), the
    checkpoint's state dict is loaded into the model once to find what
    mmengine's non-strict load would only log: a trainable parameter the
    checkpoint lacks, or a checkpoint key the model does not have, stops
    the run with a :class:`~mmprompt.errors.CheckpointError` that names the
    keys and the config the checkpoint was written by. Only frozen weights
    (:func:`frozen_keys`) may be absent, as in mmprompt's own checkpoints,
    which leave the frozen CLIP towers out. Modules that deliberately
    ignore checkpoint keys drop them in their ``_load_from_state_dict`` and
    are not reported.

    It is one of the ``default_hooks`` of ``configs/_base_/base_runtime.py``
    (a dict, so inheriting configs keep it); set
    ``default_hooks.checkpoint_check=None`` to load checkpoints as mmengine
    does, with warnings only.

    Args:
        config (str, optional): The config file of the run, recorded by its
            file name (``tools/train.py`` and ``tools/test.py`` set it to
            the config they load). Defaults to None (not recorded).
    """

    priority = 'VERY_HIGH'

    def __init__(self, config: Optional[str] = None) -> None:
        self.config = osp.basename(config) if config else None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record the method and the config in ``checkpoint['meta']``."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        checkpoint.setdefault('meta', {})[META_KEY] = dict(
            method=describe_method(model), config=self.config)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise if the checkpoint does not fit the model."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        source = getattr(runner, '_load_from', None)
        if not source and getattr(runner, '_resume', False):
            source = f'(the latest in {runner.work_dir})'
        check_checkpoint_fits(model, checkpoint, source, self.config)


def check_checkpoint_fits(model: nn.Module,
                          checkpoint: dict,
                          source: Optional[str] = None,
                          config: Optional[str] = None) -> None:
    """Raise if ``checkpoint`` lacks trainable weights or has foreign keys.

    The state dict is loaded into ``model`` non-strictly (mmengine loads it
    again right after, with the same result), so modules' own
    ``_load_from_state_dict`` logic (frozen towers filled in, shapes
    checked, keys ignored on purpose) decides what counts.

    Args:
        model (nn.Module): The unwrapped model.
        checkpoint (dict): The loaded checkpoint (with ``state_dict`` and
            ``meta``) or a bare state dict.
        source (str, optional): The checkpoint's path, for the message.
        config (str, optional): The config being run, for the message.

    Raises:
        CheckpointError: The checkpoint does not fit.
    """
    state_dict: Dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {
        re.sub(r'^module\.', '', k): v
        for k, v in state_dict.items()
    }
    meta = checkpoint.get('meta', {}) if 'state_dict' in checkpoint else {}
    record = meta.get(META_KEY) or {}
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except (RuntimeError, ValueError) as err:
        # Size mismatches raise even when not strict (torch's RuntimeError,
        # or a learner's own ValueError that names its config fields).
        problems = [str(err).replace('\n\t', ' ').strip().rstrip('.')]
        missing = unexpected = []
    else:
        allowed = set(frozen_keys(model))
        missing = [k for k in missing if k not in allowed]
        problems = []
    if not problems and not missing and not unexpected:
        return
    if record:
        written = (f"It was written by config {record.get('config')!r} "
                   f"(method {record.get('method')}).")
    else:
        written = ('It carries no mmprompt record of the config that wrote '
                   'it (not saved by an mmprompt run, or an older one).')
    if missing:
        problems.append(f'the weights {_summarise(missing)} that this model '
                        'trains are not in it')
    if unexpected:
        problems.append(f'it holds keys the model does not have: '
                        f'{_summarise(unexpected)}')
    here = f' of config {osp.basename(config)!r}' if config else ''
    raise CheckpointError(
        f"Checkpoint {source or '(given)'} does not fit the model{here} "
        f'(method {describe_method(model)}): {"; and ".join(problems)}. '
        f'{written} Test it with the config it was trained with, or pass '
        'the checkpoint of this config. (To load it anyway, as mmengine '
        'does with warnings only, set '
        '--cfg-options default_hooks.checkpoint_check=None.)')
