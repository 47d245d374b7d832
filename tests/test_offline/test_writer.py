# Copyright (c) mmprompt contributors. All rights reserved.
import ast
import json
import os
import os.path as osp
import tempfile
from unittest import TestCase
from unittest.mock import patch

import numpy as np
from PIL import Image

import mmprompt.offline
from mmprompt.offline import (make_synthetic_coop_dataset, write_coop_dataset,
                              write_dataset_atomically)

PACKAGE = osp.dirname(mmprompt.offline.__file__)


class TestWriteDatasetAtomically(TestCase):
    """Generated datasets appear complete or not at all."""

    SPLIT_FILE = 'split.json'

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.out = osp.join(self.tmp, 'data', 'ds')

    def tearDown(self):
        self._tmp.cleanup()

    def writer(self, tag, on_write=None):

        def write(split_path, image_root):
            os.makedirs(osp.join(image_root, 'a'))
            with open(osp.join(image_root, 'a', 'x.png'), 'w') as f:
                f.write(tag)
            if on_write is not None:
                on_write()
            with open(split_path, 'w') as f:
                f.write(tag)
            return tag

        return write

    def read(self, *parts):
        with open(osp.join(self.out, *parts)) as f:
            return f.read()

    def test_writes_through_a_temporary_folder(self):
        seen = []

        def on_write():
            # While writing, the target does not exist yet.
            seen.append(osp.exists(self.out))
            seen.append(sorted(os.listdir(osp.dirname(self.out))))

        result = write_dataset_atomically(self.out, self.SPLIT_FILE,
                                          self.writer('A', on_write))
        self.assertEqual(result, 'A')
        self.assertFalse(seen[0])
        self.assertEqual(len(seen[1]), 1)
        self.assertRegex(seen[1][0], r'^\.ds\.tmp-\d+-[0-9a-f]{8}$')
        self.assertEqual(self.read(self.SPLIT_FILE), 'A')
        self.assertEqual(self.read('images', 'a', 'x.png'), 'A')
        self.assertEqual(os.listdir(osp.dirname(self.out)), ['ds'])
        # The umask's permissions, not mkdtemp's 0o700.
        umask = os.umask(0)
        os.umask(umask)
        self.assertEqual(os.stat(self.out).st_mode & 0o777, 0o777 & ~umask)

    def test_interrupted_write_leaves_nothing(self):

        def crash():
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            write_dataset_atomically(self.out, self.SPLIT_FILE,
                                     self.writer('A', crash))
        self.assertFalse(osp.exists(self.out))
        self.assertEqual(os.listdir(osp.dirname(self.out)), [])
        # A process killed outright leaves its temporary folder; the next
        # run does not mind it.
        os.makedirs(osp.join(osp.dirname(self.out), '.ds.tmp-1-deadbeef'))
        write_dataset_atomically(self.out, self.SPLIT_FILE, self.writer('B'))
        self.assertEqual(self.read(self.SPLIT_FILE), 'B')

    def test_concurrent_writers(self):
        """The first rename wins; the loser discards its copy."""

        def other_process_finishes_first():
            write_dataset_atomically(self.out, self.SPLIT_FILE,
                                     self.writer('winner'))

        with self.assertRaisesRegex(FileExistsError, 'is not empty'):
            write_dataset_atomically(
                self.out, self.SPLIT_FILE,
                self.writer('loser', other_process_finishes_first))
        self.assertEqual(self.read(self.SPLIT_FILE), 'winner')
        self.assertEqual(self.read('images', 'a', 'x.png'), 'winner')
        self.assertEqual(os.listdir(osp.dirname(self.out)), ['ds'])

    def test_existing_folders(self):
        os.makedirs(self.out)  # an empty folder is replaced
        write_dataset_atomically(self.out, self.SPLIT_FILE, self.writer('A'))
        self.assertEqual(self.read(self.SPLIT_FILE), 'A')
        with open(osp.join(self.out, 'notes.txt'), 'w') as f:
            f.write('keep')
        with self.assertRaisesRegex(FileExistsError,
                                    f"'{self.out}' is not empty.*overwrite"):
            write_dataset_atomically(self.out, self.SPLIT_FILE,
                                     self.writer('B'))
        write_dataset_atomically(
            self.out, self.SPLIT_FILE, self.writer('B'), overwrite=True)
        self.assertEqual(self.read(self.SPLIT_FILE), 'B')
        self.assertEqual(self.read('images', 'a', 'x.png'), 'B')
        self.assertEqual(self.read('notes.txt'), 'keep')
        self.assertEqual(sorted(os.listdir(osp.dirname(self.out))), ['ds'])

    def test_synthetic_generator_interrupted(self):
        """An interrupted generator leaves no folder the next run refuses."""
        saves = []

        def save(path):
            saves.append(path)
            if len(saves) == 3:
                raise KeyboardInterrupt

        with patch('mmprompt.offline.writer.Image.fromarray') as array:
            array.return_value.save.side_effect = save
            with self.assertRaises(KeyboardInterrupt):
                make_synthetic_coop_dataset(
                    self.out, num_classes=2, images_per_class=(2, 1, 1))
        self.assertFalse(osp.exists(self.out))
        split = make_synthetic_coop_dataset(
            self.out, num_classes=2, images_per_class=(2, 1, 1))
        self.assertEqual(len(split['train']), 4)
        self.assertEqual(os.listdir(osp.dirname(self.out)), ['ds'])


