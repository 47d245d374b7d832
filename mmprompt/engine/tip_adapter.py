# Copyright (c) mmprompt contributors. All rights reserved.
"""Tip-Adapter's cache model and its search of ``alpha`` and ``beta``.

Zhang et al., "Tip-Adapter: Training-free Adaption of CLIP for Few-shot
Classification", ECCV 2022, as the official code computes it
(github.com/gaopengcuhk/Tip-Adapter, ``utils.build_cache_model``,
``utils.search_hp`` and ``main.py``):

* :func:`cache_from_views`: the cache keys are the few-shot training
  images' raw image features averaged over ``augment_epoch`` augmented
  views, then L2-normalised; the values are their one-hot labels.
* :func:`search_grid` and :func:`search_alpha_beta`: the grid search of
  ``beta`` (outer loop) and ``alpha`` (inner loop) on the validation
  features, keeping the first setting of the best accuracy.
* :class:`TipAdapterHook` builds the cache from the feature store before
  training and searches ``alpha`` / ``beta`` at the end of the last
  training epoch (before the last checkpoint is written, so they are in
  it); :class:`TrainingFreeLoop` is the one-"epoch" loop of the
  training-free Tip-Adapter, a run with no gradient step.
"""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.datasets.views import ViewIndex, seeded_view
from mmprompt.engine.feature_store import (dataset_features, sample_labels,
                                           stored_features)
from mmprompt.engine.one_epoch_loop import OneEpochLoop
from mmprompt.errors import ConfigError, DataError
from mmprompt.models.heads.tip_adapter_head import cache_logits
from mmprompt.registry import HOOKS, LOOPS


def _is_number(value, types=(int, float)) -> bool:
    """Whether ``value`` is of ``types`` (never a bool)."""
    return isinstance(value, types) and not isinstance(value, bool)


def search_grid(search_scale: Sequence[float],
                search_step: Sequence[int]) -> Tuple[List[float], List[float]]:
    """The official ``search_hp`` grid: ``(beta_list, alpha_list)``.

    ``beta_list[i] = i * (search_scale[0] - 0.1) / search_step[0] + 0.1``
    for ``i < search_step[0]``, and ``alpha_list`` likewise with index 1
    (so the scale itself is never reached).

    Raises:
        ConfigError: A scale is not above 0.1 or a step count is not a
            positive integer.
    """
    if len(search_scale) != 2 or len(search_step) != 2:
        raise ConfigError(
            'Tip-Adapter search: search_scale and search_step are '
            '(beta, alpha) pairs, e.g. search_scale=(13, 13), '
            f'search_step=(200, 20); got {search_scale!r} and '
            f'{search_step!r}.')
    for name, scale in zip(('beta', 'alpha'), search_scale):
        if not _is_number(scale) or scale <= 0.1:
            raise ConfigError(
                f'Tip-Adapter search: the {name} scale {scale!r} of '
                'search_scale must be a number above 0.1 (the grid runs from '
                '0.1 towards it).')
    for name, step in zip(('beta', 'alpha'), search_step):
        if not _is_number(step, int) or step < 1:
            raise ConfigError(
                f'Tip-Adapter search: the {name} step count {step!r} of '
                'search_step must be a positive integer (official: 200 for '
                'beta, 20 for alpha).')
    return tuple([i * (scale - 0.1) / step + 0.1 for i in range(step)]
                 for scale, step in zip(search_scale, search_step))


