# Copyright (c) mmprompt contributors. All rights reserved.
from .hooks import *  # noqa: F401,F403
from .schedulers import ConstantWarmupLR

__all__ = ['ConstantWarmupLR']
