# Copyright (c) mmprompt contributors. All rights reserved.
"""Tests of :mod:`mmprompt.compat`; each fails without its shim."""
import contextlib
import os
import os.path as osp
import pickle
import socket
import tempfile
from unittest import TestCase, mock, skipIf

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.dist import utils as dist_utils
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.runner import FlexibleRunner, Runner
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import digit_version

from mmprompt import compat
from mmprompt.compat import apply_compat_patches

TORCH_2_6 = digit_version(torch.__version__) >= digit_version('2.6.0')


def _free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _single_process_env(**extra):
    """Set the env of a 1-process job; restore env and state afterwards."""
    env = dict(
        RANK='0',
        WORLD_SIZE='1',
        LOCAL_RANK='0',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(_free_port()))
    env.update(extra)
    start_method = mp.get_start_method(allow_none=True)
    try:
        with mock.patch.dict(os.environ, env):
            yield
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
        # ``init_dist`` sets the start method to 'spawn' if none was chosen.
        if start_method is None:
            mp.set_start_method(None, force=True)


class ToyModel(BaseModel):
    """A model with parameters and buffers (BatchNorm)."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='loss'):
        return {'loss': self.fc(self.norm(inputs)).pow(2).mean()}


class TestApplyCompatPatches(TestCase):

    def setUp(self):
        apply_compat_patches()

    def test_idempotent(self):
        installed = (CheckpointLoader._schemes[''],
                     dist_utils._init_dist_pytorch,
                     dist_utils._init_dist_slurm,
                     MMDistributedDataParallel.__init__,
                     Runner.__dict__['build_dataloader'])
        apply_compat_patches()
        again = (CheckpointLoader._schemes[''], dist_utils._init_dist_pytorch,
                 dist_utils._init_dist_slurm,
                 MMDistributedDataParallel.__init__,
                 Runner.__dict__['build_dataloader'])
        for before, after in zip(installed, again):
            self.assertIs(before, after)
        # Nothing is wrapped twice.
        self.assertFalse(
            compat._is_marked(dist_utils._init_dist_pytorch.__wrapped__))
        self.assertFalse(
            compat._is_marked(MMDistributedDataParallel.__init__.__wrapped__))

    @skipIf(not TORCH_2_6, 'torch < 2.6 loads with weights_only=False')
    def test_load_mmengine_checkpoint(self):
        # Laid out like the checkpoints ``Runner.save_checkpoint`` writes.
        checkpoint = dict(
            meta=dict(iter=4, history=np.arange(4)),
            state_dict={'weight': torch.ones(2)},
            message_hub=dict(
                log_scalars={'train/loss': HistoryBuffer([0.5], [1])},
                runtime_info=dict(eta=np.float64(1.5))))
        with tempfile.TemporaryDirectory() as tmp_dir:
            path = osp.join(tmp_dir, 'epoch_1.pth')
            torch.save(checkpoint, path)
            # What mmengine 0.10.7 does without the shim.
            with self.assertRaises(pickle.UnpicklingError):
                torch.load(path)
            loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
            with self.assertRaisesRegex(FileNotFoundError, 'can not be found'):
                CheckpointLoader.load_checkpoint(osp.join(tmp_dir, 'no.pth'))
            # Broken files name themselves instead of an unpickling error.
            from mmprompt.errors import CheckpointError
            with open(path, 'rb') as f:
                data = f.read()
            broken = {
                'empty.pth': (b'', r'is empty \(0 bytes\)'),
                'cut.pth': (data[:len(data) // 2],
                            r'is not a complete PyTorch checkpoint'),
                'text.pth': (b'not a checkpoint\n',
                             r'is not a complete PyTorch checkpoint'),
            }
            for name, (content, reason) in broken.items():
                bad = osp.join(tmp_dir, name)
                with open(bad, 'wb') as f:
                    f.write(content)
                with self.assertRaisesRegex(
                        CheckpointError,
                        rf'Checkpoint {bad} {reason}.*truncated .*another '
                        r'epoch_N.pth'):
                    CheckpointLoader.load_checkpoint(bad)
        buffer = loaded['message_hub']['log_scalars']['train/loss']
        self.assertIsInstance(buffer, HistoryBuffer)
        self.assertEqual(buffer.current(), 0.5)
        np.testing.assert_array_equal(loaded['meta']['history'], np.arange(4))
        torch.testing.assert_close(loaded['state_dict']['weight'],
                                   torch.ones(2))

    def test_cpu_safe_init_wrapper(self):
        calls = []

        def fake_init(backend, init_backend='torch', **kwargs):
            torch.cuda.set_device(0)  # must not raise without CUDA
            calls.append((backend, init_backend, kwargs))

        wrapped = compat._cpu_safe_init(fake_init)
        with mock.patch.object(compat, '_has_accelerator', return_value=False):
            wrapped('nccl', init_backend='torch', timeout=5)
            wrapped('gloo')
        self.assertEqual(calls, [('gloo', 'torch', dict(timeout=5)),
                                 ('gloo', 'torch', {})])
        # With an accelerator the original runs unchanged.
        with mock.patch.object(compat, '_has_accelerator', return_value=True):
            with mock.patch.object(torch.cuda, 'set_device') as set_device:
                wrapped('nccl')
        set_device.assert_called_once_with(0)
        self.assertEqual(calls[-1], ('nccl', 'torch', {}))

    @skipIf(torch.cuda.is_available(), 'the shim only acts without CUDA')
    def test_init_dist_pytorch_without_cuda(self):
        with _single_process_env():
            dist_utils.init_dist('pytorch', backend='nccl')
            self.assertTrue(torch_dist.is_initialized())
            self.assertEqual(torch_dist.get_backend(), 'gloo')
            self.assertEqual(torch_dist.get_world_size(), 1)
        self.assertFalse(torch_dist.is_initialized())

    @skipIf(torch.cuda.is_available(), 'the shim only acts without CUDA')
    def test_init_dist_slurm_without_cuda(self):
        slurm_env = dict(
            SLURM_PROCID='0',
            SLURM_NTASKS='1',
            SLURM_NODELIST='localhost',
            SLURM_LOCALID='0')
        with _single_process_env(**slurm_env):
            dist_utils.init_dist('slurm', backend='nccl')
            self.assertEqual(torch_dist.get_backend(), 'gloo')
        self.assertFalse(torch_dist.is_initialized())

    def test_ddp_of_cpu_module(self):
        with _single_process_env():
            torch_dist.init_process_group(backend='gloo')
            # As built by ``Runner.wrap_model``.
            model = MMDistributedDataParallel(
                module=ToyModel(),
                device_ids=[int(os.environ['LOCAL_RANK'])],
                broadcast_buffers=False)
            self.assertIsNone(model.device_ids)
            optim_wrapper = OptimWrapper(
                torch.optim.SGD(model.parameters(), lr=0.1))
            before = model.module.fc.weight.detach().clone()
            log_vars = model.train_step(
                dict(inputs=torch.randn(8, 4)), optim_wrapper)
            self.assertIn('loss', log_vars)
            self.assertFalse(torch.equal(before, model.module.fc.weight))

    def test_build_dataloader_without_workers(self):
        cfg = dict(
            dataset=list(range(6)),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            persistent_workers=True)
        for runner_cls in (Runner, FlexibleRunner):
            loader = runner_cls.build_dataloader(cfg, seed=0)
            self.assertFalse(loader.persistent_workers)
            self.assertEqual(len(loader), 3)
        # The caller's config is left untouched.
        self.assertTrue(cfg['persistent_workers'])
        # Without ``num_workers`` torch's default (0) applies.
        cfg.pop('num_workers')
        self.assertFalse(Runner.build_dataloader(cfg).persistent_workers)

    def test_checkpoints_are_written_atomically(self):
        import resource
        import signal

        import mmengine.runner
        from mmengine.runner import checkpoint as ckpt_module
        from mmengine.runner import runner as runner_module

        from mmprompt.errors import CheckpointError

        # Every name mmengine calls it by is the shim.
        for fn in (ckpt_module.save_checkpoint, runner_module.save_checkpoint,
                   mmengine.runner.save_checkpoint):
            self.assertTrue(compat._is_marked(fn))
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'epoch_1.pth')
            small = {'state_dict': {'w': torch.arange(3.)}}
            ckpt_module.save_checkpoint(small, path)
            self.assertTrue(
                torch.equal(
                    torch.load(path)['state_dict']['w'], torch.arange(3.)))
            self.assertEqual(os.listdir(tmp), ['epoch_1.pth'])
            mode = os.stat(path).st_mode & 0o777
            umask = os.umask(0)
            os.umask(umask)
            self.assertEqual(mode, 0o666 & ~umask)

            # A full disk, simulated by a file-size limit: the write fails
            # half-way, and neither a truncated file nor a temporary one is
            # left; the earlier checkpoint of that name stays intact.
            big = {'state_dict': {'w': torch.zeros(200_000)}}
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
            try:
                with self.assertRaisesRegex(
                        CheckpointError,
                        rf'Could not write the checkpoint {path} \(\d+ '
                        r'bytes\): File too large\. Nothing was written'):
                    ckpt_module.save_checkpoint(big, path)
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
                signal.signal(signal.SIGXFSZ, handler)
            self.assertEqual(os.listdir(tmp), ['epoch_1.pth'])
            self.assertTrue(
                torch.equal(
                    torch.load(path)['state_dict']['w'], torch.arange(3.)))


def test_shims_are_tied_to_the_mmengine_versions_they_fix():
    from mmprompt import compat
    every = compat.shims_for('0.10.7')
    assert len(every) == len(compat._SHIMS) == 6
    # A newer mmengine gets none until the fixes are re-checked for it.
    assert compat.shims_for('0.11.0') == ()
    assert compat.shims_for('1.0.0rc1') == ()
    # No process-wide wrapper of Registry.build (unknown types are
    # explained at the tools' boundary, mmprompt.cli).
    from mmengine.registry import Registry
    assert not compat._is_marked(Registry.build)


def test_dependency_versions_are_checked_at_import():
    import re

    import mmprompt
    ranges = {name: (low, high) for name, low, high in mmprompt.DEPENDENCIES}
    # In step with the requirement files.
    text = ''.join(
        open(
            osp.join(
                osp.dirname(osp.dirname(osp.abspath(__file__))),
                'requirements', name)).read()
        for name in ('mminstall.txt', 'runtime.txt'))
    for name, (low, high) in ranges.items():
        pattern = {'mmcv': 'mmcv-lite'}.get(name, name)
        assert re.search(
            rf'^{re.escape(pattern)}>={re.escape(low)},'
            rf'<{re.escape(high)}$', text, re.M), name
    mmprompt.check_dependency_versions()  # the installed stack passes
    versions = dict(
        mmengine='0.11.0',
        mmpretrain='1.2.0',
        mmcv='2.2.0',
        open_clip_torch='3.3.0')
    with pytest.raises(
            ImportError,
            match=r"needs mmengine>=0\.10\.7,<0\.11"
            r"\.0, but mmengine==0\.11\.0 is installed: pip "
            r"install 'mmengine>=0\.10\.7,<0\.11\.0'"):
        mmprompt.check_dependency_versions(versions.get)
    versions.update(mmengine='0.10.7', mmcv=None)
    with pytest.raises(
            ImportError,
            match=r'needs mmcv>=2\.0\.0,<2\.3\.0, '
            r'which is not installed'):
        mmprompt.check_dependency_versions(versions.get)
