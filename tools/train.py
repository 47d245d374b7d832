# Copyright (c) mmprompt contributors. All rights reserved.
"""Train a model with mmengine's Runner.

Examples:
    Single process (CPU or one GPU)::

        python tools/train.py configs/coop/CONFIG.py

    Several processes on one machine (GPUs, or CPU with the gloo backend)::

        bash tools/dist_train.sh configs/coop/CONFIG.py 2

    Mixed precision (float16 needs a GPU; bfloat16 also works on the CPU)::

        python tools/train.py configs/coop/CONFIG.py --amp --amp-dtype bfloat16

A user mistake (a missing file, an unknown config field or option, a busy
work dir) stops the run at once with one ``error: ...`` paragraph and exit
status 2; ``--debug`` shows the traceback. Only one training at a time may
use a work dir: the run holds ``<work_dir>/.mmprompt.lock``.
"""
import argparse
import os
import os.path as osp
import sys

# Only the standard library is imported at the top: ``--help`` and a wrong
# command line answer at once; torch, mmengine and mmprompt load in main().
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: ``--amp`` turns an optimiser wrapper into its mixed-precision variant.
AMP_WRAPPERS = {'ProGradOptimWrapper': 'AmpProGradOptimWrapper'}
#: The autocast dtypes of ``--amp-dtype`` (the first is the default).
AMP_DTYPES = ('float16', 'bfloat16')


class KeyValueAction(argparse.Action):
    """Collect ``key=value`` strings (parsed later, like ``DictAction``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for value in values:
            if '=' not in value or value.startswith('='):
                parser.error(f"{option_string} takes KEY=VALUE pairs, got "
                             f"'{value}' (e.g. train_cfg.max_epochs=5)")
        items = list(getattr(namespace, self.dest, None) or []) + values
        setattr(namespace, self.dest, items)


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='the directory to save logs and checkpoints; defaults to '
        'the config\'s work_dir, else ./work_dirs/<config name>. One '
        'training at a time may use it')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work directory (an error if it has none)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (mmengine\'s '
        'AmpOptimWrapper); float16 needs a GPU, bfloat16 also runs on the '
        'CPU (see --amp-dtype)')
    parser.add_argument(
        '--amp-dtype',
        choices=AMP_DTYPES,
        default=None,
        help='the autocast dtype of --amp (sets optim_wrapper.dtype): '
        'float16 (the default, unless the config sets optim_wrapper.dtype; '
        'needs a CUDA, NPU, MLU or MUSA device) or bfloat16 (GPUs that '
        'support it, and the CPU, where it runs without loss scaling)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the ratio of the actual total batch '
        'size to the config\'s auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=KeyValueAction,
        metavar='KEY=VALUE',
        help='override settings of the config, as key=value pairs merged into '
        'it, e.g. train_dataloader.batch_size=8 or key="[a,b]" for a list; '
        'quote values that contain spaces. A key the config lacks (and no '
        'constructor takes) is an error')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the full traceback of a user error (a wrong path, field '
        'or option) instead of the one-line explanation')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets LOCAL_RANK in the environment.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.amp_dtype is not None and not args.amp:
        parser.error(f'--amp-dtype {args.amp_dtype} only applies with '
                     '--amp; add --amp to train in mixed precision')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def import_mmprompt():
    """Import mmprompt, also from a checkout that is not installed."""
    try:
        import mmprompt  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO)
        import mmprompt  # noqa: F401


def amp_device_available():
    """Whether a device exists that mmengine's ``AmpOptimWrapper`` accepts."""
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def merge_args(cfg, args):
    """Apply the command-line options to the config.

    Args:
        cfg (Config): The loaded config.
        args (argparse.Namespace): The parsed command line.

    Returns:
        Config: The updated config.

    Raises:
        ConfigError: For an option the config cannot take (an unknown
            ``--cfg-options`` key, ``--auto-scale-lr`` without a base batch
            size).
    """
    from mmprompt.cli import merge_cfg_options
    from mmprompt.errors import ConfigError

    cfg.launcher = args.launcher

    # work_dir: command line > config > config file name.
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        # ProGrad's two-gradient update has its own AMP variant.
        cfg.optim_wrapper.type = AMP_WRAPPERS.get(
            cfg.optim_wrapper.get('type', 'OptimWrapper'), 'AmpOptimWrapper')
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        if args.amp_dtype is not None:
            cfg.optim_wrapper.dtype = args.amp_dtype
        elif cfg.optim_wrapper.get('dtype', None) is None:
            cfg.optim_wrapper.dtype = AMP_DTYPES[0]

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr', None) or {}):
            raise ConfigError(
                '--auto-scale-lr needs `auto_scale_lr = '
                'dict(base_batch_size=N)` in the config (N: the total batch '
                'size its learning rate is meant for).')
        cfg.auto_scale_lr.enable = True

    return merge_cfg_options(cfg, args.cfg_options)


