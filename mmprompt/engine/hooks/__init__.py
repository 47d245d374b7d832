# Copyright (c) mmprompt contributors. All rights reserved.
from .class_names import SetClassNamesHook
from .epoch_seed import EpochSeedHook, epoch_seed
from .meta_gap_monitor import GAP_KEYS, MetaGapMonitorHook

__all__ = [
    'SetClassNamesHook', 'EpochSeedHook', 'epoch_seed', 'MetaGapMonitorHook',
    'GAP_KEYS'
]
