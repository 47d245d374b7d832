# Copyright (c) mmprompt contributors. All rights reserved.
"""Frozen image features, computed once: one extraction path and a store.

Most prompt-learning methods never change the image tower: zero-shot CLIP,
CoOp, CoCoOp, KgCoOp, meta-training, instance-wise prompts and the linear
probe all read the features of a frozen, unprompted encoder. This module
computes such features in one place and keeps them on disk:

* :func:`encode_images` is the one extraction path: a dataset, a list of
  batches (dataset indices, possibly :class:`~mmprompt.datasets.views.
  ViewIndex` es that fix the augmentation draw), the model's data
  preprocessor and the frozen tower (backbone, and neck when there is one).
* :class:`FeatureStore` keeps features in memory-mapped ``.npy`` files
  under a user cache folder (``~/.cache/mmprompt/features``; the
  ``MMPROMPT_FEATURE_STORE`` environment variable or the hook's ``root``
  override it), never in a data root. An entry's key covers everything the
  features depend on: the encoder (class, model name, a hash of the weights
  actually loaded, dtype, device), the data preprocessor, the dataset's
  pipeline, every image file (path, size, mtime), the batch layout (batch
  composition changes fp32 features at rounding level, so entries are per
  layout and a hit is bit-identical to computing) and the autocast dtype.
  Writes are atomic (temporary file, then rename; the ``.json`` written
  last marks a complete entry), so concurrent runs sharing a store never
  see half an entry.
* :func:`stored_features` looks an entry up and, on a miss, encodes it
  (under DDP every rank encodes its own batches, the features are gathered
  and rank 0 writes).
* :class:`StoredFeatureDataset` serves stored features to a dataloader in
  place of decoded images, so cached images are not read at all;
  :class:`FrozenTargetDataset` serves them beside the decoded images, as
  the frozen target of a model whose tower is prompted (PromptSRC).

:class:`~mmprompt.engine.hooks.FeatureStoreHook` uses them for the test,
validation and (opt-in) training passes of the runner's loops.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import re
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (all_gather_object, barrier, get_dist_info,
                           is_main_process)
from mmengine.logging import print_log
from mmengine.utils import ManagerMixin
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

from mmprompt.errors import ConfigError, DataError

#: Environment variable naming the store folder.
STORE_ENV = 'MMPROMPT_FEATURE_STORE'
#: The store folder when neither the config nor the environment sets one.
DEFAULT_ROOT = osp.join('~', '.cache', 'mmprompt', 'features')
#: Version of the entry format (part of every key).
FORMAT_VERSION = 1
#: A file of the store: ``<key[:2]>/<key>.npy|json``, or a temporary one.
_ENTRY_FILE = re.compile(
    r'^[0-9a-f]{2}/([0-9a-f]{64})\.(npy|json)(\.[0-9a-f]{32}\.tmp)?$')
#: numpy has no bfloat16: such features are stored as their uint16 bits.
_BITS_DTYPES = {'bfloat16': torch.bfloat16}


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _unwrap(model):
    return getattr(model, 'module', model)


def _tower_reason(model) -> Optional[str]:
    """Why ``model`` has no frozen ``OpenCLIPImageEncoder`` without a neck
    and a preprocessor without batch augmentations, or None."""
    from mmprompt.models.clip import OpenCLIPImageEncoder
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, OpenCLIPImageEncoder):
        return (f'the backbone is a {type(backbone).__name__}, not an '
                'OpenCLIPImageEncoder')
    if not backbone.frozen:
        return 'the image encoder trains (frozen=False)'
    if getattr(model, 'with_neck', False):
        return 'the model has a neck'
    if getattr(model.data_preprocessor, 'batch_augments', None) is not None:
        return 'the data preprocessor has batch augmentations'
    return None


def _own_methods_reason(model, methods, owners) -> Optional[str]:
    for method in methods:
        owner = next(
            (klass for klass in type(model).__mro__ if method in vars(klass)),
            None)
        if owner not in owners:
            return f'{owner.__name__}.{method} is not {owners[0].__name__}\'s'
    return None


def frozen_tower_reason(model) -> Optional[str]:
    """Why ``model``'s image features cannot come from the store, or None.

    The store may stand in for the image tower when the model computes its
    image features with a frozen, unprompted ``OpenCLIPImageEncoder`` and
    no neck, through mmpretrain's ``ImageClassifier`` path (or a
    ``VLPromptClassifier`` whose learner has no visual prompts and that
    needs no frozen features besides), and its data preprocessor passes
    stored features through (``CLIPDataPreprocessor``) with no batch
    augmentation.

    Args:
        model (nn.Module): The model (wrapped or not).

    Returns:
        str | None: None if eligible, else the reason in a few words.
    """
    from mmpretrain.models.classifiers import ImageClassifier

    from mmprompt.models.classifiers import VLPromptClassifier
    model = _unwrap(model)
    reason = _tower_reason(model)
    if reason is not None:
        return reason
    if isinstance(model, VLPromptClassifier):
        if model.head.visual_prompts() is not None:
            learner = type(model.head.prompt_learner).__name__
            return f'{learner} prompts the image encoder'
        if model.frozen_feats_in_loss:
            return 'the loss also needs frozen features of the same view'
    elif not isinstance(model, ImageClassifier):
        return f'{type(model).__name__} is not an ImageClassifier'
    reason = _own_methods_reason(model, ('extract_feat', 'loss', 'predict'),
                                 (ImageClassifier, VLPromptClassifier))
    if reason is not None:
        return reason
    preprocessor = type(model.data_preprocessor).__name__
    if not getattr(model.data_preprocessor, 'accepts_features', False):
        return (f'the data preprocessor {preprocessor} cannot pass stored '
                "features (use type='CLIPDataPreprocessor')")
    return None


def frozen_target_reason(model) -> Optional[str]:
    """Why the frozen image features ``model``'s loss needs cannot come from
    the store, or None.

    A ``VLPromptClassifier`` whose head needs frozen image features
    (``needs_frozen_image_feats``: PromptSRC) trains on decoded images
    (its tower is prompted) and also encodes the same batch with the
    frozen, unprompted tower as a target. When that tower
    is a frozen ``OpenCLIPImageEncoder`` without a neck and the
    preprocessor has no batch augmentations, those target features are the
    exact training views of the batch, which the store can serve (the
    sample's ``frozen_feat``) in place of the second forward pass.

    Args:
        model (nn.Module): The model (wrapped or not).

    Returns:
        str | None: None if eligible, else the reason in a few words.
    """
    from mmprompt.models.classifiers import VLPromptClassifier
    model = _unwrap(model)
    if not (isinstance(model, VLPromptClassifier)
            and model.frozen_feats_in_loss):
        return 'the loss needs no frozen image features'
    return _tower_reason(model) or _own_methods_reason(model, ('loss', ),
                                                       (VLPromptClassifier, ))


def tensor_digest(module: torch.nn.Module) -> str:
    """A hash of every parameter and buffer of ``module`` (name, dtype,
    shape and bytes): a fingerprint of the weights actually loaded."""
    digest = hashlib.blake2b(digest_size=16)
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    for name, tensor in tensors:
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{name}:{data.dtype}:{tuple(tensor.shape)};'.encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoder_fingerprint(model) -> dict:
    """The part of a key that names the frozen image tower.

    Args:
        model (nn.Module): The model (wrapped or not).

    Returns:
        dict: The backbone's class, model name, weights hash, dtype and
        device type, the neck's (if any) and the data preprocessor's
        settings.
    """
    model = _unwrap(model)
    backbone = model.backbone
    param = next(backbone.parameters())
    parts = dict(
        backbone=type(backbone).__name__,
        model_name=getattr(backbone, 'model_name', None),
        weights=tensor_digest(backbone),
        dtype=str(param.dtype),
        device=param.device.type)
    if getattr(model, 'with_neck', False):
        parts['neck'] = dict(
            type=type(model.neck).__name__, weights=tensor_digest(model.neck))
    preprocessor = model.data_preprocessor
    settings = dict(type=type(preprocessor).__name__)
    for name in ('mean', 'std', 'to_rgb', '_enable_normalize',
                 'pad_size_divisor', 'pad_value'):
        value = getattr(preprocessor, name, None)
        settings[name] = value.flatten().tolist() if isinstance(
            value, torch.Tensor) else value
    parts['preprocessor'] = settings
    return parts


def file_fingerprints(dataset) -> Optional[str]:
    """A hash of every sample's image file: path, size and mtime.

    Args:
        dataset (BaseDataset): The dataset (its ``get_data_info`` gives
            ``img_path``).

    Returns:
        str | None: The hash (a changed, replaced or touched image changes
        it), or None if a sample has no ``img_path`` (in-memory data cannot
        be keyed, so its features are computed and not stored).
    """
    digest = hashlib.sha256()
    get_info = getattr(dataset, 'get_data_info', None)
    if get_info is None:
        return None
    for i in range(len(dataset)):
        path = get_info(i).get('img_path')
        if path is None:
            return None
        try:
            stat = os.stat(path)
            digest.update(
                f'{path}|{stat.st_size}|{stat.st_mtime_ns}\n'.encode())
        except OSError:
            digest.update(f'{path}|missing\n'.encode())
    return digest.hexdigest()


def sample_labels(dataset, indices: Sequence[int]) -> List[int]:
    """The ``gt_label`` of some samples, without decoding them."""
    if callable(getattr(dataset, 'get_gt_labels', None)):
        labels = dataset.get_gt_labels()
        return [int(labels[int(i)]) for i in indices]
    return [int(dataset.get_data_info(int(i))['gt_label']) for i in indices]


def layout_of(batches: Sequence[Sequence[Sequence[int]]]) -> List:
    """A JSON-able description of per-rank batches, view draws included."""

    def item(index):
        if hasattr(index, 'view_seed'):
            return [int(index), index.seed, index.epoch, index.repeat]
        return int(index)

    return [[[item(i) for i in batch] for batch in rank] for rank in batches]


def dataset_parts(dataset) -> Optional[dict]:
    """The part of a key that names a dataset's images and pipeline, or
    None if its samples are not image files (see
    :func:`file_fingerprints`)."""
    files = file_fingerprints(dataset)
    if files is None:
        return None
    return dict(
        dataset=type(dataset).__name__,
        size=len(dataset),
        files=files,
        pipeline=repr(getattr(dataset, 'pipeline', None)))


class _Progress:
    """A progress bar on a terminal, four log lines otherwise."""

    def __init__(self, total: int, what: str):
        self.total, self.what, self.done = total, what, 0
        self.enabled = is_main_process() and total > 0
        self.tty = self.enabled and sys.stdout.isatty()
        self.next_quarter = 1
        self.start = time.perf_counter()

    def update(self, count: int):
        if not self.enabled:
            return
        self.done += count
        if self.tty:
            width = 30
            filled = int(width * self.done / self.total)
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            sys.stdout.write(f'\r{self.what}: [{"#" * filled}'
                             f'{"." * (width - filled)}] {self.done}/'
                             f'{self.total}, {rate:.1f} images/s')
            if self.done >= self.total:
                sys.stdout.write('\n')
            sys.stdout.flush()
            return
        if self.next_quarter <= 4 and \
                self.done * 4 >= self.next_quarter * self.total:
            print_log(
                f'{self.what}: {self.done}/{self.total} images',
                logger='current')
            self.next_quarter = self.done * 4 // self.total + 1


@torch.no_grad()
def tower_features(model, inputs: torch.Tensor) -> torch.Tensor:
    """Frozen, unprompted image features: backbone (+ neck), last output."""
    model = _unwrap(model)
    feats = model.backbone(inputs)
    if getattr(model, 'with_neck', False):
        feats = model.neck(feats)
    return feats[-1] if isinstance(feats, (tuple, list)) else feats


@torch.no_grad()
def encode_images(model,
                  dataset,
                  batches: Sequence[Sequence[int]],
                  collate_fn: Optional[Callable] = None,
                  num_workers: int = 0,
                  worker_init_fn: Optional[Callable] = None,
                  autocast: Optional[Callable] = None,
                  what: str = 'Encoding images') -> torch.Tensor:
    """The one extraction path for frozen, unprompted image towers.

    Every index of ``batches`` goes through ``dataset``'s pipeline (a
    :class:`~mmprompt.datasets.views.ViewIndex` fixes its augmentation
    draw), the model's data preprocessor and :func:`tower_features`, batch
    by batch as given (so the features are those a loop with these batches
    computes).

    Args:
        model (nn.Module): The model (wrapped or not); put in eval mode for
            the pass and restored.
        dataset (Dataset): The images.
        batches (Sequence[Sequence[int]]): Dataset indices, batch by batch.
        collate_fn (Callable, optional): Defaults to mmengine's
            ``pseudo_collate``.
        num_workers (int): Dataloader workers. Defaults to 0.
        worker_init_fn (Callable, optional): Their init function.
        autocast (Callable, optional): A context-manager factory to run the
            tower under (the loop's AMP). Defaults to None.
        what (str): Progress label. Defaults to 'Encoding images'.

    Returns:
        torch.Tensor: ``(sum of batch sizes, D)`` features on the CPU, in
        the order of ``batches``, in the dtype the tower produced.
    """
    from mmengine.dataset import pseudo_collate
    model = _unwrap(model)
    batches = [list(batch) for batch in batches if len(batch)]
    if not batches:
        return torch.zeros(0, 0)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate_fn or pseudo_collate,
        num_workers=num_workers,
        worker_init_fn=worker_init_fn if num_workers else None)
    progress = _Progress(sum(len(b) for b in batches), what)
    was_training = model.training
    model.eval()
    feats = []
    # The pass leaves torch's global generator as it found it (iterating a
    # dataloader draws its base seed from it), so a loop that runs on the
    # stored features afterwards draws what it would have drawn without.
    rng = torch.get_rng_state()
    try:
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            if autocast is None:
                out = tower_features(model, data['inputs'])
            else:
                with autocast():
                    out = tower_features(model, data['inputs'])
            feats.append(out.detach().cpu())
            progress.update(out.shape[0])
    finally:
        model.train(was_training)
        torch.set_rng_state(rng)
    return torch.cat(feats)


class FeatureStore(ManagerMixin):
    """Image features on disk, keyed by everything they depend on.

    Entries are ``<root>/<key[:2]>/<key>.npy`` (the features, read
    memory-mapped) and ``<key>.json`` (what the key stands for, the shape
    and dtype; written last, so an entry without it is incomplete and
    ignored). Use :meth:`get_current_instance` to reach the store of the
    current run (the one :class:`~mmprompt.engine.hooks.FeatureStoreHook`
    configured), or a default store if no run configured one.

    Args:
        name (str): Instance name (see ``ManagerMixin``). Defaults to ''.
        root (str, optional): The store folder. Defaults to None: the
            ``MMPROMPT_FEATURE_STORE`` environment variable, else
            ``~/.cache/mmprompt/features``.
        enabled (bool): False turns every lookup into a computation that
            stores nothing. Defaults to True.
    """

    def __init__(self,
                 name: str = '',
                 root: Optional[str] = None,
                 enabled: bool = True):
        super().__init__(name)
        self.explicit = bool(root) or bool(os.environ.get(STORE_ENV))
        self.root = osp.abspath(
            osp.expanduser(root or os.environ.get(STORE_ENV) or DEFAULT_ROOT))
        self.enabled = enabled
        self.stats = dict(hits=0, misses=0, written=0)
        self._writable: Optional[bool] = None

    @classmethod
    def current(cls) -> 'FeatureStore':
        """The current run's store, or a default one."""
        if cls._instance_dict:
            return cls.get_current_instance()
        return cls.get_instance('default')

    def check_outside(self, data_roots: Sequence[str]) -> None:
        """Refuse a store folder inside a data root (data stays untouched).

        Raises:
            ConfigError: The store is inside one of ``data_roots``.
        """
        for data_root in data_roots:
            if not data_root:
                continue
            data_root = osp.abspath(osp.expanduser(str(data_root)))
            if osp.commonpath([self.root, data_root]) == data_root:
                raise ConfigError(
                    f'The feature store {self.root} is inside the data root '
                    f'{data_root}; mmprompt never writes into a dataset '
                    f'folder. Set {STORE_ENV} or '
                    'default_hooks.feature_store.root to a folder outside '
                    'it.')

    def writable(self) -> bool:
        """Whether entries can be written (checked once).

        Raises:
            ConfigError: The folder was set explicitly (config or
                ``MMPROMPT_FEATURE_STORE``) and cannot be written.
        """
        if self._writable is not None:
            return self._writable
        try:
            os.makedirs(self.root, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix='.probe'):
                pass
            self._writable = True
        except OSError as error:
            if self.explicit:
                raise ConfigError(
                    f'The feature store folder {self.root} cannot be written '
                    f'({error.strerror or error}). Make it writable, point '
                    f'{STORE_ENV} / default_hooks.feature_store.root to a '
                    'writable folder, or turn the store off with '
                    'default_hooks.feature_store.test=False.') from error
            print_log(
                f'The feature store folder {self.root} cannot be written '
                f'({error.strerror or error}); features are computed and not '
                f'stored. Set {STORE_ENV} to a writable folder to keep them.',
                logger='current',
                level=logging.WARNING)
            self._writable = False
        return self._writable

    def paths(self, key: str):
        """``(features .npy, description .json)`` of an entry."""
        folder = osp.join(self.root, key[:2])
        return osp.join(folder, key + '.npy'), osp.join(folder, key + '.json')

    def _corrupt(self, path: str, problem: str) -> DataError:
        npy, meta = self.paths(osp.splitext(osp.basename(path))[0])
        return DataError(
            f'Feature store entry {path} {problem}. Delete the entry (rm '
            f'{npy} {meta}) or the whole store (rm -r {self.root}); it is '
            'recomputed on the next run.')

    def load(self, key: str) -> Optional[torch.Tensor]:
        """The features of an entry, memory-mapped, or None on a miss.

        Raises:
            DataError: The entry exists but cannot be read or does not match
                its description.
        """
        if not self.enabled:
            return None
        npy, meta = self.paths(key)
        if not osp.isfile(meta):
            return None
        try:
            with open(meta) as file:
                info = json.load(file)
            shape, dtype = tuple(info['shape']), info['dtype']
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise self._corrupt(meta, f'is unreadable ({error})') from error
        if not osp.isfile(npy):
            raise self._corrupt(meta, f'has no features file {npy}')
        try:
            array = np.load(npy, mmap_mode='r', allow_pickle=False)
        except (OSError, ValueError) as error:
            raise self._corrupt(
                npy, f'does not decode as a .npy array ({error})') from error
        if array.shape != shape:
            raise self._corrupt(
                npy, f'holds an array of shape {array.shape}, but its '
                f'description says {shape}')
        try:
            os.utime(meta)  # last used: what `feature_store.py clean` reads
        except OSError:
            pass  # a read-only store
        return _as_tensor(array, dtype)

    def save(self, key: str, feats: torch.Tensor, info: dict) -> bool:
        """Write an entry atomically; False if the store is not writable."""
        if not self.enabled or not self.writable():
            return False
        npy, meta = self.paths(key)
        os.makedirs(osp.dirname(npy), exist_ok=True)
        dtype = str(feats.dtype).replace('torch.', '')
        array = feats.detach().cpu().contiguous()
        array = (array.view(torch.uint16)
                 if dtype in _BITS_DTYPES else array).numpy()
        info = dict(
            info,
            shape=list(array.shape),
            dtype=dtype,
            created=time.strftime('%Y-%m-%d %H:%M:%S'))
        for path, write in ((npy, lambda f: np.save(f, array)), (
                meta, lambda f: f.write(json.dumps(info, indent=1).encode()))):
            tmp = f'{path}.{uuid.uuid4().hex}.tmp'
            try:
                with open(tmp, 'wb') as file:
                    write(file)
                os.replace(tmp, path)
            finally:
                if osp.exists(tmp):
                    os.remove(tmp)
        self.stats['written'] += 1
        return True

    def entries(self) -> dict:
        """What the store folder holds, without reading any features.

        Returns:
            dict: ``entries``, a list of ``dict(key, what, bytes,
            last_used)`` for every complete entry (``last_used``: the
            ``.json``'s mtime, which a hit refreshes); ``partial``, the paths
            of unfinished writes (temporary files, a ``.npy`` without its
            ``.json``) with their mtimes; ``foreign``, files that are not
            the store's (left alone by :meth:`clean`).
        """
        found = dict(entries=[], partial=[], foreign=[])
        if not osp.isdir(self.root):
            return found
        for folder, _, files in os.walk(self.root):
            for name in sorted(files):
                path = osp.join(folder, name)
                rel = osp.relpath(path, self.root)
                rel = rel.replace(os.sep, '/')
                match = _ENTRY_FILE.match(rel)
                if match is None or rel[:2] != match.group(1)[:2]:
                    found['foreign'].append(path)
                    continue
                key, ext, tmp = match.groups()
                npy, meta = self.paths(key)
                if tmp or (ext == 'npy' and not osp.isfile(meta)) or (
                        ext == 'json' and not osp.isfile(npy)):
                    found['partial'].append((path, osp.getmtime(path)))
                elif ext == 'json':
                    try:
                        with open(meta) as file:
                            what = json.load(file).get('what', '?')
                    except (OSError, ValueError, AttributeError):
                        what = '(unreadable description)'
                    found['entries'].append(
                        dict(
                            key=key,
                            what=what,
                            bytes=osp.getsize(npy) + osp.getsize(meta),
                            last_used=osp.getmtime(meta)))
        return found

    def clean(self,
              unused_days: Optional[float] = None,
              dry_run: bool = False) -> List[str]:
        """Delete entries (all, or those unused for ``unused_days`` days)
        and unfinished writes older than an hour; never a foreign file.

        A run that has an entry memory-mapped keeps reading it (the file
        lives on until it is closed); a later run recomputes it.

        Returns:
            List[str]: The files deleted (or, with ``dry_run``, that would
            be).
        """
        now = time.time()
        found = self.entries()
        doomed = [
            path for path, mtime in found['partial'] if now - mtime > 3600
        ]
        for entry in found['entries']:
            if unused_days is None or \
                    now - entry['last_used'] > unused_days * 86400:
                npy, meta = self.paths(entry['key'])
                doomed += [meta, npy]  # the description first: a miss
        if not dry_run:
            for path in doomed:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass  # another cleaner was first
            for folder in sorted({osp.dirname(p) for p in doomed}):
                if osp.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)
        return doomed

    def summary(self) -> str:
        """One line: hits, misses and entries written so far."""
        s = self.stats
        return (f'Feature store {self.root}: {s["hits"]} hit(s), '
                f'{s["misses"]} miss(es), {s["written"]} entr'
                f'{"y" if s["written"] == 1 else "ies"} written.')


