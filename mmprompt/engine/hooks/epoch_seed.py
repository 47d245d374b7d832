# Copyright (c) mmprompt contributors. All rights reserved.
"""Reseed the global random number generators every epoch (per rank)."""
import functools
import logging
import random

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmprompt.registry import HOOKS

#: Multiplier of the epoch in the epoch seed (a prime larger than any rank
#: count, so (epoch, rank) pairs of one run never share a seed).
EPOCH_SEED_STRIDE = 1000003


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch on one rank.

    Args:
        seed (int): The run's seed (``runner.seed``).
        epoch (int): The 0-based epoch about to start.
        rank (int): The process rank. Defaults to 0.

    Returns:
        int: ``(seed + 1000003 * epoch + rank) % 2**31``.

    Examples:
        >>> epoch_seed(1, 0), epoch_seed(1, 2, rank=3)
        (1, 2000010)
    """
    return (seed + EPOCH_SEED_STRIDE * epoch + rank) % 2**31


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed the global random generators per (seed, epoch, rank).

    Per-sample training views no longer depend on this hook: the train
    samplers of the configs (:class:`~mmprompt.datasets.ViewSampler`, and
    :class:`~mmprompt.datasets.EpisodicBatchSampler` for meta-training)
    yield :class:`~mmprompt.datasets.ViewIndex`es, and a CoOp dataset runs
    its pipeline under the seed of ``(seed, epoch, index, repeat)``, the
    same on any rank, worker or world size. What the hook still seeds is
    everything that draws from the global ``random`` / NumPy / torch
    generators outside such a view: the augmentations of a dataset indexed
    with plain ints (a config that keeps mmengine's ``DefaultSampler``, a
    dataset without the view override), the base seed of the dataloader's
    workers, and any model- or hook-side draw in training (dropout,
    ``before_train_epoch`` hooks that sample). Its behaviour is unchanged;
    for those draws the points below hold.

    mmengine seeds ``random``, ``numpy`` and ``torch`` once, when the runner
    is built (``Runner.set_randomness``), and builds the train dataloader
    with ``worker_init_fn=partial(mmengine.dataset.worker_init_fn,
    seed=runner.seed, ...)``. Two consequences:

    - ``--resume`` restores the weights, optimiser, schedulers, epoch and
      the sampler's shuffling (``DefaultSampler`` is seeded by seed + epoch)
      but not the RNG states, so a run resumed at epoch ``e`` draws the
      augmentations of epoch 0 again and diverges from the uninterrupted run.
    - With ``num_workers > 0`` and non-persistent workers, the workers are
      re-created every epoch and mmengine's ``worker_init_fn`` seeds worker
      ``i`` with ``seed + num_workers * rank + i`` every time, so every epoch
      replays the same random streams (only the sample order differs).

    ``before_train_epoch`` therefore computes ``s = (runner.seed + 1000003 *
    epoch + rank) % 2**31`` and

    - reseeds Python's ``random``, NumPy's global and torch's RNGs in the
      main process: the transforms of mmpretrain / mmcv draw from the global
      ``numpy`` / ``random`` RNGs when ``num_workers=0``, and the torch RNG
      gives the ``DataLoader`` the base seed of its workers;
    - with ``num_workers > 0``, sets the train dataloader's
      ``worker_init_fn`` to ``partial(mmengine.dataset.worker_init_fn,
      num_workers=num_workers, rank=rank, seed=s)`` (keeping
      ``disable_subprocess_warning``), which the workers created for this
      epoch then use.

    An epoch then depends only on (seed, epoch, rank, model state), whether
    the run was resumed or not, and every epoch gets fresh augmentations.

    Limitations:

    - ``persistent_workers=True``: the workers are created once, on the
      first epoch this process runs, so a new ``worker_init_fn`` cannot
      reach them later; the hook still sets it (the first epoch's workers
      are seeded by epoch) and warns once that resuming is not exact.
    - A custom ``worker_init_fn`` (anything but ``None`` or a
      ``functools.partial`` of mmengine's) is kept, with a warning: the
      workers are then not reseeded per epoch.
    - ``IterBasedTrainLoop`` calls ``before_train_epoch`` once and starts
      its workers when the loop is built, so only the main-process reseed
      at the start applies there.
    - ``runner.seed`` is always an int with mmengine 0.10.7 (a ``None``
      seed in ``randomness`` is replaced by a random, rank-synchronised one,
      which ``--resume`` restores from the checkpoint); should it be
      ``None`` the hook warns once and does nothing.

    Priority ``'HIGH'`` (30): before every ``'ABOVE_NORMAL'`` / ``'NORMAL'``
    hook that might draw random numbers in ``before_train_epoch`` (e.g.
    re-sampling episodes or computing augmented prototypes), after
    ``RuntimeInfoHook`` (``'VERY_HIGH'``), which draws none.

    Examples:
        >>> # configs/_base_/default_runtime.py (default_hooks are merged
        >>> # key by key, so a config's own custom_hooks keep it)
        >>> default_hooks = dict(epoch_seed=dict(type='EpochSeedHook'))
    """

    priority = 'HIGH'

    def __init__(self) -> None:
        self._warned = set()

    def _warn_once(self, key: str, msg: str) -> None:
        """Log a warning the first time ``key`` is seen.

        Args:
            key (str): Identifier of the warning.
            msg (str): The message.
        """
        if key not in self._warned:
            self._warned.add(key)
            print_log(msg, logger='current', level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        """Reseed the main process and the next workers of this epoch.

        Args:
            runner (Runner): The runner.
        """
        if runner.seed is None:
            self._warn_once(
                'no_seed', 'EpochSeedHook: runner.seed is None, so data '
                'augmentation is not reseeded per epoch; set '
                '`randomness=dict(seed=...)`.')
            return
        rank = get_rank()
        seed = epoch_seed(int(runner.seed), int(runner.epoch), rank)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        print_log(
            f'EpochSeedHook: epoch {runner.epoch}, rank {rank}: seed {seed}.',
            logger='current',
            level=logging.DEBUG)

        dataloader = runner.train_dataloader
        num_workers = getattr(dataloader, 'num_workers', 0)
        if not num_workers:
            return
        if getattr(dataloader, 'persistent_workers', False):
            self._warn_once(
                'persistent', 'EpochSeedHook: the train dataloader has '
                '`persistent_workers=True`; its workers are seeded once, so '
                'a resumed run does not replay the augmentations of an '
                'uninterrupted one. Set `persistent_workers=False` for exact '
                'resumption.')
        current = dataloader.worker_init_fn
        is_mmengine_fn = (
            isinstance(current, functools.partial)
            and current.func is mmengine_worker_init_fn)
        if current is not None and not is_mmengine_fn:
            self._warn_once(
                'custom_init', 'EpochSeedHook: the train dataloader has a '
                f'custom worker_init_fn ({current!r}); it is kept, so the '
                'workers are not reseeded per epoch.')
            return
        extra = {}
        if is_mmengine_fn and 'disable_subprocess_warning' in current.keywords:
            extra['disable_subprocess_warning'] = current.keywords[
                'disable_subprocess_warning']
        dataloader.worker_init_fn = functools.partial(
            mmengine_worker_init_fn,
            num_workers=num_workers,
            rank=rank,
            seed=seed,
            **extra)
