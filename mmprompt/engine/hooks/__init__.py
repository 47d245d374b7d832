# Copyright (c) mmprompt contributors. All rights reserved.
from .checkpoint_check import CheckpointCheckHook, check_checkpoint_fits
from .class_names import SetClassNamesHook
from .class_prototypes import (ClassPrototypeHook, class_prototypes,
                               seeded_global_rngs)
from .epoch_seed import EpochSeedHook, epoch_seed
from .feature_store import FeatureStoreHook
from .meta_gap_monitor import GAP_KEYS, MetaGapMonitorHook
from .prompt_aggregation import (GaussianPromptAggregationHook,
                                 gaussian_epoch_weights)

__all__ = [
    'CheckpointCheckHook', 'check_checkpoint_fits', 'SetClassNamesHook',
    'EpochSeedHook', 'FeatureStoreHook', 'epoch_seed', 'MetaGapMonitorHook',
    'GAP_KEYS', 'ClassPrototypeHook', 'class_prototypes', 'seeded_global_rngs',
    'GaussianPromptAggregationHook', 'gaussian_epoch_weights'
]
