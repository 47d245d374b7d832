# Copyright (c) mmprompt contributors. All rights reserved.
"""Class prototypes from the frozen, unprompted image encoder (DAPT)."""
import contextlib
import hashlib
import json
import os
import os.path as osp
import random
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.errors import ConfigError
from mmprompt.registry import HOOKS


@contextlib.contextmanager
def seeded_global_rngs(seed: int):
    """Seed ``random``, NumPy and torch for a block, then restore them.

    Data pipelines draw their augmentations from the global generators; this
    makes one pass over a dataset reproducible without disturbing the run's
    own random streams.
    """
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() \
        else None
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds the CUDA generators too
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@torch.no_grad()
def class_prototypes(model,
                     dataset,
                     num_classes: int,
                     batch_size: int = 32) -> torch.Tensor:
    """Per-class mean of L2-normalised, unprompted image features.

    Every sample of ``dataset`` goes once through its pipeline (so through
    the training augmentation for a training set), the model's data
    preprocessor and the backbone (+ neck) **without prompts**.

    Args:
        model (ImageClassifier): The model (not wrapped).
        dataset (BaseDataset): The images, with ``gt_label``.
        num_classes (int): Number of classes (rows).
        batch_size (int): Images per forward. Defaults to 32.

    Returns:
        torch.Tensor: ``(num_classes, D)`` prototypes; the mean of unit
        vectors, not re-normalised (as DAPT computes them).

    Raises:
        ValueError: a class has no image.
    """
    sums, counts = None, torch.zeros(num_classes)
    for start in range(0, len(dataset), batch_size):
        stop = min(start + batch_size, len(dataset))
        batch = pseudo_collate([dataset[i] for i in range(start, stop)])
        data = model.data_preprocessor(batch, False)
        feats = model.backbone(data['inputs'])
        if getattr(model, 'with_neck', False):
            feats = model.neck(feats)
        feats = F.normalize(model.head.pre_logits(feats).float(), dim=-1)
        labels = torch.tensor(
            [int(s.gt_label) for s in data['data_samples']],
            device=feats.device)
        if sums is None:
            sums = feats.new_zeros(num_classes, feats.shape[1])
        sums.index_add_(0, labels, feats)
        counts += torch.bincount(labels.cpu(), minlength=num_classes)
    empty = [c for c in range(num_classes) if counts[c] == 0]
    if sums is None or empty:
        raise ConfigError(
            f'class_prototypes: classes {empty or list(range(num_classes))} '
            f'have no image in {type(dataset).__name__}; every training '
            'class needs at least one.')
    return sums / counts.to(sums.device).unsqueeze(1)


@HOOKS.register_module()
class ClassPrototypeHook(Hook):
    """Give the head class prototypes of the training set before training.

    DAPT's intra-class loss pulls prompted image features towards ``s_c``:
    the few-shot training images, passed once through the training
    augmentation and the frozen, unprompted image encoder, L2-normalised and
    averaged per class (:func:`class_prototypes`). The pass is seeded
    (``seed``, default the run's seed) so it is reproducible, and the result
    is cached in the work dir (``cache_file``, never in the data dir) under
    a key of the class list, the image files, the pipeline, the image
    encoder and the seed: reruns and resumed runs in the same work dir load
    it instead of recomputing. Every rank computes the same prototypes;
    only rank 0 writes the cache. The head keeps them as a buffer
    (``head.set_prototypes``), so they are also in the (kilobyte)
    checkpoints.

    Args:
        cache_file (str, optional): File name in ``runner.work_dir`` (or an
            absolute path); None disables caching.
            Defaults to 'class_prototypes.pth'.
        seed (int, optional): Seed of the augmentation pass. Defaults to
            None (the run's ``randomness.seed``, or 0).
        batch_size (int): Images per forward. Defaults to 32.
    """

    priority = 'LOW'  # after SetClassNamesHook has bound the classes

    def __init__(self,
                 cache_file: Optional[str] = 'class_prototypes.pth',
                 seed: Optional[int] = None,
                 batch_size: int = 32):
        self.cache_file = cache_file
        self.seed = seed
        self.batch_size = batch_size

    def _key(self, runner, dataset, classes, seed) -> str:
        files = [info.get('img_path', '') for info in
                 (dataset.get_data_info(i) for i in range(len(dataset)))]
        backbone = runner.cfg.get('model', {}).get('backbone', {})
        payload = json.dumps(
            dict(
                classes=list(classes),
                files=files,
                pipeline=repr(getattr(dataset, 'pipeline', None)),
                backbone=repr(backbone),
                seed=seed),
            sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = model.head
        if not hasattr(head, 'set_prototypes'):
            raise TypeError(
                'ClassPrototypeHook gives class prototypes to the head, but '
                f'{type(head).__name__} has no set_prototypes(); use a head '
                "such as DAPTHead or remove the hook.")
        dataset = runner.train_dataloader.dataset
        classes = list((dataset.metainfo or {}).get('classes') or [])
        if not classes:
            raise ConfigError(
                f'ClassPrototypeHook: the training dataset '
                f'{type(dataset).__name__} has no metainfo["classes"].')
        seed = self.seed if self.seed is not None else (runner.seed or 0)
        key = self._key(runner, dataset, classes, seed)
        path = None
        if self.cache_file:
            path = self.cache_file if osp.isabs(self.cache_file) else \
                osp.join(runner.work_dir, self.cache_file)
        if path and osp.isfile(path):
            cached = torch.load(path, map_location='cpu', weights_only=True)
            if cached.get('key') == key:
                head.set_prototypes(cached['prototypes'])
                print_log(f'Class prototypes loaded from {path}.',
                          logger='current')
                return
        was_training = model.training
        model.eval()
        with seeded_global_rngs(seed):
            prototypes = class_prototypes(model, dataset, len(classes),
                                          self.batch_size)
        model.train(was_training)
        head.set_prototypes(prototypes)
        if path and get_rank() == 0:
            os.makedirs(osp.dirname(path) or '.', exist_ok=True)
            tmp = path + '.tmp'
            torch.save(dict(key=key, prototypes=prototypes.cpu()), tmp)
            os.replace(tmp, path)
        print_log(
            f'Class prototypes of {len(classes)} classes computed from '
            f'{len(dataset)} augmented training images (seed {seed})'
            + (f', cached in {path}.' if path else '.'),
            logger='current')
