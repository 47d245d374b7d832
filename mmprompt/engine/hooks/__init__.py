# Copyright (c) mmprompt contributors. All rights reserved.
from .class_names import SetClassNamesHook
from .epoch_seed import EpochSeedHook, epoch_seed

__all__ = ['SetClassNamesHook', 'EpochSeedHook', 'epoch_seed']