class TestWriteCoOpDataset(TestCase):
    """The one writer of both generators: images, split, atomically."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.out = osp.join(self._tmp.name, 'ds')

    def tearDown(self):
        self._tmp.cleanup()

    def test_layout_and_split_format(self):
        drawn = []

        def samples():
            for key, label, name in (('test', 1, 'b x'), ('train', 0, 'a'),
                                     ('train', 1, 'b x')):
                drawn.append(key)
                image = np.full((4, 6, 3), 10 * len(drawn), np.uint8)
                yield (key, f'{name}/{len(drawn)}.png', label, name, image)

        split = write_coop_dataset(self.out, 'split.json', samples())
        self.assertEqual(
            split, {
                'train': [['a/2.png', 0, 'a'], ['b x/3.png', 1, 'b x']],
                'val': [],
                'test': [['b x/1.png', 1, 'b x']]
            })
        with open(osp.join(self.out, 'split.json')) as f:
            text = f.read()
        # CoOp's formatting: indent 4, the splits in CoOp's order.
        self.assertEqual(text, json.dumps(split, indent=4))
        self.assertLess(text.index('"train"'), text.index('"test"'))
        self.assertEqual(
            sorted(os.listdir(osp.join(self.out, 'images'))), ['a', 'b x'])
        with Image.open(osp.join(self.out, 'images', 'b x', '3.png')) as im:
            self.assertEqual((im.size, im.mode), ((6, 4), 'RGB'))
            self.assertEqual(im.getpixel((0, 0)), (30, 30, 30))

    def test_refused_folder_draws_nothing(self):
        os.makedirs(self.out)
        with open(osp.join(self.out, 'notes.txt'), 'w') as f:
            f.write('keep')
        drawn = []

        def samples():
            drawn.append(1)
            yield from ()

        with self.assertRaisesRegex(FileExistsError, 'is not empty'):
            write_coop_dataset(self.out, 'split.json', samples())
        self.assertEqual(drawn, [])
        self.assertEqual(os.listdir(self.out), ['notes.txt'])


class TestOfflinePackage(TestCase):
    """The offline world stands apart from the datasets that read it."""

    def test_imports_no_dataset_or_model(self):
        for name in sorted(os.listdir(PACKAGE)):
            if not name.endswith('.py'):
                continue
            with open(osp.join(PACKAGE, name)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    # Relative imports stay inside mmprompt.offline.
                    self.assertEqual(node.level, 1, name)
                    continue
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    if module.split('.')[0] == 'mmprompt':
                        self.assertIn(module, ('mmprompt.errors', ),
                                      f'{name} imports {module}')
