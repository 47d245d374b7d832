# Copyright (c) mmprompt contributors. All rights reserved.
"""The dataset of the procedural mini-DTD.

The textures and their generator are the offline world
(:mod:`mmprompt.offline.procedural`); this module only reads what it wrote,
and has it written on first use.
"""
import os.path as osp
from typing import Dict, List

from mmprompt.errors import PathNotFoundError
from mmprompt.offline.procedural import (PROCEDURAL_SPLIT_FILE,
                                         ensure_procedural_dataset,
                                         missing_split_message)
from mmprompt.registry import DATASETS
from .coop_base import CoOpDataset


@DATASETS.register_module()
class CoOpProceduralDTD(CoOpDataset):
    """Procedural "mini-DTD" textures in CoOp's layout.

    The images of :func:`~mmprompt.offline.make_procedural_dataset` (by
    default in the ``'downstream'`` style, whose rendering differs from the
    ``'pretrain'`` images a tiny CLIP is pretrained on), read like
    :class:`CoOpDTD`. There are
    ``len(mmprompt.offline.PROCEDURAL_CLASSES)`` = 29 DTD categories; the
    base-to-new protocol takes the first 15 (``'banded'`` ...
    ``'perforated'``) as base and the other 14 as new. With the generator's
    defaults a class has 32 train / 8 val / 40 test images (928 / 232 /
    1160 in all).

    Expected layout (what the generator writes)::

        data_root
        ├── images
        │   ├── banded
        │   │   ├── banded_0.png
        │   │   └── ...                # 80 images per class by default
        │   ├── polka_dotted
        │   └── ...                    # 29 class folders
        └── split_zhou_ProceduralDTD.json

    Class names come from the split file (``'polka-dotted'``, ...); the
    zero-shot template is ``'{} texture.'``.

    The dataset writes itself on first use (``WRITES_ON_FIRST_USE``): when
    ``data_root`` does not exist, it is generated there with the
    generator's defaults
    (:func:`~mmprompt.offline.ensure_procedural_dataset`, about 15 s and
    25 MB; the log names the equivalent command), so the procedural configs
    run on a fresh checkout. An existing folder without the split file is an
    error naming the generator command; nothing is written into it.

    Args:
        data_root (str): The folder the generator wrote, or a folder that
            does not exist yet.
        **kwargs: See :class:`CoOpDataset` (``split``, ``num_shots``,
            ``seed``, ``subsample``, ``pipeline``, ...).

    Examples:
        >>> from mmprompt.registry import DATASETS
        >>> dataset = DATASETS.build(dict(  # doctest: +SKIP
        ...     type='CoOpProceduralDTD', data_root='data/procdtd',
        ...     split='train', num_shots=16, subsample='base'))
        >>> len(dataset), len(dataset.metainfo['classes'])  # doctest: +SKIP
        (240, 15)
    """

    SPLIT_FILE = PROCEDURAL_SPLIT_FILE
    IMAGE_DIR = 'images'
    TEMPLATE = '{} texture.'
    DATASET_NAME = 'ProceduralDTD'
    WRITES_ON_FIRST_USE = True

    @classmethod
    def write_on_first_use(cls, data_root: str) -> None:
        """Generate the default dataset into the missing ``data_root``.

        Args:
            data_root (str): The dataset folder, which does not exist.
        """
        ensure_procedural_dataset(data_root)

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        """Read the split file; a missing one names the generator."""
        if (self._is_local and not self.backend.exists(split_path)
                and osp.basename(split_path) == PROCEDURAL_SPLIT_FILE):
            raise PathNotFoundError(
                missing_split_message(osp.dirname(split_path)))
        return super().load_split(split_path)
