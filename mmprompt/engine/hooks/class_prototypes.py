# Copyright (c) mmprompt contributors. All rights reserved.
"""Class prototypes from the frozen, unprompted image encoder (DAPT)."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.datasets.views import ViewIndex, seeded_view
from mmprompt.engine.feature_store import (encode_images, sample_labels,
                                           stored_features)
from mmprompt.errors import ConfigError
from mmprompt.registry import HOOKS

#: Seed the global generators for a block and restore them afterwards (the
#: name this module has always exported).
seeded_global_rngs = seeded_view


def class_means(feats: torch.Tensor, labels: Sequence[int], num_classes: int,
                what: str) -> torch.Tensor:
    """Per-class mean of L2-normalised features (not re-normalised).

    Args:
        feats (torch.Tensor): ``(M, D)`` features.
        labels (Sequence[int]): The label of every row.
        num_classes (int): Number of classes (rows of the result).
        what (str): The images' dataset, named in errors.

    Raises:
        ConfigError: a class has no image.
    """
    feats = F.normalize(feats.float(), dim=-1)
    labels = torch.as_tensor(
        list(labels), dtype=torch.long, device=feats.device)
    counts = torch.bincount(labels.cpu(), minlength=num_classes)
    empty = [c for c in range(num_classes) if counts[c] == 0]
    if not len(feats) or empty:
        raise ConfigError(
            f'class_prototypes: classes {empty or list(range(num_classes))} '
            f'have no image in {what}; every training class needs at least '
            'one.')
    sums = feats.new_zeros(num_classes, feats.shape[1])
    sums.index_add_(0, labels, feats)
    return sums / counts.to(sums.device).unsqueeze(1)


@torch.no_grad()
def class_prototypes(model,
                     dataset,
                     num_classes: int,
                     batch_size: int = 32) -> torch.Tensor:
    """Per-class mean of L2-normalised, unprompted image features.

    Every sample of ``dataset`` goes once through its pipeline (so through
    the training augmentation for a training set, drawing from the global
    random generators), the model's data preprocessor and the frozen tower
    **without prompts** (:func:`~mmprompt.engine.feature_store.
    encode_images`, the one extraction path), then ``head.pre_logits``.

    Args:
        model (ImageClassifier): The model (not wrapped).
        dataset (BaseDataset): The images, with ``gt_label``.
        num_classes (int): Number of classes (rows).
        batch_size (int): Images per forward. Defaults to 32.

    Returns:
        torch.Tensor: ``(num_classes, D)`` prototypes; the mean of unit
        vectors, not re-normalised (as DAPT computes them).

    Raises:
        ConfigError: a class has no image.
    """
    order = list(range(len(dataset)))
    batches = [
        order[i:i + batch_size] for i in range(0, len(order), batch_size)
    ]
    feats = encode_images(
        model, dataset, batches, what='Encoding prototype images')
    feats = model.head.pre_logits((feats, ))
    return class_means(feats, sample_labels(dataset, order), num_classes,
                       type(dataset).__name__)


@HOOKS.register_module()
class ClassPrototypeHook(Hook):
    """Give the head class prototypes of the training set before training.

    DAPT's intra-class loss pulls prompted image features towards ``s_c``:
    the few-shot training images, passed once through the training
    augmentation and the frozen, unprompted image encoder, L2-normalised and
    averaged per class. The augmentation of image ``i`` is its view 0 of
    ``seed`` (``ViewIndex(i, seed, 0)``, default the run's seed), the same
    on any number of processes, and the features come from the feature
    store (:func:`~mmprompt.engine.feature_store.stored_features`): under
    DDP the ranks encode disjoint shards, and reruns, resumed runs and other
    runs with the same seed read them instead of encoding again. The head
    keeps the prototypes as a buffer (``head.set_prototypes``), so they are
    also in the (kilobyte) checkpoints.

    Args:
        seed (int, optional): Seed of the augmentation pass. Defaults to
            None (the run's ``randomness.seed``, or 0).
        batch_size (int): Images per forward. Defaults to 32.
    """

    priority = 'LOW'  # after SetClassNamesHook has bound the classes

    def __init__(self, seed: Optional[int] = None, batch_size: int = 32):
        self.seed = seed
        self.batch_size = batch_size

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
        rank, world_size = get_dist_info()
        # View 0 of every image: the same draw on any number of processes.
        chunks = [[
            ViewIndex(i, seed, 0)
            for i in range(start, min(start + self.batch_size, len(dataset)))
        ] for start in range(0, len(dataset), self.batch_size)]
        batches = [chunks[r::world_size] for r in range(world_size)]
        # Datasets that do not seed per sample draw from the global RNGs.
        with seeded_global_rngs(seed):
            feats = stored_features(
                model,
                dataset,
                batches,
                what=f'prototype views of {type(dataset).__name__}')
        order = [int(i) for r in batches for b in r for i in b]
        prototypes = class_means(
            head.pre_logits((feats, )), sample_labels(dataset, order),
            len(classes),
            type(dataset).__name__)
        head.set_prototypes(prototypes.to(next(head.parameters()).device))
        print_log(
            f'Class prototypes of {len(classes)} classes from '
            f'{len(dataset)} augmented training images (seed {seed}).',
            logger='current')
