# Copyright (c) mmprompt contributors. All rights reserved.
"""Compatibility shims for mmengine 0.10.7 on torch >= 2.6 and on CPU.

This is the one place where mmprompt changes the behaviour of its
dependencies. :func:`apply_compat_patches` applies every shim once (it is
idempotent and ``import mmprompt`` calls it); each shim is a small function
that wraps one mmengine entry point, marks what it installed so that a second
call is a no-op, and does nothing where it is not needed. Each is tied to the
mmengine versions it fixes (:data:`_SHIMS`, :func:`shims_for`): the fixes
apply to mmengine 0.10.x.

1. **Local checkpoints load with** ``weights_only=False``
   (:func:`_patch_local_checkpoint_loader`). Since torch 2.6 ``torch.load``
   defaults to ``weights_only=True``. The checkpoints mmengine writes hold
   ``HistoryBuffer`` objects and numpy scalars (the ``message_hub`` entry:
   ``log_scalars``, ``runtime_info['eta']``), so
   ``Runner.resume``, ``load_from`` and ``tools/test.py`` fail with an
   ``UnpicklingError``. The shim re-registers the loader of the local-path
   scheme (prefix ``''``) of
   ``mmengine.runner.checkpoint.CheckpointLoader`` with one that passes
   ``weights_only=False``; a file that does not unpickle (empty, truncated,
   not a checkpoint) is a :class:`~mmprompt.errors.CheckpointError` naming
   it. **Only load checkpoints you trust**: unpickling a
   file can run arbitrary code. Remote schemes (``http://``,
   ``open-mmlab://``, ...) are left alone; pretrained state dicts load with
   ``weights_only=True``. Skipped on torch < 2.6 and where the registered
   local loader already passes ``weights_only`` itself. Upstream:
   open-mmlab/mmengine#1655 (the bug report, on mmengine 0.10.7) and
   open-mmlab/mmengine#1650 ("explicitly disable weights_only in
   torch.load", a PR that fixes mmengine's own tests the same way).

2. **Distributed init without CUDA** (:func:`_patch_init_dist`).
   ``mmengine.dist.utils._init_dist_pytorch`` and ``_init_dist_slurm`` call
   ``torch.cuda.set_device`` whenever no NPU/MLU/MUSA is present, and
   ``_init_dist_mpi`` always does; that raises on a machine without a usable
   CUDA device ("Found no NVIDIA driver") even when the backend is ``gloo``.
   And configs default to ``dist_cfg=dict(backend='nccl')``, which needs
   CUDA. When no CUDA/NPU/MLU/MUSA device is available the shimmed
   functions turn ``nccl`` into ``gloo`` (with a log message) and run the
   original with ``torch.cuda.set_device`` made a no-op for the duration of
   the call. With an accelerator they call the original unchanged. The
   module globals are replaced, which is where ``init_dist`` looks them up.
   Under Slurm on CPU, ``SLURM_LOCALID`` must be set (mmengine otherwise
   divides by ``torch.cuda.device_count()``).
   No upstream mmengine issue found; openvinotoolkit/mmdetection#77 (a fork
   of mmdet for mmcv 1.x) made the same nccl-to-gloo switch for CPU
   training.

3. **DDP of CPU modules** (:func:`_patch_cpu_ddp`). ``Runner.wrap_model``
   builds ``MMDistributedDataParallel`` with
   ``device_ids=[int(os.environ['LOCAL_RANK'])]`` (both with and without a
   ``model_wrapper_cfg``), and ``torch.nn.parallel.DistributedDataParallel``
   rejects ``device_ids`` for modules whose parameters are on the CPU. The
   shim wraps ``MMDistributedDataParallel.__init__`` to drop ``device_ids``
   and ``output_device`` when all parameters of the module are on the CPU.
   ``broadcast_buffers`` needs no change: ``wrap_model`` already passes
   ``broadcast_buffers=False`` when no ``model_wrapper_cfg`` is given, and
   buffer broadcasting (torch's default when a config is given) works with
   gloo on CPU (torch 2.14 deprecates the argument in favour of
   ``forward_sync_buffers``, hence a ``FutureWarning`` from ``wrap_model``;
   harmless). A ``model_wrapper_cfg`` whose ``type`` is torch's plain
   ``DistributedDataParallel`` is not covered; set ``device_ids=None`` in
   such a config. No upstream mmengine issue found; open-mmlab/mmengine#973
   is the PR that made ``wrap_model`` use ``LOCAL_RANK`` for ``device_ids``.

4. **No persistent workers without workers** (:func:`_patch_build_dataloader`).
   ``torch.utils.data.DataLoader`` raises ``ValueError: persistent_workers
   option needs num_workers > 0``, and configs written for GPU machines
   often set ``persistent_workers=True``. The shim wraps
   ``Runner.build_dataloader`` (and ``FlexibleRunner.build_dataloader``) to
   drop ``persistent_workers`` from a config dict whose ``num_workers`` is 0
   or missing. No upstream mmengine issue found; open-mmlab/mmaction2#1202
   fixed the same failure in mmaction2 by defaulting the flag to ``False``.

5. **Checkpoints are written atomically** (:func:`_patch_save_checkpoint`).
   ``mmengine.runner.checkpoint.save_checkpoint`` writes a local checkpoint
   with ``open(path, 'wb').write(...)`` (``LocalBackend.put``), so a full
   disk or a crash during the write leaves a truncated ``epoch_N.pth`` that
   ``--resume`` later picks up. The shim writes local checkpoints to a
   temporary file in the same folder, flushes it to disk and renames it
   into place (``os.replace``); on failure the temporary file is removed,
   any earlier file of that name is left intact, and a
   :class:`~mmprompt.errors.CheckpointError` names the path and the cause.
   Remote paths (``scheme://``) go to mmengine's function unchanged. The
   function is replaced under the three names it is looked up by
   (``mmengine.runner.checkpoint``, ``mmengine.runner.runner`` for
   ``Runner.save_checkpoint``, and ``mmengine.runner`` for
   ``CheckpointHook``). No upstream mmengine issue found.

6. **bfloat16 AMP on the CPU** (:func:`_patch_amp_optim_wrapper`). In
   mmengine 0.10.7 ``AmpOptimWrapper.__init__`` asserts that a CUDA / NPU /
   MLU / MUSA device is available (``"AmpOptimizerWrapper is only available
   training on gpu, npu, mlu or musa"``), although torch's autocast also runs
   on the CPU in bfloat16. Where no such device exists the shim builds the
   wrapper when its ``dtype`` is bfloat16 (``'bfloat16'`` or
   ``torch.bfloat16``) with that assertion passed, with a *disabled*
   ``torch.amp.GradScaler('cpu')`` as its loss scaler (bfloat16 has
   float32's exponent range and needs no loss scaling; ``loss_scale`` is
   still validated), and makes its ``optim_context`` autocast with
   ``device_type='cpu'`` (mmengine's ``autocast`` would pick
   ``get_device()``, which may be ``'mps'``). Any other ``dtype`` without
   such a device is a :class:`~mmprompt.errors.ConfigError` that says to use
   ``dtype='bfloat16'`` (instead of the ``AssertionError``). With a device
   the original runs unchanged. No upstream mmengine issue found;
   mmengine's own ``autocast`` (``mmengine/runner/amp.py``) supports
   ``device_type='cpu'`` with bfloat16 only.
"""
import contextlib
import copy
import functools
import inspect
import io
import logging
import os
import os.path as osp
import pickle
from typing import Callable, Iterator

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.utils import digit_version

