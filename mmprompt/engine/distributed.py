# Copyright (c) mmprompt contributors. All rights reserved.
import gc

import torch.distributed as dist


def close_process_group() -> None:
    """Destroy the process groups, if any, before the process ends.

    mmengine's runner never destroys the process group it creates. Left to
    the interpreter's exit, a gloo group can be torn down while its threads
    still run, and the process then aborts ("terminate called without an
    active exception", SIGABRT) after a successful run: torchrun reports
    the run as failed. ``tools/train.py`` and ``tools/test.py`` call this
    when they are done.

    * A barrier first lets every rank finish its last collective before any
      rank closes its connections.
    * ``destroy_process_group`` only drops torch's own references. The
      group's native threads stop when the last reference goes, and the DDP
      wrapper of a runner holds one. So callers delete their runner first
      (``del runner``), and a garbage collection here frees what is left,
      while the interpreter is still fully alive.

    Without a process group it only collects garbage.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    gc.collect()
