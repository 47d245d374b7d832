# Copyright (c) mmprompt contributors. All rights reserved.
from collections import Counter
from unittest import mock

import numpy as np
import pytest
from mmengine.dataset import DefaultSampler

from mmprompt.datasets import EpisodicBatchSampler
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import DATA_SAMPLERS, DATASETS

MODULE = 'mmprompt.datasets.samplers.episodic'


class LabelledDataset:
    """Just labels: ``per_class[c]`` samples of class c, class-major."""

    def __init__(self, per_class):
        self.labels = [c for c, n in enumerate(per_class) for _ in range(n)]
        self.metainfo = dict(
            classes=tuple(f'class{c}' for c in range(len(per_class))))

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return np.array(self.labels)


def _build(per_class=(16, ) * 8, seed=0, rank=0, world_size=1, **kwargs):
    dataset = LabelledDataset(per_class)
    sampler = DefaultSampler(dataset, shuffle=True, seed=seed)
    args = dict(
        type='EpisodicBatchSampler',
        sampler=sampler,
        batch_size=3,
        num_ways=4,
        num_support=2)
    args.update(kwargs)
    with mock.patch(
            f'{MODULE}.get_dist_info', return_value=(rank, world_size)):
        return DATA_SAMPLERS.build(args), dataset


def _tasks(batch, sampler):
    per_task = sampler.num_ways * (sampler.num_support + sampler.num_query)
    assert len(batch) % per_task == 0
    return [batch[i:i + per_task] for i in range(0, len(batch), per_task)]


def test_tasks_have_n_ways_with_disjoint_support_and_query():
    sampler, dataset = _build()
    assert sampler.num_query == 14  # None: the other 16 - 2 shots
    assert sampler.episode_layout == dict(
        num_ways=4, num_support=2, num_query=14)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    for batch in batches:
        assert len(batch) == 3 * 4 * 16
        tasks = _tasks(batch, sampler)
        assert len(tasks) == 3
        for task in tasks:
            blocks = [task[i:i + 16] for i in range(0, len(task), 16)]
            classes = [dataset.labels[block[0]] for block in blocks]
            assert len(set(classes)) == 4
            for block, label in zip(blocks, classes):
                assert {dataset.labels[i] for i in block} == {label}
                support, query = block[:2], block[2:]
                assert len(query) == 14
                assert not set(support) & set(query)
                assert len(set(block)) == 16


def test_num_query_takes_a_random_subset_of_the_rest():
    sampler, dataset = _build(num_query=5)
    batch = next(iter(sampler))
    assert len(batch) == 3 * 4 * 7
    # Over an epoch, every image of a class is used as support sometimes.
    support = Counter()
    for batch in sampler:
        for task in _tasks(batch, sampler):
            for i in range(0, len(task), 7):
                support.update(task[i:i + 2])
    assert len(support) > 0.8 * len(dataset)


def test_tasks_are_deterministic_per_seed_and_epoch():
    first, _ = _build(seed=5)
    again, _ = _build(seed=5)
    other_seed, _ = _build(seed=6)
    assert list(first) == list(again)
    assert list(first) == list(first)  # iterating does not advance it
    assert list(first) != list(other_seed)
    epoch0 = list(first)
    # DistSamplerSeedHook sets the epoch on the wrapped sampler.
    first.sampler.set_epoch(1)
    epoch1 = list(first)
    assert epoch1 != epoch0
    again.set_epoch(1)
    assert list(again) == epoch1  # a resumed run replays epoch 1
    # Tasks differ between iterations of an epoch.
    assert epoch0[0] != epoch0[1]


def test_ranks_split_one_stream_of_tasks():
    ranks = [_build(seed=2, rank=r, world_size=2)[0] for r in range(2)]
    single, _ = _build(seed=2, batch_size=6)
    for it, (b0, b1, whole) in enumerate(zip(*ranks, single)):
        assert b0 != b1
        assert b0 + b1 == whole
    assert it == 9


def test_impossible_settings_fail_at_build_time():
    with pytest.raises(
            ValueError,
            match=r'num_ways=9 but the dataset '
            r'LabelledDataset has only 8 classes'):
        _build(num_ways=9)
    with pytest.raises(
            ValueError,
            match=r"2 \+ 15 = 17 images per class.*"
            r"class 'class0' \(label 0\) of LabelledDataset has "
            r'only 16 images'):
        _build(num_query=15)
    with pytest.raises(
            ValueError, match=r"class 'class3' \(label 3\).*only "
            r'10 images'):
        _build(per_class=(16, 16, 16, 10, 16), num_query=14)
    with pytest.raises(
            ValueError,
            match=r'classes of LabelledDataset have '
            r'different numbers of images \(\[10, 16\]\); set '
            r'num_query explicitly \(at most 8\)'):
        _build(per_class=(16, 16, 16, 10, 16))
    with pytest.raises(
            ValueError, match='num_support must be a positive '
            'int, but got 0'):
        _build(num_support=0)
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        _build(batch_size=0)
    with pytest.raises(TypeError, match="has no `dataset`"):
        EpisodicBatchSampler(sampler=range(3), batch_size=1)


def test_runner_builds_an_episodic_dataloader(tmp_path):
    from mmengine.runner import Runner
    root = str(tmp_path / 'data')
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(4, 2, 2), seed=0)
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(
                type='EpisodicBatchSampler',
                num_ways=3,
                num_support=1,
                iters_per_epoch=4),
            dataset=dict(
                type='CoOpSynthetic',
                data_root=root,
                num_shots=4,
                subsample='base',
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='PackInputs')
                ])),
        seed=1)
    assert isinstance(loader.batch_sampler, EpisodicBatchSampler)
    assert loader.batch_sampler.seed == 1
    assert len(loader) == 4
    batch = next(iter(loader))
    labels = [int(s.gt_label) for s in batch['data_samples']]
    assert len(labels) == 2 * 3 * 4
    for t in range(2):
        task = labels[t * 12:(t + 1) * 12]
        assert sorted(set(task)) == [0, 1, 2]  # 6 classes -> 3 base
        assert all(task[i:i + 4] == [task[i]] * 4 for i in range(0, 12, 4))
    assert DATASETS.get('CoOpSynthetic') is not None
