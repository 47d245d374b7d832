# Copyright (c) mmprompt contributors. All rights reserved.
import logging
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmpretrain.models.classifiers import ImageClassifier

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..utils.frozen_weights import (exclude_from_checkpoints,
                                    init_from_pretrained, pretrained_sources,
                                    state_tensors)

#: The modules ``FrozenTowerClassifier(frozen=...)`` may name.
FREEZABLE = ('backbone', 'neck')


def _tensors(n: int) -> str:
    return f'{n} tensor' if n == 1 else f'{n} tensors'


@MODELS.register_module()
class FrozenTowerClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose frozen image tower stays out of
    checkpoints.

    For a prompt head on an image tower from a library other than open_clip
    (mmpretrain's ``VisionTransformer`` + ``CLIPProjectionNeck``, see
    ``configs/coop/coop_mmpretrain-vitb16_dtd.py``): each module named in
    ``frozen``

    * is frozen: ``requires_grad=False`` and eval mode, also under
      ``model.train()``;
    * is initialised from its ``Pretrained`` ``init_cfg`` when the model is
      built, not by the runner's ``init_weights`` (which ``tools/test.py``
      never calls);
    * leaves the tensors that checkpoint set out of ``state_dict()``, so a
      prompt checkpoint is as small as with open_clip's towers; a checkpoint
      without them keeps the pretrained values on load. Every other key
      loads as before: a checkpoint lacking a trained weight still fails a
      strict load (and ``CheckpointCheckHook``).

    Frozen tensors that no pretrained checkpoint sets (no ``Pretrained``
    init_cfg, e.g. random weights in tests, or keys the file lacks) stay in
    checkpoints: a fresh build could not reproduce them, so only the
    checkpoint restores them exactly. The model says so in the log when it
    is built.

    Args:
        backbone (dict): The image backbone config.
        neck (dict, optional): The neck config. Defaults to None.
        head (dict, optional): The (prompt) head config. Defaults to None.
        frozen (Sequence[str]): Which of ``'backbone'`` and ``'neck'`` to
            freeze; an absent neck is skipped. ``()`` makes this an
            ``ImageClassifier``. Defaults to ``('backbone', 'neck')``.
        **kwargs: Other ``ImageClassifier`` arguments (``data_preprocessor``,
            ``train_cfg``, ``init_cfg``).
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 frozen: Sequence[str] = FREEZABLE,
                 **kwargs):
        if isinstance(frozen, str):
            frozen = (frozen, )
        unknown = [name for name in frozen if name not in FREEZABLE]
        if unknown:
            raise ConfigError(
                f'FrozenTowerClassifier: frozen={tuple(frozen)!r} names '
                f'{unknown!r}; it takes {FREEZABLE!r} (the image tower). A '
                'prompt head freezes its own text encoder.')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.frozen = tuple(
            name for name in FREEZABLE
            if name in frozen and getattr(self, name, None) is not None)
        self._pretrained_keys: Dict[str, set] = {}
        for name in self.frozen:
            module = getattr(self, name)
            module.requires_grad_(False)
            keys = init_from_pretrained(module, f'model.{name}')
            self._pretrained_keys[name] = keys
            exclude_from_checkpoints(
                module, lambda name=name: self._restorable(name))
            self._log_sources(name, module, keys)
        self.train(self.training)

    def _restorable(self, name: str) -> Dict[str, torch.Tensor]:
        """The frozen tensors of ``name`` that its pretrained source set."""
        keys = self._pretrained_keys[name]
        return {
            key: tensor
            for key, tensor in state_tensors(getattr(self, name)).items()
            if key in keys and not tensor.requires_grad
        }

    def _log_sources(self, name: str, module, keys: set) -> None:
        """Say in the log what checkpoints will hold of ``name``."""
        what = f'FrozenTowerClassifier: the frozen {name} ' \
               f'({type(module).__name__})'
        saved = [key for key in module.state_dict() if key not in keys]
        if not saved:
            if keys:
                print_log(
                    f'{what} is loaded from its pretrained checkpoint when '
                    f'the model is built; checkpoints leave out its '
                    f'{_tensors(len(keys))}.',
                    logger='current')
            return
        # Like mmengine, do not count batch-norm step counters as missing.
        counted = [k for k in saved if not k.endswith('num_batches_tracked')]
        if not pretrained_sources(module):
            print_log(
                f'{what} has no Pretrained init_cfg, so checkpoints keep its '
                f'{_tensors(len(saved))} (a fresh build could not reproduce '
                'them).',
                logger='current')
        elif counted:
            shown = ', '.join(repr(k) for k in counted[:4])
            more = f' and {len(counted) - 4} more' if len(counted) > 4 else ''
            print_log(
                f'{what}: its pretrained checkpoint sets {len(keys)} of its '
                f'tensors but not {shown}{more}. These keep their initial '
                'values, and checkpoints keep them.',
                logger='current',
                level=logging.WARNING)

    def train(self, mode: bool = True):
        """Set the mode; the frozen modules stay in eval mode."""
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).train(False)
        return self
