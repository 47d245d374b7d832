# Copyright (c) mmprompt contributors. All rights reserved.
from .episodic import EpisodicBatchSampler
from .view_sampler import ViewSampler

__all__ = ['EpisodicBatchSampler', 'ViewSampler']