def _as_tensor(array: np.ndarray, dtype: str) -> torch.Tensor:
    """A (read-only, memory-mapped) array as a tensor of ``dtype``."""
    import warnings
    with warnings.catch_warnings():  # torch warns on read-only arrays
        warnings.simplefilter('ignore', UserWarning)
        tensor = torch.from_numpy(array)
    if dtype in _BITS_DTYPES:
        return tensor.view(_BITS_DTYPES[dtype])
    return tensor


def stored_features(model,
                    dataset,
                    rank_batches: Sequence[Sequence[Sequence[int]]],
                    amp: Optional[str] = None,
                    store: Optional[FeatureStore] = None,
                    collate_fn: Optional[Callable] = None,
                    num_workers: int = 0,
                    worker_init_fn: Optional[Callable] = None,
                    autocast: Optional[Callable] = None,
                    encoder: Optional[dict] = None,
                    what: str = 'image features',
                    log_level: int = logging.INFO,
                    local: bool = False) -> torch.Tensor:
    """Look features up in the store; on a miss, encode and store them.

    Args:
        model (nn.Module): The model.
        dataset (Dataset): The images.
        rank_batches (Sequence): ``rank_batches[r]`` are rank ``r``'s
            batches (lists of dataset indices); with one process, one list.
            Rank ``r`` encodes its own batches.
        amp (str, optional): The autocast dtype the pass runs under (part
            of the key; ``autocast`` must match it). Defaults to None.
        store (FeatureStore, optional): Defaults to
            :meth:`FeatureStore.current`.
        collate_fn, num_workers, worker_init_fn, autocast: See
            :func:`encode_images`.
        encoder (dict, optional): A precomputed
            :func:`encoder_fingerprint`. Defaults to None.
        what (str): What the features are, for the log.
        log_level (int): Level of the hit / miss lines. Defaults to INFO.
        local (bool): Only this process takes part (e.g. a hook that runs
            on the main process alone): ``rank_batches`` is one list, no
            collective call is made and this process writes. Defaults to
            False.

    Returns:
        torch.Tensor: ``(M, D)`` features of all ranks' batches in order
        (rank 0's batches first), the same on every rank.
    """
    store = store or FeatureStore.current()
    rank, world_size = (0, 1) if local else get_dist_info()
    if len(rank_batches) != world_size:
        raise ValueError(f'{len(rank_batches)} lists of batches for '
                         f'{world_size} processes.')

    def encode_all() -> torch.Tensor:
        # Each rank encodes its own batches; every rank gets all features.
        mine = encode_images(
            model,
            dataset,
            rank_batches[rank],
            collate_fn,
            num_workers,
            worker_init_fn,
            autocast,
            what=f'Encoding {what}')
        if world_size == 1:
            return mine
        return torch.cat([f for f in all_gather_object(mine) if f.numel()])

    data = dataset_parts(dataset)
    if data is None:  # not image files: nothing to key an entry by
        print_log(
            f'{what}: computed, not stored (the samples of '
            f'{type(dataset).__name__} have no img_path).',
            logger='current',
            level=logging.DEBUG)
        return encode_all()
    key_parts = dict(
        version=FORMAT_VERSION,
        encoder=encoder or encoder_fingerprint(model),
        data=data,
        layout=_digest(layout_of(rank_batches)),
        amp=amp)
    key = _digest(key_parts)
    count = sum(len(b) for r in rank_batches for b in r)
    feats = store.load(key)
    if feats is not None and feats.shape[0] != count:
        raise store._corrupt(
            store.paths(key)[0], f'holds {feats.shape[0]} feature rows, but '
            f'this pass has {count} samples')
    hit = feats is not None
    if world_size > 1:  # every rank must take the same branch
        hit = all(all_gather_object(hit))
    npy = store.paths(key)[0]
    if hit:
        store.stats['hits'] += 1
        print_log(
            f'Feature store hit: {what} ({count} samples) read from '
            f'{npy}; no image decoded.',
            logger='current',
            level=log_level)
        return feats
    store.stats['misses'] += 1
    print_log(
        f'Feature store miss: encoding {what} ({count} samples)' +
        (f' on {world_size} processes' if world_size > 1 else '') + '.',
        logger='current',
        level=log_level)
    feats = encode_all()
    if rank == 0:
        info = dict(what=what, key=key_parts)
        if store.save(key, feats, info):
            size = osp.getsize(npy) / 2**20
            print_log(
                f'Feature store: wrote {feats.shape[0]} features '
                f'({size:.1f} MiB) to {npy}.',
                logger='current',
                level=log_level)
    if world_size > 1:
        barrier()
    return feats


