# Copyright (c) mmprompt contributors. All rights reserved.
"""The base of every dataset that follows CoOp's splits.

CoOp (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV
2022) fixed one train/val/test split per dataset (the ``split_zhou_*.json``
files) and a seeded few-shot draw on top of it. This module holds

* pure helpers that replay that draw and the base-to-new class selection
  exactly (:func:`sample_few_shot`, :func:`split_base_new`,
  :func:`select_classes`, :func:`relabel_items`), and
* :class:`CoOpDataset`, which reads a split file, checks it (no image
  listed twice in a split, no val/test class without training images, one
  label per class name) and applies them. Concrete datasets only name their
  paths, template and class-name cleaning.

Writing datasets is no part of it: the offline world's generators
(:mod:`mmprompt.offline`) do that.

Items are CoOp split entries: ``(rel_path, label, classname)`` sequences.
"""
import json
import logging
import math
import os.path as osp
import random
from collections import Counter, defaultdict
from typing import (Any, Dict, Iterable, List, Optional, Sequence, Tuple,
                    TypeVar)

from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from mmprompt.errors import ConfigError, DataError, PathNotFoundError
from mmprompt.registry import DATASETS
from mmprompt.templates import COOP_TEMPLATES
from .views import ViewIndex, seeded_view

Item = TypeVar('Item', bound=Sequence)

SPLITS = ('train', 'val', 'test')
SUBSAMPLES = ('all', 'base', 'new')
#: CoOp draws ``min(num_shots, 4)`` validation images per class.
MAX_VAL_SHOTS = 4
COOP_DATASETS_DOC = 'https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md'
#: The ``num_shots`` that keeps every image (``None`` does too).
ALL_SHOTS = -1


def check_num_shots(num_shots: Optional[int], owner: str = '') -> None:
    """Check a ``num_shots`` value: a positive int, or -1 / None for all.

    Args:
        num_shots (int, optional): The value to check.
        owner (str): Prefix of the error messages, e.g. ``'CoOpDTD: '``.
            Defaults to ``''``.

    Raises:
        TypeError: If ``num_shots`` is neither None nor an int.
        ConfigError: If ``num_shots`` is 0 or below -1.
    """
    if num_shots is None:
        return
    if isinstance(num_shots, bool) or not isinstance(num_shots, int):
        raise TypeError(f'{owner}num_shots must be an int (-1 for all '
                        f'images), but got {num_shots!r}.')
    if num_shots == 0 or num_shots < ALL_SHOTS:
        raise ConfigError(
            f'{owner}num_shots={num_shots} is not a number of images per '
            'class. Set num_shots to a positive number of shots, or to -1 '
            '(or None) to keep every image of the split.')


def _group_by_label(items: Sequence[Item]) -> Dict[int, List[Item]]:
    """Group items by label, labels in order of first appearance."""
    groups = defaultdict(list)
    for item in items:
        groups[item[1]].append(item)
    return groups


def _draw(rng: random.Random, items: Sequence[Item],
          num_shots: int) -> List[Item]:
    """One call of Dassl's ``generate_fewshot_dataset`` on one split."""
    output = []
    for group in _group_by_label(items).values():
        if len(group) >= num_shots:
            output.extend(rng.sample(group, num_shots))
        else:
            output.extend(group)
    return output


def _check_shots_available(train_items: Sequence[Item],
                           num_shots: int) -> None:
    """Raise if a training class has fewer than ``num_shots`` images."""
    short = [(label, group)
             for label, group in _group_by_label(train_items).items()
             if len(group) < num_shots]
    if not short:
        return
    descriptions = []
    for label, group in short[:5]:
        name = f"'{group[0][2]}' " if len(group[0]) > 2 else ''
        descriptions.append(f'{name}(label {label}): {len(group)} images')
    more = f' and {len(short) - 5} more' if len(short) > 5 else ''
    fewest = min(len(group) for _, group in short)
    raise DataError(
        f'num_shots={num_shots} but {len(short)} training class(es) have '
        f'fewer images: {"; ".join(descriptions)}{more}. Lower num_shots to '
        f'at most {fewest} (or use num_shots=-1 for all images).')


