# Copyright (c) mmprompt contributors. All rights reserved.
from .distributed import close_process_group
from .hooks import *  # noqa: F401,F403
from .lfa import LFALoop  # noqa: F401
from .linear_probe import (LinearProbeLoop, extract_features,
                           search_logistic_regression)
from .optimizers import *  # noqa: F401,F403
from .schedulers import ConstantWarmupLR, DasslCosineLR
from .tip_adapter import TipAdapterHook, TrainingFreeLoop  # noqa: F401

__all__ = [
    'ConstantWarmupLR', 'DasslCosineLR', 'close_process_group',
    'LinearProbeLoop', 'extract_features', 'search_logistic_regression'
]