@torch.no_grad()
def dataset_features(model, dataloader, what: str) -> tuple:
    """The frozen tower's features and the labels of a whole dataset, in
    dataset order, on every rank, through :func:`stored_features` (each rank
    encodes its own batches of ``dataloader`` on a miss).

    For the methods fitted on all features at once (the linear probe,
    LFA's Procrustes map, Tip-Adapter's search on val).

    Args:
        model (ImageClassifier): The model (not wrapped).
        dataloader (DataLoader): Any sampler that visits every sample.
        what (str): What the features are, for the log.

    Returns:
        tuple: ``(features (N, D), labels (N, ) int64)`` tensors.

    Raises:
        DataError: The sampler does not visit every sample.
    """
    dataset = dataloader.dataset
    mine = [[int(i) for i in batch] for batch in dataloader.batch_sampler]
    batches = all_gather_object(mine) if get_dist_info()[1] > 1 else [mine]
    feats = stored_features(
        model,
        dataset,
        batches,
        collate_fn=dataloader.collate_fn,
        num_workers=dataloader.num_workers,
        worker_init_fn=dataloader.worker_init_fn,
        what=f'{what} of {type(dataset).__name__}')
    order = [i for rank in batches for batch in rank for i in batch]
    size = len(dataset)
    first = {}
    for row, index in enumerate(order):
        first.setdefault(index, row)  # padded samplers repeat some
    if sorted(first) != list(range(size)):
        raise DataError(
            f'Extracting the {what} saw {len(first)} of the {size} samples '
            f'of {type(dataset).__name__}; use a sampler that visits every '
            'sample once, e.g. train_dataloader.sampler=dict('
            "type='DefaultSampler', shuffle=False).")
    rows = torch.tensor([first[i] for i in range(size)])
    labels = torch.tensor(
        sample_labels(dataset, range(size)), dtype=torch.int64)
    return feats[rows], labels