def sample_few_shot(
    train_items: Sequence[Item],
    val_items: Optional[Sequence[Item]],
    num_shots: Optional[int],
    seed: int,
) -> Tuple[List[Item], Optional[List[Item]]]:
    """Draw CoOp's few-shot train and val splits for a seed.

    This replays CoOp/Dassl exactly: CoOp seeds Python's global ``random``
    with the seed, then calls ``generate_fewshot_dataset`` on the train split
    with ``num_shots`` and on the val split with ``min(num_shots, 4)``. Each
    call groups the items by label in order of first appearance and, per
    label, takes ``random.sample(items, k)`` if the label has at least ``k``
    items, else all of them. Here the draws use one local
    ``random.Random(seed)`` (train first, then val), so the shots equal
    CoOp's for the same seed while the global RNG is left untouched.

    Unlike CoOp, a training class with fewer than ``num_shots`` images is an
    error (CoOp silently keeps fewer); validation classes keep CoOp's
    behaviour and contribute all their images.

    Args:
        train_items (Sequence[Sequence]): Train split entries
            ``(rel_path, label, classname)``; only ``item[1]`` (the label) is
            required, ``item[2]`` names the class in error messages.
        val_items (Sequence[Sequence], optional): Val split entries, or None
            to draw the train split only (CoOp's ImageNet has no val draw).
        num_shots (int, optional): Images per class. ``-1`` or ``None``
            keeps every image and consumes no randomness; 0 and values below
            -1 are errors (they used to mean "all images" silently).
        seed (int): The seed CoOp passes as ``--seed``.

    Returns:
        tuple[list, list | None]: The few-shot train and val items, grouped by
        label in order of first appearance, within a label in draw order.

    Raises:
        DataError: If a training class has fewer than ``num_shots`` images.
        ConfigError: If ``num_shots`` is 0 or below -1.

    Examples:
        >>> train = [(f'{c}/{i}.jpg', y, c) for y, c in enumerate('ab')
        ...          for i in range(5)]
        >>> shots, _ = sample_few_shot(train, None, num_shots=2, seed=1)
        >>> [item[1] for item in shots]
        [0, 0, 1, 1]
    """
    check_num_shots(num_shots)
    if num_shots is None or num_shots == ALL_SHOTS:
        return list(train_items), (None
                                   if val_items is None else list(val_items))
    _check_shots_available(train_items, num_shots)
    rng = random.Random(seed)
    train = _draw(rng, train_items, num_shots)
    val = None
    if val_items is not None:
        val = _draw(rng, val_items, min(num_shots, MAX_VAL_SHOTS))
    return train, val


def split_base_new(labels: Iterable[int]) -> Tuple[List[int], List[int]]:
    """Split labels into CoOp's base and new halves.

    The sorted unique labels are cut after the first ``ceil(n / 2)``: those
    are the base classes, the rest the new classes (CoOp's
    ``OxfordPets.subsample_classes``).

    Args:
        labels (Iterable[int]): Labels of the (few-shot) train split; repeats
            are fine.

    Returns:
        tuple[list[int], list[int]]: Base labels and new labels, ascending.

    Examples:
        >>> base, new = split_base_new(range(47))
        >>> len(base), len(new)
        (24, 23)
    """
    unique = sorted(set(labels))
    m = math.ceil(len(unique) / 2)
    return unique[:m], unique[m:]


def select_classes(labels: Iterable[int],
                   subsample: str = 'all') -> Dict[int, int]:
    """Map the selected classes' labels to their new labels.

    Args:
        labels (Iterable[int]): Labels of the (few-shot) train split.
        subsample (str): ``'all'`` keeps every class under its own label,
            ``'base'`` the first ``ceil(n / 2)`` sorted labels and ``'new'``
            the rest, relabelled ``0..`` in ascending order. Defaults to
            ``'all'``.

    Returns:
        dict[int, int]: Old label to new label for the selected classes.

    Raises:
        ValueError: If ``subsample`` is not one of ``'all'``, ``'base'``,
            ``'new'``.

    Examples:
        >>> select_classes([0, 1, 2, 3, 4], 'new')
        {3: 0, 4: 1}
    """
    if subsample not in SUBSAMPLES:
        raise ValueError(f"subsample must be one of {SUBSAMPLES}, "
                         f"but got {subsample!r}.")
    if subsample == 'all':
        return {label: label for label in sorted(set(labels))}
    base, new = split_base_new(labels)
    selected = base if subsample == 'base' else new
    return {label: new_label for new_label, label in enumerate(selected)}