@torch.no_grad()
def search_alpha_beta(image: torch.Tensor,
                      labels: torch.Tensor,
                      text: torch.Tensor,
                      keys: torch.Tensor,
                      values: torch.Tensor,
                      search_scale: Sequence[float],
                      search_step: Sequence[int] = (200, 20),
                      logit_scale: float = 100.) -> Tuple[float, float, float]:
    """The official ``search_hp``: the best ``(beta, alpha)`` on a set.

    For every ``beta`` of :func:`search_grid` (outer loop) and every
    ``alpha`` (inner loop), the top-1 accuracy of
    ``logit_scale * f W^T + alpha * exp(-beta (1 - f keys^T)) values``;
    a setting replaces the best only if its accuracy is strictly higher
    (the search starts from accuracy 0 at ``beta = alpha = 0``, as the
    official code does).

    Args:
        image (torch.Tensor): ``(N, D)`` L2-normalised image features.
        labels (torch.Tensor): ``(N, )`` labels.
        text (torch.Tensor): ``(C, D)`` L2-normalised class text features.
        keys (torch.Tensor): ``(M, D)`` cache keys (trained ones for -F).
        values (torch.Tensor): ``(M, C)`` one-hot cache values.
        search_scale (Sequence[float]): ``(beta, alpha)`` scales.
        search_step (Sequence[int]): ``(beta, alpha)`` step counts.
            Defaults to (200, 20).
        logit_scale (float): Scale of the CLIP logits. Defaults to 100.

    Returns:
        tuple: ``(beta, alpha, top-1 accuracy in %)``.
    """
    betas, alphas = search_grid(search_scale, search_step)
    if len(labels) == 0:
        raise DataError('Tip-Adapter search: the validation set is empty.')
    labels = labels.to(image.device)
    clip = logit_scale * image @ text.t()
    affinity = image @ keys.t()
    best_correct, best_beta, best_alpha = 0, 0., 0.
    alpha_t = torch.tensor(alphas, dtype=clip.dtype, device=clip.device)
    for beta in betas:
        cache = cache_logits(affinity, values, beta)
        # All alphas of this beta at once; kept in the official order.
        preds = (clip + cache * alpha_t[:, None, None]).argmax(dim=-1)
        corrects = (preds == labels).sum(dim=1).tolist()
        for alpha, correct in zip(alphas, corrects):
            if correct > best_correct:
                best_correct, best_beta, best_alpha = correct, beta, alpha
    return best_beta, best_alpha, 100. * best_correct / len(labels)


