# Copyright (c) mmprompt contributors. All rights reserved.
from .coop_base import (CoOpDataset, relabel_items, sample_few_shot,
                        select_classes, split_base_new)
from .coop_standard import (CoOpCaltech101, CoOpEuroSAT, CoOpFGVCAircraft,
                            CoOpFood101, CoOpOxfordFlowers, CoOpOxfordPets,
                            CoOpStanfordCars, CoOpSUN397, CoOpUCF101)
from .dtd import CoOpDTD
from .imagenet import (CoOpImageNet, CoOpImageNetA, CoOpImageNetR,
                       CoOpImageNetSketch, CoOpImageNetV2)
from .procedural import CoOpProceduralDTD
from .samplers import EpisodicBatchSampler, ViewSampler
from .synthetic import CoOpSynthetic
from .transforms import LoadCoOpImage  # noqa: F401
from .views import ViewIndex, seeded_view, view_seed

__all__ = [
    'CoOpDataset', 'CoOpDTD', 'CoOpCaltech101', 'CoOpEuroSAT',
    'CoOpFGVCAircraft', 'CoOpFood101', 'CoOpOxfordFlowers', 'CoOpOxfordPets',
    'CoOpStanfordCars', 'CoOpSUN397', 'CoOpUCF101', 'CoOpImageNet',
    'CoOpImageNetV2', 'CoOpImageNetSketch', 'CoOpImageNetA', 'CoOpImageNetR',
    'CoOpSynthetic', 'sample_few_shot', 'select_classes', 'split_base_new',
    'relabel_items', 'CoOpProceduralDTD', 'EpisodicBatchSampler',
    'ViewSampler', 'ViewIndex', 'view_seed', 'seeded_view'
]
