# Copyright (c) mmprompt contributors. All rights reserved.
from .base_new import BaseNewAccuracy, average_base_new, harmonic_mean

__all__ = ['BaseNewAccuracy', 'average_base_new', 'harmonic_mean']
