# Copyright (c) mmprompt contributors. All rights reserved.
"""The CoOp benchmark's datasets (besides DTD and ImageNet) in CoOp's splits.

Each class only names its split file, image folder, template and class-name
rules; :class:`CoOpDataset` does the rest (few-shot draw, base/new
selection, checks). Folder names follow CoOp's ``DATASETS.md``; ``data_root``
is the dataset's own folder (e.g. ``data/caltech-101``).
"""
import os.path as osp
import re
from typing import Dict, List

from mmprompt.errors import DataError
from mmprompt.registry import DATASETS
from .coop_base import SPLITS, CoOpDataset


@DATASETS.register_module()
class CoOpCaltech101(CoOpDataset):
    """Caltech101 (Fei-Fei et al., 2004) in CoOp's split: 100 classes.

    CoOp drops ``BACKGROUND_Google`` and ``Faces_easy`` and renames
    ``airplanes``, ``Faces``, ``Leopards``, ``Motorbikes`` to ``airplane``,
    ``face``, ``leopard``, ``motorbike``; :meth:`clean_classname` applies the
    renaming to a split file written from the raw folder names too. 50 base
    / 50 new classes. Layout::

        caltech-101                       # data_root
        ├── 101_ObjectCategories/<class>/image_0001.jpg
        └── split_zhou_Caltech101.json
    """

    SPLIT_FILE = 'split_zhou_Caltech101.json'
    IMAGE_DIR = '101_ObjectCategories'
    DATASET_NAME = 'Caltech101'
    RENAMED = {
        'airplanes': 'airplane',
        'Faces': 'face',
        'Leopards': 'leopard',
        'Motorbikes': 'motorbike'
    }

    @classmethod
    def clean_classname(cls, name: str) -> str:
        return cls.RENAMED.get(name, name)


@DATASETS.register_module()
class CoOpOxfordPets(CoOpDataset):
    """Oxford-IIIT Pets (Parkhi et al., 2012) in CoOp's split: 37 breeds.

    Layout::

        oxford_pets                       # data_root
        ├── images/Abyssinian_1.jpg
        ├── annotations/                  # not read (the split has labels)
        └── split_zhou_OxfordPets.json
    """

    SPLIT_FILE = 'split_zhou_OxfordPets.json'
    IMAGE_DIR = 'images'
    DATASET_NAME = 'OxfordPets'


@DATASETS.register_module()
class CoOpStanfordCars(CoOpDataset):
    """Stanford Cars (Krause et al., 2013) in CoOp's split: 196 models.

    The split's paths start with ``cars_train/`` or ``cars_test/``, relative
    to the dataset folder itself. Layout::

        stanford_cars                     # data_root
        ├── cars_train/00001.jpg
        ├── cars_test/00001.jpg
        └── split_zhou_StanfordCars.json
    """

    SPLIT_FILE = 'split_zhou_StanfordCars.json'
    IMAGE_DIR = ''
    DATASET_NAME = 'StanfordCars'


@DATASETS.register_module()
class CoOpOxfordFlowers(CoOpDataset):
    """Oxford Flowers 102 (Nilsback & Zisserman, 2008), CoOp's split.

    Layout::

        oxford_flowers                    # data_root
        ├── jpg/image_00001.jpg
        ├── cat_to_name.json              # not read (the split has names)
        └── split_zhou_OxfordFlowers.json
    """

    SPLIT_FILE = 'split_zhou_OxfordFlowers.json'
    IMAGE_DIR = 'jpg'
    DATASET_NAME = 'OxfordFlowers'


@DATASETS.register_module()
class CoOpFood101(CoOpDataset):
    """Food-101 (Bossard et al., 2014) in CoOp's split: 101 dishes.

    Layout::

        food-101                          # data_root
        ├── images/<class>/<id>.jpg
        └── split_zhou_Food101.json
    """

    SPLIT_FILE = 'split_zhou_Food101.json'
    IMAGE_DIR = 'images'
    DATASET_NAME = 'Food101'


@DATASETS.register_module()
class CoOpSUN397(CoOpDataset):
    """SUN397 (Xiao et al., 2010) in CoOp's split: 397 scene classes.

    Layout::

        sun397                            # data_root
        ├── SUN397/a/abbey/sun_aaalbzqrimafwbiv.jpg
        └── split_zhou_SUN397.json
    """

    SPLIT_FILE = 'split_zhou_SUN397.json'
    IMAGE_DIR = 'SUN397'
    DATASET_NAME = 'SUN397'


