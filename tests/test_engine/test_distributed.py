# Copyright (c) mmprompt contributors. All rights reserved.
import os

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mmprompt.engine import close_process_group

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


def _native_threads():
    return len(os.listdir('/proc/self/task'))


def test_close_process_group(tmp_path):
    close_process_group()  # nothing to close: no error
    before = _native_threads()
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    assert dist.is_initialized()
    # A DDP module (as a runner's model) holds the group: its gloo threads
    # outlive destroy_process_group until the module is gone.
    model = DistributedDataParallel(torch.nn.Linear(2, 2))
    model(torch.ones(1, 2)).sum().backward()
    assert _native_threads() > before
    del model
    close_process_group()
    assert not dist.is_initialized()
    assert _native_threads() == before
