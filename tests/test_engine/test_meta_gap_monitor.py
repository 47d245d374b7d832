# Copyright (c) mmprompt contributors. All rights reserved.
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmpretrain.structures import DataSample

from mmprompt.engine import GAP_KEYS, MetaGapMonitorHook
from mmprompt.models import TINY_MODEL
from mmprompt.registry import HOOKS, MODELS

CLASSES = ['banded', 'dotted', 'striped']


def _head():
    head = MODELS.build(
        dict(
            type='MetaPromptClsHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
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


def _unaugmented(results):
    return results


def _augmented(results):
    raise AssertionError('the support images were augmented')


def test_default_datasets_are_the_runs_own():
    pipeline = [_unaugmented]
    # A test set over more classes (base and new) in another order.
    test_set = _CodedImages([3, 1, 0, 2, 3, 0, 1],
                            source=1,
                            classes=('zigzag', 'striped', 'banded', 'dotted'),
                            pipeline=pipeline)
    train_set = _CodedImages(SUPPORT_LABELS, source=2, pipeline=[_augmented])
    head = _head()
    runner = _runner(head)
    runner.model = _Identity(head)
    runner.test_loop.dataloader.dataset = test_set
    runner.train_dataloader.dataset = train_set
    hook = MetaGapMonitorHook(batch_size=4)
    images, labels, support = hook._features(runner)
    # the test images of the training classes, in order, labelled as the
    # head labels them (banded, dotted, striped)
    assert images[:, 2].tolist() == [0, 1, 3, 4, 6]
    assert labels.tolist() == [1, 2, 0, 1, 2]
    assert (support[:, :, 1] == 2).all()  # drawn from the training set
    eval_set, support_set = hook._datasets(runner)
    assert eval_set is test_set
    assert support_set.pipeline is test_set.pipeline  # no augmentation
    assert support_set.get_gt_labels().tolist() == SUPPORT_LABELS
    assert train_set.pipeline.transforms == [_augmented]  # left as it is
    # Without a test loop, the val loop's dataset.
    runner.test_loop = None
    runner.val_loop.dataloader.dataset = train_set
    assert hook._datasets(runner)[0] is train_set
    runner.val_loop = None
    with pytest.raises(
            ValueError,
            match=r'the run has no test or val dataloader\. Pass '
            r'eval_dataset=dict'):
        hook._datasets(runner)


def test_bad_arguments_and_heads():
    with pytest.raises(ValueError, match='interval must be a positive int'):
        MetaGapMonitorHook(interval=0)
    hook = MetaGapMonitorHook()
    with pytest.raises(
            TypeError,
            match=r'predictions of a '
            r'MetaPromptClsHead, but got Linear'):
        hook.measure(_runner(nn.Linear(2, 2)), 1)
    dataset = _CodedImages([0, 1], source=1, classes=('banded', 'b'))
    with pytest.raises(
            ValueError,
            match=r"the evaluation dataset _CodedImages has classes "
            r"\['banded', 'b'\]\.\.\. \(2\), without 2 of the 3 training "
            r"classes the head is bound to \(\['dotted', 'striped'\]"):
        hook._of_training_classes(dataset, _head(), 'evaluation')


class _CodedImages(BaseDataset):
    """Images whose "pixels" say what they are: ``[label, source, index]``.

    With :class:`_Identity` as model, a feature tells which dataset
    (``source``) and which sample (``index``) it was extracted from.
    """

    def __init__(self, labels, source, classes=CLASSES, **kwargs):
        self._labels = list(labels)
        self._source = source
        super().__init__(metainfo=dict(classes=tuple(classes)), **kwargs)

    def load_data_list(self):
        return [
            dict(
                inputs=torch.tensor([label, self._source, index] + [0.] * 61),
                data_samples=DataSample().set_gt_label(label))
            for index, label in enumerate(self._labels)
        ]

    def get_gt_labels(self):
        return np.array(self._labels)


class _Identity(nn.Module):
    """A model whose image features are its inputs."""

    def __init__(self, head):
        super().__init__()
        self.head = head
        self.batches = []
        self.backbone = lambda inputs: (inputs, )  # the frozen tower

    def data_preprocessor(self, batch, training):
        assert training is False
        self.batches.append(len(batch['inputs']))
        return dict(
            inputs=torch.stack(batch['inputs']),
            data_samples=batch['data_samples'])

    def extract_feat(self, inputs):
        return (inputs, )


# 10 support images per class, classes interleaved (not sorted by label).
SUPPORT_LABELS = [0, 1, 2, 2, 1, 0] * 5
EVAL_LABELS = [2, 0, 1, 1, 0, 2, 0]


def _extracted(num_support=None, support_seed=0, labels=SUPPORT_LABELS):
    head = _head()  # episode layout: num_support = 2
    runner = _runner(head)
    runner.model = _Identity(head)
    hook = MetaGapMonitorHook(
        num_support=num_support,
        support_seed=support_seed,
        batch_size=4,
        eval_dataset=dict(type=_CodedImages, labels=EVAL_LABELS, source=1),
        support_dataset=dict(type=_CodedImages, labels=labels, source=2))
    return hook, runner, hook._features(runner)


def test_support_is_drawn_per_class_from_the_support_set_and_seeded():
    hook, runner, (images, labels, support) = _extracted(num_support=3)
    assert support.shape == (3, 3, 64)
    for c in range(3):
        # class c's prototypes fuse support images of class c ...
        assert support[c, :, 0].tolist() == [c] * 3
        # ... taken from the support dataset, 3 distinct samples of it
        assert support[c, :, 1].tolist() == [2] * 3
        index = support[c, :, 2].long().tolist()
        assert len(set(index)) == 3
        assert all(SUPPORT_LABELS[i] == c for i in index)
    # The support draw is seeded: the same seed draws the same images ...
    _, _, (_, _, again) = _extracted(num_support=3)
    torch.testing.assert_close(again, support)
    # ... another seed others.
    _, _, (_, _, other) = _extracted(num_support=3, support_seed=1)
    assert not torch.equal(other[:, :, 2], support[:, :, 2])
    assert hook._features(runner)[2] is support  # cached
    # num_support=None takes the head's episode layout (2 support images).
    _, _, (_, _, from_layout) = _extracted()
    assert from_layout.shape == (3, 2, 64)
    assert (from_layout[:, :, 0] == torch.arange(3)[:, None]).all()


def test_evaluation_features_are_all_eval_images_in_order():
    _, runner, (images, labels, _) = _extracted()
    assert labels.tolist() == EVAL_LABELS
    assert images[:, 0].tolist() == EVAL_LABELS
    assert images[:, 1].tolist() == [1] * 7
    assert images[:, 2].tolist() == list(range(7))
    # batches of batch_size=4: 7 eval images, then 2 x 3 support images
    assert runner.model.batches == [4, 3, 4, 2]


def test_a_class_short_of_support_images_is_named():
    with pytest.raises(
            ValueError,
            match=r"class 'striped' has 1 images in "
            r'the support dataset, fewer than num_support=2'):
        _extracted(labels=[0, 1, 2, 0, 1, 1, 0])
