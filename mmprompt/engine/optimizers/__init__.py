# Copyright (c) mmprompt contributors. All rights reserved.
from .prograd_optim_wrapper import (AmpProGradOptimWrapper,
                                    ProGradOptimWrapper, prograd_project)

__all__ = ['ProGradOptimWrapper', 'AmpProGradOptimWrapper', 'prograd_project']
