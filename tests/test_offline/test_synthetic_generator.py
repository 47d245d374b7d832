# Copyright (c) mmprompt contributors. All rights reserved.
import importlib.util
import json
import os
import os.path as osp
import tempfile
import time
from unittest import TestCase

import numpy as np
from PIL import Image

from mmprompt.offline import make_synthetic_coop_dataset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPLIT_FILE = 'split_zhou_Synthetic.json'


def read_tree(root):
    """Relative path -> bytes of every file under ``root``."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


class TestMakeSyntheticDataset(TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def make(self, name, **kwargs):
        kwargs.setdefault('num_classes', 4)
        kwargs.setdefault('images_per_class', (5, 2, 3))
        out_dir = osp.join(self.tmp, name)
        return out_dir, make_synthetic_coop_dataset(out_dir, **kwargs)

    def test_layout(self):
        out_dir, split = self.make('a', image_size=16)
        with open(osp.join(out_dir, SPLIT_FILE)) as f:
            self.assertEqual(json.load(f), split)
        self.assertEqual([len(split[key]) for key in ('train', 'val', 'test')],
                         [20, 8, 12])
        self.assertEqual(split['train'][0],
                         ['red_striped/red_striped_0.png', 0, 'red striped'])
        self.assertEqual(split['val'][0][0], 'red_striped/red_striped_5.png')
        self.assertEqual(split['test'][-1][1:], [3, 'yellow diagonal'])
        folders = sorted(os.listdir(osp.join(out_dir, 'images')))
        self.assertEqual(folders, [
            'blue_dotted', 'green_checkered', 'red_striped', 'yellow_diagonal'
        ])
        for key in ('train', 'val', 'test'):
            for rel_path, label, name in split[key]:
                folder = name.replace(' ', '_')
                self.assertTrue(rel_path.startswith(f'{folder}/{folder}_'))
                with Image.open(osp.join(out_dir, 'images',
                                         rel_path)) as image:
                    self.assertEqual((image.size, image.mode),
                                     ((16, 16), 'RGB'))
        names = {name for _, _, name in split['train']}
        self.assertEqual(len(names), 4)

    def test_determinism(self):
        dir_a, split_a = self.make('a', seed=3)
        dir_b, split_b = self.make('b', seed=3)
        self.assertEqual(split_a, split_b)
        self.assertEqual(read_tree(dir_a), read_tree(dir_b))
        dir_c, _ = self.make('c', seed=4)
        self.assertNotEqual(read_tree(dir_a), read_tree(dir_c))

    def test_classes_are_distinct(self):
        """Class mean colours differ far more than images within a class."""
        out_dir, split = self.make('a', num_classes=10)
        means = np.zeros((10, 3))
        for rel_path, label, _ in split['train']:
            with Image.open(osp.join(out_dir, 'images', rel_path)) as im:
                image = np.asarray(im, np.float64)
            means[label] += image.reshape(-1, 3).mean(0) / 5
        dists = np.linalg.norm(means[:, None] - means[None], axis=-1)
        self.assertGreater(dists[~np.eye(10, dtype=bool)].min(), 5)

    def test_class_names_and_many_classes(self):
        out_dir, split = self.make(
            'a', num_classes=2, class_names=['cat face', 'dog'])
        self.assertEqual(split['train'][0][0], 'cat_face/cat_face_0.png')
        self.assertEqual(split['test'][-1][2], 'dog')
        _, split = self.make('b', num_classes=60, images_per_class=(1, 0, 0))
        self.assertEqual(len({name for _, _, name in split['train']}), 60)
        with self.assertRaisesRegex(ValueError, 'unique'):
            self.make('c', num_classes=2, class_names=['a', 'a'])
        with self.assertRaisesRegex(ValueError, 'images_per_class'):
            self.make('d', images_per_class=(0, 1, 1))

    def test_overwrite(self):
        out_dir, _ = self.make('a')
        with self.assertRaisesRegex(FileExistsError,
                                    f"'{out_dir}' is not empty.*overwrite"):
            self.make('a')
        _, split = self.make('a', num_classes=2, overwrite=True)
        self.assertEqual(len(os.listdir(osp.join(out_dir, 'images'))), 2)
        self.assertEqual(len(split['train']), 10)

    def test_speed(self):
        start = time.perf_counter()
        self.make('a', num_classes=10, images_per_class=(20, 4, 10))
        self.assertLess(time.perf_counter() - start, 2.0)

    def test_cli(self):
        path = osp.join(REPO_ROOT, 'tools', 'misc',
                        'make_synthetic_dataset.py')
        spec = importlib.util.spec_from_file_location('make_synthetic', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out_dir = osp.join(self.tmp, 'cli')
        module.main([
            out_dir, '--num-classes', '3', '--images-per-class', '4', '1', '2',
            '--seed', '5'
        ])
        _, split = self.make(
            'ref', num_classes=3, images_per_class=(4, 1, 2), seed=5)
        self.assertEqual(
            read_tree(out_dir), read_tree(osp.join(self.tmp, 'ref')))
