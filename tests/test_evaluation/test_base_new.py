# Copyright (c) mmprompt contributors. All rights reserved.
import doctest
import math
from unittest import TestCase

import numpy as np
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

import mmprompt.evaluation  # noqa: F401
from mmprompt.errors import DataError
from mmprompt.evaluation import (BaseNewAccuracy, average_base_new,
                                 harmonic_mean)
from mmprompt.evaluation.metrics import base_new
from mmprompt.evaluation.metrics.base_new import base_new_labels
from mmprompt.registry import METRICS

# 5 classes: base 0, 1, 2 (m = 3) and new 3, 4.
CLASSES = ('a', 'b', 'c', 'd', 'e')
META_ALL = dict(
    classes=CLASSES,
    base_classes=CLASSES[:3],
    new_classes=CLASSES[3:],
    subsample='all')
# Only one image (label 1, row 3) is right under the global argmax; the
# restricted argmax gets B = 3/4 and N = 1/2.
SCORES = torch.tensor([
    [0.3, 0.1, 0.0, 0.9, 0.2],  # base 0: global 3, among base 0 -> right
    [0.5, 0.2, 0.1, 0.0, 0.0],  # base 1: 0 -> wrong
    [0.0, 0.1, 0.4, 0.0, 0.8],  # base 2: global 4, among base 2 -> right
    [0.1, 0.6, 0.2, 0.0, 0.0],  # base 1: right
    [0.9, 0.0, 0.0, 0.2, 0.1],  # new 3: global 0, among new 3 -> right
    [0.0, 0.0, 0.0, 0.4, 0.6],  # new 3: 4 -> wrong
])
LABELS = torch.tensor([0, 1, 2, 1, 3, 3])
EXPECTED = {'base/top1': 75.0, 'new/top1': 50.0, 'hm': 60.0}


def _samples(scores, labels):
    return [
        DataSample().set_pred_score(s).set_gt_label(int(label))
        for s, label in zip(scores, labels)
    ]