__all__ = ['apply_compat_patches', 'shims_for']

# Attribute set on every callable this module installs, so that a shim can
# tell that it has already been applied (also across ``importlib.reload``).
_MARK = '_mmprompt_compat'


def _mark(fn: Callable) -> Callable:
    """Mark ``fn`` as installed by this module and return it."""
    setattr(fn, _MARK, True)
    return fn


def _is_marked(fn: Callable) -> bool:
    """Whether ``fn`` (or the function under a staticmethod) is ours."""
    return getattr(getattr(fn, '__func__', fn), _MARK, False)


def _has_accelerator() -> bool:
    """Whether a device exists that mmengine's dist init knows how to use."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


# ---------------------------------------------------------------------------
# 1. Local checkpoints with weights_only=False
# ---------------------------------------------------------------------------
def _patch_local_checkpoint_loader() -> None:
    """Make mmengine's local checkpoint loader pass ``weights_only=False``."""
    if digit_version(torch.__version__) < digit_version('2.6.0'):
        return
    from mmengine.runner.checkpoint import CheckpointLoader

    current = CheckpointLoader._schemes.get('')
    if current is not None and _is_marked(current):
        return
    try:
        if current is not None and 'weights_only' in inspect.getsource(
                current):
            return  # a newer mmengine chooses for itself
    except (OSError, TypeError):
        pass

    @_mark
    def load_from_local(filename, map_location):
        """Load a checkpoint from a local path, unpickling all objects.

        Same as mmengine's ``load_from_local`` but with
        ``weights_only=False``, which mmengine's own checkpoints need. Only
        load checkpoints you trust.

        Args:
            filename (str): Local checkpoint file path.
            map_location (str, optional): Same as :func:`torch.load`.

        Returns:
            dict or OrderedDict: The loaded checkpoint.
        """
        import os.path as osp

        from mmprompt.errors import CheckpointError
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=False)
        except (pickle.UnpicklingError, EOFError, RuntimeError,
                ValueError) as err:
            size = osp.getsize(filename)
            what = 'is empty (0 bytes)' if size == 0 else (
                f'is not a complete PyTorch checkpoint ({size} bytes; '
                f'{type(err).__name__}: {str(err).splitlines()[0][:120]})')
            raise CheckpointError(
                f'Checkpoint {filename} {what}: it is truncated (a run '
                'killed while saving, an unfinished copy) or not a '
                'checkpoint. Copy it again, or use another epoch_N.pth of '
                'the work dir.') from err

    # The function keeps mmengine's name: ``load_checkpoint`` logs
    # ``name[10:]`` ("local") as the backend.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


