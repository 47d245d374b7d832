# Copyright (c) mmprompt contributors. All rights reserved.
"""Serve the runner's loops stored features of the frozen image tower."""
import functools
import logging
import uuid
from typing import List, Optional, Union

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.amp import autocast as mmengine_autocast

from mmprompt.datasets.views import ViewIndex, unseeded_views_reason, view_seed
from mmprompt.engine.feature_store import (FeatureStore, StoredFeatureDataset,
                                           encoder_fingerprint, feature_loader,
                                           file_fingerprints,
                                           frozen_target_reason,
                                           frozen_tower_reason,
                                           stored_features)
from mmprompt.errors import ConfigError
from mmprompt.registry import HOOKS


def _rank_batches(loader) -> List[List[List[int]]]:
    """Every rank's batches of ``loader`` for the current epoch."""
    mine = [list(batch) for batch in loader.batch_sampler]
    if get_dist_info()[1] > 1:
        return all_gather_object(mine)
    return [mine]


def _first_row(rank_batches, rank: int) -> int:
    return sum(len(b) for r in rank_batches[:rank] for b in r)


@HOOKS.register_module()
class FeatureStoreHook(Hook):
    """Run the test, validation and training loops on stored features.

    When the model's image features come from a frozen, unprompted tower
    (:func:`~mmprompt.engine.feature_store.frozen_tower_reason`: zero-shot,
    CoOp, CoCoOp, KgCoOp, meta-training, instance-wise prompts, ...), the
    hook replaces a loop's image dataloader by one that yields the stored
    features of the same samples in the same batches
    (:func:`~mmprompt.engine.feature_store.feature_loader`); on a miss it
    first encodes them with the loop's own batches, workers and AMP, and
    stores them. The model then sees bit-identical features, so metrics and
    trained prompts are identical to a run without the store, and a hit
    decodes no image. For other models (visual prompts, a trained or
    mmpretrain backbone, a neck) it logs why and does nothing.

    * ``test`` / ``val``: the test and validation sets (deterministic
      pipelines), encoded once per (dataset, encoder, pipeline, batch
      layout) and shared by every method and seed.
    * ``train_views='exact'``: every epoch's augmented training batches are
      encoded once per (seed, epoch, batch layout); a second run or another
      method with the same data seed and batch size reads them. Needs the
      views to be seeded per sample (``ViewSampler``).
    * ``train_views=V`` (an int): fast views, an approximation. ``V``
      augmented views of every training image (view ``v`` is the draw of
      epoch ``v``) are encoded once; in every epoch each sample reads one
      of them, chosen by ``(seed, epoch, index)``. A run of ``E`` epochs
      costs ``V`` encoder passes per image instead of ``E``.

    A model whose tower is prompted but whose loss also needs the frozen,
    unprompted features of the same batch (PromptSRC,
    :func:`~mmprompt.engine.feature_store.frozen_target_reason`) still
    decodes its training images; with ``train_views='exact'`` the frozen
    features come from the store (each sample's ``frozen_feat``) instead
    of a second pass of the tower, and are bit-identical to that pass.

    Args:
        test (bool): Store the test set's features. Defaults to True.
        val (bool): Store the validation set's features. Defaults to True.
        train_views (str | int, optional): None (off), ``'exact'`` or the
            number of fast views. Defaults to None.
        root (str, optional): The store folder; None takes
            ``MMPROMPT_FEATURE_STORE`` or ``~/.cache/mmprompt/features``.
            Defaults to None.
    """

    priority = 'LOW'  # after the sampler-seed and epoch-seed hooks

    def __init__(self,
                 test: bool = True,
                 val: bool = True,
                 train_views: Union[None, str, int] = None,
                 root: Optional[str] = None) -> None:
        if train_views not in (None, 'exact') and (isinstance(
                train_views, bool) or not isinstance(train_views, int)
                                                   or train_views < 1):
            raise ConfigError(
                'FeatureStoreHook: train_views must be None (off), '
                f"'exact' or a positive number of views, not {train_views!r}.")
        self.test = test
        self.val = val
        self.train_views = train_views
        self.root = root
        self.store: Optional[FeatureStore] = None
        self.reason: Optional[str] = None
        self.target = False  # the store serves the loss's frozen features
        self._encoder: Optional[dict] = None
        self._train_loader = None
        self._fast = None
        self._epochs = 0  # training epochs of this process (for the log)

    def before_run(self, runner) -> None:
        if self.store is None:  # one store per hook (train, then test)
            self.store = FeatureStore.get_instance(
                f'{runner.experiment_name}-{uuid.uuid4().hex}', root=self.root)
        self.reason = frozen_tower_reason(runner.model)
        target = frozen_target_reason(runner.model)
        self.target = self.reason is not None and target is None and \
            self.train_views == 'exact'
        wanted = self.test or self.val or self.train_views is not None
        if self.target:
            print_log(
                f'Feature store off for images ({self.reason}); the loss\'s '
                'frozen image features of every training batch come from '
                'the store.',
                logger='current')
        elif self.reason is not None:
            if wanted:
                hint = '' if target is not None else (
                    "; train_views='exact' would serve the loss's frozen "
                    'image features')
                print_log(
                    f'Feature store off for this model: {self.reason}'
                    f'{hint}.',
                    logger='current')
            return
        roots = []
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = getattr(runner, f'_{name}', None)
            dataset = loader.get('dataset', {}) if isinstance(
                loader, dict) else getattr(loader, 'dataset', None)
            root = dataset.get('data_root') if isinstance(
                dataset, dict) else getattr(dataset, 'data_root', None)
            roots.append(root)
        self.store.check_outside(roots)
        if wanted and self.store.enabled:
            self.store.writable()

    def _encoder_parts(self, runner) -> dict:
        # The frozen tower cannot change within a run: hash its weights once
        # (after load_checkpoint / resume, which run before the loops).
        if self._encoder is None:
            self._encoder = encoder_fingerprint(runner.model)
        return self._encoder

    def _features(self,
                  runner,
                  loader,
                  batches,
                  what: str,
                  amp: Optional[str] = None,
                  autocast=None,
                  log_level: int = logging.INFO):
        """Stored features of ``batches`` of ``loader``'s dataset, encoded
        on a miss with the loader's workers and collate function."""
        return stored_features(
            runner.model,
            loader.dataset,
            batches,
            amp=amp,
            store=self.store,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            worker_init_fn=loader.worker_init_fn,
            autocast=autocast,
            encoder=self._encoder_parts(runner),
            what=f'{what} of {type(loader.dataset).__name__}',
            log_level=log_level)

    def _swap_eval_loader(self, runner, loop, kind: str) -> None:
        loader = loop.dataloader
        if isinstance(loader.dataset, StoredFeatureDataset):
            return  # the validation set, already swapped
        if file_fingerprints(loader.dataset) is None:
            print_log(
                f'Feature store off for the {kind} set: its samples '
                'are not image files (no img_path).',
                logger='current')
            return
        rank = get_dist_info()[0]
        batches = _rank_batches(loader)
        fp16 = bool(getattr(loop, 'fp16', False))
        feats = self._features(
            runner,
            loader,
            batches,
            f'{kind} features',
            amp='fp16' if fp16 else None,
            autocast=(functools.partial(mmengine_autocast, enabled=True)
                      if fp16 else None))
        loop.dataloader = feature_loader(loader, feats, batches[rank],
                                         _first_row(batches, rank))

    def before_val(self, runner) -> None:
        if self.val and self.reason is None:
            self._swap_eval_loader(runner, runner.val_loop, 'val')

    def before_test(self, runner) -> None:
        if self.test and self.reason is None:
            self._swap_eval_loader(runner, runner.test_loop, 'test')

    # Training views ------------------------------------------------------
    def _serves_training(self) -> bool:
        return self.train_views is not None and (self.reason is None
                                                 or self.target)

    def _train_autocast(self, runner):
        wrapper = runner.optim_wrapper
        if isinstance(wrapper, AmpOptimWrapper):
            return (lambda: wrapper.optim_context(runner.model),
                    str(wrapper.cast_dtype))
        return None, None

    def before_train(self, runner) -> None:
        if not self._serves_training():
            return
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise ConfigError(
                'FeatureStoreHook: train_views needs an epoch-based training '
                f'loop, not {type(runner.train_loop).__name__}; set '
                'default_hooks.feature_store.train_views=None.')
        reason = unseeded_views_reason(runner.train_loop.dataloader.dataset)
        if reason is not None:
            raise ConfigError(
                f'FeatureStoreHook: train_views={self.train_views!r} stores '
                f'views drawn by their ViewIndex, but {reason}. Train on the '
                'CoOp dataset itself (train_dataloader.dataset), or set '
                'default_hooks.feature_store.train_views=None.')
        if isinstance(self.train_views, int):
            self._fast = self._encode_fast_views(runner)

    def _encode_fast_views(self, runner):
        """Rows of ``V`` views of every training image, and a row map."""
        import torch
        loader = runner.train_loop.dataloader
        rank, world_size = get_dist_info()
        size = len(loader.dataset)
        batch_size = loader.batch_size or 32
        autocast, cast = self._train_autocast(runner)
        feats, row_of = [], {}
        for view in range(self.train_views):
            chunks = [[
                ViewIndex(i, runner.seed, view)
                for i in range(start, min(start + batch_size, size))
            ] for start in range(0, size, batch_size)]
            batches = [chunks[r::world_size] for r in range(world_size)]
            if not row_of:
                order = [int(i) for r in batches for b in r for i in b]
                row_of = {index: row for row, index in enumerate(order)}
            feats.append(
                self._features(runner, loader, batches,
                               f'training view {view + 1}/{self.train_views}',
                               cast, autocast,
                               logging.INFO if view == 0 else logging.DEBUG))
        print_log(
            f'Fast training views: {self.train_views} view(s) of each of '
            f'{size} training images; every epoch reads one per sample '
            'instead of encoding it.',
            logger='current')
        return torch.cat(feats), row_of, size

    def before_train_epoch(self, runner) -> None:
        if not self._serves_training():
            return
        loop = runner.train_loop
        loader = self._train_loader = loop.dataloader
        rank = get_dist_info()[0]
        batches = _rank_batches(loader)
        if self._fast is None:
            plain = next(
                (index for batch in batches[rank]
                 for index in batch if not isinstance(index, ViewIndex)), None)
            if plain is not None:
                raise ConfigError(
                    "FeatureStoreHook: train_views='exact' stores the views "
                    'of seeded indices, but the training sampler '
                    f'({type(loader.sampler).__name__}) yields plain ints '
                    f'(index {plain!r}), whose views depend on the worker '
                    "layout. Use train_dataloader.sampler=dict(type="
                    "'ViewSampler'), or set "
                    'default_hooks.feature_store.train_views=None.')
            autocast, cast = self._train_autocast(runner)
            feats = self._features(
                runner, loader, batches,
                f'epoch {runner.epoch + 1} training views', cast, autocast,
                logging.DEBUG if self._epochs else logging.INFO)
            self._epochs += 1
            loop.dataloader = feature_loader(
                loader,
                feats,
                batches[rank],
                _first_row(batches, rank),
                images=self.target)
            return
        feats, row_of, size = self._fast
        rows, seen = [], {}
        for batch in batches[rank]:
            for index in batch:
                repeat = getattr(index, 'repeat', None)
                if repeat is None:
                    repeat = seen.get(int(index), 0)
                    seen[int(index)] = repeat + 1
                view = view_seed(runner.seed, runner.epoch, int(index),
                                 repeat) % self.train_views
                rows.append(view * size + row_of[int(index)])
        loop.dataloader = feature_loader(
            loader, feats, batches[rank], rows=rows)

    def after_train_epoch(self, runner) -> None:
        if self._train_loader is not None:
            runner.train_loop.dataloader = self._train_loader
            self._train_loader = None

    def after_run(self, runner) -> None:
        if self.store is not None and (self.reason is None or self.target
                                       ) and (self.store.stats['hits']
                                              or self.store.stats['misses']):
            print_log(self.store.summary(), logger='current')
