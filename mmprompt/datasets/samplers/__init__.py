# Copyright (c) mmprompt contributors. All rights reserved.
from .episodic import EpisodicBatchSampler

__all__ = ['EpisodicBatchSampler']
