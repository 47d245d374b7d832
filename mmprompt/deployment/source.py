# Copyright (c) mmprompt contributors. All rights reserved.
"""What an export starts from: the mmprompt model, its classes and images.

* :func:`load_source_model`: the config's model with its checkpoint loaded,
  refusing a checkpoint that does not fit (another method, another CLIP,
  an exported plain classifier) and a model with trainable prompts but no
  checkpoint, as ``tools/test.py`` does;
* :func:`classes_from_config`: the class names (and the dataset's template)
  of the config's test set, optionally with another base/new selection;
* :func:`parse_class_list` / :func:`read_classes_file` /
  :func:`check_class_names`: class names given by hand.
"""
import copy
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
import torch.nn as nn

from mmprompt.errors import CheckpointError, ConfigError, PathNotFoundError

__all__ = [
    'SPLITS', 'ClassSource', 'check_class_names', 'parse_class_list',
    'read_classes_file', 'dataset_template', 'classes_from_config',
    'config_test_pipeline', 'load_source_model'
]

#: The base/new selections ``--split`` takes (CoOp datasets' ``subsample``).
SPLITS = ('base', 'new', 'all')


@dataclass
class ClassSource:
    """The classes to export and where they come from.

    Attributes:
        classes (list[str]): Class names, index = label.
        description (str): Where they come from, for messages.
        template (str, optional): The dataset's template.
        dataset_name (str, optional): CoOp's dataset name.
        image_paths (list[str]): A few test images to check on (empty for
            classes given by hand).
    """
    classes: List[str]
    description: str
    template: Optional[str] = None
    dataset_name: Optional[str] = None
    image_paths: List[str] = field(default_factory=list)


def check_class_names(classes: Sequence, source: str) -> List[str]:
    """Check a class list: non-empty, strings, no name twice.

    Args:
        classes (Sequence): The names.
        source (str): Where they were given, for messages.

    Returns:
        list[str]: The names, stripped.

    Raises:
        ConfigError: Empty, a non-string or blank entry, or duplicates.
    """
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise ConfigError(f'{source} must be a list of class names, got '
                          f'{type(classes).__name__}.')
    names = []
    for i, name in enumerate(classes):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f'{source}: entry {i} ({name!r}) is not a '
                              'class name; give non-empty names.')
        names.append(name.strip())
    if not names:
        raise ConfigError(
            f'{source} gives no class names; give at least one, e.g. '
            '--classes "banded,striped".')
    seen, twice = set(), []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    if twice:
        raise ConfigError(f'{source} names {twice} more than once; every '
                          'class must be listed once (its index is its '
                          'label).')
    return names


def parse_class_list(text: str) -> List[str]:
    """``'a, b,c'`` -> ``['a', 'b', 'c']`` (checked, see
    :func:`check_class_names`)."""
    parts = [part.strip() for part in text.split(',')]
    if all(not part for part in parts):
        parts = []
    return check_class_names(parts, f'--classes {text!r}')


def read_classes_file(path: str) -> List[str]:
    """Class names from a text file, one a line (blank lines skipped)."""
    if not osp.isfile(path):
        raise PathNotFoundError(
            f'--classes-file {path} does not exist (or is a folder); give a '
            'text file with one class name a line.')
    with open(path, encoding='utf-8') as file:
        names = [line.strip() for line in file if line.strip()]
    return check_class_names(names, f'--classes-file {path}')


def _test_dataset_cfg(cfg) -> Optional[dict]:
    loader = cfg.get('test_dataloader')
    if not isinstance(loader, dict) or not isinstance(
            loader.get('dataset'), dict):
        return None
    return loader['dataset']


def config_test_pipeline(cfg) -> List[dict]:
    """The test pipeline of a config (``test_dataloader.dataset.pipeline``,
    else the top-level ``test_pipeline``).

    Raises:
        ConfigError: The config has neither.
    """
    dataset = _test_dataset_cfg(cfg) or {}
    pipeline = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise ConfigError(
            'the config has no test pipeline (test_dataloader.dataset.'
            'pipeline or test_pipeline); the exported config needs one to '
            'load and resize images. Add one to the config.')
    return [dict(step) for step in pipeline]


def _dataset_class(dataset_cfg: Optional[dict]):
    from mmprompt.registry import DATASETS
    if not dataset_cfg:
        return None
    dataset_type = dataset_cfg.get('type')
    return dataset_type if isinstance(dataset_type,
                                      type) else DATASETS.get(dataset_type)


def dataset_template(cfg) -> tuple:
    """``(template, dataset_name)`` of the test dataset's class, without
    building it (for classes given by hand)."""
    cls = _dataset_class(_test_dataset_cfg(cfg))
    return getattr(cls, 'TEMPLATE', None), getattr(cls, 'DATASET_NAME', None)