# ---------------------------------------------------------------------------
# 2. Distributed initialisation without CUDA
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def _cuda_set_device_disabled() -> Iterator[None]:
    """Temporarily make ``torch.cuda.set_device`` a no-op."""
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def _cpu_safe_init(init_fn: Callable) -> Callable:
    """Wrap one of mmengine's ``_init_dist_*`` functions for CPU machines.

    Args:
        init_fn (Callable): The original function; its first argument is the
            backend name.

    Returns:
        Callable: A function with the same signature.
    """

    @functools.wraps(init_fn)
    def wrapper(backend, *args, **kwargs):
        if _has_accelerator():
            return init_fn(backend, *args, **kwargs)
        if backend == 'nccl':
            print_log(
                'No CUDA device is available: using the "gloo" backend '
                'instead of "nccl" for distributed training on CPU.',
                logger='current',
                level=logging.WARNING)
            backend = 'gloo'
        with _cuda_set_device_disabled():
            return init_fn(backend, *args, **kwargs)

    return _mark(wrapper)


def _patch_init_dist() -> None:
    """Let ``mmengine.dist.init_dist`` work on machines without CUDA."""
    from mmengine.dist import utils as dist_utils

    for name in ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi'):
        original = getattr(dist_utils, name, None)
        if original is None or _is_marked(original):
            continue
        setattr(dist_utils, name, _cpu_safe_init(original))


# ---------------------------------------------------------------------------
# 3. DDP of CPU modules
# ---------------------------------------------------------------------------
def _patch_cpu_ddp() -> None:
    """Let ``MMDistributedDataParallel`` wrap modules that live on the CPU."""
    from mmengine.model import MMDistributedDataParallel

    original = MMDistributedDataParallel.__init__
    if _is_marked(original):
        return

    @functools.wraps(original)
    def __init__(self, module, *args, **kwargs):
        devices = {param.device.type for param in module.parameters()}
        if devices == {'cpu'} and (kwargs.get('device_ids') is not None
                                   or kwargs.get('output_device') is not None):
            print_log(
                'The module to wrap is on the CPU: building '
                'MMDistributedDataParallel with device_ids=None.',
                logger='current',
                level=logging.DEBUG)
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
        original(self, module, *args, **kwargs)

    MMDistributedDataParallel.__init__ = _mark(__init__)