def cache_from_views(views: Sequence[torch.Tensor], labels: Sequence[int],
                     num_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cache keys and values from augmented views of the training images.

    As ``utils.build_cache_model``: the raw (unnormalised) features of
    every view are averaged over the views, then L2-normalised; the values
    are the one-hot labels.

    Args:
        views (Sequence[torch.Tensor]): ``augment_epoch`` tensors
            ``(M, D)``, row ``m`` of each the same image.
        labels (Sequence[int]): The ``M`` labels.
        num_classes (int): Number of classes.

    Returns:
        tuple: ``(keys (M, D), values (M, num_classes))``.

    Raises:
        DataError: No image, or a class without an image.
    """
    labels = torch.as_tensor(list(labels), dtype=torch.long)
    if len(labels) == 0:
        raise DataError(
            'TipAdapterHook: the training set is empty, so the cache has no '
            'entry; Tip-Adapter needs num_shots >= 1 training images per '
            'class (train_dataloader.dataset.num_shots).')
    counts = torch.bincount(labels, minlength=num_classes)
    empty = [c for c in range(num_classes) if counts[c] == 0]
    if empty or len(counts) > num_classes:
        raise DataError(
            f'TipAdapterHook: classes {empty[:10]} have no training image '
            f'(or labels exceed the {num_classes} classes); every class '
            'needs at least one shot in the cache.')
    keys = torch.stack([v.float() for v in views]).mean(dim=0)
    keys = F.normalize(keys, dim=-1)
    return keys, F.one_hot(labels, num_classes).float()


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TipAdapterHook(Hook):
    """Build Tip-Adapter's cache before training; search alpha and beta at
    the end of training.

    ``before_train``: view ``v`` of training image ``i`` is the draw of
    ``ViewIndex(i, seed, -1 - v)`` (negative "epochs", so the cache views
    are independent of every training epoch's views, as the official
    cache loader and training loader draw independently) for
    ``v < augment_epoch``; the features of each view pass come from the
    feature store (:func:`~mmprompt.engine.feature_store.stored_features`),
    so another run with the same data and seed reads them. The keys and
    one-hot values (:func:`cache_from_views`) go to ``head.set_cache``. A
    head that already holds a cache (``--resume``, ``load_from``) keeps it.

    ``after_train_epoch`` of the last epoch (before ``CheckpointHook``
    writes it): with ``search=True``, ``alpha`` and ``beta`` are searched
    on the validation split (:func:`search_alpha_beta`, features from the
    store, with the head's current keys: the trained ones of
    Tip-Adapter-F) and set on the head; the result is logged and written
    to ``<log_dir>/tip_adapter.json``. ``search=False`` keeps the head's
    initial ``alpha`` / ``beta`` (as the official ImageNet script
    reports).

    Args:
        augment_epoch (int): Augmented views per training image averaged
            into a key. Defaults to 10 (official).
        search (bool): Search alpha / beta on the validation split.
            Defaults to True.
        search_scale (Sequence[float], optional): ``(beta, alpha)`` scales
            of the search (per dataset in the official configs, e.g.
            ``(13, 13)`` on DTD). Required when ``search``.
        search_step (Sequence[int]): ``(beta, alpha)`` step counts.
            Defaults to (200, 20) (official).
        seed (int, optional): Seed of the cache views. Defaults to None
            (the run's ``randomness.seed``, or 0).
        batch_size (int): Images per forward of the cache pass. Defaults
            to 256 (official).
    """

    priority = 'LOW'  # after SetClassNamesHook; before CheckpointHook

    def __init__(self,
                 augment_epoch: int = 10,
                 search: bool = True,
                 search_scale: Optional[Sequence[float]] = None,
                 search_step: Sequence[int] = (200, 20),
                 seed: Optional[int] = None,
                 batch_size: int = 256) -> None:
        if not _is_number(augment_epoch, int) or augment_epoch < 1:
            raise ConfigError(
                f'TipAdapterHook: augment_epoch={augment_epoch!r}; it must '
                'be a positive number of augmented views (official: 10).')
        if search:
            if search_scale is None:
                raise ConfigError(
                    'TipAdapterHook: search=True needs search_scale=(beta '
                    'scale, alpha scale), the official per-dataset value '
                    '(e.g. (13, 13) on DTD); or set search=False to keep '
                    "the head's alpha / beta.")
            search_grid(search_scale, search_step)  # validate
        if not _is_number(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f'TipAdapterHook: batch_size={batch_size!r}; it must be a '
                'positive integer.')
        self.augment_epoch = augment_epoch
        self.search = search
        self.search_scale = tuple(search_scale) if search_scale else None
        self.search_step = tuple(search_step)
        self.seed = seed
        self.batch_size = batch_size
        self._val_loader = None
        self.result: Optional[dict] = None

    @staticmethod
    def _head(runner):
        head = _unwrap(runner.model).head
        if not hasattr(head, 'set_cache'):
            raise ConfigError(
                'TipAdapterHook builds a cache for the head, but '
                f'{type(head).__name__} has no set_cache(); use '
                "head=dict(type='TipAdapterHead', ...) or remove the hook.")
        return head

    def before_train(self, runner) -> None:
        head = self._head(runner)
        if self.search:
            if runner.val_loop is None:
                raise ConfigError(
                    'TipAdapterHook searches alpha and beta on the '
                    'validation split, but the config has no val_dataloader '
                    '/ val_cfg; add them, or set '
                    'default_hooks.tip_adapter.search=False to keep the '
                    "head's initial alpha / beta.")
            # The image loader, before FeatureStoreHook swaps it.
            self._val_loader = runner.val_loop.dataloader
        if head.cache_size:
            print_log(
                f'TipAdapterHook: the head already holds a cache of '
                f'{head.cache_size} entries (resumed or loaded); kept.',
                logger='current')
            return
        keys, values = self.build_cache(runner)
        head.set_cache(keys, values)

    def build_cache(self, runner) -> Tuple[torch.Tensor, torch.Tensor]:
        """The cache of the training set (see the class docstring)."""
        model = _unwrap(runner.model)
        head = model.head
        dataset = runner.train_dataloader.dataset
        classes = list((dataset.metainfo or {}).get('classes') or [])
        if not classes:
            raise ConfigError(
                f'TipAdapterHook: the training dataset '
                f'{type(dataset).__name__} has no metainfo["classes"].')
        size = len(dataset)
        if size == 0:
            cache_from_views([], [], len(classes))  # raises
        seed = self.seed if self.seed is not None else (runner.seed or 0)
        _, world_size = get_dist_info()
        views = []
        for view in range(self.augment_epoch):
            chunks = [[
                ViewIndex(i, seed, -1 - view)
                for i in range(start, min(start + self.batch_size, size))
            ] for start in range(0, size, self.batch_size)]
            batches = [chunks[r::world_size] for r in range(world_size)]
            with seeded_view(seed + view):  # unseeded datasets
                feats = stored_features(
                    model,
                    dataset,
                    batches,
                    what=f'Tip-Adapter cache view {view + 1}/'
                    f'{self.augment_epoch} of {type(dataset).__name__}')
            feats = head.pre_logits((feats, ))
            indices = [int(i) for r in batches for b in r for i in b]
            rows = torch.empty(size, dtype=torch.long)
            rows[torch.tensor(indices)] = torch.arange(len(indices))
            views.append(feats[rows])  # dataset order
        keys, values = cache_from_views(views,
                                        sample_labels(dataset, range(size)),
                                        len(classes))
        print_log(
            f'Tip-Adapter cache: {size} training images x '
            f'{self.augment_epoch} augmented views (seed {seed}), '
            f'{len(classes)} classes.',
            logger='current')
        return keys, values

    def _val_features(self, runner):
        feats, labels = dataset_features(
            _unwrap(runner.model), self._val_loader,
            'Tip-Adapter val features')
        return feats.float(), labels

    def search_head(self, runner) -> dict:
        """Search alpha / beta on the validation split and set them."""
        head = self._head(runner)
        head.check_cache()
        feats, labels = self._val_features(runner)
        device = head.cache_keys.device
        image = F.normalize(feats.to(device).float(), dim=-1)
        with torch.no_grad():
            text = head.text_features().float()
            keys = head.cache_keys.detach().float()
            values = head.cache_values.float()
            scale = float(head.logit_scale)
            before = float(
                ((scale * image @ text.t() + float(head.alpha) *
                  cache_logits(image @ keys.t(), values, float(head.beta))
                  ).argmax(1).cpu() == labels).float().mean()) * 100
            zero_shot = float(((image @ text.t()).argmax(1).cpu()
                               == labels).float().mean()) * 100
        beta, alpha, acc = search_alpha_beta(image, labels, text, keys, values,
                                             self.search_scale,
                                             self.search_step, scale)
        result = dict(
            init_alpha=float(head.alpha),
            init_beta=float(head.beta),
            alpha=alpha,
            beta=beta,
            val_top1=acc,
            val_top1_init=before,
            val_top1_zero_shot=zero_shot,
            search_scale=list(self.search_scale),
            search_step=list(self.search_step),
            num_val=len(labels))
        head.set_alpha_beta(alpha, beta)
        return result

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 < runner.max_epochs:
            return
        head = self._head(runner)
        if not self.search:
            self.result = dict(alpha=float(head.alpha), beta=float(head.beta))
            print_log(
                f'Tip-Adapter: alpha={float(head.alpha):.4g}, beta='
                f'{float(head.beta):.4g} (not searched).',
                logger='current')
            return
        self.result = self.search_head(runner)
        r = self.result
        print_log(
            f'Tip-Adapter search on {r["num_val"]} validation images: '
            f'beta={r["beta"]:.4g}, alpha={r["alpha"]:.4g}, top-1 '
            f'{r["val_top1"]:.2f} (initial alpha={r["init_alpha"]:.4g}, '
            f'beta={r["init_beta"]:.4g}: {r["val_top1_init"]:.2f}; '
            f'zero-shot CLIP {r["val_top1_zero_shot"]:.2f}).',
            logger='current')
        if get_dist_info()[0] == 0:
            with open(osp.join(runner.log_dir, 'tip_adapter.json'), 'w') as f:
                json.dump(r, f, indent=1)


@LOOPS.register_module()
class TrainingFreeLoop(OneEpochLoop):
    """One "epoch" of no gradient step, for training-free methods.

    It calls the training hooks around an empty epoch (``before_train``,
    ``before_train_epoch``, ``after_train_epoch``, ``after_train``), so
    hooks that fit a model without gradients (``TipAdapterHook``: the
    cache, then alpha / beta) run, ``CheckpointHook`` saves
    ``epoch_1.pth`` (kilobytes: the frozen towers are not saved) and the
    val loop, if any, reports the result.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The training data (read by the
            hooks, not iterated).
    """

    def run(self):
        runner = self.runner
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        runner.call_hook('after_train_epoch')
        self._epoch, self._iter = 1, 1
        if runner.val_loop is not None:
            runner.val_loop.run()
        runner.call_hook('after_train')
        return runner.model
