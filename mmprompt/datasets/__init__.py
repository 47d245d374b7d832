# Copyright (c) mmprompt contributors. All rights reserved.
from .coop_base import (CoOpDataset, relabel_items, sample_few_shot,
                        select_classes, split_base_new)
from .coop_standard import (CoOpCaltech101, CoOpEuroSAT, CoOpFGVCAircraft,
                            CoOpFood101, CoOpOxfordFlowers, CoOpOxfordPets,
                            CoOpStanfordCars, CoOpSUN397, CoOpUCF101)
from .dtd import CoOpDTD
from .imagenet import (CoOpImageNet, CoOpImageNetA, CoOpImageNetR,
                       CoOpImageNetSketch, CoOpImageNetV2)
from .procedural import (COLOURS, PROCEDURAL_CLASSES, SCALES, STYLES,
                         CoOpProceduralDTD, make_procedural_dataset,
                         render_texture)
from .samplers import EpisodicBatchSampler, ViewSampler
from .synthetic import CoOpSynthetic, make_synthetic_coop_dataset
from .templates import (COOP_TEMPLATES, IMAGENET_TEMPLATES,
                        IMAGENET_TEMPLATES_SELECT, get_templates)
from .transforms import LoadCoOpImage  # noqa: F401
from .views import ViewIndex, seeded_view, view_seed

__all__ = [
    'CoOpDataset', 'CoOpDTD', 'CoOpCaltech101', 'CoOpEuroSAT',
    'CoOpFGVCAircraft', 'CoOpFood101', 'CoOpOxfordFlowers', 'CoOpOxfordPets',
    'CoOpStanfordCars', 'CoOpSUN397', 'CoOpUCF101', 'CoOpImageNet',
    'CoOpImageNetV2', 'CoOpImageNetSketch', 'CoOpImageNetA', 'CoOpImageNetR',
    'CoOpSynthetic', 'sample_few_shot', 'select_classes', 'split_base_new',
    'relabel_items', 'make_synthetic_coop_dataset', 'COOP_TEMPLATES',
    'IMAGENET_TEMPLATES', 'IMAGENET_TEMPLATES_SELECT', 'get_templates',
    'CoOpProceduralDTD', 'PROCEDURAL_CLASSES', 'STYLES', 'COLOURS', 'SCALES',
    'render_texture', 'make_procedural_dataset', 'EpisodicBatchSampler',
    'ViewSampler', 'ViewIndex', 'view_seed', 'seeded_view'
]