# ---------------------------------------------------------------------------
# 4. persistent_workers with num_workers=0
# ---------------------------------------------------------------------------
def _drop_useless_persistent_workers(build_fn: Callable) -> Callable:
    """Wrap a ``build_dataloader`` static method.

    Args:
        build_fn (Callable): The original (unbound) ``build_dataloader``.

    Returns:
        Callable: A function with the same signature.
    """

    @functools.wraps(build_fn)
    def build_dataloader(dataloader, *args, **kwargs):
        if (isinstance(dataloader, dict)
                and dataloader.get('persistent_workers', False)
                and not dataloader.get('num_workers', 0)):
            print_log(
                'Ignoring persistent_workers=True because num_workers=0.',
                logger='current',
                level=logging.INFO)
            dataloader = copy.copy(dataloader)
            dataloader.pop('persistent_workers')
        return build_fn(dataloader, *args, **kwargs)

    return _mark(build_dataloader)


def _patch_build_dataloader() -> None:
    """Drop ``persistent_workers`` from loaders without worker processes."""
    from mmengine.runner import Runner
    runners = [Runner]
    try:
        from mmengine.runner import FlexibleRunner
        runners.append(FlexibleRunner)
    except ImportError:
        pass
    for runner_cls in runners:
        # Read the class __dict__ directly: the attribute is a staticmethod.
        original = runner_cls.__dict__.get('build_dataloader')
        if not isinstance(original, staticmethod) or _is_marked(original):
            continue
        runner_cls.build_dataloader = staticmethod(
            _drop_useless_persistent_workers(original.__func__))


