# Copyright (c) mmprompt contributors. All rights reserved.
"""Training views that depend on (seed, epoch, sample) only.

A random augmentation pipeline draws from the global ``random`` / NumPy /
torch generators, so the crop a sample gets depends on which worker or rank
loads it and on everything drawn before. A :class:`ViewIndex` is a dataset
index that also names its draw: the run's seed, the epoch and how many times
the sample was already seen in that epoch. A dataset that receives one runs
its pipeline under :func:`seeded_view`, so the view is a function of
``(seed, epoch, index, repeat)`` alone: the same on one process or several,
with or without workers, and the same for two methods with the same data
seed (which is what makes a stored view exact).
"""
import contextlib
import hashlib
import random
from typing import Optional

import numpy as np
import torch


def view_seed(seed: int, epoch: int, index: int, repeat: int = 0) -> int:
    """The seed of one augmentation draw.

    Args:
        seed (int): The run's seed.
        epoch (int): The epoch (or, for stored views, the view number).
        index (int): The dataset index.
        repeat (int): How many times the sample was drawn before in this
            epoch (episodes may draw a sample several times). Defaults to 0.

    Returns:
        int: A 31-bit seed, the same on every platform.

    Examples:
        >>> view_seed(1, 0, 5) == view_seed(1, 0, 5)
        True
        >>> view_seed(1, 0, 5) != view_seed(1, 1, 5)
        True
    """
    text = f'{int(seed)}/{int(epoch)}/{int(index)}/{int(repeat)}'
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'little') % 2**31


class ViewIndex(int):
    """A dataset index that carries its augmentation draw.

    It is an ``int`` (``dataset[ViewIndex(...)]`` works wherever an index
    does) with three more attributes; it survives pickling, so it reaches
    dataloader workers unchanged.

    Args:
        index (int): The dataset index.
        seed (int): The run's seed.
        epoch (int): The epoch.
        repeat (int): Earlier draws of this sample in this epoch.
            Defaults to 0.
    """

    def __new__(cls, index: int, seed: int, epoch: int, repeat: int = 0):
        self = super().__new__(cls, int(index))
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.repeat = int(repeat)
        return self

    def __reduce__(self):
        return (ViewIndex, (int(self), self.seed, self.epoch, self.repeat))

    def __repr__(self) -> str:
        return (f'ViewIndex({int(self)}, seed={self.seed}, '
                f'epoch={self.epoch}, repeat={self.repeat})')

    @property
    def view_seed(self) -> int:
        """:func:`view_seed` of this draw."""
        return view_seed(self.seed, self.epoch, int(self), self.repeat)


def unseeded_views_reason(dataset) -> Optional[str]:
    """Why ``dataset[ViewIndex(...)]`` would not draw that view, or None.

    A dataset seeds its views when its class says so (``SEEDS_VIEWS``, set
    by :class:`~mmprompt.datasets.CoOpDataset`). mmengine's dataset wrappers
    (``ConcatDataset``, ``RepeatDataset``, ``ClassBalancedDataset``) map
    the index to a plain ``int`` before the wrapped dataset sees it, so the
    draw is lost and the pipeline uses the global generators.

    Args:
        dataset: A training dataset.

    Returns:
        str | None: The reason, naming the dataset's class; None if a
        ``ViewIndex`` reaches the pipeline.
    """
    if getattr(dataset, 'SEEDS_VIEWS', False):
        return None
    name = type(dataset).__name__
    if hasattr(dataset, 'dataset') or hasattr(dataset, 'datasets'):
        return (f'{name} hands the datasets it wraps plain int indices, so '
                'a ViewIndex loses its draw')
    return (f'{name} does not run its pipeline under a ViewIndex\'s seed '
            '(CoOpDataset and its subclasses do)')


@contextlib.contextmanager
def seeded_view(seed: int):
    """Seed ``random``, NumPy's and torch's global generators for a block,
    then restore them (the caller's random streams are not disturbed).

    Data pipelines draw their augmentations from the global generators;
    this makes one draw (or one pass over a dataset) reproducible.

    Args:
        seed (int): The seed (e.g. :attr:`ViewIndex.view_seed`).
    """
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() \
        else None
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds the CUDA generators too
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
