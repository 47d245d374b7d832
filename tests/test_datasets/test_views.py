# Copyright (c) mmprompt contributors. All rights reserved.
"""Seeded training views: ViewIndex, ViewSampler, datasets, episodes."""
import copy
import logging
import pickle
import random
from collections import Counter
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.dataset import (ConcatDataset, DefaultSampler, RepeatDataset,
                              pseudo_collate)
from mmengine.hooks import DistSamplerSeedHook
from mmengine.logging import MMLogger
from mmengine.runner import Runner
# A sibling test module (pytest puts this folder on sys.path).
from test_episodic_sampler import LabelledDataset
from torch.utils.data import DataLoader

from mmprompt.datasets import (CoOpSynthetic, EpisodicBatchSampler, ViewIndex,
                               ViewSampler, seeded_view, view_seed)
from mmprompt.datasets.views import unseeded_views_reason
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import DATA_SAMPLERS

# DefaultSampler (and so ViewSampler) reads the ranks here.
DIST_INFO = 'mmengine.dataset.sampler.get_dist_info'
EPISODIC_DIST_INFO = 'mmprompt.datasets.samplers.episodic.get_dist_info'

TRAIN_PIPELINE = [
    dict(type='LoadCoOpImage'),
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.3, 1.0),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('views'))
    make_synthetic_coop_dataset(
        root, num_classes=3, images_per_class=(4, 1, 1), seed=0)
    return root


def _dataset(root):
    return CoOpSynthetic(
        data_root=root, split='train', pipeline=TRAIN_PIPELINE)


# ---------------------------------------------------------------------------
# ViewIndex / view_seed / seeded_view
# ---------------------------------------------------------------------------
def test_view_index_is_an_int_that_survives_pickling():
    idx = ViewIndex(5, seed=1, epoch=2, repeat=3)
    assert idx == 5 and isinstance(idx, int) and hash(idx) == hash(5)
    assert list(range(10))[idx] == 5
    assert np.arange(10)[idx] == 5
    assert type(idx + 1) is int and idx + 1 == 6
    assert repr(idx) == 'ViewIndex(5, seed=1, epoch=2, repeat=3)'
    assert ViewIndex(5, 1, 2).repeat == 0
    for copied in (pickle.loads(pickle.dumps(idx)), copy.deepcopy(idx),
                   copy.copy(idx)):
        assert type(copied) is ViewIndex and copied == 5
        assert (copied.seed, copied.epoch, copied.repeat) == (1, 2, 3)
        assert copied.view_seed == idx.view_seed
    assert idx.view_seed == view_seed(1, 2, 5, 3)


def test_view_seed_is_deterministic_and_distinct():
    # blake2b of the text '1/0/5/0': the same on every platform and run
    # (stored views are keyed by it).
    assert view_seed(1, 0, 5) == view_seed(1, 0, 5, 0) == 1727306573
    seeds = {
        view_seed(s, e, i, r)
        for s in range(3)
        for e in range(4)
        for i in range(20)
        for r in range(3)
    }
    assert len(seeds) == 3 * 4 * 20 * 3  # every argument matters
    assert all(0 <= s < 2**31 for s in seeds)


def test_seeded_view_repeats_draws_and_restores_the_caller_streams():
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    with seeded_view(42):
        first = draw()
    with seeded_view(42):
        assert draw() == first
    with seeded_view(43):
        assert draw() != first
    # The streams outside continue as if nothing had been drawn.
    assert draw() == expected


# ---------------------------------------------------------------------------
# ViewSampler
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('world_size', [1, 2, 3])
@pytest.mark.parametrize('shuffle', [True, False])
def test_view_sampler_keeps_default_sampler_order(world_size, shuffle):
    dataset = list(range(10))  # 10 samples: 3 ranks need a round-up
    for rank in range(world_size):
        with mock.patch(DIST_INFO, return_value=(rank, world_size)):
            views = ViewSampler(dataset, shuffle=shuffle, seed=7)
            default = DefaultSampler(dataset, shuffle=shuffle, seed=7)
        assert (views.rank, views.world_size) == (rank, world_size)
        assert len(views) == len(default)
        for epoch in range(4):
            views.set_epoch(epoch)
            default.set_epoch(epoch)
            got = list(views)
            assert got == list(default)
            assert all(type(i) is ViewIndex for i in got)
            assert {(i.seed, i.epoch, i.repeat)
                    for i in got} == {(7, epoch, 0)}


