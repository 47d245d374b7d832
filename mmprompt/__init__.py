# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt: prompt learning for CLIP-style vision-language models.

Importing the package applies the few compatibility shims mmengine 0.10.7
needs on recent torch and on CPU (see :mod:`mmprompt.compat`). Modules are
registered lazily through the registries' ``locations``.
"""
from .compat import apply_compat_patches
from .version import __version__

apply_compat_patches()

__all__ = ['__version__', 'apply_compat_patches']