def check_amp(cfg, args):
    """Refuse ``--amp`` in a dtype that this machine cannot autocast to.

    Args:
        cfg (Config): The merged config.
        args (argparse.Namespace): The parsed command line.

    Raises:
        ConfigError: ``--amp`` in float16 without a CUDA (or NPU/MLU/MUSA)
            device.
    """
    from mmprompt.errors import ConfigError
    if not args.amp or amp_device_available():
        return
    dtype = str(cfg.optim_wrapper.get('dtype')).replace('torch.', '')
    if dtype != 'bfloat16':
        raise ConfigError(
            f'--amp in {dtype} needs a CUDA (or NPU/MLU/MUSA) device, and '
            'none is available; on the CPU mixed precision works in '
            'bfloat16 only. Pass --amp --amp-dtype bfloat16, or train '
            'without --amp.')


def check_run(cfg, args):
    """Check the files and folders of the run before anything is built.

    Args:
        cfg (Config): The merged config.
        args (argparse.Namespace): The parsed command line.

    Raises:
        MMPromptError: For a missing checkpoint or data root, or a work dir
            that cannot be written.
    """
    from mmprompt.cli import (check_checkpoint, check_data_roots,
                              check_launcher, check_work_dir)
    if args.resume not in (None, 'auto'):
        check_checkpoint(args.resume, '--resume')
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from, '`load_from` of the config')
    check_work_dir(cfg.work_dir)
    check_launcher(args.launcher)
    loaders = ['train_dataloader']
    if cfg.get('val_cfg') is not None:
        loaders.append('val_dataloader')
    check_data_roots(cfg, loaders)


def check_not_finished(cfg, checkpoint):
    """Refuse to resume a training that has nothing left to train.

    mmengine would log "resumed epoch: N", train nothing, save nothing and
    exit 0.

    Args:
        cfg (Config): The merged config.
        checkpoint (str): The checkpoint to resume from.

    Raises:
        CheckpointError: The checkpoint is at or past the end of training.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmprompt.errors import CheckpointError
    train_cfg = cfg.get('train_cfg') or {}
    unit, key = (('epoch', 'max_epochs') if 'max_epochs' in train_cfg else
                 ('iter', 'max_iters'))
    end = train_cfg.get(key)
    meta = CheckpointLoader.load_checkpoint(
        checkpoint, map_location='cpu').get('meta', {})
    done = meta.get(unit)
    if end is not None and done is not None and done >= end:
        raise CheckpointError(
            f'--resume: checkpoint {checkpoint} is at {unit} {done} and '
            f'train_cfg.{key} is {end}, so nothing is left to train. Raise '
            f'train_cfg.{key} to train further (--cfg-options '
            f'train_cfg.{key}=N), or '
            'test the checkpoint with tools/test.py.')


def train(args):
    """Train as the command line says.

    Args:
        args (argparse.Namespace): The parsed command line.
    """
    from mmengine.runner import Runner

    from mmprompt.cli import (check_resumable, explain_errors, load_config,
                              lock_work_dir)
    from mmprompt.engine import close_process_group
    from mmprompt.registry import RUNNERS

    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_amp(cfg, args)
    check_run(cfg, args)

    with lock_work_dir(cfg.work_dir, args.launcher):
        if args.resume == 'auto':
            check_not_finished(cfg, check_resumable(cfg.work_dir))
        elif args.resume is not None:
            check_not_finished(cfg, args.resume)
        with explain_errors(cfg):
            if 'runner_type' in cfg:
                runner = RUNNERS.build(cfg)
            else:
                runner = Runner.from_cfg(cfg)
            runner.train()
        del runner  # its DDP wrapper holds the process group (see below)
        close_process_group()


def main(argv=None):
    """Parse the command line, then train behind the user-error boundary.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.
    """
    args = parse_args(argv)
    import_mmprompt()
    from mmprompt.cli import run_tool
    run_tool(train, args, debug=args.debug)


if __name__ == '__main__':
    main()
