# Copyright (c) mmprompt contributors. All rights reserved.
from .kl_divergence import KLDivergenceLoss, kl_divergence

__all__ = ['KLDivergenceLoss', 'kl_divergence']
