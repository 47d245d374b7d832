# Copyright (c) mmprompt contributors. All rights reserved.
import importlib.util
import json
import os
import os.path as osp
import tempfile
from unittest import TestCase

import numpy as np
from PIL import Image

from mmprompt.offline import (COLOURS, PROCEDURAL_CLASSES, SCALES, STYLES,
                              make_procedural_dataset, render_texture)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPLIT_FILE = 'split_zhou_ProceduralDTD.json'
SMALL = dict(num_train=2, num_val=1, num_test=1, size=32)


def read_tree(root):
    """Relative path -> bytes of every file under ``root``."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def radial_spectrum(image):
    """Log power of a grayscale image per spatial frequency (rotation-free)."""
    gray = image.astype(np.float64) @ [0.299, 0.587, 0.114]
    gray = (gray - gray.mean()) / (gray.std() + 1e-6)
    power = np.abs(np.fft.fft2(gray))**2
    freq = np.fft.fftfreq(gray.shape[0]) * gray.shape[0]
    radius = np.hypot(freq[:, None], freq[None]).astype(int).ravel()
    profile = np.bincount(radius, power.ravel()) / np.bincount(radius)
    return np.log1p(profile[1:gray.shape[0] // 2])


class TestRenderTexture(TestCase):

    def test_classes(self):
        self.assertGreaterEqual(len(PROCEDURAL_CLASSES), 24)
        self.assertEqual(list(PROCEDURAL_CLASSES), sorted(PROCEDURAL_CLASSES))
        self.assertEqual(len(set(PROCEDURAL_CLASSES)), len(PROCEDURAL_CLASSES))
        for name in ('banded', 'chequered', 'polka-dotted', 'honeycombed'):
            self.assertIn(name, PROCEDURAL_CLASSES)
        self.assertEqual(STYLES, ('pretrain', 'downstream'))
        self.assertEqual(SCALES, ('small', 'medium', 'large'))
        self.assertGreaterEqual(len(COLOURS), 12)

    def test_every_class_and_style(self):
        for label, name in enumerate(PROCEDURAL_CLASSES):
            for style in STYLES:
                for size in (64, 32):
                    rng = np.random.default_rng([0, label, size])
                    image, attrs = render_texture(name, rng, size, style)
                    self.assertEqual(image.shape, (size, size, 3))
                    self.assertEqual(image.dtype, np.uint8)
                    # Something is drawn: not a flat image.
                    self.assertGreater(image.std(), 5, (name, style))
                    self.assertEqual(sorted(attrs), ['colours', 'scale'])
                    fg, bg = attrs['colours']
                    self.assertIn(fg, COLOURS)
                    self.assertIn(bg, COLOURS)
                    self.assertNotEqual(fg, bg)
                    self.assertIn(attrs['scale'], SCALES)

    def test_determinism(self):
        for name in ('cracked', 'sprinkled', 'marbled'):
            for style in STYLES:
                a, attrs_a = render_texture(
                    name, np.random.default_rng(7), style=style)
                b, attrs_b = render_texture(
                    name, np.random.default_rng(7), style=style)
                c, _ = render_texture(
                    name, np.random.default_rng(8), style=style)
                np.testing.assert_array_equal(a, b)
                self.assertEqual(attrs_a, attrs_b)
                self.assertFalse(np.array_equal(a, c))
        # Attributes vary over images.
        attrs = [
            render_texture('striped', np.random.default_rng(i), 16)[1]
            for i in range(30)
        ]
        self.assertEqual({a['scale'] for a in attrs}, set(SCALES))
        self.assertGreater(len({a['colours'] for a in attrs}), 10)

    def test_styles_differ(self):
        """Downstream images are blurrier and use no exact palette colour."""
        palette = np.array(list(COLOURS.values()), dtype=np.float64)
        sharpness = {}
        for style in STYLES:
            edges, far = [], []
            for i in range(8):
                image, _ = render_texture('chequered',
                                          np.random.default_rng(i), 64, style)
                image = image.astype(np.float64)
                edges.append(np.abs(np.diff(image, axis=1)).max())
                # Distance of the median colour to the nearest palette one.
                colour = np.median(image.reshape(-1, 3), axis=0)
                far.append(np.linalg.norm(palette - colour, axis=1).min())
            sharpness[style] = np.mean(edges)
            if style == 'downstream':
                self.assertGreater(np.mean(far), 15)
        self.assertGreater(sharpness['pretrain'], sharpness['downstream'] + 30)

    def test_errors(self):
        rng = np.random.default_rng(0)
        with self.assertRaisesRegex(ValueError,
                                    r"'fuzzy'.*'banded'.*'zigzagged'"):
            render_texture('fuzzy', rng)
        with self.assertRaisesRegex(ValueError,
                                    r"'photo'.*'pretrain', 'downstream'"):
            render_texture('banded', rng, style='photo')
        with self.assertRaisesRegex(ValueError, 'size'):
            render_texture('banded', rng, size=4)

    def test_classes_are_distinguishable(self):
        """Radial power spectra differ more across classes than within."""
        for style, min_ratio in (('pretrain', 1.8), ('downstream', 1.4)):
            spectra = np.array([[
                radial_spectrum(
                    render_texture(name, np.random.default_rng([1, label, i]),
                                   64, style)[0]) for i in range(8)
            ] for label, name in enumerate(PROCEDURAL_CLASSES)])
            half_a = spectra[:, :4].mean(1)
            half_b = spectra[:, 4:].mean(1)
            within = np.linalg.norm(half_a - half_b, axis=-1).mean()
            means = spectra.mean(1)
            dists = np.linalg.norm(means[:, None] - means[None], axis=-1)
            between = dists[~np.eye(len(means), dtype=bool)].mean()
            self.assertGreater(between, min_ratio * within, style)


class TestMakeProceduralDataset(TestCase):

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def make(self, name, **kwargs):
        for key, value in SMALL.items():
            kwargs.setdefault(key, value)
        out_dir = osp.join(self.tmp, name)
        return out_dir, make_procedural_dataset(out_dir, **kwargs)

    def test_layout(self):
        out_dir, split = self.make('a')
        num = len(PROCEDURAL_CLASSES)
        with open(osp.join(out_dir, SPLIT_FILE)) as f:
            self.assertEqual(json.load(f), split)
        self.assertEqual([len(split[key]) for key in ('train', 'val', 'test')],
                         [2 * num, num, num])
        self.assertEqual(split['train'][0],
                         ['banded/banded_0.png', 0, 'banded'])
        self.assertEqual(split['val'][0], ['banded/banded_2.png', 0, 'banded'])
        label = PROCEDURAL_CLASSES.index('polka-dotted')
        self.assertIn(
            ['polka_dotted/polka_dotted_3.png', label, 'polka-dotted'],
            split['test'])
        self.assertEqual(
            sorted(os.listdir(osp.join(out_dir, 'images'))),
            sorted(name.replace('-', '_') for name in PROCEDURAL_CLASSES))
        for key in ('train', 'val', 'test'):
            self.assertEqual([item[1] for item in split[key]],
                             sorted(item[1] for item in split[key]))
            for rel_path, label, name in split[key]:
                self.assertEqual(name, PROCEDURAL_CLASSES[label])
                with Image.open(osp.join(out_dir, 'images',
                                         rel_path)) as image:
                    self.assertEqual((image.size, image.mode),
                                     ((32, 32), 'RGB'))

    def test_determinism(self):
        dir_a, split_a = self.make('a', seed=3)
        dir_b, split_b = self.make('b', seed=3)
        self.assertEqual(split_a, split_b)
        tree_a, tree_b = read_tree(dir_a), read_tree(dir_b)
        self.assertEqual(tree_a, tree_b)
        dir_c, _ = self.make('c', seed=4)
        tree_c = read_tree(dir_c)
        path = osp.join('images', 'banded', 'banded_0.png')
        self.assertNotEqual(tree_a[path], tree_c[path])
        # A test image does not change when the train/val counts do.
        dir_d, split_d = self.make('d', seed=3, num_train=3, num_val=0)
        test_a, test_d = split_a['test'][0][0], split_d['test'][0][0]
        self.assertEqual(test_d, 'banded/banded_3.png')
        self.assertEqual(tree_a[osp.join('images', test_a)],
                         read_tree(dir_d)[osp.join('images', test_d)])

    def test_overwrite(self):
        out_dir, _ = self.make('a')
        with open(osp.join(out_dir, 'notes.txt'), 'w') as f:
            f.write('keep me')
        with self.assertRaisesRegex(FileExistsError,
                                    f"'{out_dir}' is not empty.*overwrite"):
            self.make('a')
        _, split = self.make('a', num_train=1, num_test=0, overwrite=True)
        self.assertEqual(len(split['train']), len(PROCEDURAL_CLASSES))
        self.assertEqual(split['test'], [])
        self.assertEqual(
            len(os.listdir(osp.join(out_dir, 'images', 'banded'))), 2)
        self.assertTrue(osp.exists(osp.join(out_dir, 'notes.txt')))

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, 'num_train'):
            self.make('a', num_train=0)
        with self.assertRaisesRegex(ValueError, 'num_val'):
            self.make('b', num_val=-1)
        with self.assertRaisesRegex(ValueError, "'photo'"):
            self.make('c', style='photo')
        with self.assertRaisesRegex(ValueError, 'seed'):
            self.make('d', seed=-1)

    def test_cli(self):
        path = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                        'make_procedural_dtd.py')
        spec = importlib.util.spec_from_file_location('make_procedural', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out_dir = osp.join(self.tmp, 'cli')
        module.main([
            out_dir, '--num-train', '1', '--num-val', '0', '--num-test', '1',
            '--size', '16', '--seed', '5', '--style', 'pretrain'
        ])
        self.make(
            'ref',
            num_train=1,
            num_val=0,
            num_test=1,
            size=16,
            seed=5,
            style='pretrain')
        self.assertEqual(
            read_tree(out_dir), read_tree(osp.join(self.tmp, 'ref')))