def relabel_items(items: Sequence[Item], mapping: Dict[int,
                                                       int]) -> List[tuple]:
    """Keep the items whose label is in ``mapping`` and relabel them.

    Args:
        items (Sequence[Sequence]): Entries ``(rel_path, label, ...)``.
        mapping (dict[int, int]): Old label to new label, e.g. from
            :func:`select_classes`.

    Returns:
        list[tuple]: The kept items as tuples with ``item[1]`` replaced, in
        their original order.
    """
    return [(item[0], mapping[item[1]], *item[2:]) for item in items
            if item[1] in mapping]


@DATASETS.register_module()
class CoOpDataset(BaseDataset):
    """A dataset read from a CoOp split file, with CoOp's few-shot draw.

    The split file (``split_zhou_<Name>.json`` from CoOp) holds
    ``{"train": [[rel_path, label, classname], ...], "val": [...],
    "test": [...]}`` with ``rel_path`` relative to the image folder. The
    dataset draws ``num_shots`` images per class from the train split and
    ``min(num_shots, 4)`` from the val split with ``seed``, exactly as
    CoOp/Dassl do (see :func:`sample_few_shot`; the test split is never
    sampled), then keeps the classes ``subsample`` selects: the base-to-new
    protocol splits the sorted labels of the few-shot train split into a
    first half (base, ``ceil(n / 2)`` classes) and the rest (new), each
    relabelled from 0.

    Expected layout (``split_file`` and ``image_dir`` default to the class
    attributes ``SPLIT_FILE`` and ``IMAGE_DIR``)::

        data_root
        ├── split_zhou_<Name>.json
        └── images                 # IMAGE_DIR
            ├── <class_a>
            │   ├── xxx.jpg
            │   └── ...
            └── ...

    Nothing is ever written into ``data_root`` (CoOp caches few-shot pickles
    there; here the draw is recomputed, it takes milliseconds). The split
    file is read at construction (it carries the class names for the
    metainfo); ``lazy_init`` defers the draw and the image check. A dataset
    that can generate itself sets ``WRITES_ON_FIRST_USE`` and implements
    :meth:`write_on_first_use`, which runs when ``data_root`` does not exist
    (never into an existing folder).

    The split file is checked when read: an image listed twice in one split,
    a val or test label without training images, or (in a split file) two
    labels with one class name is a :class:`~mmprompt.errors.DataError`
    naming the entries, and so is an empty requested split.

    Indexed with a :class:`~mmprompt.datasets.views.ViewIndex` (the train
    samplers ``ViewSampler`` and ``EpisodicBatchSampler`` yield them), the
    dataset runs its pipeline under that view's seed (see
    :meth:`prepare_data`): the augmentation of a sample is a function of
    ``(seed, epoch, index, repeat)``, whatever the rank or worker.

    Metainfo:

    - ``classes`` (tuple[str]): names of the selected classes, index = label.
    - ``base_classes`` / ``new_classes`` (tuple[str]): the protocol's base
      and new class names, whatever ``subsample`` is.
    - ``base_labels`` / ``new_labels`` (tuple[int]): the labels of those
      classes (as in ``subsample='all'``); :class:`BaseNewAccuracy` takes
      the base/new membership from them.
    - ``subsample`` (str), ``template`` (str, e.g. ``'{} texture.'``),
      ``dataset_name`` (str, CoOp's name, e.g. ``'DescribableTextures'``).

    Subclasses set ``SPLIT_FILE``, ``IMAGE_DIR``, ``DATASET_NAME`` (the
    ``TEMPLATE`` defaults to CoOp's for that name) and ``SAMPLE_VAL``, and
    may override :meth:`clean_classname` or :meth:`load_split` (which can
    use ``self.backend`` and ``self.image_root``).

    Args:
        data_root (str): The dataset folder (holding the split file).
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            ``'train'``.
        num_shots (int, optional): Images per class drawn from the train
            split (``min(num_shots, 4)`` from val); ``-1`` (or None) keeps
            all images. 0 and other negative values are errors. Defaults to
            -1.
        seed (int): Seed of the few-shot draw; the same seed gives CoOp's
            shots. Defaults to 1.
        subsample (str): ``'all'``, ``'base'`` or ``'new'`` classes.
            Defaults to ``'all'``.
        split_file (str, optional): Split file relative to ``data_root`` (or
            absolute). Defaults to None, i.e. ``SPLIT_FILE``.
        image_dir (str, optional): Image folder relative to ``data_root``.
            Defaults to None, i.e. ``IMAGE_DIR``.
        pipeline (Sequence): Data transforms. Defaults to ``()``.
        test_mode (bool, optional): mmengine's test mode. Defaults to None,
            i.e. True for ``'val'`` and ``'test'``.
        lazy_init (bool): Defer the draw and the image check until the data
            is first accessed. Defaults to False.
        check_images (bool): Check that every selected image exists (local
            storage only). Defaults to True.
        backend_args (dict, optional): Arguments of the file backend, as in
            :func:`mmengine.fileio.get_file_backend`. Defaults to None.
        file_client_args (dict, optional): Deprecated alias of
            ``backend_args``. Defaults to None.
        metainfo (dict, optional): Extra metainfo; its keys override the
            computed ones. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``indices``, ``serialize_data``, ``max_refetch``, ...).
    """

    SPLIT_FILE: Optional[str] = None
    IMAGE_DIR: str = 'images'
    TEMPLATE: str = 'a photo of a {}.'
    DATASET_NAME: Optional[str] = None
    #: Draw ``min(num_shots, 4)`` val images per class (CoOp); False keeps
    #: the whole val split (ImageNet, whose val split is the test split).
    SAMPLE_VAL: bool = True
    #: The dataset writes itself into a missing ``data_root`` (see
    #: :meth:`write_on_first_use`); tools skip their "data root missing"
    #: check for such classes.
    WRITES_ON_FIRST_USE: bool = False
    #: Indexed with a ``ViewIndex``, the pipeline runs under its seed
    #: (:meth:`prepare_data`); see :func:`~mmprompt.datasets.views.
    #: unseeded_views_reason`.
    SEEDS_VIEWS: bool = True

    def __init_subclass__(cls, **kwargs):
        """Take CoOp's template of ``DATASET_NAME`` unless one is set."""
        super().__init_subclass__(**kwargs)
        if 'TEMPLATE' not in vars(cls) and cls.DATASET_NAME in COOP_TEMPLATES:
            cls.TEMPLATE = COOP_TEMPLATES[cls.DATASET_NAME]

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 num_shots: Optional[int] = -1,
                 seed: int = 1,
                 subsample: str = 'all',
                 split_file: Optional[str] = None,
                 image_dir: Optional[str] = None,
                 pipeline: Sequence = (),
                 test_mode: Optional[bool] = None,
                 lazy_init: bool = False,
                 check_images: bool = True,
                 backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        name = type(self).__name__
        if split not in SPLITS:
            raise ConfigError(f"{name}: split must be one of {SPLITS}, "
                              f"but got {split!r}.")
        if subsample not in SUBSAMPLES:
            raise ConfigError(f"{name}: subsample must be one of "
                              f"{SUBSAMPLES}, but got {subsample!r}.")
        check_num_shots(num_shots, f'{name}: ')
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f'{name}: seed must be an int, but got {seed!r}.')
        split_file = split_file if split_file is not None else self.SPLIT_FILE
        image_dir = image_dir if image_dir is not None else self.IMAGE_DIR
        if not split_file:
            raise ConfigError(
                f'{name}: no split file given; pass split_file= or set the '
                'class attribute SPLIT_FILE.')
        if file_client_args is not None:
            print_log(
                'file_client_args is deprecated, use backend_args instead.',
                logger='current',
                level='WARNING')
            backend_args = backend_args or file_client_args

        self.split = split
        self.num_shots = num_shots
        self.seed = seed
        self.subsample = subsample
        self.check_images = check_images
        data_root = osp.expanduser(data_root)
        self.backend = get_file_backend(
            data_root, backend_args=backend_args, enable_singleton=True)
        self._is_local = isinstance(self.backend, LocalBackend)

        if (self.WRITES_ON_FIRST_USE and self._is_local
                and not osp.lexists(data_root)):
            self.write_on_first_use(data_root)
        if self._is_local and not self.backend.isdir(data_root):
            raise PathNotFoundError(
                f"{name}: data_root '{data_root}' does not exist or is not a "
                f"folder. Set data_root to the folder that holds "
                f"'{split_file}' and '{image_dir}/' (see the layout in the "
                f'{name} docstring).')
        split_path = self.backend.join_path(data_root, split_file)
        #: The image folder (split paths are relative to it).
        self.image_root = self.backend.join_path(data_root, image_dir)
        self._splits = self.load_split(split_path)
        self._check_no_repeats(self._splits, split_path)
        self._label_names = self._collect_class_names(self._splits, split_path)
        self._check_labels_have_training_images(self._splits, split_path)
        computed = self._compute_metainfo()
        if test_mode is None:
            test_mode = split != 'train'

        super().__init__(
            ann_file=split_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=image_dir,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            **kwargs)
        # Set here, not through ``metainfo=``: mmengine tries to open every
        # string metainfo value as a file and warns when it is not one.
        for key, value in computed.items():
            self._metainfo.setdefault(key, value)

    # ------------------------------------------------------------------
    # Hooks for subclasses
    # ------------------------------------------------------------------
    @classmethod
    def write_on_first_use(cls, data_root: str) -> None:
        """Write the dataset into ``data_root``, which does not exist yet.

        Called at construction when ``WRITES_ON_FIRST_USE`` is True and
        ``data_root`` (local storage) does not exist. Implementations write
        through a temporary folder renamed into place (see
        :func:`mmprompt.offline.write_dataset_atomically`), so concurrent
        ranks and killed runs leave a complete dataset or none.

        Args:
            data_root (str): The missing dataset folder.
        """
        raise NotImplementedError(
            f'{cls.__name__} sets WRITES_ON_FIRST_USE but does not implement '
            'write_on_first_use().')

    @classmethod
    def clean_classname(cls, name: str) -> str:
        """Turn a split file's class name into the name used in prompts.

        Args:
            name (str): The third field of a split entry.

        Returns:
            str: The cleaned name. The base class returns it unchanged.
        """
        return name

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        """Read and validate a CoOp split file.

        Args:
            split_path (str): Full path of the split file.

        Returns:
            dict[str, list[tuple]]: ``'train'``, ``'val'`` and ``'test'``
            lists of ``(rel_path, label, classname)`` tuples.
        """
        name = type(self).__name__
        if not self.backend.exists(split_path):
            raise PathNotFoundError(
                f"{name}: split file '{split_path}' not found. Download "
                f"CoOp's '{osp.basename(split_path)}' from the links in "
                f"CoOp's DATASETS.md ({COOP_DATASETS_DOC}) into data_root, "
                'or pass split_file= to point at it.')
        try:
            raw = json.loads(self.backend.get_text(split_path))
        except ValueError as err:
            raise DataError(f"{name}: split file '{split_path}' is not "
                            f'valid JSON ({err}).') from err
        if not isinstance(raw, dict):
            raise DataError(
                f"{name}: split file '{split_path}' must hold a JSON object "
                f"with keys {list(SPLITS)}, but holds a "
                f'{type(raw).__name__}.')
        splits = {}
        for key in SPLITS:
            if key not in raw:
                raise DataError(
                    f"{name}: split file '{split_path}' has no '{key}' list "
                    f'(found keys {sorted(raw)}); a CoOp split file has '
                    f'{list(SPLITS)}.')
            if not isinstance(raw[key], list):
                raise DataError(
                    f"{name}: '{key}' in split file '{split_path}' must be a "
                    f'list of [rel_path, label, classname] entries.')
            splits[key] = [
                self._parse_entry(entry, key, idx, split_path)
                for idx, entry in enumerate(raw[key])
            ]
        self._check_one_label_per_name(splits, split_path)
        return splits

    # ------------------------------------------------------------------
    # mmengine interface
    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Draw the shots, select the classes and list the images.

        Logs what the split holds: the images and classes actually used,
        and for train and val how they were drawn.

        Returns:
            list[dict]: Data infos with ``img_path`` and ``gt_label``.

        Raises:
            DataError: If the requested split has no images (after the class
                selection).
        """
        train, val = self._splits['train'], self._splits['val']
        drawn = self.num_shots is not None and self.num_shots != ALL_SHOTS
        if self.split == 'test':
            # The test split is never sampled, and the draw cannot change
            # which labels the train split has (every label keeps >= 1 item).
            fewshot_train = train
        else:
            fewshot_train, sampled_val = sample_few_shot(
                train, val if self.SAMPLE_VAL else None, self.num_shots,
                self.seed)
            if self.SAMPLE_VAL:
                val = sampled_val
        items = {
            'train': fewshot_train,
            'val': val,
            'test': self._splits['test']
        }[self.split]
        if self.subsample != 'all':
            mapping = select_classes((item[1] for item in fewshot_train),
                                     self.subsample)
            items = relabel_items(items, mapping)
        if not items:
            raise DataError(self._empty_split_message())
        print_log(self._describe_split(items, drawn), logger='current')

        data_list = [
            dict(
                img_path=self.backend.join_path(self.img_prefix, item[0]),
                gt_label=int(item[1])) for item in items
        ]
        if self.check_images and self._is_local:
            self._check_images_exist(data_list)
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """The data info of ``idx`` processed by the pipeline.

        A :class:`~mmprompt.datasets.views.ViewIndex` (from
        :class:`~mmprompt.datasets.samplers.ViewSampler` or
        :class:`~mmprompt.datasets.samplers.EpisodicBatchSampler`) runs the
        pipeline under :func:`~mmprompt.datasets.views.seeded_view` of its
        ``view_seed``, so a random augmentation depends on ``(seed, epoch,
        index, repeat)`` only (not on the process, the worker or earlier
        draws); the caller's random streams are left as they were. A plain
        ``int`` draws from the global generators, as mmengine does.

        Args:
            idx (int | ViewIndex): The index of the sample.

        Returns:
            Any: The pipeline's output; its ``sample_idx`` is a plain
            ``int``.
        """
        if not isinstance(idx, ViewIndex):
            return super().prepare_data(idx)
        data_info = self.get_data_info(int(idx))
        with seeded_view(idx.view_seed):
            return self.pipeline(data_info)

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        shots = 'all' if self.num_shots in (None, ALL_SHOTS) \
            else self.num_shots
        return [
            f'Root of dataset: \t{self.data_root}',
            f'Split file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Split: \t{self.split}',
            f'Shots per class: \t{shots}',
            f'Seed: \t{self.seed}',
            f'Subsample classes: \t{self.subsample} '
            f'({len(self._metainfo["classes"])} of '
            f'{len(self._label_names)} classes)',
        ]

    # ------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------
    def _parse_entry(self, entry, key: str, idx: int,
                     split_path: str) -> tuple:
        """Validate one ``[rel_path, label, classname]`` split entry."""
        ok = isinstance(entry, (list, tuple)) and len(entry) == 3
        if ok:
            rel_path, label, classname = entry
            if isinstance(label, str) and label.strip().lstrip('-').isdigit():
                label = int(label)  # CoOp reads labels with int()
            ok = (
                isinstance(rel_path, str) and bool(rel_path)
                and isinstance(label, int) and not isinstance(label, bool)
                and label >= 0 and isinstance(classname, str))
        if not ok:
            raise DataError(
                f"{type(self).__name__}: entry {idx} of '{key}' in split "
                f"file '{split_path}' is malformed: {entry!r}; expected "
                '[rel_path (str), label (int >= 0), classname (str)].')
        return rel_path, label, classname

    def _check_one_label_per_name(self, splits: Dict[str, List[tuple]],
                                  split_path: str) -> None:
        """Raise if a split file gives one class name to several labels."""
        labels_of: Dict[str, set] = defaultdict(set)
        for key in SPLITS:
            for _, label, classname in splits[key]:
                labels_of[classname].add(label)
        shared = [(classname, sorted(labels))
                  for classname, labels in labels_of.items()
                  if len(labels) > 1]
        if not shared:
            return
        shown = '; '.join(
            f"{classname!r}: labels {', '.join(map(str, labels))}"
            for classname, labels in shared[:5])
        more = f' and {len(shared) - 5} more' if len(shared) > 5 else ''
        raise DataError(
            f"{type(self).__name__}: split file '{split_path}' gives "
            f'{len(shared)} class name(s) to more than one label ({shown}'
            f'{more}). Labels with one name get identical prompts (no model '
            'can tell them apart) and make base/new membership by name '
            'ambiguous: give each label its own class name in the split '
            'file.')

    def _check_no_repeats(self, splits: Dict[str, List[tuple]],
                          split_path: str) -> None:
        """Raise if a split lists an image more than once."""
        for key in SPLITS:
            counts = Counter(item[0] for item in splits[key])
            if len(counts) == len(splits[key]):
                continue
            repeated = [(path, n) for path, n in counts.items() if n > 1]
            shown = ', '.join(f"'{path}' ({n} times)"
                              for path, n in repeated[:5])
            more = (f' and {len(repeated) - 5} more'
                    if len(repeated) > 5 else '')
            raise DataError(
                f"{type(self).__name__}: the '{key}' split of split file "
                f"'{split_path}' lists {len(repeated)} image(s) more than "
                f'once: {shown}{more}. A repeated entry is drawn as another '
                'shot and scored again at test time; list each image once '
                'per split (remove the repeated entries from the split '
                'file).')

    def _collect_class_names(self, splits: Dict[str, List[tuple]],
                             split_path: str) -> List[str]:
        """Cleaned class names ordered by label, checked for consistency."""
        name = type(self).__name__
        names: Dict[int, str] = {}
        for key in SPLITS:
            for idx, (_, label, classname) in enumerate(splits[key]):
                known = names.setdefault(label, classname)
                if known != classname:
                    raise DataError(
                        f"{name}: label {label} is named both {known!r} and "
                        f"{classname!r} (entry {idx} of '{key}') in split "
                        f"file '{split_path}'.")
        if not names:
            raise DataError(
                f"{name}: split file '{split_path}' lists no images.")
        missing = sorted(set(range(max(names) + 1)) - set(names))
        if missing:
            raise DataError(
                f"{name}: labels in split file '{split_path}' must be "
                f'0..{max(names)} without gaps, but {missing[:10]} '
                f'{"are" if len(missing) > 1 else "is"} missing.')
        cleaned = [
            self.clean_classname(names[label]) for label in sorted(names)
        ]
        labels_of: Dict[str, List[int]] = defaultdict(list)
        for label, classname in enumerate(cleaned):
            labels_of[classname].append(label)
        shared = [(classname, labels)
                  for classname, labels in labels_of.items()
                  if len(labels) > 1]
        if shared:
            # CLIP's ImageNet names repeat 'missile' and 'sunglasses'; the
            # metainfo carries base/new labels, so only prompts suffer.
            shown = '; '.join(
                f"{classname!r}: labels {', '.join(map(str, labels))}"
                for classname, labels in shared[:5])
            print_log(
                f'{name}: {len(shared)} class name(s) are shared by several '
                f"labels of '{split_path}' ({shown}); their prompts are "
                'identical, so a zero-shot or prompt-learned classifier '
                'cannot tell these classes apart.',
                logger='current',
                level=logging.WARNING)
        return cleaned

    def _check_labels_have_training_images(self, splits: Dict[str,
                                                              List[tuple]],
                                           split_path: str) -> None:
        """Raise if a val or test label has no training images."""
        train_labels = {item[1] for item in splits['train']}
        test_only: Dict[int, List[str]] = {}
        for key in ('val', 'test'):
            for label in sorted({item[1]
                                 for item in splits[key]} - train_labels):
                test_only.setdefault(label, []).append(key)
        if not test_only:
            return
        labels = sorted(test_only)
        shown = '; '.join(
            f'label {label} ({self._label_names[label]!r}) in '
            f"{' and '.join(repr(key) for key in test_only[label])}"
            for label in labels[:10])
        more = f' and {len(labels) - 10} more' if len(labels) > 10 else ''
        raise DataError(
            f'{type(self).__name__}: {len(labels)} label(s) of split file '
            f"'{split_path}' have val/test images but no training images: "
            f'{shown}{more}. The base/new classes and the few-shot draw come '
            "from the 'train' split's classes, so such a class would be "
            "scored in the wrong group: add 'train' entries for these "
            'labels, or remove their val/test entries.')

    def _describe_split(self, items: Sequence[tuple], drawn: bool) -> str:
        """One log line on what the requested split holds and why."""
        where = f"'{self.split}' split"
        if self.subsample != 'all':
            where += f', {self.subsample} classes'
        what = (f'{len(items)} images of '
                f'{len({item[1] for item in items})} classes')
        if self.split == 'test':
            how = 'all of them (the test split is never sampled)'
        elif not drawn:
            how = f'all of them (num_shots={self.num_shots})'
        elif self.split == 'train':
            how = (f'drawn with {self.num_shots} shots per class, seed '
                   f'{self.seed}')
        elif not self.SAMPLE_VAL:
            how = 'all of them (this val split is not sampled)'
        else:
            how = (f'drawn with min(num_shots={self.num_shots}, '
                   f'{MAX_VAL_SHOTS}) = {min(self.num_shots, MAX_VAL_SHOTS)} '
                   f'shots per class (a class with fewer keeps all), seed '
                   f'{self.seed}')
        return f'{type(self).__name__} ({where}): {what}, {how}.'

    def _empty_split_message(self) -> str:
        """The error for a requested split without images."""
        selected = ('' if self.subsample == 'all' else
                    f' of the {self.subsample} classes (subsample='
                    f"'{self.subsample}')")
        message = (f"{type(self).__name__}: the '{self.split}' split of "
                   f"'{self.ann_file}' has no images{selected}.")
        if self.split == 'val':
            return message + (
                " Validation needs some: add 'val' entries to the split "
                'file, or turn validation off in the config with '
                'val_dataloader=None, val_evaluator=None and val_cfg=None.')
        if self.split == 'test':
            return message + (" Testing needs some: add 'test' entries to "
                              'the split file.')
        return message + " Add 'train' entries to the split file."

    def _compute_metainfo(self) -> dict:
        """Class lists of the protocol; see the class docstring."""
        # Base/new come from the few-shot train split in CoOp. Its label set
        # equals the full train split's (each label keeps min(k, n) >= 1
        # images), so the metainfo needs no draw; load_data_list uses the
        # drawn split itself.
        train_labels = [item[1] for item in self._splits['train']]
        base, new = split_base_new(train_labels)
        mapping = select_classes(train_labels, self.subsample)
        if self.subsample == 'all':
            classes = self._label_names
        else:
            classes = [self._label_names[label] for label in mapping]
        return dict(
            classes=tuple(classes),
            base_classes=tuple(self._label_names[y] for y in base),
            new_classes=tuple(self._label_names[y] for y in new),
            base_labels=tuple(base),
            new_labels=tuple(new),
            subsample=self.subsample,
            template=self.TEMPLATE,
            dataset_name=self.DATASET_NAME or type(self).__name__)

    def _check_images_exist(self, data_list: List[dict]) -> None:
        """Raise if any listed image is missing on disk."""
        missing = [
            info['img_path'] for info in data_list
            if not self.backend.exists(info['img_path'])
        ]
        if missing:
            shown = ', '.join(f"'{path}'" for path in missing[:5])
            raise PathNotFoundError(
                f"{type(self).__name__}: {len(missing)} of {len(data_list)} "
                f"images of the '{self.split}' split are missing under "
                f"'{self.img_prefix}', e.g. {shown}. Check data_root and "
                f"image_dir, or that the images were extracted completely.")
