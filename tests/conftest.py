# Copyright (c) mmprompt contributors. All rights reserved.
"""Test-wide settings: offline hub, few threads, mmprompt's default scope."""
import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('OMP_NUM_THREADS', '2')
# The feature store of the tests' runs (and of the tools they start) lives
# in a temporary folder, never in the user's ~/.cache.
if not os.environ.get('MMPROMPT_FEATURE_STORE'):
    import atexit
    import shutil
    import tempfile
    os.environ['MMPROMPT_FEATURE_STORE'] = tempfile.mkdtemp(
        prefix='mmprompt-features-')
    atexit.register(
        shutil.rmtree,
        os.environ['MMPROMPT_FEATURE_STORE'],
        ignore_errors=True)

import pytest  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import mmprompt  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _mmprompt_scope():
    """Build registry objects in mmprompt's scope, as configs do."""
    name = f'test-{os.getpid()}'
    if not DefaultScope.check_instance_created(name):
        DefaultScope.get_instance(name, scope_name='mmprompt')
    with DefaultScope.overwrite_default_scope('mmprompt'):
        yield