class TestBaseNewAccuracy(TestCase):

    def setUp(self):
        init_default_scope('mmprompt')

    def _evaluate(self, meta, scores, labels, batch_size=2, **kwargs):
        evaluator = Evaluator([dict(type='BaseNewAccuracy', **kwargs)])
        if meta is not None:
            evaluator.dataset_meta = meta
        samples = _samples(scores, labels)
        for i in range(0, len(samples), batch_size):
            evaluator.process(samples[i:i + batch_size])
        return evaluator.evaluate(len(samples))

    def test_calculate(self):
        self.assertEqual(
            BaseNewAccuracy.calculate(SCORES, LABELS, num_base=3), EXPECTED)
        # numpy and lists work too
        self.assertEqual(
            BaseNewAccuracy.calculate(SCORES.numpy(), LABELS.tolist(), 3),
            EXPECTED)
        # the unrestricted argmax would give 1/6: the restriction matters
        self.assertAlmostEqual(
            SCORES.argmax(1).eq(LABELS).float().mean().item(), 1 / 6)
        # a group without images is NaN, and so is the harmonic mean
        res = BaseNewAccuracy.calculate(SCORES[:4], LABELS[:4], 3)
        self.assertEqual(res['base/top1'], 75.0)
        self.assertTrue(math.isnan(res['new/top1']))
        self.assertTrue(math.isnan(res['hm']))

    def test_calculate_errors(self):
        with self.assertRaisesRegex(ValueError, r'must be in \(0, 5\)'):
            BaseNewAccuracy.calculate(SCORES, LABELS, num_base=5)
        with self.assertRaisesRegex(ValueError, 'does not match'):
            BaseNewAccuracy.calculate(SCORES, LABELS[:3], num_base=3)
        with self.assertRaisesRegex(ValueError, r'shape \(N, n\)'):
            BaseNewAccuracy.calculate(SCORES[0], LABELS[:1], num_base=3)

    def test_build(self):
        metric = METRICS.build(dict(type='BaseNewAccuracy'))
        self.assertIsInstance(metric, BaseNewAccuracy)
        self.assertEqual(metric.prefix, '')
        with self.assertRaisesRegex(ValueError, 'positive int'):
            BaseNewAccuracy(num_base_classes=0)

    def test_evaluator_all(self):
        self.assertEqual(self._evaluate(META_ALL, SCORES, LABELS), EXPECTED)
        # one batch, and a prefix
        res = self._evaluate(
            META_ALL, SCORES, LABELS, batch_size=6, prefix='test')
        self.assertEqual(res, {'test/' + k: v for k, v in EXPECTED.items()})

    def test_process_stores_cpu_tensors(self):
        metric = BaseNewAccuracy()
        metric.dataset_meta = META_ALL
        metric.process(
            None,
            [dict(pred_score=SCORES[0], gt_label=torch.tensor([0]), img=1)])
        self.assertEqual(set(metric.results[0]), {'pred_score', 'gt_label'})
        self.assertEqual(metric.results[0]['gt_label'].device.type, 'cpu')

    def test_subsample(self):
        base_meta = dict(META_ALL, classes=CLASSES[:3], subsample='base')
        # scores over the 3 base classes only, labels 0..2
        res = self._evaluate(base_meta, SCORES[:4, :3], LABELS[:4])
        self.assertEqual(res, {'base/top1': 75.0})

        new_meta = dict(META_ALL, classes=CLASSES[3:], subsample='new')
        # scores over the 2 new classes only, labels relabelled to 0..1
        res = self._evaluate(new_meta, SCORES[4:, 3:], LABELS[4:] - 3)
        self.assertEqual(res, {'new/top1': 50.0})

        with self.assertRaisesRegex(ValueError, "expected one of"):
            self._evaluate(dict(META_ALL, subsample='few'), SCORES, LABELS)

    def test_num_base_classes(self):
        # overrides the metainfo: with m = 2, label 2 counts as new
        res = self._evaluate(META_ALL, SCORES, LABELS, num_base_classes=2)
        self.assertEqual(res, BaseNewAccuracy.calculate(SCORES, LABELS, 2))
        self.assertAlmostEqual(res['base/top1'], 200 / 3)
        self.assertAlmostEqual(res['new/top1'], 100 / 3)
        # and works without any metainfo
        res = self._evaluate(None, SCORES, LABELS, num_base_classes=3)
        self.assertEqual(res, EXPECTED)

    def test_missing_metainfo(self):
        msg = r'needs a dataset with `base_classes` in its metainfo ' \
              r'\(a CoOp dataset\)'
        metric = BaseNewAccuracy()
        # fails as soon as the evaluator hands over the dataset's metainfo
        with self.assertRaisesRegex(ValueError, msg):
            metric.dataset_meta = dict(classes=CLASSES)
        # or, for a dataset without metainfo, when computing
        with self.assertRaisesRegex(ValueError, msg + '.*no dataset_meta'):
            self._evaluate(None, SCORES, LABELS)

    def test_coop_metainfo_gives_the_same_numbers(self):
        # What a CoOp dataset's metainfo holds now: labels and names.
        meta = dict(META_ALL, base_labels=(0, 1, 2), new_labels=(3, 4))
        self.assertEqual(self._evaluate(meta, SCORES, LABELS), EXPECTED)
        # Membership by labels equals the old count on contiguous groups.
        rng = torch.Generator().manual_seed(0)
        scores = torch.rand(50, 7, generator=rng)
        labels = torch.randint(0, 7, (50, ), generator=rng)
        self.assertEqual(
            BaseNewAccuracy.calculate(scores, labels, base_labels=range(4)),
            BaseNewAccuracy.calculate(scores, labels, num_base=4))

    def test_membership_from_metainfo_not_a_count(self):
        """Base = labels 0, 1, 3 (not the first three labels)."""
        base_labels, new_labels = (0, 1, 3), (2, 4)
        # Restricted argmax by hand: base rows among columns 0, 1, 3; new
        # rows among columns 2, 4.
        expected_base = torch.tensor(
            [[0, 1, 3][i] for i in SCORES[:, [0, 1, 3]].argmax(1).tolist()])
        expected_new = torch.tensor(
            [[2, 4][i] for i in SCORES[:, [2, 4]].argmax(1).tolist()])
        labels = torch.tensor([0, 1, 3, 1, 2, 4])
        is_base = torch.tensor([y in base_labels for y in labels.tolist()])
        base = expected_base[is_base].eq(labels[is_base]).float().mean() * 100
        new = expected_new[~is_base].eq(labels[~is_base]).float().mean() * 100
        expected = {
            'base/top1': base.item(),
            'new/top1': new.item(),
            'hm': harmonic_mean(base.item(), new.item())
        }
        # Rows 0-2 pick columns 3, 0, 1 (wrong), row 3 column 1 (right);
        # row 4 picks column 4 (wrong), row 5 column 4 (right).
        self.assertEqual(expected['base/top1'], 25.0)
        self.assertEqual(expected['new/top1'], 50.0)
        by_labels = dict(
            classes=CLASSES,
            base_labels=base_labels,
            new_labels=new_labels,
            subsample='all')
        by_names = dict(
            classes=CLASSES,
            base_classes=('a', 'b', 'd'),
            new_classes=('c', 'e'),
            subsample='all')
        for meta in (by_labels, by_names, dict(by_labels, **by_names)):
            self.assertEqual(self._evaluate(meta, SCORES, labels), expected)
        # A count would have taken labels 0, 1, 2 as base.
        self.assertNotEqual(
            BaseNewAccuracy.calculate(SCORES, labels, num_base=3), expected)
        self.assertEqual(base_new_labels(by_names), ([0, 1, 3], [2, 4]))

    def test_class_without_training_images(self):
        """Label 2 is in the test set but neither base nor new."""
        meta = dict(
            classes=CLASSES + ('f', ),
            base_classes=('a', 'b', 'd'),
            new_classes=('e', 'f'),
            subsample='all')
        msg = (r"BaseNewAccuracy: label\(s\) 2 \('c'\) of "
               r"dataset_meta\['classes'\] are neither base nor new classes "
               r'\(a class without training images\?\)')
        with self.assertRaisesRegex(DataError, msg):
            BaseNewAccuracy().dataset_meta = meta
        labels_meta = dict(
            classes=CLASSES + ('f', ),
            base_labels=(0, 1, 3),
            new_labels=(4, 5),
            subsample='all')
        with self.assertRaisesRegex(DataError, msg):
            BaseNewAccuracy().dataset_meta = labels_meta

    def test_two_labels_share_a_class_name(self):
        meta = dict(
            classes=('a', 'b', 'a', 'd'),
            base_classes=('a', 'b'),
            new_classes=('a', 'd'),
            subsample='all')
        with self.assertRaisesRegex(
                DataError, r"labels 0 \('a'\), 2 \('a'\) share one class "
                'name, so whether they are base or new cannot be told by '
                'name'):
            BaseNewAccuracy().dataset_meta = meta
        # With labels in the metainfo (CLIP's ImageNet names repeat
        # 'missile'), membership is unambiguous.
        meta = dict(meta, base_labels=(0, 1), new_labels=(2, 3))
        labels = torch.tensor([0, 1, 2, 3])
        self.assertEqual(
            self._evaluate(meta, SCORES[:4, :4], labels),
            BaseNewAccuracy.calculate(SCORES[:4, :4], labels, num_base=2))

    def test_inconsistent_metainfo(self):
        cases = [
            (dict(
                classes=CLASSES, base_labels=(0, 1, 2), new_labels=(2, 3, 4)),
             r"label\(s\) 2 \('c'\) are both base and new"),
            (dict(classes=CLASSES, base_labels=(0, 1, 7), new_labels=(3, 4)),
             r'base/new label\(s\) \[7\] .* are not labels'),
            (dict(META_ALL, base_labels=(0, 1, 3), new_labels=(2, 4)),
             r"dataset_meta\['base_labels'\] \(0 \('a'\), 1 \('b'\), 3 "
             r"\('d'\)\) and dataset_meta\['base_classes'\]"),
            (dict(META_ALL, base_classes=('a', 'x')),
             r"base class 'x' is not in dataset_meta\['classes'\]"),
            (dict(base_classes=('a', 'b')), r"has 'base_classes' but no "
             r"'classes'"),
        ]
        for meta, msg in cases:
            with self.assertRaisesRegex(DataError, msg):
                BaseNewAccuracy().dataset_meta = meta

    def test_calculate_arguments(self):
        with self.assertRaisesRegex(ValueError, 'exactly one of'):
            BaseNewAccuracy.calculate(SCORES, LABELS)
        with self.assertRaisesRegex(ValueError, 'exactly one of'):
            BaseNewAccuracy.calculate(SCORES, LABELS, 3, base_labels=[0])
        with self.assertRaisesRegex(ValueError, 'some but not all'):
            BaseNewAccuracy.calculate(SCORES, LABELS, base_labels=range(5))
        with self.assertRaisesRegex(ValueError, r'Labels \[5\] are outside'):
            BaseNewAccuracy.calculate(SCORES, [0, 1, 2, 1, 3, 5], num_base=3)

    def test_harmonic_mean(self):
        self.assertEqual(harmonic_mean(75., 50.), 60.)
        self.assertEqual(harmonic_mean(0., 0.), 0.)
        self.assertEqual(harmonic_mean(0., 50.), 0.)
        self.assertTrue(math.isnan(harmonic_mean(float('nan'), 50.)))
        self.assertEqual(harmonic_mean(np.float32(40.), 40), 40.)

    def test_average_base_new(self):
        seeds = [
            {
                'base/top1': 80.,
                'new/top1': 60.,
                'hm': harmonic_mean(80, 60)
            },
            {
                'base/top1': 70.,
                'new/top1': 70.,
                'hm': 70.
            },
        ]
        res = average_base_new(seeds)
        self.assertEqual(set(res), {'base/top1', 'new/top1', 'hm'})
        self.assertAlmostEqual(res['base/top1'], 75.)
        self.assertAlmostEqual(res['new/top1'], 65.)
        # H of the means (2 * 75 * 65 / 140), not the mean of the Hs
        self.assertAlmostEqual(res['hm'], 2 * 75 * 65 / 140)
        self.assertNotAlmostEqual(res['hm'], (seeds[0]['hm'] + 70.) / 2)

        res = average_base_new([{'b': 1., 'n': 3.}], base_key='b', new_key='n')
        self.assertEqual(res, {'b': 1., 'n': 3., 'hm': 1.5})

        with self.assertRaisesRegex(ValueError, 'at least one seed'):
            average_base_new([])
        with self.assertRaisesRegex(KeyError, 'new/top1'):
            average_base_new([{'base/top1': 1.}])

    def test_doctests(self):
        failed, attempted = doctest.testmod(base_new)
        self.assertGreater(attempted, 0)
        self.assertEqual(failed, 0)
