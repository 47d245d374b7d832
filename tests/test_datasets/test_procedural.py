# Copyright (c) mmprompt contributors. All rights reserved.
import math
import os
import os.path as osp
import tempfile
import threading
from unittest import TestCase
from unittest.mock import patch

import mmprompt.datasets  # noqa: F401  (registers the datasets)
from mmprompt.datasets import CoOpDTD, CoOpProceduralDTD
from mmprompt.errors import PathNotFoundError
from mmprompt.offline import (PROCEDURAL_CLASSES, ensure_procedural_dataset,
                              generator_command, make_procedural_dataset,
                              procedural)
from mmprompt.registry import DATASETS

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


class TestCoOpProceduralDTD(TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = cls._tmp.name
        make_procedural_dataset(cls.root, **SMALL)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_build(self):
        num_base = math.ceil(len(PROCEDURAL_CLASSES) / 2)
        dataset = DATASETS.build(
            dict(
                type='CoOpProceduralDTD',
                data_root=self.root,
                split='train',
                subsample='base',
                pipeline=[dict(type='LoadImageFromFile')]))
        meta = dataset.metainfo
        self.assertEqual(meta['classes'], PROCEDURAL_CLASSES[:num_base])
        self.assertEqual(meta['new_classes'], PROCEDURAL_CLASSES[num_base:])
        self.assertEqual(meta['template'], '{} texture.')
        self.assertEqual(meta['dataset_name'], 'ProceduralDTD')
        self.assertEqual(len(dataset), 2 * num_base)
        self.assertEqual(dataset[0]['img'].shape, (32, 32, 3))

        test = DATASETS.build(
            dict(
                type='CoOpProceduralDTD',
                data_root=self.root,
                split='test',
                subsample='new'))
        self.assertEqual(
            sorted(set(test.get_gt_labels())),
            list(range(len(PROCEDURAL_CLASSES) - num_base)))


TINY = dict(num_train=1, num_val=1, num_test=1, size=16, seed=0)


class TestWritesOnFirstUse(TestCase):
    """The procedural configs run without a prepared data root."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.root = osp.join(self.tmp, 'data', 'procdtd')
        # The generator's defaults take ~15 s; the same code path, tiny.
        self._patch = patch.dict(procedural.FIRST_USE_ARGS, TINY)
        self._patch.start()

    def tearDown(self):
        self._patch.stop()
        self._tmp.cleanup()

    def build(self, **kwargs):
        return DATASETS.build(
            dict(
                type='CoOpProceduralDTD',
                data_root=self.root,
                serialize_data=False,
                **kwargs))

    def test_flag(self):
        self.assertTrue(CoOpProceduralDTD.WRITES_ON_FIRST_USE)
        self.assertFalse(CoOpDTD.WRITES_ON_FIRST_USE)
        self.assertEqual(procedural.FIRST_USE_ARGS, TINY)
        self._patch.stop()
        # Unpatched, first use writes what the generator's defaults write.
        self.assertEqual(
            procedural.FIRST_USE_ARGS,
            dict(num_train=32, num_val=8, num_test=40, size=64, seed=0))
        self.assertEqual(
            generator_command('data/procdtd', **procedural.FIRST_USE_ARGS),
            'python tools/dataset_converters/make_procedural_dtd.py '
            'data/procdtd')
        self._patch.start()

    def test_missing_root_is_written(self):
        with patch('mmprompt.offline.procedural.print_log') as log:
            dataset = self.build(split='test')
        self.assertEqual(len(dataset), len(PROCEDURAL_CLASSES))
        messages = [call.args[0] for call in log.call_args_list]
        self.assertEqual(
            messages[0],
            f"CoOpProceduralDTD: data_root '{self.root}' does not exist; "
            'writing the procedural mini-DTD there (first use; '
            'deterministic, the same files as `python '
            f'tools/dataset_converters/make_procedural_dtd.py {self.root} '
            '--num-train 1 --num-val 1 --num-test 1 --size 16`).')
        self.assertRegex(
            messages[1], f"wrote '{self.root}' \\(29 train / 29 val / 29 "
            r'test images\) in [\d.]+ s\.')
        # The same bytes as the generator; no temporary folder is left.
        reference = osp.join(self.tmp, 'reference')
        make_procedural_dataset(reference, **TINY)
        self.assertEqual(read_tree(self.root), read_tree(reference))
        self.assertEqual(
            sorted(os.listdir(osp.dirname(self.root))), ['procdtd'])
        # Written once: the next datasets read it.
        with patch(
                'mmprompt.offline.procedural.make_procedural_dataset') as make:
            self.assertEqual(len(self.build(split='train')), 29)
        make.assert_not_called()

    def test_never_writes_into_an_existing_folder(self):
        message = (
            f"CoOpProceduralDTD: data_root '{self.root}' exists but has no "
            "'split_zhou_ProceduralDTD.json'.*never into an existing one. "
            f'Remove the folder to have the next run write it \\(rm -r '
            f'{self.root}\\), or write it with `python '
            f'tools/dataset_converters/make_procedural_dtd.py {self.root} '
            '--overwrite`')
        # An empty folder, and what an interrupted old-style write left.
        os.makedirs(osp.join(self.root, 'images', 'banded'))
        before = read_tree(self.root)
        for call in (self.build, lambda: ensure_procedural_dataset(self.root)):
            with self.assertRaisesRegex(PathNotFoundError, message):
                call()
        self.assertEqual(read_tree(self.root), before)
        self.assertEqual(os.listdir(osp.join(self.root, 'images')), ['banded'])

    def test_interrupted_write_is_redone(self):
        real = procedural.render_texture
        calls = []

        def render(*args, **kwargs):
            calls.append(1)
            if len(calls) == 10:
                raise KeyboardInterrupt  # Ctrl-C in the middle
            return real(*args, **kwargs)

        with patch('mmprompt.offline.procedural.render_texture', render):
            with self.assertRaises(KeyboardInterrupt):
                self.build()
        self.assertFalse(osp.exists(self.root))
        self.assertEqual(os.listdir(osp.dirname(self.root)), [])
        self.assertEqual(len(self.build()), 29)

    def test_concurrent_ranks(self):
        """The rank that loses the rename uses the winner's copy."""
        real = procedural.make_procedural_dataset

        def other_rank_wins(out_dir, **kwargs):
            real(out_dir, **kwargs)  # the other rank renames first
            return real(out_dir, **kwargs)

        with patch('mmprompt.offline.procedural.make_procedural_dataset',
                   other_rank_wins), \
                patch('mmprompt.offline.procedural.print_log') as log:
            self.assertFalse(ensure_procedural_dataset(self.root))
        self.assertIn('another process wrote', log.call_args_list[-1].args[0])
        self.assertEqual(len(self.build(split='val')), 29)
        # Real threads racing: both end with one complete dataset.
        root = osp.join(self.tmp, 'race')
        errors = []

        def rank():
            try:
                ensure_procedural_dataset(root)
            except Exception as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=rank) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        reference = osp.join(self.tmp, 'reference')
        make_procedural_dataset(reference, **TINY)
        self.assertEqual(read_tree(root), read_tree(reference))
        self.assertFalse(
            [name for name in os.listdir(self.tmp) if '.tmp-' in name])


class TestDatasetsHoldNoGenerators(TestCase):
    """Configs name the datasets; the generators live in mmprompt.offline."""

    def test_not_exported(self):
        for name in ('render_texture', 'make_procedural_dataset',
                     'ensure_procedural_dataset', 'generator_command',
                     'make_synthetic_coop_dataset', 'write_dataset_atomically',
                     'write_split', 'PROCEDURAL_CLASSES', 'STYLES', 'COLOURS',
                     'SCALES', 'get_templates', 'COOP_TEMPLATES'):
            self.assertFalse(hasattr(mmprompt.datasets, name), name)
            self.assertNotIn(name, mmprompt.datasets.__all__)
        for name in ('write_split', 'write_dataset_atomically', '_move_into'):
            self.assertFalse(hasattr(mmprompt.datasets.coop_base, name), name)
        # The registered names configs use are unchanged.
        for name in ('CoOpProceduralDTD', 'CoOpSynthetic'):
            self.assertIs(DATASETS.get(name), getattr(mmprompt.datasets, name))