class StoredFeatureDataset(Dataset):
    """Serve stored image features where a dataset would decode images.

    Position ``p`` gives ``dict(inputs=features[rows[p]], data_samples=...)``
    with the data sample of ``dataset``'s sample ``indices[p]``: its
    ``gt_label`` and the metainfo ``sample_idx`` and ``img_path`` (read
    from ``get_data_info``, no image is opened; shape metainfo such as
    ``ori_shape`` is absent).

    Args:
        dataset (BaseDataset): The dataset the features come from.
        features (torch.Tensor): ``(M, D)`` features.
        indices (Sequence[int]): The dataset index of each position.
        rows (Sequence[int], optional): The feature row of each position.
            Defaults to ``range(len(indices))``.
    """

    def __init__(self,
                 dataset,
                 features: torch.Tensor,
                 indices: Sequence[int],
                 rows: Optional[Sequence[int]] = None):
        self.dataset = dataset
        self.features = features
        self.indices = [int(i) for i in indices]
        self.rows = list(range(len(indices))) if rows is None else list(rows)
        self.metainfo = getattr(dataset, 'metainfo', None)

    def __len__(self) -> int:
        """The length of the dataset it stands for (what evaluators and
        samplers expect); the positions are ``range(len(indices))``."""
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        index = self.indices[position]
        info = self.dataset.get_data_info(index)
        sample = DataSample(
            metainfo=dict(
                sample_idx=index,
                **({
                    'img_path': info['img_path']
                } if 'img_path' in info else {})))
        if 'gt_label' in info:
            sample.set_gt_label(info['gt_label'])
        feature = self.features[self.rows[position]].clone()
        return dict(inputs=feature, data_samples=sample)


