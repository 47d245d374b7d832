# Copyright (c) mmprompt contributors. All rights reserved.
"""The dataset the synthetic generator writes.

The generator, :func:`~mmprompt.offline.make_synthetic_coop_dataset`, is
part of the offline world (:mod:`mmprompt.offline.synthetic`).
"""
from mmprompt.offline.synthetic import SYNTHETIC_SPLIT_FILE
from mmprompt.registry import DATASETS
from .coop_base import CoOpDataset


@DATASETS.register_module()
class CoOpSynthetic(CoOpDataset):
    """Synthetic coloured patterns in CoOp's layout.

    Reads what :func:`~mmprompt.offline.make_synthetic_coop_dataset` (or
    ``tools/misc/make_synthetic_dataset.py``) writes.

    Expected layout (what the generator writes)::

        data_root
        ├── images
        │   ├── red_striped
        │   │   ├── red_striped_0.png
        │   │   └── ...
        │   └── ...
        └── split_zhou_Synthetic.json

    Class names come from the split file (``'red striped'``, ...); the
    zero-shot template is ``'a photo of a {}.'``.

    Args:
        data_root (str): The folder the generator wrote.
        **kwargs: See :class:`CoOpDataset`.
    """

    SPLIT_FILE = SYNTHETIC_SPLIT_FILE
    IMAGE_DIR = 'images'
    TEMPLATE = 'a photo of a {}.'
    DATASET_NAME = 'Synthetic'