def classes_from_config(cfg,
                        split: Optional[str] = None,
                        num_images: int = 4) -> ClassSource:
    """The classes of the config's test set, and a few of its images.

    Args:
        cfg (Config): The config.
        split (str, optional): ``'base'``, ``'new'`` or ``'all'``: the
            base/new selection (``subsample``) of a CoOp test dataset;
            None keeps the config's. Defaults to None.
        num_images (int): Test images to return, spread over the set.
            Defaults to 4.

    Returns:
        ClassSource: The classes with template, dataset name and images.

    Raises:
        ConfigError: No test dataset, ``split`` for a dataset without
            base/new classes, or a dataset without class names.
        PathNotFoundError: The dataset's data root is missing.
    """
    from mmengine.registry import DefaultScope

    from mmprompt.cli import check_data_roots
    from mmprompt.datasets import CoOpDataset
    from mmprompt.registry import DATASETS
    dataset_cfg = copy.deepcopy(_test_dataset_cfg(cfg))
    if dataset_cfg is None:
        raise ConfigError(
            'the config has no test_dataloader.dataset to take the classes '
            'from; pass them with --classes "a,b,..." or --classes-file F.')
    cls = _dataset_class(dataset_cfg)
    if split is not None:
        if split not in SPLITS:
            raise ConfigError(f'--split {split!r}: choose one of {SPLITS}.')
        if not (isinstance(cls, type) and issubclass(cls, CoOpDataset)):
            raise ConfigError(
                f'--split {split} selects the base or new classes of a CoOp '
                f'dataset, but test_dataloader.dataset is '
                f'{getattr(cls, "__name__", cls)}, which has no such '
                'selection. Leave out --split, or pass --classes.')
        dataset_cfg['subsample'] = split
    check_data_roots(
        dict(test_dataloader=dict(dataset=dataset_cfg)), ['test_dataloader'])
    with DefaultScope.overwrite_default_scope('mmprompt'):
        dataset = DATASETS.build(dataset_cfg)
    metainfo = dict(getattr(dataset, 'metainfo', None) or {})
    if not metainfo.get('classes'):
        raise ConfigError(
            f'the test dataset {type(dataset).__name__} names no classes '
            "(metainfo['classes']); pass them with --classes or "
            '--classes-file.')
    classes = check_class_names(
        list(metainfo['classes']),
        f"metainfo['classes'] of {type(dataset).__name__}")
    selection = metainfo.get('subsample')
    description = (f'the {len(classes)} classes of the test set '
                   f'({type(dataset).__name__}' +
                   (f", subsample='{selection}')" if selection else ')'))
    paths = []
    if num_images > 0 and len(dataset) > 0:
        picks = np.unique(
            np.linspace(0,
                        len(dataset) - 1, num_images).round().astype(int))
        paths = [dataset.get_data_info(int(i))['img_path'] for i in picks]
    return ClassSource(classes, description, metainfo.get('template'),
                       metainfo.get('dataset_name'), paths)


def load_source_model(cfg,
                      checkpoint: Optional[str] = None,
                      config_name: Optional[str] = None,
                      untrained: bool = False) -> nn.Module:
    """Build the config's model and load its checkpoint, checked.

    Args:
        cfg (Config): The config.
        checkpoint (str, optional): The checkpoint of a training of this
            config. Defaults to None.
        config_name (str, optional): The config file, for messages.
        untrained (bool): Allow a model that trains parameters without a
            checkpoint (its initial prompts). Defaults to False.

    Returns:
        nn.Module: The model in eval mode.

    Raises:
        PathNotFoundError: The checkpoint file does not exist.
        CheckpointError: The checkpoint does not fit the model (another
            method or CLIP, or not an mmprompt checkpoint).
        ConfigError: Trainable parameters but no checkpoint and not
            ``untrained``.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmprompt.cli import check_checkpoint
    from mmprompt.engine.hooks.checkpoint_check import check_checkpoint_fits
    from mmprompt.registry import MODELS
    if checkpoint:
        check_checkpoint(checkpoint, 'the checkpoint argument')
    with DefaultScope.overwrite_default_scope('mmprompt'):
        model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint:
        loaded = CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu')
        if not isinstance(loaded, dict):
            raise CheckpointError(
                f'checkpoint {checkpoint} holds a {type(loaded).__name__}, '
                'not a state dict; pass the epoch_N.pth a training of this '
                'config wrote.')
        meta = loaded.get('meta') if 'state_dict' in loaded else None
        if isinstance(meta, dict) and 'mmprompt_export' in meta:
            raise CheckpointError(
                f'checkpoint {checkpoint} is a classifier exported by '
                'tools/deployment/export_classifier.py (a plain mmpretrain '
                'model), not a checkpoint of this config. Load it with its '
                'exported .py config and mmpretrain alone, or export from the '
                'checkpoint the training wrote (work_dirs/<run>/epoch_N.pth).')
        try:
            check_checkpoint_fits(model, loaded, checkpoint, config_name)
        except CheckpointError as err:
            # The hint about the runner's CheckpointCheckHook does not apply.
            message = str(err).split(' (To load it anyway')[0].replace(
                'Test it with the config', 'Export it with the config')
            raise CheckpointError(message) from err
    else:
        trained = [n for n, p in model.named_parameters() if p.requires_grad]
        if trained and not untrained:
            shown = ', '.join(repr(n) for n in trained[:3])
            raise ConfigError(
                f'{config_name or "the config"} trains {len(trained)} '
                f'parameter tensor(s) ({shown}'
                f'{" ..." if len(trained) > 3 else ""}), but no checkpoint '
                'was given, so the export would bake their untrained initial '
                'values. Pass the checkpoint its training wrote '
                '(work_dirs/<run>/epoch_N.pth), or --untrained to export the '
                'model as initialised. Zero-shot configs need no checkpoint.')
    return model.eval()
