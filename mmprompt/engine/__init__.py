# Copyright (c) mmprompt contributors. All rights reserved.
from .distributed import close_process_group
from .hooks import *  # noqa: F401,F403
from .linear_probe import (LinearProbeLoop, extract_features,
                           search_logistic_regression)
from .schedulers import ConstantWarmupLR, DasslCosineLR

__all__ = [
    'ConstantWarmupLR', 'DasslCosineLR', 'close_process_group',
    'LinearProbeLoop', 'extract_features', 'search_logistic_regression'
]
