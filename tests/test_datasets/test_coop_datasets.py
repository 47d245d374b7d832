# Copyright (c) mmprompt contributors. All rights reserved.
import json
import math
import os
import os.path as osp
import random
import tempfile
from collections import defaultdict
from unittest import TestCase
from unittest.mock import patch

import mmprompt.datasets  # noqa: F401  (registers the datasets)
from mmprompt.datasets import (CoOpDataset, relabel_items, sample_few_shot,
                               select_classes, split_base_new)
from mmprompt.errors import ConfigError, DataError
from mmprompt.registry import DATASETS
from mmprompt.templates import get_templates

NUM_DTD_CLASSES = 47


# ---------------------------------------------------------------------------
# Reference implementations of CoOp/Dassl on the *global* RNG, written from
# Dassl's ``DatasetBase.generate_fewshot_dataset`` and CoOp's
# ``OxfordPets.subsample_classes``.
# ---------------------------------------------------------------------------
def dassl_fewshot(data_source, num_shots):
    if num_shots < 1:
        return data_source
    tracker = defaultdict(list)
    for item in data_source:
        tracker[item[1]].append(item)
    dataset = []
    for _, items in tracker.items():
        if len(items) >= num_shots:
            dataset.extend(random.sample(items, num_shots))
        else:
            dataset.extend(items)
    return dataset


def coop_draw(train, val, num_shots, seed):
    """CoOp's main(): set_random_seed(seed), then the dataset's draws."""
    random.seed(seed)
    train = dassl_fewshot(train, num_shots)
    val = dassl_fewshot(val, min(num_shots, 4))
    return train, val


def coop_subsample(*args, subsample='all'):
    if subsample == 'all':
        return args
    labels = sorted({item[1] for item in args[0]})
    m = math.ceil(len(labels) / 2)
    selected = labels[:m] if subsample == 'base' else labels[m:]
    relabeler = {y: y_new for y_new, y in enumerate(selected)}
    return [[(item[0], relabeler[item[1]], item[2]) for item in data
             if item[1] in selected] for data in args]


def make_items(counts, prefix='x', shuffle_seed=None):
    """Items ``(path, label, classname)`` with ``counts[label]`` per label."""
    items = [(f'c{label}/{prefix}{i}.jpg', label, f'c{label}')
             for label, n in enumerate(counts) for i in range(n)]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(items)
    return items


def write_fake_coop_dataset(root, counts, split_file, image_dir='images'):
    """Write a CoOp split file and empty image files; return the split."""
    split = {}
    for key, per_class in zip(('train', 'val', 'test'), counts):
        split[key] = []
        for label, n in enumerate(per_class):
            name = f'class_{label:02d}'
            for i in range(n):
                split[key].append(
                    [f'{name}/{name}_{key}_{i}.jpg', label, name])
    for entries in split.values():
        for rel_path, _, _ in entries:
            path = osp.join(root, image_dir, rel_path)
            os.makedirs(osp.dirname(path), exist_ok=True)
            open(path, 'wb').close()
    with open(osp.join(root, split_file), 'w') as f:
        json.dump(split, f)
    return split