@DATASETS.register_module()
class CoOpEuroSAT(CoOpDataset):
    """EuroSAT RGB (Helber et al., 2019) in CoOp's split: 10 land uses.

    CoOp renames the folder names to phrases (``AnnualCrop`` -> ``Annual Crop
    Land``, ``Highway`` -> ``Highway or Road``, ``SeaLake`` -> ``Sea or
    Lake``, ...); its split file already holds the new names and
    :meth:`clean_classname` maps raw folder names too. Layout::

        eurosat                           # data_root
        ├── 2750/AnnualCrop/AnnualCrop_1.jpg
        └── split_zhou_EuroSAT.json
    """

    SPLIT_FILE = 'split_zhou_EuroSAT.json'
    IMAGE_DIR = '2750'
    DATASET_NAME = 'EuroSAT'
    RENAMED = {
        'AnnualCrop': 'Annual Crop Land',
        'Forest': 'Forest',
        'HerbaceousVegetation': 'Herbaceous Vegetation Land',
        'Highway': 'Highway or Road',
        'Industrial': 'Industrial Buildings',
        'Pasture': 'Pasture Land',
        'PermanentCrop': 'Permanent Crop Land',
        'Residential': 'Residential Buildings',
        'River': 'River',
        'SeaLake': 'Sea or Lake',
    }

    @classmethod
    def clean_classname(cls, name: str) -> str:
        return cls.RENAMED.get(name, name)


@DATASETS.register_module()
class CoOpUCF101(CoOpDataset):
    """UCF101 (Soomro et al., 2012) middle frames in CoOp's split: 101
    actions.

    CoOp splits the CamelCase action names at capitals and joins them with
    ``_`` (``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``, written into prompts
    as ``Apply Eye Makeup``); :meth:`clean_classname` does the same for raw
    names. Layout::

        ucf101                            # data_root
        ├── UCF-101-midframes/Apply_Eye_Makeup/v_ApplyEyeMakeup_g01_c01.jpg
        └── split_zhou_UCF101.json
    """

    SPLIT_FILE = 'split_zhou_UCF101.json'
    IMAGE_DIR = 'UCF-101-midframes'
    DATASET_NAME = 'UCF101'

    @classmethod
    def clean_classname(cls, name: str) -> str:
        if '_' in name or ' ' in name:
            return name
        return '_'.join(re.findall('[A-Z][^A-Z]*', name)) or name


@DATASETS.register_module()
class CoOpFGVCAircraft(CoOpDataset):
    """FGVC-Aircraft (Maji et al., 2013), variant level: 100 classes.

    CoOp uses the official split files rather than a ``split_zhou`` file:
    ``variants.txt`` (class names in label order) and
    ``images_variant_{train,val,test}.txt`` (``<image id> <variant>`` per
    line). Layout::

        fgvc_aircraft                     # data_root (FGVC's data/ folder)
        ├── images/0034309.jpg
        ├── variants.txt
        ├── images_variant_train.txt
        ├── images_variant_val.txt
        └── images_variant_test.txt
    """

    SPLIT_FILE = 'variants.txt'
    IMAGE_DIR = 'images'
    DATASET_NAME = 'FGVCAircraft'

    def load_split(self, split_path: str) -> Dict[str, List[tuple]]:
        """Read ``variants.txt`` and the three ``images_variant`` files.

        Args:
            split_path (str): Path of ``variants.txt``.

        Returns:
            dict[str, list[tuple]]: ``(rel_path, label, classname)`` lists.
        """
        name = type(self).__name__
        root = osp.dirname(split_path)

        def read_lines(path):
            if not self.backend.exists(path):
                raise FileNotFoundError(
                    f"{name}: '{path}' not found. It is part of the official "
                    'FGVC-Aircraft archive (fgvc-aircraft-2013b/data/); set '
                    'data_root to that data/ folder.')
            return [
                line.strip()
                for line in self.backend.get_text(path).splitlines()
                if line.strip()
            ]

        variants = read_lines(split_path)
        labels = {variant: i for i, variant in enumerate(variants)}
        splits = {}
        for key in SPLITS:
            path = self.backend.join_path(root, f'images_variant_{key}.txt')
            items = []
            for idx, line in enumerate(read_lines(path)):
                image, _, variant = line.partition(' ')
                if variant not in labels:
                    raise DataError(
                        f"{name}: line {idx + 1} of '{path}' names variant "
                        f"{variant!r}, which is not in '{split_path}'.")
                items.append((f'{image}.jpg', labels[variant], variant))
            splits[key] = items
        return splits
