# Copyright (c) mmprompt contributors. All rights reserved.
"""Monitor the accuracy gap between multimodal prototypes and text alone."""
import copy
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.engine.feature_store import sample_labels, stored_features
from mmprompt.errors import ConfigError
from mmprompt.models.heads import MetaPromptClsHead
from mmprompt.registry import DATASETS, HOOKS

#: The scalar names written to the visualiser backends (``scalars.json``).
GAP_KEYS = ('meta_gap/mm_top1', 'meta_gap/text_top1', 'meta_gap/gap')


@HOOKS.register_module()
class MetaGapMonitorHook(Hook):
    """Accuracy with multimodal prototypes vs text only, during training.

    Fig. 4 of "Prompt Tuning for Vision-Language Models via Meta-Training":
    the KL term should close the gap between predicting with multimodal
    prototypes (which need labelled support images) and with the prompts'
    text features alone (what inference uses). Every ``interval`` epochs (and
    before the first one with ``at_start``) this hook classifies the base
    test images among all base classes both ways and logs, through the
    logger and the visualiser backends (``vis_data/scalars.json`` for
    ``LocalVisBackend``), ``meta_gap/mm_top1``, ``meta_gap/text_top1`` and
    ``meta_gap/gap = mm - text`` with the epoch count as step.
    ``tools/analysis_tools/plot_meta_gap.py`` plots them.

    The prototypes fuse each class's text feature with ``num_support``
    images of that class drawn once (seed ``support_seed``) from the
    training shots, passed through the test pipeline. The frozen image
    encoder makes the image features constant: they come from the feature
    store (computed once, shared with later runs) and are kept in memory, so
    a measurement costs one text-encoder pass and the fusion.

    By default the data is the run's own: the images of the training
    classes in the test (or else val) dataloader's dataset (the base test
    images of a base-to-new run), and the training dataset under that
    dataset's pipeline for the support images. Both must have every
    training class (matched by name). Only the main process measures.

    Args:
        interval (int): Measure every ``interval`` epochs (and after the
            last). Defaults to 10.
        at_start (bool): Also measure before the first epoch of a run that
            starts at epoch 0. Defaults to True.
        num_support (int, optional): Support images per class; None takes
            the head's episode ``num_support``. Defaults to None.
        support_seed (int): Seed of the support draw. Defaults to 0.
        eval_dataset (dict, optional): Config of the evaluation images;
            those of the training classes are used. Defaults to None (see
            above).
        support_dataset (dict, optional): Config of the dataset the support
            is drawn from. Defaults to None (see above).
        batch_size (int): Images per forward pass when extracting features.
            Defaults to 64.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 10,
                 at_start: bool = True,
                 num_support: Optional[int] = None,
                 support_seed: int = 0,
                 eval_dataset: Optional[dict] = None,
                 support_dataset: Optional[dict] = None,
                 batch_size: int = 64) -> None:
        if isinstance(interval,
                      bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError('MetaGapMonitorHook: interval must be a '
                              f'positive int, but got {interval!r}.')
        self.interval = interval
        self.at_start = at_start
        self.num_support = num_support
        self.support_seed = support_seed
        self.eval_dataset = eval_dataset
        self.support_dataset = support_dataset
        self.batch_size = batch_size
        self._cache: Optional[Tuple[torch.Tensor, ...]] = None
        #: ``(epoch, mm_top1, text_top1)`` of every measurement of this run.
        self.history: List[Tuple[int, float, float]] = []

    @staticmethod
    def _unwrap(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _datasets(self, runner) -> Tuple[Any, Any]:
        """The evaluation and the support datasets, built."""
        if self.eval_dataset is not None:
            eval_set = DATASETS.build(self.eval_dataset)
        else:
            loop = runner.test_loop
            loop = runner.val_loop if loop is None else loop
            if loop is None:
                raise ConfigError(
                    'MetaGapMonitorHook evaluates on the test (or val) '
                    'images of the training classes, but the run has no '
                    'test or val dataloader. Pass eval_dataset=dict(...) to '
                    'the hook.')
            eval_set = loop.dataloader.dataset
        if self.support_dataset is not None:
            support_set = DATASETS.build(self.support_dataset)
        else:
            # The training images under the evaluation pipeline (no
            # augmentation); the run's own dataset is left as it is.
            support_set = copy.copy(runner.train_dataloader.dataset)
            if getattr(eval_set, 'pipeline', None) is not None:
                support_set.pipeline = eval_set.pipeline
        return eval_set, support_set

    @staticmethod
    def _of_training_classes(dataset, head,
                             what: str) -> Tuple[List[int], List[int]]:
        """Indices and head labels of the images of the training classes."""
        classes = tuple((dataset.metainfo or {}).get('classes') or ())
        bound = tuple(head.classnames or ())
        missing = [name for name in bound if name not in classes]
        if missing:
            raise ConfigError(
                f'MetaGapMonitorHook: the {what} dataset '
                f'{type(dataset).__name__} has classes {list(classes)[:5]}'
                f'... ({len(classes)}), without {len(missing)} of the '
                f'{len(bound)} training classes the head is bound to '
                f'({missing[:5]}...); give the hook datasets with the '
                'training classes.')
        label_of = {classes.index(name): c for c, name in enumerate(bound)}
        labels = sample_labels(dataset, range(len(dataset)))
        kept = [i for i, label in enumerate(labels) if label in label_of]
        return kept, [label_of[labels[i]] for i in kept]

    def _extract(self, model, dataset, indices: Sequence[int]) -> torch.Tensor:
        """Image features ``(M, D)`` of some samples, from the feature store
        (test pipeline: deterministic)."""
        indices = [int(i) for i in indices]
        batches = [
            indices[i:i + self.batch_size]
            for i in range(0, len(indices), self.batch_size)
        ]
        feats = stored_features(
            model,
            dataset, [batches],
            what=f'meta-gap features of {type(dataset).__name__}',
            local=True)
        device = next(model.head.parameters()).device
        return model.head.pre_logits((feats.to(device), ))

    def _features(self, runner) -> Tuple[torch.Tensor, ...]:
        """Cached (eval features, eval labels, support features)."""
        if self._cache is not None:
            return self._cache
        model = self._unwrap(runner)
        head = model.head
        num_support = self.num_support
        if num_support is None:
            layout = head.episode_layout
            if not layout:
                raise ConfigError(
                    'MetaGapMonitorHook: num_support=None takes the head\'s '
                    'episode layout, but the head has none; set num_support.')
            num_support = layout['num_support']
        eval_set, support_set = self._datasets(runner)
        eval_idx, eval_labels = self._of_training_classes(
            eval_set, head, 'evaluation')
        support_pool, labels = self._of_training_classes(
            support_set, head, 'support')

        rng = np.random.default_rng(self.support_seed)
        support_pool, labels = np.asarray(support_pool), np.asarray(labels)
        support_idx = []
        for c in range(len(head.classnames)):
            pool = support_pool[labels == c]
            if len(pool) < num_support:
                raise ConfigError(
                    f'MetaGapMonitorHook: class {head.classnames[c]!r} has '
                    f'{len(pool)} images in the support dataset, fewer than '
                    f'num_support={num_support}.')
            support_idx.extend(
                rng.choice(pool, size=num_support, replace=False).tolist())
        with torch.no_grad():
            eval_feats = self._extract(model, eval_set, eval_idx)
            support_feats = self._extract(model, support_set, support_idx)
        support_feats = support_feats.reshape(
            len(head.classnames), num_support, -1)
        eval_labels = torch.tensor(eval_labels, device=eval_feats.device)
        self._cache = (eval_feats, eval_labels, support_feats)
        return self._cache

    def measure(self, runner, epoch: int) -> Optional[dict]:
        """Measure, log and return the accuracies after ``epoch`` epochs.

        Args:
            runner (Runner): The runner.
            epoch (int): Epochs trained so far (the logged step).

        Returns:
            dict | None: The three ``meta_gap/*`` values (None off the main
            process).
        """
        if not is_main_process():
            return None
        head = self._unwrap(runner).head
        if not isinstance(head, MetaPromptClsHead):
            raise TypeError(
                'MetaGapMonitorHook compares the fused and text-only '
                'predictions of a MetaPromptClsHead, but got '
                f'{type(head).__name__}.')
        images, labels, support = self._features(runner)
        was_training = head.training
        head.eval()
        try:
            with torch.no_grad():
                mm_logits, text_logits = head.compare_predictions(
                    images, support)
        finally:
            head.train(was_training)
        mm = (mm_logits.argmax(1) == labels).float().mean().item() * 100
        text = (text_logits.argmax(1) == labels).float().mean().item() * 100
        values = dict(zip(GAP_KEYS, (mm, text, mm - text)))
        self.history.append((epoch, mm, text))
        runner.visualizer.add_scalars(values, step=epoch)
        print_log(
            f'MetaGapMonitorHook: epoch {epoch}: top-1 on {len(labels)} base '
            f'test images, multimodal prototypes {mm:.2f}, text only '
            f'{text:.2f}, gap {mm - text:+.2f}',
            logger='current')
        return values

    def before_train_epoch(self, runner) -> None:
        """Measure before training when the run starts at epoch 0.

        Args:
            runner (Runner): The runner.
        """
        if self.at_start and runner.epoch == 0 and not self.history:
            self.measure(runner, 0)

    def after_train_epoch(self, runner) -> None:
        """Measure every ``interval`` epochs and after the last one.

        Args:
            runner (Runner): The runner.
        """
        if (self.every_n_epochs(runner, self.interval)
                or self.is_last_train_epoch(runner)):
            self.measure(runner, runner.epoch + 1)