def listing(root):
    """Every path under ``root`` with its size and modification time."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = osp.join(dirpath, name)
            stat = os.stat(path)
            out.append((path, stat.st_size, stat.st_mtime_ns))
    return sorted(out)


class TestSampleFewShot(TestCase):

    def setUp(self):
        # Uneven classes in shuffled order: groups follow first appearance.
        counts = [16 + (label * 7) % 11 for label in range(12)]
        self.train = make_items(counts, 'tr', shuffle_seed=0)
        self.val = make_items([2 + label % 6 for label in range(12)],
                              'va',
                              shuffle_seed=1)

    def test_equals_coop_draw_on_global_rng(self):
        state = random.getstate()
        try:
            for num_shots in (1, 2, 4, 8, 16):
                for seed in (1, 2, 3):
                    expected = coop_draw(self.train, self.val, num_shots, seed)
                    got = sample_few_shot(self.train, self.val, num_shots,
                                          seed)
                    self.assertEqual(got, expected, (num_shots, seed))
        finally:
            random.setstate(state)

    def test_global_rng_untouched(self):
        random.seed(1234)
        state = random.getstate()
        sample_few_shot(self.train, self.val, 4, seed=7)
        self.assertEqual(random.getstate(), state)

    def test_counts_and_order(self):
        train, val = sample_few_shot(self.train, self.val, 8, seed=1)
        first_seen = list(dict.fromkeys(item[1] for item in self.train))
        self.assertEqual(
            list(dict.fromkeys(item[1] for item in train)), first_seen)
        per_label = defaultdict(int)
        for item in train:
            per_label[item[1]] += 1
        self.assertEqual(set(per_label.values()), {8})
        self.assertEqual(len(set(train)), len(train))
        # Val keeps CoOp's min(K, 4), or all images of a smaller class.
        for label in range(12):
            n_val = sum(item[1] == label for item in self.val)
            got = sum(item[1] == label for item in val)
            self.assertEqual(got, min(n_val, 4))

    def test_determinism_and_seeds(self):
        first = sample_few_shot(self.train, self.val, 4, seed=1)
        self.assertEqual(
            sample_few_shot(self.train, self.val, 4, seed=1), first)
        self.assertNotEqual(
            sample_few_shot(self.train, self.val, 4, seed=2)[0], first[0])

    def test_all_images(self):
        for num_shots in (None, -1):
            train, val = sample_few_shot(self.train, self.val, num_shots, 1)
            self.assertEqual(train, self.train)
            self.assertEqual(val, self.val)
        train, val = sample_few_shot(self.train, None, 2, seed=1)
        self.assertIsNone(val)
        # Without val (CoOp's ImageNet) the train draw is the same.
        self.assertEqual(train, sample_few_shot(self.train, self.val, 2, 1)[0])

    def test_zero_and_negative_shots_are_errors(self):
        # 0 and -2 used to mean "all images" silently; -1 / None say it.
        for num_shots in (0, -2, -16):
            with self.assertRaisesRegex(
                    ConfigError, f'num_shots={num_shots} is not a number of '
                    r'images per class.*positive.*-1 \(or None\) to keep '
                    'every image'):
                sample_few_shot(self.train, self.val, num_shots, 1)

    def test_too_many_shots(self):
        train = make_items([20, 3, 20])
        with self.assertRaisesRegex(
                ValueError, r"num_shots=16.*'c1' \(label 1\): 3 images.*"
                r'Lower num_shots to at most 3'):
            sample_few_shot(train, None, 16, seed=1)
        # A small val class is fine (CoOp takes all its images).
        _, val = sample_few_shot(train, make_items([1, 1, 1]), 2, seed=1)
        self.assertEqual(len(val), 3)


class TestSelectClasses(TestCase):

    def test_dtd_base_new(self):
        labels = list(range(NUM_DTD_CLASSES)) * 2
        base, new = split_base_new(labels)
        self.assertEqual((len(base), len(new)), (24, 23))
        self.assertEqual(
            select_classes(labels, 'base'), {y: y
                                             for y in range(24)})
        self.assertEqual(
            select_classes(labels, 'new'), {y: y - 24
                                            for y in range(24, 47)})
        self.assertEqual(
            select_classes(labels, 'all'), {y: y
                                            for y in range(47)})

    def test_imagenet_sized(self):
        base, new = split_base_new(reversed(range(1000)))
        self.assertEqual(base, list(range(500)))
        self.assertEqual(new, list(range(500, 1000)))
        mapping = select_classes(range(1000), 'new')
        self.assertEqual(mapping[500], 0)
        self.assertEqual(mapping[999], 499)

    def test_matches_coop_and_relabels(self):
        items = make_items([3, 2, 4, 1, 2], shuffle_seed=3)
        test = make_items([1, 1, 1, 1, 1], 'te')
        for subsample in ('all', 'base', 'new'):
            mapping = select_classes((i[1] for i in items), subsample)
            got = [relabel_items(items, mapping), relabel_items(test, mapping)]
            expected = coop_subsample(items, test, subsample=subsample)
            self.assertEqual(got, [list(x) for x in expected], subsample)

    def test_bad_subsample(self):
        with self.assertRaisesRegex(ValueError, "subsample.*'novel'"):
            select_classes([0, 1], 'novel')


class TestCoOpDTD(TestCase):
    """CoOpDTD on a fake DTD tree with empty image files."""

    # mmengine's serialisation runs gc.collect() (~0.3 s a build); off here.
    DEFAULT_ARGS = dict(type='CoOpDTD', split='train', serialize_data=False)

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = cls._tmp.name
        n = NUM_DTD_CLASSES
        cls.counts = ([16 + label % 4 for label in range(n)],
                      [3 + label % 4 for label in range(n)], [2] * n)
        cls.split = write_fake_coop_dataset(
            cls.root, cls.counts, 'split_zhou_DescribableTextures.json')

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def build(self, **kwargs):
        cfg = dict(self.DEFAULT_ARGS, data_root=self.root)
        cfg.update(kwargs)
        return DATASETS.build(cfg)

    def test_metainfo(self):
        names = tuple(f'class_{label:02d}' for label in range(47))
        for subsample, classes in (('all', names), ('base', names[:24]),
                                   ('new', names[24:])):
            dataset = self.build(subsample=subsample, num_shots=2)
            meta = dataset.metainfo
            self.assertEqual(meta['classes'], classes)
            self.assertEqual(meta['base_classes'], names[:24])
            self.assertEqual(meta['new_classes'], names[24:])
            self.assertEqual(meta['base_labels'], tuple(range(24)))
            self.assertEqual(meta['new_labels'], tuple(range(24, 47)))
            self.assertEqual(meta['subsample'], subsample)
            self.assertEqual(meta['template'], '{} texture.')
            self.assertEqual(meta['dataset_name'], 'DescribableTextures')
            self.assertEqual(
                get_templates(meta['dataset_name']), ['{} texture.'])

    def test_data_infos(self):
        dataset = self.build(split='test', serialize_data=True)
        self.assertEqual(len(dataset), 47 * 2)
        info = dataset.get_data_info(3)
        rel_path, label, _ = self.split['test'][3]
        self.assertEqual(info['img_path'],
                         osp.join(self.root, 'images', rel_path))
        self.assertEqual(info['gt_label'], label)
        self.assertEqual(info['sample_idx'], 3)
        self.assertTrue(dataset.test_mode)
        self.assertFalse(self.build().test_mode)
        self.assertEqual(len(self.build()), sum(self.counts[0]))

    def test_few_shot_equals_coop(self):
        """The whole pipeline against CoOp's, image by image."""
        tuples = {
            key: [tuple(e) for e in entries]
            for key, entries in self.split.items()
        }
        state = random.getstate()
        try:
            for num_shots, seed, subsample in ((16, 1, 'base'), (4, 2, 'new'),
                                               (1, 3, 'all')):
                train, val = coop_draw(tuples['train'], tuples['val'],
                                       num_shots, seed)
                expected = dict(
                    zip(('train', 'val', 'test'),
                        coop_subsample(
                            train, val, tuples['test'], subsample=subsample)))
                for split in ('train', 'val', 'test'):
                    dataset = self.build(
                        split=split,
                        num_shots=num_shots,
                        seed=seed,
                        subsample=subsample)
                    got = [(osp.relpath(d['img_path'],
                                        osp.join(self.root,
                                                 'images')), d['gt_label'])
                           for d in dataset.load_data_list()]
                    self.assertEqual(got,
                                     [(e[0], e[1]) for e in expected[split]],
                                     (num_shots, seed, subsample, split))
        finally:
            random.setstate(state)

    def test_shot_counts(self):
        dataset = self.build(num_shots=16, subsample='base')
        self.assertEqual(len(dataset), 24 * 16)
        self.assertEqual(sorted(set(dataset.get_gt_labels())), list(range(24)))
        val = self.build(split='val', num_shots=16, subsample='new')
        # min(K, 4) val shots, or all images of a class with only 3.
        self.assertEqual(len(val), sum(min(n, 4) for n in self.counts[1][24:]))
        self.assertEqual(sorted(set(val.get_gt_labels())), list(range(23)))
        test = self.build(split='test', num_shots=16, subsample='new')
        self.assertEqual(len(test), 23 * 2)  # the test split is not sampled

    def test_seeds(self):
        first = self.build(num_shots=2, seed=1).load_data_list()
        self.assertEqual(
            self.build(num_shots=2, seed=1).load_data_list(), first)
        self.assertNotEqual(
            self.build(num_shots=2, seed=2).load_data_list(), first)

    def test_too_many_shots(self):
        with self.assertRaisesRegex(
                ValueError, r"num_shots=17.*'class_00' \(label 0\): 16 "
                r'images.*Lower num_shots to at most 16'):
            self.build(num_shots=17)

    def test_lazy_init_and_repr(self):
        dataset = self.build(num_shots=4, subsample='base', lazy_init=True)
        self.assertFalse(dataset._fully_initialized)
        self.assertEqual(len(dataset.metainfo['classes']), 24)
        self.assertEqual(len(dataset), 24 * 4)
        text = repr(dataset)
        for part in ('CoOpDTD', 'Number of samples: \t96',
                     'Number of categories: \t24', 'Shots per class: \t4',
                     'Seed: \t1', 'Subsample classes: \tbase (24 of 47'):
            self.assertIn(part, text)

    def test_writes_nothing(self):
        before = listing(self.root)
        for split in ('train', 'val', 'test'):
            for subsample in ('all', 'base', 'new'):
                dataset = self.build(
                    split=split, num_shots=8, seed=3, subsample=subsample)
                dataset.get_data_info(0)
        self.assertEqual(listing(self.root), before)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "split.*'trainval'"):
            self.build(split='trainval')
        with self.assertRaisesRegex(ValueError, "subsample.*'novel'"):
            self.build(subsample='novel')
        with self.assertRaisesRegex(TypeError, 'num_shots'):
            self.build(num_shots='16')

    def test_num_shots_rule(self):
        # -1 and None keep every image, explicitly.
        for num_shots in (-1, None):
            self.assertEqual(
                len(self.build(num_shots=num_shots)), sum(self.counts[0]))
            self.assertIn('Shots per class: \tall',
                          repr(self.build(num_shots=num_shots)))
        # 0 and other negatives are errors naming the field and the fix,
        # for every split (also where no draw happens).
        for split in ('train', 'val', 'test'):
            for num_shots in (0, -4):
                with self.assertRaisesRegex(
                        ConfigError,
                        f'CoOpDTD: num_shots={num_shots} is not a number of '
                        'images per class. Set num_shots to a positive '
                        r'number of shots, or to -1 \(or None\)'):
                    self.build(split=split, num_shots=num_shots)

    def test_log_describes_each_split(self):
        """The log line reports what the split holds, not another split."""
        val_counts = self.counts[1][:24]
        cases = [
            ('train', 16, "CoOpDTD ('train' split, base classes): 384 images "
             'of 24 classes, drawn with 16 shots per class, seed 1.'),
            ('val', 16, "CoOpDTD ('val' split, base classes): "
             f'{sum(min(n, 4) for n in val_counts)} images of 24 classes, '
             'drawn with min(num_shots=16, 4) = 4 shots per class (a class '
             'with fewer keeps all), seed 1.'),
            ('test', 16, "CoOpDTD ('test' split, base classes): 48 images of "
             '24 classes, all of them (the test split is never sampled).'),
            ('train', -1, "CoOpDTD ('train' split, base classes): "
             f'{sum(self.counts[0][:24])} images of 24 classes, all of them '
             '(num_shots=-1).'),
        ]
        for split, num_shots, expected in cases:
            with patch('mmprompt.datasets.coop_base.print_log') as log:
                self.build(split=split, num_shots=num_shots, subsample='base')
            messages = [call.args[0] for call in log.call_args_list]
            self.assertEqual(messages, [expected])


