# Copyright (c) mmprompt contributors. All rights reserved.
import torch.distributed as dist


def close_process_group() -> None:
    """Destroy the default process group, if any, before the process ends.

    mmengine's runner never destroys the process group it creates. Left to
    the interpreter's exit, a gloo group can be torn down while its threads
    still run, and the process then aborts ("terminate called without an
    active exception", SIGABRT) after a successful run: torchrun reports
    the run as failed. ``tools/train.py`` and ``tools/test.py`` call this
    when they are done. A barrier first lets every rank finish its last
    collective before any rank closes its connections. Without a process
    group it does nothing.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