class FrozenTargetDataset(Dataset):
    """Decode training images as usual, each with its stored frozen feature.

    Position ``p`` gives ``dataset[indices[p]]`` (a ``ViewIndex`` keeps its
    augmentation draw) with ``features[p]`` as the data sample's
    ``frozen_feat``: what ``VLPromptClassifier`` would compute with a
    second, unprompted pass of the tower for a head that needs them.

    Args:
        dataset (BaseDataset): The training dataset.
        features (torch.Tensor): ``(len(indices), D)`` features.
        indices (Sequence[int]): The dataset index of each position.
    """

    def __init__(self, dataset, features: torch.Tensor,
                 indices: Sequence[int]):
        self.dataset = dataset
        self.features = features
        self.indices = list(indices)
        self.metainfo = getattr(dataset, 'metainfo', None)

    def __len__(self) -> int:
        return len(self.dataset)  # as StoredFeatureDataset

    def __getitem__(self, position: int) -> dict:
        data = self.dataset[self.indices[position]]
        data['data_samples'].set_field(self.features[position].clone(),
                                       'frozen_feat')
        return data


def feature_loader(loader: DataLoader,
                   features: torch.Tensor,
                   batches: Sequence[Sequence[int]],
                   first_row: int = 0,
                   rows: Optional[Sequence[int]] = None,
                   images: bool = False) -> DataLoader:
    """A dataloader that yields ``batches`` as stored features.

    Args:
        loader (DataLoader): The image dataloader it replaces (gives the
            dataset and the collate function).
        features (torch.Tensor): Feature rows.
        batches (Sequence[Sequence[int]]): This rank's batches of dataset
            indices, as ``loader`` would yield them.
        first_row (int): Row of the first sample of ``batches``. Defaults
            to 0.
        rows (Sequence[int], optional): The row of every sample of
            ``batches`` (flattened); overrides ``first_row``.
        images (bool): Yield the decoded images too, with each feature as
            the sample's ``frozen_feat`` (:class:`FrozenTargetDataset`,
            with ``loader``'s workers). Defaults to False.

    Returns:
        DataLoader: Same batches and length (no workers unless ``images``).
    """
    indices = [i for batch in batches for i in batch]
    if rows is None:
        rows = range(first_row, first_row + len(indices))
    positions, start = [], 0
    for batch in batches:
        positions.append(list(range(start, start + len(batch))))
        start += len(batch)
    if not images:
        dataset = StoredFeatureDataset(loader.dataset, features, indices, rows)
        return DataLoader(
            dataset, batch_sampler=positions, collate_fn=loader.collate_fn)
    dataset = FrozenTargetDataset(loader.dataset, features[list(rows)],
                                  indices)
    return DataLoader(
        dataset,
        batch_sampler=positions,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        worker_init_fn=loader.worker_init_fn,
        pin_memory=loader.pin_memory)