class TestCoOpDatasetErrors(TestCase):
    """Every bad input names the path or field and the fix."""

    SPLIT_FILE = 'split_zhou_DescribableTextures.json'

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.root = self._tmp.name
        self.split = write_fake_coop_dataset(self.root,
                                             ([3] * 4, [1] * 4, [1] * 4),
                                             self.SPLIT_FILE)
        self.split_path = osp.join(self.root, self.SPLIT_FILE)

    def tearDown(self):
        self._tmp.cleanup()

    def build(self, **kwargs):
        cfg = dict(type='CoOpDTD', data_root=self.root, serialize_data=False)
        cfg.update(kwargs)
        return DATASETS.build(cfg)

    def write_split(self, content):
        with open(self.split_path, 'w') as f:
            f.write(
                content if isinstance(content, str) else json.dumps(content))

    def test_missing_data_root(self):
        missing = osp.join(self.root, 'nope')
        with self.assertRaisesRegex(FileNotFoundError,
                                    f"data_root '{missing}' does not exist"):
            self.build(data_root=missing)

    def test_missing_split_file(self):
        os.remove(self.split_path)
        with self.assertRaisesRegex(
                FileNotFoundError,
                f"split file '{self.split_path}' not found.*DATASETS.md"):
            self.build()

    def test_custom_split_file_and_image_dir(self):
        os.rename(self.split_path, osp.join(self.root, 'my_split.json'))
        os.rename(osp.join(self.root, 'images'), osp.join(self.root, 'imgs'))
        dataset = self.build(split_file='my_split.json', image_dir='imgs')
        self.assertEqual(len(dataset), 12)
        self.assertTrue(
            dataset.get_data_info(0)['img_path'].startswith(
                osp.join(self.root, 'imgs')))

    def test_malformed_json(self):
        self.write_split('{"train": [')
        with self.assertRaisesRegex(ValueError,
                                    f"'{self.split_path}' is not valid JSON"):
            self.build()
        self.write_split([1, 2])
        with self.assertRaisesRegex(ValueError, 'must hold a JSON object'):
            self.build()

    def test_missing_split_key(self):
        self.write_split({'train': self.split['train'], 'test': []})
        with self.assertRaisesRegex(ValueError, "has no 'val' list"):
            self.build()

    def test_malformed_entry(self):
        for bad in (['a.jpg', 0], ['a.jpg', 'zero',
                                   'c'], ['a.jpg', -1, 'c'], [None, 0,
                                                              'c'], 'a.jpg'):
            split = dict(self.split)
            split['val'] = split['val'][:2] + [bad]
            self.write_split(split)
            with self.assertRaisesRegex(
                    ValueError, f"entry 2 of 'val' in split file "
                    f"'{self.split_path}' is malformed"):
                self.build()

    def test_inconsistent_labels(self):
        split = dict(self.split)
        split['test'] = [['x.jpg', 0, 'other']]
        self.write_split(split)
        with self.assertRaisesRegex(ValueError,
                                    "label 0 is named both 'class_00'"):
            self.build()
        split['test'] = [['x.jpg', 6, 'class_06']]
        self.write_split(split)
        with self.assertRaisesRegex(ValueError, r'\[4, 5\] are missing'):
            self.build()

    def test_missing_images(self):
        for rel_path, _, _ in self.split['test'][:2]:
            os.remove(osp.join(self.root, 'images', rel_path))
        with self.assertRaisesRegex(FileNotFoundError,
                                    r"2 of 4 images of the 'test' split"):
            self.build(split='test')
        missing = osp.join(self.root, 'images', self.split['test'][0][0])
        with self.assertRaisesRegex(FileNotFoundError, missing):
            self.build(split='test')
        # Only the selected images are checked.
        self.assertEqual(len(self.build(split='train')), 12)
        self.assertEqual(len(self.build(split='test', check_images=False)), 4)

    def test_repeated_entries(self):
        """16 "shots" that are fewer files, test images counted twice."""
        split = dict(self.split)
        first, second = split['train'][0], split['train'][3]
        split['train'] = split['train'] + [first, first, second]
        self.write_split(split)
        with self.assertRaisesRegex(
                DataError, f"CoOpDTD: the 'train' split of split file "
                f"'{self.split_path}' lists 2 image\\(s\\) more than once: "
                f"'{first[0]}' \\(3 times\\), '{second[0]}' \\(2 times\\). "
                'A repeated entry is drawn as another shot.*list each image '
                'once per split'):
            self.build(split='test')  # whatever split is requested
        split = dict(self.split)
        split['test'] = split['test'] + split['test'][:1]
        self.write_split(split)
        with self.assertRaisesRegex(
                DataError, f"the 'test' split .*'{split['test'][0][0]}' "
                r'\(2 times\)'):
            self.build(split='train')
        # The same image in two splits is not a repeat (test-only datasets
        # read one list as train, val and test).
        split = dict(self.split)
        split['val'] = split['val'] + [split['train'][1]]
        self.write_split(split)
        self.assertEqual(len(self.build(split='val')), 5)

    def test_label_without_training_images(self):
        split = dict(self.split)
        for key in ('val', 'test'):
            split[key] = split[key] + [[f'class_04/{key}.jpg', 4, 'class_04']]
        split['test'].append(['class_05/t.jpg', 5, 'class_05'])
        self.write_split(split)
        with self.assertRaisesRegex(
                DataError, "CoOpDTD: 2 label\\(s\\) of split file "
                f"'{self.split_path}' have val/test images but no training "
                "images: label 4 \\('class_04'\\) in 'val' and 'test'; label "
                "5 \\('class_05'\\) in 'test'. The base/new classes and the "
                "few-shot draw come from the 'train' split's classes.*add "
                "'train' entries for these labels, or remove their val/test "
                'entries'):
            self.build(split='test')

    def test_two_labels_share_a_name(self):
        split = dict(self.split)
        split['train'] = [[path, label, 'cat' if label in (1, 3) else name]
                          for path, label, name in split['train']]
        for key in ('val', 'test'):
            split[key] = [e for e in split[key] if e[1] not in (1, 3)]
        self.write_split(split)
        with self.assertRaisesRegex(
                DataError, f"CoOpDTD: split file '{self.split_path}' gives 1 "
                r"class name\(s\) to more than one label \('cat': labels 1, "
                r'3\).*give each label its own class name'):
            self.build()

    def test_duplicate_names_after_cleaning_warn(self):

        class Lower(CoOpDataset):
            SPLIT_FILE = self.SPLIT_FILE

            @classmethod
            def clean_classname(cls, name):
                return name.lower()

        split = dict(self.split)
        split['train'] = [[p, y, 'Class_00' if y == 1 else n]
                          for p, y, n in split['train']]
        for key in ('val', 'test'):
            split[key] = [e for e in split[key] if e[1] != 1]
        self.write_split(split)
        with patch('mmprompt.datasets.coop_base.print_log') as log:
            dataset = Lower(self.root, serialize_data=False)
        warning = log.call_args_list[0]
        self.assertIn("'class_00': labels 0, 1", warning.args[0])
        self.assertIn('cannot tell these classes apart', warning.args[0])
        self.assertEqual(dataset.metainfo['base_labels'], (0, 1))

    def test_empty_split(self):
        split = dict(self.split)
        split['val'] = []
        self.write_split(split)
        self.assertEqual(len(self.build(split='train', num_shots=2)), 8)
        with self.assertRaisesRegex(
                DataError, f"CoOpDTD: the 'val' split of '{self.split_path}' "
                r'has no images. Validation needs some: add .val. entries to '
                'the split file, or turn validation off in the config with '
                'val_dataloader=None, val_evaluator=None and val_cfg=None.'):
            self.build(split='val', num_shots=2)
        # Empty for the selected classes only.
        split['val'] = [e for e in self.split['val'] if e[1] < 2]
        self.write_split(split)
        self.assertEqual(len(self.build(split='val', subsample='base')), 2)
        with self.assertRaisesRegex(
                DataError, "the 'val' split of .* has no images of the new "
                "classes \\(subsample='new'\\)"):
            self.build(split='val', subsample='new')
        split['test'] = []
        self.write_split(split)
        with self.assertRaisesRegex(
                DataError, "the 'test' split .* has no images. Testing needs "
                "some: add 'test' entries"):
            self.build(split='test')

    def test_writes_on_first_use_is_off_by_default(self):
        self.assertFalse(CoOpDataset.WRITES_ON_FIRST_USE)
        missing = osp.join(self.root, 'nope')
        with self.assertRaisesRegex(FileNotFoundError, 'does not exist'):
            self.build(data_root=missing)
        self.assertFalse(osp.exists(missing))

    def test_no_split_file_attribute(self):
        with self.assertRaisesRegex(ValueError, 'no split file given'):
            self.build(type='CoOpDataset')
        dataset = self.build(type='CoOpDataset', split_file=self.SPLIT_FILE)
        self.assertEqual(dataset.metainfo['dataset_name'], 'CoOpDataset')
