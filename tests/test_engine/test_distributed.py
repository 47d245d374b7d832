# Copyright (c) mmprompt contributors. All rights reserved.
import torch.distributed as dist

from mmprompt.engine import close_process_group


def test_close_process_group(tmp_path):
    close_process_group()  # nothing to close: no error
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0,
        world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()
