# Copyright (c) mmprompt contributors. All rights reserved.
from mmprompt.registry import DATASETS
from .coop_base import CoOpDataset


@DATASETS.register_module()
class CoOpDTD(CoOpDataset):
    """The Describable Textures Dataset (DTD) with CoOp's split.

    `DTD <https://www.robots.ox.ac.uk/~vgg/data/dtd/>`_ (Cimpoi et al., CVPR
    2014) in the split of CoOp (Zhou et al., IJCV 2022): 47 texture classes,
    2820 train / 1128 val / 1692 test images. The base-to-new protocol uses
    the first 24 classes as base and the other 23 as new. Unlike
    :class:`mmpretrain.datasets.DTD`, which reads DTD's own ``imdb.mat``
    folds, this class reads CoOp's ``split_zhou_DescribableTextures.json``
    (linked from CoOp's ``DATASETS.md``), so shots and results match CoOp's.

    Expected layout::

        dtd                                        # data_root
        ├── images
        │   ├── banded
        │   │   ├── banded_0002.jpg
        │   │   └── ...
        │   ├── blotchy
        │   └── ...                                # 47 class folders
        └── split_zhou_DescribableTextures.json

    Class names are the folder names (e.g. ``'banded'``); the zero-shot
    template is ``'{} texture.'``.

    Args:
        data_root (str): The ``dtd`` folder.
        **kwargs: See :class:`CoOpDataset` (``split``, ``num_shots``,
            ``seed``, ``subsample``, ``pipeline``, ...).

    Examples:
        >>> from mmprompt.registry import DATASETS
        >>> dataset = DATASETS.build(dict(  # doctest: +SKIP
        ...     type='CoOpDTD', data_root='data/dtd', split='train',
        ...     num_shots=16, seed=1, subsample='base'))
        >>> len(dataset), len(dataset.metainfo['classes'])  # doctest: +SKIP
        (384, 24)
    """

    SPLIT_FILE = 'split_zhou_DescribableTextures.json'
    IMAGE_DIR = 'images'
    TEMPLATE = '{} texture.'
    DATASET_NAME = 'DescribableTextures'
