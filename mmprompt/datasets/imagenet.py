# Copyright (c) mmprompt contributors. All rights reserved.
"""ImageNet and its domain-generalisation variants as CoOp reads them.

CoOp lists ImageNet from its class folders (no ``split_zhou`` file) and names
the classes with its ``classnames.txt`` (``<wnid> <class name>`` per line, in
CoOp's repository and in each variant's folder). ``data_root`` is the
dataset's own folder (``data/imagenet``, ``data/imagenetv2``, ...).

Within a class folder CoOp keeps ``os.listdir`` order, which depends on the
file system; mmprompt sorts the file names, so the few-shot draw of a seed is
the same on every machine (but may differ from CoOp's cached draw on yours).
"""
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

from mmprompt.errors import DataError
from mmprompt.registry import DATASETS
from .coop_base import SPLITS, CoOpDataset

IGNORED_FILES = ('README.txt', )


class _ImageNetFolders(CoOpDataset):
    """Shared reading of ``classnames.txt`` and of class folders."""

    SPLIT_FILE = 'classnames.txt'

    def read_classnames(self, path: str) -> 'OrderedDict[str, str]':
        """``{wnid: class name}`` in file order.

        Args:
            path (str): Path of ``classnames.txt``.

        Returns:
            OrderedDict[str, str]: The class names by folder name.
        """
        name = type(self).__name__
        if not self.backend.exists(path):
            raise FileNotFoundError(
                f"{name}: '{path}' not found. Copy CoOp's classnames.txt "
                '(linked from its DATASETS.md) into data_root.')
        classnames = OrderedDict()
        for idx, line in enumerate(self.backend.get_text(path).splitlines()):
            if not line.strip():
                continue
            folder, _, classname = line.strip().partition(' ')
            if not classname:
                raise DataError(
                    f"{name}: line {idx + 1} of '{path}' is {line!r}; "
                    "expected '<folder> <class name>'.")
            classnames[folder] = classname
        return classnames

    def scan(self, root: str, folders: Optional[List[str]],
             label_of: Callable[[str], int],
             name_of: Callable[[str], str]) -> List[tuple]:
        """``(rel_path, label, classname)`` of every image in class folders.

        Args:
            root (str): The folder holding the class folders.
            folders (list[str], optional): The class folders to read; None
                reads every sub-folder, sorted.
            label_of (callable): Folder name -> label.
            name_of (callable): Folder name -> class name.

        Returns:
            list[tuple]: Items with paths relative to the image folder
            ``self.image_root``.
        """
        name = type(self).__name__
        if not self.backend.isdir(root):
            raise FileNotFoundError(
                f"{name}: image folder '{root}' not found; see the layout in "
                f'the {name} docstring.')
        if folders is None:
            folders = sorted(
                self.backend.list_dir_or_file(root, list_file=False))
        prefix = osp.relpath(root, self.image_root)
        items = []
        for folder in folders:
            files = sorted(
                f for f in self.backend.list_dir_or_file(
                    self.backend.join_path(root, folder), list_dir=False)
                if not f.startswith('.') and f not in IGNORED_FILES)
            label, classname = label_of(folder), name_of(folder)
            items.extend(
                (osp.normpath(osp.join(prefix, folder, f)), label, classname)
                for f in files)
        return items

    def _name_lookup(self, classnames, path):

        def name_of(folder):
            if folder not in classnames:
                raise DataError(
                    f"{type(self).__name__}: class folder '{folder}' is not "
                    f"in '{path}'.")
            return classnames[folder]

        return name_of

    def _test_only(self, items: List[tuple]) -> Dict[str, List[tuple]]:
        """A test-only dataset: train, val and test are the same images."""
        return {key: items for key in SPLITS}