# ---------------------------------------------------------------------------
# 5. Atomic checkpoint writes
# ---------------------------------------------------------------------------
def write_file_atomically(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` so that it is either complete or absent.

    Args:
        data (bytes): The file's content.
        path (str): The destination; its folder is created if needed.

    Raises:
        OSError: The write failed; ``path`` is unchanged and no temporary
            file is left behind.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Not mkstemp: its 0600 mode would differ from a plain open()'s.
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _atomic_save_checkpoint(save_fn: Callable) -> Callable:
    """Wrap mmengine's ``save_checkpoint`` to write local files atomically."""

    @functools.wraps(save_fn)
    def save_checkpoint(checkpoint,
                        filename,
                        file_client_args=None,
                        backend_args=None):
        if (file_client_args is not None or backend_args is not None
                or '://' in str(filename)):
            return save_fn(checkpoint, filename, file_client_args,
                           backend_args)
        from mmprompt.errors import CheckpointError
        with io.BytesIO() as buffer:
            torch.save(checkpoint, buffer)
            data = buffer.getvalue()
        try:
            write_file_atomically(data, str(filename))
        except OSError as err:
            raise CheckpointError(
                f'Could not write the checkpoint {filename} '
                f'({len(data)} bytes): {err.strerror or err}. Nothing was '
                'written under that name (an earlier file of that name is '
                'intact). Free space on that disk or pass another '
                '--work-dir, then resume with --resume.') from err

    return _mark(save_checkpoint)


def _patch_save_checkpoint() -> None:
    """Make mmengine write local checkpoints atomically."""
    from mmengine.runner import checkpoint as ckpt_module
    from mmengine.runner import runner as runner_module
    if _is_marked(ckpt_module.save_checkpoint):
        return
    wrapped = _atomic_save_checkpoint(ckpt_module.save_checkpoint)
    import mmengine.runner
    ckpt_module.save_checkpoint = wrapped
    runner_module.save_checkpoint = wrapped  # Runner.save_checkpoint
    mmengine.runner.save_checkpoint = wrapped  # CheckpointHook's publish


# ---------------------------------------------------------------------------
# 6. bfloat16 AMP on the CPU
# ---------------------------------------------------------------------------
def _is_bfloat16(dtype) -> bool:
    """Whether an ``AmpOptimWrapper`` ``dtype`` argument means bfloat16."""
    return dtype == 'bfloat16' or dtype is torch.bfloat16


@contextlib.contextmanager
def _amp_device_check_passed(module) -> Iterator[None]:
    """Let ``AmpOptimWrapper.__init__`` of ``module`` build on the CPU.

    Its device assertion reads ``is_cuda_available`` from the module's
    globals, and its loss scaler is the module's ``GradScaler``; both are
    replaced for the duration of the call.
    """
    saved = module.is_cuda_available, module.GradScaler
    module.is_cuda_available = lambda: True
    module.GradScaler = lambda *args, **kwargs: torch.amp.GradScaler(
        'cpu', enabled=False)
    try:
        yield
    finally:
        module.is_cuda_available, module.GradScaler = saved


def _patch_amp_optim_wrapper() -> None:
    """Let ``AmpOptimWrapper`` train in bfloat16 on machines without GPUs."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper as module
    original_init = AmpOptimWrapper.__init__
    original_context = AmpOptimWrapper.optim_context
    if _is_marked(original_init):
        return

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        if _has_accelerator():
            return original_init(self, *args, **kwargs)
        dtype = kwargs.get('dtype', args[1] if len(args) > 1 else None)
        if not _is_bfloat16(dtype):
            from mmprompt.errors import ConfigError
            raise ConfigError(
                f'AmpOptimWrapper with dtype={dtype!r} needs a CUDA (or '
                'NPU/MLU/MUSA) device, and none is available; on the CPU '
                "only bfloat16 autocast works: set optim_wrapper.dtype="
                "'bfloat16' (tools/train.py --amp --amp-dtype bfloat16) or "
                'train without AMP.')
        with _amp_device_check_passed(module):
            original_init(self, *args, **kwargs)
        self._mmprompt_cpu_autocast = True
        print_log(
            'AmpOptimWrapper on the CPU: autocast in bfloat16, no loss '
            'scaling.',
            logger='current',
            level=logging.INFO)

    @functools.wraps(original_context)
    @contextlib.contextmanager
    def optim_context(self, model):
        if not getattr(self, '_mmprompt_cpu_autocast', False):
            with original_context(self, model):
                yield
            return
        with OptimWrapper.optim_context(self, model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield

    AmpOptimWrapper.__init__ = _mark(__init__)
    AmpOptimWrapper.optim_context = _mark(optim_context)


#: Every shim with the first mmengine version it is not applied to (None:
#: every version). The fixes are tied to the mmengine line they were
#: written and tested for, 0.10 (0.10.7 is its last release); a newer
#: mmengine needs each re-checked before its bound moves (mmprompt's
#: requirements stop below 0.11 for that reason). A config ``type`` no
#: registry knows gets its "Did you mean" from the tools' error explanation
#: (:func:`mmprompt.cli.explain`), not from a shim.
_SHIMS = (
    (_patch_local_checkpoint_loader, '0.11.0'),
    (_patch_init_dist, '0.11.0'),
    (_patch_cpu_ddp, '0.11.0'),
    (_patch_build_dataloader, '0.11.0'),
    (_patch_save_checkpoint, '0.11.0'),
    (_patch_amp_optim_wrapper, '0.11.0'),
)


def shims_for(mmengine_version: str) -> tuple:
    """The shims :func:`apply_compat_patches` applies for an mmengine version.

    Args:
        mmengine_version (str): E.g. ``mmengine.__version__``.

    Returns:
        tuple[Callable]: The shim functions, in application order.
    """
    version = digit_version(mmengine_version)
    return tuple(shim for shim, upto in _SHIMS
                 if upto is None or version < digit_version(upto))


def apply_compat_patches() -> None:
    """Apply mmprompt's compatibility shims for the installed mmengine.

    Safe to call any number of times: each shim recognises what it installed
    and does nothing the second time. See the module docstring for what each
    shim changes and why, and :data:`_SHIMS` for the versions they apply to.
    """
    import mmengine
    for shim in shims_for(mmengine.__version__):
        shim()
