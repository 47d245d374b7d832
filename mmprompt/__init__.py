# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt: prompt learning for CLIP-style vision-language models.

Importing the package checks the versions of the OpenMMLab stack and
open_clip (:func:`check_dependency_versions`), then applies the few
compatibility shims mmengine 0.10 needs on recent torch and on CPU (see
:mod:`mmprompt.compat`). Modules are registered lazily through the
registries' ``locations``.
"""
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

from mmengine.utils import digit_version

from .version import __version__

#: ``(distribution, min, max)``: ``min <= version < max``, as in
#: requirements/mminstall.txt and requirements/runtime.txt (a test keeps
#: the two in step). mmcv is checked as mmcv or mmcv-lite.
DEPENDENCIES = (
    ('mmengine', '0.10.7', '0.11.0'),
    ('mmpretrain', '1.2.0', '1.3.0'),
    ('mmcv', '2.0.0', '2.3.0'),
    ('open_clip_torch', '3.3', '4'),
)


def _installed(distribution: str):
    names = [distribution]
    if distribution == 'mmcv':
        names.append('mmcv-lite')
    for name in names:
        try:
            return _dist_version(name)
        except PackageNotFoundError:
            continue
    return None


def check_dependency_versions(installed=_installed) -> None:
    """Refuse to import with a dependency outside the tested range.

    Args:
        installed (callable): ``distribution -> version or None``. Defaults
            to the installed distributions' metadata.

    Raises:
        ImportError: A dependency is missing or outside its range; the
            message names it, its version and the range to install.
    """
    for name, low, high in DEPENDENCIES:
        found = installed(name)
        if found is None:
            raise ImportError(
                f'mmprompt needs {name}>={low},<{high}, which is not '
                f"installed: pip install '{name}>={low},<{high}' (or bash "
                'tools/setup_env.sh for the tested stack).')
        if not digit_version(low) <= digit_version(found) < digit_version(
                high):
            raise ImportError(
                f'mmprompt needs {name}>={low},<{high}, but {name}=={found} '
                f"is installed: pip install '{name}>={low},<{high}' (or "
                'bash tools/setup_env.sh for the tested stack).')


check_dependency_versions()

from .compat import apply_compat_patches  # noqa: E402

apply_compat_patches()

__all__ = [
    '__version__', 'apply_compat_patches', 'check_dependency_versions',
    'DEPENDENCIES'
]
