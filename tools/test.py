# Copyright (c) mmprompt contributors. All rights reserved.
"""Test (evaluate) a checkpoint with mmengine's Runner.

Examples:
    Print the metrics of a checkpoint and dump the predictions::

        python tools/test.py configs/coop/CONFIG.py CHECKPOINT --out preds.pkl

    Zero-shot CLIP (nothing to load)::

        python tools/test.py configs/zeroshot/clip_vitb16_dtd.py

    Several processes on one machine (GPUs, or CPU with the gloo backend)::

        bash tools/dist_test.sh configs/coop/CONFIG.py CHECKPOINT 2
"""
import argparse
import os
import os.path as osp
import sys

import mmengine
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner

try:
    import mmprompt  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmprompt  # noqa: F401
from mmprompt.engine import close_process_group
from mmprompt.registry import RUNNERS


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint file; leave out to test the model as the config '
        'builds it (zero-shot CLIP, nothing trained)')
    parser.add_argument(
        '--work-dir',
        help='the directory to save logs and metrics; defaults to the '
        'config\'s work_dir, else ./work_dirs/<config name>')
    parser.add_argument(
        '--out',
        help='file to dump the results to: predictions must go to a '
        '.pkl/.pickle file, metrics to .pkl, .json or .yaml')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out receives; defaults to the predictions')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs merged into '
        'it, e.g. test_dataloader.batch_size=8 or key="[a,b]" for a list; '
        'quote values that contain spaces')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets LOCAL_RANK in the environment.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.out_item is not None and args.out is None:
        parser.error('--out-item needs --out FILE')
    if (args.out is not None and args.out_item != 'metrics'
            and not args.out.endswith(('.pkl', '.pickle'))):
        parser.error('predictions are dumped as a pickle: --out must end '
                     'with .pkl or .pickle (or use --out-item metrics)')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Apply the command-line options to the config.

    Args:
        cfg (Config): The loaded config.
        args (argparse.Namespace): The parsed command line.

    Returns:
        Config: The updated config.
    """
    cfg.launcher = args.launcher

    # work_dir: command line > config > config file name.
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    # The checkpoint only provides weights; never resume a training state.
    cfg.resume = False

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)

    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)

    if args.out is not None and args.out_item in (None, 'pred'):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))

    metrics = runner.test()

    if is_main_process():
        if args.out is not None and args.out_item == 'metrics':
            mmengine.dump(metrics, args.out)
        print(metrics)
    del runner  # its DDP wrapper holds the process group (see below)
    close_process_group()


if __name__ == '__main__':
    main()
