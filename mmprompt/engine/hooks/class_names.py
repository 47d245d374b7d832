# Copyright (c) mmprompt contributors. All rights reserved.
"""Bind the class names of the running dataset to the prompt head."""
from typing import Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.models.heads import PromptClsHead
from mmprompt.registry import HOOKS


@HOOKS.register_module()
class SetClassNamesHook(Hook):
    """Give the head the class names of the dataset about to be iterated.

    A prompt head builds its class-dependent text inputs (class-name tokens,
    frozen zero-shot features, ...) from a list of class names, and the list
    differs between training (base classes), validation and testing (base,
    new or all classes). The names therefore come from the datasets, never
    from the config: before each train, val and test epoch this hook calls
    ``head.set_class_names(metainfo['classes'], template=metainfo.get(
    'template'))`` with the ``metainfo`` of that loop's dataset (dataset
    wrappers such as ``ConcatDataset`` / ``RepeatDataset`` forward it), and
    ``dataset_name=metainfo['dataset_name']`` where the metainfo has one
    (CoOp's name of the dataset, which template sets such as
    ``'imagenet_select+dataset'`` need to leave ImageNet out).

    Validation in the middle of training (every ``val_interval`` epochs, or
    every ``val_interval`` iterations with ``IterBasedTrainLoop``, which
    calls ``before_train_epoch`` only once) would leave the validation
    classes bound for the following training iterations, so after a
    validation epoch that runs inside ``runner.train()`` the training
    classes are bound again.

    Whenever the training classes are bound, the head also gets the
    training dataloader through
    :meth:`~mmprompt.models.heads.PromptClsHead.bind_training_set`, for
    what else it needs from the training set (nothing for most heads; the
    episode layout of the batch sampler for ``MetaPromptClsHead``, so the
    layout is configured in one place, the sampler; the label of every
    training image for ``InstancePromptHead``).

    The hook calls ``set_class_names`` at every mount point, even when the
    names did not change; heads should make re-binding the same names cheap
    (e.g. by caching on the names). It logs only when the bound names change.

    Priority ``'ABOVE_NORMAL'`` (40): after ``RuntimeInfoHook``
    (``'VERY_HIGH'``), which only records loop state, and before every hook
    of the default ``'NORMAL'`` priority or lower (``EMAHook``,
    ``DistSamplerSeedHook``, ``IterTimerHook``, loggers, checkpointing and
    custom monitors that may run the model in the same ``before_*_epoch``
    call), so such hooks already see the right classes. ``EpochSeedHook``
    (``'HIGH'``) reseeds first, which is harmless as binding draws no random
    numbers.

    Examples:
        >>> # configs/_base_/default_runtime.py (default_hooks are merged
        >>> # key by key, so a config's own custom_hooks keep it)
        >>> default_hooks = dict(class_names=dict(type='SetClassNamesHook'))
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._in_train = False
        self._bound: Optional[Tuple[Tuple[str, ...], Optional[str]]] = None

    @staticmethod
    def _get_head(runner):
        """Return the model's head, checking it can take class names.

        Args:
            runner (Runner): The runner.

        Returns:
            nn.Module: ``runner.model.head`` (unwrapped from DDP & co.).
        """
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        head = getattr(model, 'head', None)
        if not isinstance(head, PromptClsHead):
            where = ('has no `head`' if head is None else
                     f'has a head of type {type(head).__name__}, which is '
                     'not a PromptClsHead')
            raise TypeError(
                f'SetClassNamesHook binds dataset class names to the head, '
                f'but the model {type(model).__name__} {where}. Use a prompt '
                'head (a PromptClsHead) or remove SetClassNamesHook: it is '
                'the `default_hooks.class_names` of '
                'configs/_base_/default_runtime.py, so inherit '
                'configs/_base_/base_runtime.py instead, as the linear probes '
                'do.')
        return head

    def _bind(self, runner, dataloader, mode: str) -> None:
        """Bind the classes (and template) of ``dataloader.dataset``.

        Args:
            runner (Runner): The runner.
            dataloader (DataLoader): The loader whose dataset names the
                classes.
            mode (str): ``'train'``, ``'val'`` or ``'test'`` (for messages).
        """
        head = self._get_head(runner)
        dataset = dataloader.dataset
        metainfo = getattr(dataset, 'metainfo', None) or {}
        classes = metainfo.get('classes')
        if classes is None:
            raise KeyError(
                f"SetClassNamesHook needs 'classes' in the metainfo of the "
                f'{mode} dataset, but {type(dataset).__name__}.metainfo has '
                f'keys {sorted(metainfo)}. Use a dataset that names its '
                'classes (e.g. a CoOp dataset) or set `metainfo=dict('
                'classes=...)` in its config.')
        if isinstance(classes, str) or not isinstance(classes, Sequence):
            raise TypeError(
                f"The 'classes' in the metainfo of the {mode} dataset "
                f'{type(dataset).__name__} must be a sequence of str, but '
                f'got {type(classes).__name__}.')
        template = metainfo.get('template')
        extra = {}
        if metainfo.get('dataset_name') is not None:
            # CoOp's name of the dataset, for 'imagenet_select+dataset'.
            extra['dataset_name'] = metainfo['dataset_name']
        head.set_class_names(classes, template=template, **extra)
        if mode == 'train':
            head.bind_training_set(dataloader)

        binding = (tuple(classes), template)
        if binding != self._bound:
            self._bound = binding
            print_log(
                f'SetClassNamesHook: bound the {len(classes)} classes of '
                f'the {mode} dataset {type(dataset).__name__} to '
                f'{type(head).__name__}' +
                (f' with template {template!r}.' if template else '.'),
                logger='current')

    def before_train(self, runner) -> None:
        """Note that a training run started.

        Args:
            runner (Runner): The runner.
        """
        self._in_train = True

    def after_train(self, runner) -> None:
        """Note that the training run ended.

        Args:
            runner (Runner): The runner.
        """
        self._in_train = False

    def before_train_epoch(self, runner) -> None:
        """Bind the training classes.

        Args:
            runner (Runner): The runner.
        """
        self._bind(runner, runner.train_dataloader, 'train')

    def before_val_epoch(self, runner) -> None:
        """Bind the validation classes.

        Args:
            runner (Runner): The runner.
        """
        self._bind(runner, runner.val_dataloader, 'val')

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Bind the training classes again if validating during training.

        Args:
            runner (Runner): The runner.
            metrics (dict, optional): The validation metrics (unused).
        """
        if self._in_train:
            self._bind(runner, runner.train_dataloader, 'train')

    def before_test_epoch(self, runner) -> None:
        """Bind the test classes.

        Args:
            runner (Runner): The runner.
        """
        self._bind(runner, runner.test_dataloader, 'test')