@DATASETS.register_module()
class CoOpImageNet(_ImageNetFolders):
    """ImageNet-1k (Deng et al., 2009) as CoOp uses it: 1000 classes.

    Training images come from ``images/train``; the protocol has no val
    split, so ``'val'`` and ``'test'`` are both the official validation set
    (``images/val``, 50 per class) and the val split is not sampled. Labels
    follow the sorted folder names; 500 base / 500 new classes. Layout::

        imagenet                          # data_root
        ├── classnames.txt                # from CoOp: "n01440764 tench"
        └── images
            ├── train/n01440764/n01440764_10026.JPEG
            └── val/n01440764/ILSVRC2012_val_00000293.JPEG
    """

    IMAGE_DIR = 'images'
    DATASET_NAME = 'ImageNet'
    SAMPLE_VAL = False

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        classnames = self.read_classnames(split_path)
        name_of = self._name_lookup(classnames, split_path)
        splits = {}
        for key, folder in (('train', 'train'), ('test', 'val')):
            root = self.backend.join_path(self.image_root, folder)
            if not self.backend.isdir(root):
                raise FileNotFoundError(
                    f"CoOpImageNet: '{root}' not found; data_root must hold "
                    "images/train/<wnid>/ and images/val/<wnid>/ (sort the "
                    'validation images into class folders).')
            folders = sorted(
                self.backend.list_dir_or_file(root, list_file=False))
            labels = {f: i for i, f in enumerate(folders)}
            splits[key] = self.scan(root, folders, labels.__getitem__, name_of)
        train_classes = {item[1] for item in splits['train']}
        test_classes = {item[1] for item in splits['test']}
        if train_classes != test_classes:
            raise DataError(
                'CoOpImageNet: images/train and images/val have different '
                f'class folders ({len(train_classes)} vs '
                f'{len(test_classes)}).')
        splits['val'] = splits['test']
        return splits


@DATASETS.register_module()
class CoOpImageNetV2(_ImageNetFolders):
    """ImageNetV2 matched-frequency (Recht et al., 2019): 1000 classes,
    test only. Class folders are the label indices ``0`` ... ``999`` in the
    order of ``classnames.txt``. Layout::

        imagenetv2                        # data_root
        ├── classnames.txt                # ImageNet's, from CoOp
        └── imagenetv2-matched-frequency-format-val/0/<hash>.jpeg
    """

    IMAGE_DIR = 'imagenetv2-matched-frequency-format-val'
    DATASET_NAME = 'ImageNetV2'

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        names = list(self.read_classnames(split_path).values())
        folders = [str(label) for label in range(len(names))]
        return self._test_only(
            self.scan(self.image_root, folders, int,
                      lambda folder: names[int(folder)]))


class _WnidFolders(_ImageNetFolders):
    """A test-only variant with one folder per wnid (sorted = labels)."""

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        classnames = self.read_classnames(split_path)
        folders = sorted(
            self.backend.list_dir_or_file(
                self.image_root, list_file=False)) if self.backend.isdir(
                    self.image_root) else None
        labels = {f: i for i, f in enumerate(folders or [])}
        return self._test_only(
            self.scan(self.image_root, folders, labels.__getitem__,
                      self._name_lookup(classnames, split_path)))


@DATASETS.register_module()
class CoOpImageNetSketch(_WnidFolders):
    """ImageNet-Sketch (Wang et al., 2019): 1000 classes, test only.

    Layout::

        imagenet-sketch                   # data_root
        ├── classnames.txt
        └── images/n01440764/sketch_0.JPEG
    """

    IMAGE_DIR = 'images'
    DATASET_NAME = 'ImageNetSketch'


@DATASETS.register_module()
class CoOpImageNetA(_WnidFolders):
    """ImageNet-A (Hendrycks et al., 2021): its 200 classes, test only.

    Labels are the 200 sorted wnid folders and the class names come from
    ImageNet's ``classnames.txt``, so prompts are evaluated on those 200
    classes. Layout::

        imagenet-adversarial              # data_root
        ├── classnames.txt                # ImageNet's 1000 lines
        └── imagenet-a/n01498041/<id>.jpg # 200 class folders (+ README.txt)
    """

    IMAGE_DIR = 'imagenet-a'
    DATASET_NAME = 'ImageNetA'


@DATASETS.register_module()
class CoOpImageNetR(_WnidFolders):
    """ImageNet-R (Hendrycks et al., 2021): its 200 classes, test only.

    As :class:`CoOpImageNetA`. Layout::

        imagenet-rendition                # data_root
        ├── classnames.txt
        └── imagenet-r/n01443537/art_0.jpg
    """

    IMAGE_DIR = 'imagenet-r'
    DATASET_NAME = 'ImageNetR'
