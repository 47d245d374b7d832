# Copyright (c) mmprompt contributors. All rights reserved.
from unittest.mock import MagicMock

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mmprompt.engine import GAP_KEYS, MetaGapMonitorHook
from mmprompt.models import TINY_MODEL
from mmprompt.registry import HOOKS, MODELS

CLASSES = ['banded', 'dotted', 'striped']


def _head():
    head = MODELS.build(
        dict(type='MetaPromptClsHead',
             text_encoder=dict(type='OpenCLIPTextEncoder',
                               model_name=TINY_MODEL),
             prompt_learner=dict(type='CoOpPromptLearner')))
    head.set_class_names(CLASSES)
    head.set_episode_layout(num_ways=2, num_support=2, num_query=3)
    return head


def _runner(head, epoch=0, max_epochs=4):
    runner = MagicMock()
    runner.model = nn.Module()
    runner.model.head = head
    runner.epoch = epoch
    runner.max_epochs = max_epochs
    return runner


def _cached_hook(head, **kwargs):
    hook = HOOKS.build(dict(type='MetaGapMonitorHook', **kwargs))
    g = torch.Generator().manual_seed(0)
    images = torch.randn(12, 64, generator=g)
    labels = torch.arange(3).repeat(4)
    support = torch.randn(3, 2, 64, generator=g)
    hook._cache = (images, labels, support)  # skip feature extraction
    return hook, images, labels, support


def test_measure_logs_both_accuracies_and_their_gap():
    head = _head()
    hook, images, labels, support = _cached_hook(head)
    runner = _runner(head)
    head.train()
    values = hook.measure(runner, 7)
    assert head.training  # the mode is restored
    head.eval()
    mm, text = head.compare_predictions(images, support)
    expected = [(mm.argmax(1) == labels).float().mean().item() * 100,
                (text.argmax(1) == labels).float().mean().item() * 100]
    assert values == pytest.approx(
        dict(zip(GAP_KEYS, expected + [expected[0] - expected[1]])))
    runner.visualizer.add_scalars.assert_called_once_with(values, step=7)
    assert hook.history == [(7, values[GAP_KEYS[0]], values[GAP_KEYS[1]])]


def test_measures_at_start_every_interval_and_after_the_last_epoch():
    head = _head()
    hook, *_ = _cached_hook(head, interval=3)
    steps = []
    for epoch in range(5):
        runner = _runner(head, epoch=epoch, max_epochs=5)
        hook.before_train_epoch(runner)
        hook.after_train_epoch(runner)
    steps = [entry[0] for entry in hook.history]
    assert steps == [0, 3, 5]
    # A resumed run (starting at epoch 2) does not measure "epoch 0".
    resumed, *_ = _cached_hook(head, at_start=False)
    resumed.before_train_epoch(_runner(head, epoch=0))
    assert resumed.history == []
    late, *_ = _cached_hook(head)
    late.before_train_epoch(_runner(head, epoch=2))
    assert late.history == []


def test_default_datasets_come_from_the_config():
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    runner = _runner(_head())
    runner.cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='CoOpDTD', subsample='base',
                             split='train', pipeline=['augment'])),
            test_dataloader=dict(
                dataset=dict(type='CoOpDTD', subsample='all', split='test',
                             pipeline=pipeline))))
    eval_cfg, support_cfg = MetaGapMonitorHook()._dataset_cfgs(runner)
    assert eval_cfg['subsample'] == 'base' and eval_cfg['split'] == 'test'
    assert support_cfg['split'] == 'train'
    assert support_cfg['pipeline'] == pipeline  # no augmentation
    assert runner.cfg.test_dataloader.dataset.subsample == 'all'  # a copy

    runner.cfg = Config(
        dict(train_dataloader=dict(dataset=dict(type='X')),
             test_dataloader=dict(dataset=dict(type='ImageNet'))))
    with pytest.raises(ValueError, match=r"no such dataset with a "
                       r"'subsample' field\. Pass eval_dataset=dict"):
        MetaGapMonitorHook()._dataset_cfgs(runner)


def test_bad_arguments_and_heads():
    with pytest.raises(ValueError, match='interval must be a positive int'):
        MetaGapMonitorHook(interval=0)
    hook = MetaGapMonitorHook()
    with pytest.raises(TypeError, match=r'needs a head with '
                       r'`compare_predictions` .* got Linear'):
        hook.measure(_runner(nn.Linear(2, 2)), 1)
    dataset = MagicMock()
    dataset.metainfo = dict(classes=('a', 'b', 'c'))
    with pytest.raises(ValueError, match=r'the evaluation dataset .* has '
                       r'classes .* but the head is bound to the 3 training'):
        hook._check_classes(dataset, _head(), 'evaluation')
