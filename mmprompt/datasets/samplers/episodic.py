# Copyright (c) mmprompt contributors. All rights reserved.
"""Episodic (N-way, K-shot support + Q query) batches for meta-training."""
from collections import Counter, defaultdict
from typing import Dict, Iterator, List, Optional

import numpy as np
from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from mmprompt.errors import ConfigError
from mmprompt.registry import DATA_SAMPLERS
from ..views import ViewIndex


def _labels_of(dataset) -> List[int]:
    """The integer label of every sample of a dataset.

    Args:
        dataset: An mmengine / mmpretrain dataset.

    Returns:
        list[int]: ``labels[i]`` is the label of sample ``i``.
    """
    if callable(getattr(dataset, 'full_init', None)):
        dataset.full_init()
    if callable(getattr(dataset, 'get_gt_labels', None)):
        return [int(label) for label in dataset.get_gt_labels()]
    labels = []
    for i in range(len(dataset)):
        label = dataset.get_data_info(i).get('gt_label')
        if label is None:
            raise KeyError(
                f'EpisodicBatchSampler needs the label of every sample, but '
                f'sample {i} of {type(dataset).__name__} has no `gt_label`.')
        labels.append(int(label))
    return labels


@DATA_SAMPLERS.register_module()
class EpisodicBatchSampler(Sampler):
    """Meta-batches of few-shot classification tasks (episodes).

    Each task draws ``num_ways`` distinct classes and, for every class, a
    random ``num_support + num_query`` of its images: the first
    ``num_support`` are the support set, the rest the queries (with
    ``num_query=None``, all of the class's other images). A meta-batch is
    ``batch_size`` tasks and an epoch is ``iters_per_epoch`` meta-batches,
    as in "Prompt Tuning for Vision-Language Models via Meta-Training"
    (5/10/20-way, 2-shot support, 14 queries, 4 tasks, 10 iterations).

    The indices of one meta-batch are laid out task by task, class by class,
    support before query::

        [task 0: [class a: K support, Q query], [class b: ...], ...],
        [task 1: ...], ...

    so the batch has ``batch_size * num_ways * (num_support + num_query)``
    images and the head cuts it back into tasks with :attr:`episode_layout`
    (the ``SetClassNamesHook`` hands the layout to the head).

    Randomness: the tasks of an epoch come from
    ``np.random.default_rng([seed, epoch])`` where ``seed`` and ``epoch`` are
    those of the wrapped ``sampler`` (:class:`ViewSampler`, like mmengine's
    ``DefaultSampler``, gets ``randomness.seed``, and ``DistSamplerSeedHook``
    sets its epoch before every epoch), so a run resumed at an epoch
    replays the uninterrupted run's tasks. Every iteration draws
    ``world_size * batch_size`` tasks from that stream and rank ``r`` takes
    tasks ``r * batch_size`` to ``(r + 1) * batch_size - 1``: ranks get
    different tasks, and the tasks of a rank do not depend on how fast the
    others run. The wrapped sampler's own order is not used.

    Views: every index is a :class:`~mmprompt.datasets.views.ViewIndex` of
    ``(index, seed, epoch, repeat)`` where ``repeat`` counts the earlier
    draws of that image in this epoch's global task stream (the tasks of
    every rank, every iteration so far, in task order). A CoOp dataset runs
    its pipeline under that view's seed, so an image drawn twice gets two
    different crops, and the views of an epoch are the same for any world
    size at the same global number of tasks (``world_size * batch_size``).

    mmengine builds it from the train dataloader config; ``batch_size`` is
    the dataloader's (tasks per meta-batch and GPU)::

        train_dataloader = dict(
            batch_size=4,
            sampler=dict(type='ViewSampler', shuffle=True),
            batch_sampler=dict(
                type='EpisodicBatchSampler', num_ways=5, num_support=2,
                num_query=None, iters_per_epoch=10),
            dataset=...)

    Args:
        sampler (Sampler): The dataloader's sampler; it gives the dataset
            (``sampler.dataset``), the seed (``sampler.seed``, 0 if absent)
            and the epoch (``sampler.epoch``, 0 if absent).
        batch_size (int): Tasks per meta-batch (per rank).
        num_ways (int): Classes per task (N). Defaults to 5.
        num_support (int): Support images per class (K). Defaults to 2.
        num_query (int, optional): Query images per class (Q); None uses
            every image of the class that is not support, which needs the
            same number of images in every class. Defaults to None.
        iters_per_epoch (int): Meta-batches per epoch. Defaults to 10.

    Raises:
        ValueError: At construction, for a non-positive setting, if
            ``num_ways`` exceeds the number of classes, or if a class has
            fewer than ``num_support + num_query`` images.
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 num_ways: int = 5,
                 num_support: int = 2,
                 num_query: Optional[int] = None,
                 iters_per_epoch: int = 10) -> None:
        settings = dict(
            batch_size=batch_size,
            num_ways=num_ways,
            num_support=num_support,
            iters_per_epoch=iters_per_epoch)
        if num_query is not None:
            settings['num_query'] = num_query
        for key, value in settings.items():
            if (isinstance(value, bool) or not isinstance(value, int)
                    or value < 1):
                raise ConfigError(
                    f'EpisodicBatchSampler: {key} must be a positive int, '
                    f'but got {value!r}.')
        dataset = getattr(sampler, 'dataset', None)
        if dataset is None:
            raise TypeError(
                'EpisodicBatchSampler reads the dataset from the '
                f'dataloader\'s sampler, but {type(sampler).__name__} has no '
                "`dataset`; use sampler=dict(type='ViewSampler').")
        self.sampler = sampler
        self.batch_size = batch_size
        self.num_ways = num_ways
        self.num_support = num_support
        self.iters_per_epoch = iters_per_epoch
        self.rank, self.world_size = get_dist_info()

        by_class: Dict[int, List[int]] = defaultdict(list)
        for index, label in enumerate(_labels_of(dataset)):
            by_class[label].append(index)
        self.class_indices = {c: by_class[c] for c in sorted(by_class)}
        self.classes = list(self.class_indices)
        name = type(dataset).__name__
        if num_ways > len(self.classes):
            raise ConfigError(
                f'EpisodicBatchSampler: num_ways={num_ways} but the dataset '
                f'{name} has only {len(self.classes)} classes with images; '
                f'set num_ways <= {len(self.classes)}.')
        fewest = min(self.classes, key=lambda c: len(self.class_indices[c]))
        available = len(self.class_indices[fewest])
        if num_query is None:
            num_query = available - num_support
            if any(len(v) != available for v in self.class_indices.values()):
                counts = sorted({len(v) for v in self.class_indices.values()})
                raise ConfigError(
                    f'EpisodicBatchSampler: num_query=None takes every '
                    f'non-support image of a class as query, but the classes '
                    f'of {name} have different numbers of images ({counts}); '
                    f'set num_query explicitly (at most '
                    f'{available - num_support}).')
        if num_query < 1 or num_support + num_query > available:
            classname = self._class_name(dataset, fewest)
            raise ConfigError(
                f'EpisodicBatchSampler: a task takes num_support + num_query '
                f'= {num_support} + {num_query} = {num_support + num_query} '
                f'images per class (at least one query), but class '
                f'{classname} (label {fewest}) of {name} has only '
                f'{available} images; lower num_support / num_query or use '
                'more shots.')
        self.num_query = num_query

    @staticmethod
    def _class_name(dataset, label: int) -> str:
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if classes is not None and 0 <= label < len(classes):
            return repr(classes[label])
        return str(label)

    @property
    def episode_layout(self) -> dict:
        """``dict(num_ways, num_support, num_query)`` of every task."""
        return dict(
            num_ways=self.num_ways,
            num_support=self.num_support,
            num_query=self.num_query)

    @property
    def seed(self) -> int:
        return int(getattr(self.sampler, 'seed', 0) or 0)

    @property
    def epoch(self) -> int:
        return int(getattr(self.sampler, 'epoch', 0) or 0)

    def _draw_task(self, rng: np.random.Generator) -> List[int]:
        """The indices of one task (class by class, support then query)."""
        per_class = self.num_support + self.num_query
        indices = []
        for pick in rng.choice(
                len(self.classes), size=self.num_ways, replace=False):
            images = self.class_indices[self.classes[pick]]
            order = rng.permutation(len(images))[:per_class]
            indices.extend(images[i] for i in order)
        return indices

    def __iter__(self) -> Iterator[List[ViewIndex]]:
        seed, epoch = self.seed, self.epoch
        rng = np.random.default_rng([seed, epoch])
        seen: Counter = Counter()  # draws so far in the global task stream
        for _ in range(self.iters_per_epoch):
            tasks = []
            for _ in range(self.world_size * self.batch_size):
                task = []
                for index in self._draw_task(rng):
                    task.append(ViewIndex(index, seed, epoch, seen[index]))
                    seen[index] += 1
                tasks.append(task)
            mine = tasks[self.rank * self.batch_size:(self.rank + 1) *
                         self.batch_size]
            yield [index for task in mine for index in task]

    def __len__(self) -> int:
        return self.iters_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the wrapped sampler (and so of the tasks).

        Args:
            epoch (int): The epoch.
        """
        if callable(getattr(self.sampler, 'set_epoch', None)):
            self.sampler.set_epoch(epoch)
        else:
            self.sampler.epoch = epoch