def test_runner_builds_view_sampler_with_its_seed_and_sets_its_epoch(
        data_root):
    dataset = _dataset(data_root)
    loader = Runner.build_dataloader(
        dict(
            batch_size=4,
            num_workers=0,
            sampler=dict(type='ViewSampler', shuffle=True),
            dataset=dataset),
        seed=123)
    assert type(loader.sampler) is ViewSampler
    assert loader.sampler.seed == 123
    runner = mock.MagicMock()
    runner.train_loop.dataloader = loader
    runner.epoch = 3
    DistSamplerSeedHook().before_train_epoch(runner)
    assert loader.sampler.epoch == 3
    assert {(i.seed, i.epoch) for i in loader.sampler} == {(123, 3)}
    batch = next(iter(loader))
    assert all(type(s.sample_idx) is int for s in batch['data_samples'])


def test_runner_builds_episodic_views_with_its_seed_and_epoch(data_root):
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='ViewSampler', shuffle=True),
            batch_sampler=dict(
                type='EpisodicBatchSampler',
                num_ways=2,
                num_support=1,
                num_query=1,
                iters_per_epoch=2),
            dataset=_dataset(data_root)),
        seed=9)
    runner = mock.MagicMock()
    runner.train_loop.dataloader = loader
    runner.epoch = 4
    DistSamplerSeedHook().before_train_epoch(runner)
    assert {(i.seed, i.epoch)
            for batch in loader.batch_sampler
            for i in batch} == {(9, 4)}


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------
def _image(dataset, idx):
    return dataset[idx]['inputs']


def test_dataset_view_depends_on_seed_epoch_index_repeat_only(data_root):
    dataset = _dataset(data_root)
    view = ViewIndex(3, seed=1, epoch=0)
    first = _image(dataset, view)
    np.random.seed(0)
    random.seed(0)
    _ = [_image(dataset, i) for i in range(len(dataset))]  # other draws
    state = np.random.get_state()[1].copy()
    assert torch.equal(_image(dataset, view), first)
    # The caller's stream is untouched by a seeded view.
    assert np.array_equal(np.random.get_state()[1], state)
    # Another dataset instance (another method, same data seed): same view.
    assert torch.equal(_image(_dataset(data_root), view), first)
    packed = dataset[view]['data_samples']
    assert type(packed.sample_idx) is int and packed.sample_idx == 3

    # Another epoch, repeat or seed gives other crops (over all samples).
    def views(**kw):
        args = dict(seed=1, epoch=0, repeat=0)
        args.update(kw)
        return [
            _image(dataset, ViewIndex(i, **args)) for i in range(len(dataset))
        ]

    base = views()
    for other in (views(epoch=1), views(repeat=1), views(seed=2)):
        same = sum(torch.equal(a, b) for a, b in zip(base, other))
        assert same <= len(base) // 2, same


def test_dataset_plain_int_draws_from_the_global_generators(data_root):
    dataset = _dataset(data_root)
    np.random.seed(5)
    a = _image(dataset, 2)
    np.random.seed(5)
    assert torch.equal(_image(dataset, 2), a)
    later = [_image(dataset, 2) for _ in range(4)]
    assert any(not torch.equal(a, b) for b in later)


