# Copyright (c) mmprompt contributors. All rights reserved.
from .distributed import close_process_group
from .hooks import *  # noqa: F401,F403
from .schedulers import ConstantWarmupLR

__all__ = ['ConstantWarmupLR', 'close_process_group']
