# Copyright (c) mmprompt contributors. All rights reserved.
import tempfile
from unittest import TestCase

import mmprompt.datasets  # noqa: F401  (registers the datasets)
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import DATASETS


class TestCoOpSynthetic(TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = cls._tmp.name
        make_synthetic_coop_dataset(
            cls.root, num_classes=5, images_per_class=(6, 2, 3))

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_build_and_load(self):
        dataset = DATASETS.build(
            dict(
                type='CoOpSynthetic',
                data_root=self.root,
                split='train',
                num_shots=4,
                subsample='base',
                serialize_data=False,
                pipeline=[dict(type='LoadImageFromFile')]))
        meta = dataset.metainfo
        self.assertEqual(meta['classes'],
                         ('red striped', 'green checkered', 'blue dotted'))
        self.assertEqual(meta['new_classes'],
                         ('yellow diagonal', 'magenta ringed'))
        self.assertEqual(meta['template'], 'a photo of a {}.')
        self.assertEqual(meta['dataset_name'], 'Synthetic')
        self.assertEqual(len(dataset), 3 * 4)
        sample = dataset[0]
        self.assertEqual(sample['img'].shape, (32, 32, 3))
        self.assertIn(sample['gt_label'], (0, 1, 2))

        test = DATASETS.build(
            dict(
                type='CoOpSynthetic',
                data_root=self.root,
                split='test',
                subsample='new'))
        self.assertEqual(len(test), 2 * 3)
        self.assertEqual(sorted(set(test.get_gt_labels())), [0, 1])