def test_dataset_wrappers_lose_the_draw_and_view_sampler_says_so(data_root):
    dataset = _dataset(data_root)
    wrapped = RepeatDataset(dataset, times=2)
    concat = ConcatDataset([dataset, _dataset(data_root)])
    assert unseeded_views_reason(dataset) is None
    assert unseeded_views_reason(wrapped) == (
        'RepeatDataset hands the datasets it wraps plain int indices, so a '
        'ViewIndex loses its draw')
    assert unseeded_views_reason(concat).startswith('ConcatDataset hands')
    assert 'LabelledDataset does not run its pipeline under a ViewIndex' in \
        unseeded_views_reason(LabelledDataset([0, 1]))
    # What the reason says: the wrapper draws from the global generators.
    view = ViewIndex(2, seed=1, epoch=0)
    draws = []
    for state in range(6):
        torch.manual_seed(state)
        np.random.seed(state)
        random.seed(state)
        draws.append((_image(dataset, view), _image(wrapped, view)))
    assert all(torch.equal(a, draws[0][0]) for a, _ in draws)
    assert any(not torch.equal(b, draws[0][1]) for _, b in draws)

    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'log') as log:
        ViewSampler(dataset, seed=0)
    assert not log.called
    with mock.patch.object(logger, 'log') as log:
        ViewSampler(wrapped, seed=0)
    (level, text), _ = log.call_args
    assert level == logging.WARNING
    assert text.startswith('ViewSampler: RepeatDataset hands the datasets')
    assert 'as with DefaultSampler' in text


def test_dataloader_workers_give_the_same_views(data_root):
    dataset = _dataset(data_root)

    def batches(num_workers):
        sampler = ViewSampler(dataset, shuffle=True, seed=5)
        sampler.set_epoch(1)
        loader = DataLoader(
            dataset,
            batch_size=4,
            sampler=sampler,
            num_workers=num_workers,
            collate_fn=pseudo_collate)
        return [(torch.stack(b['inputs']),
                 [s.sample_idx for s in b['data_samples']]) for b in loader]

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 3
    for (x0, i0), (x2, i2) in zip(serial, parallel):
        assert i0 == i2 and all(type(i) is int for i in i2)
        assert torch.equal(x0, x2)


# ---------------------------------------------------------------------------
# EpisodicBatchSampler
# ---------------------------------------------------------------------------
# The labels-only dataset of the episodic sampler's tests.
_Labels = LabelledDataset


def _episodic(rank, world_size, batch_size, seed=3, epoch=2):
    dataset = _Labels((5, ) * 6)
    with mock.patch(DIST_INFO, return_value=(rank, world_size)), \
            mock.patch(EPISODIC_DIST_INFO,
                       return_value=(rank, world_size)):
        sampler = DATA_SAMPLERS.build(
            dict(type='ViewSampler', shuffle=True),
            default_args=dict(dataset=dataset, seed=seed))
        episodic = DATA_SAMPLERS.build(
            dict(
                type='EpisodicBatchSampler',
                num_ways=3,
                num_support=1,
                num_query=2,
                iters_per_epoch=2),
            default_args=dict(sampler=sampler, batch_size=batch_size))
    episodic.set_epoch(epoch)
    return episodic


def _key(index):
    return int(index), index.seed, index.epoch, index.repeat


def test_episodic_views_count_repeats_in_the_global_stream():
    one = list(_episodic(0, 1, batch_size=6))
    # The tasks are those of the sampler before views (seed 3, epoch 2).
    old = _episodic(0, 1, batch_size=2)
    assert isinstance(old, EpisodicBatchSampler)
    assert [list(map(int, b)) for b in old] == [
        [4, 0, 2, 15, 19, 16, 27, 25, 26, 13, 12, 14, 28, 27, 26, 4, 1, 3],
        [1, 0, 2, 10, 13, 11, 9, 7, 6, 7, 6, 5, 17, 16, 18, 22, 24, 23],
    ]
    seen = Counter()
    for batch in one:
        for index in batch:
            assert type(index) is ViewIndex
            assert (index.seed, index.epoch) == (3, 2)
            assert index.repeat == seen[int(index)]
            seen[int(index)] += 1
    assert max(seen.values()) > 1  # the test draws repeats
    # Any world size at the same global number of tasks: the same views.
    for world_size, batch_size in ((2, 3), (3, 2), (6, 1)):
        ranks = [
            list(_episodic(rank, world_size, batch_size))
            for rank in range(world_size)
        ]
        for it, batch in enumerate(one):
            joined = [index for r in ranks for index in r[it]]
            assert list(map(_key, joined)) == list(map(_key, batch))
