# Copyright (c) mmprompt contributors. All rights reserved.
"""Test (evaluate) a checkpoint with mmengine's Runner.

Examples:
    Print the metrics of a checkpoint and dump the predictions::

        python tools/test.py configs/coop/CONFIG.py CHECKPOINT --out preds.pkl

    Zero-shot CLIP (nothing to load)::

        python tools/test.py configs/zeroshot/clip_vitb16_dtd.py

    Several processes on one machine (GPUs, or CPU with the gloo backend)::

        bash tools/dist_test.sh configs/coop/CONFIG.py CHECKPOINT 2

A user mistake (a missing checkpoint, an ``--out`` that cannot be written, an
unknown config field or option) stops the run at once with one
``error: ...`` paragraph and exit status 2; ``--debug`` shows the traceback.

A test does not take the work-dir lock of ``tools/train.py``: testing a
checkpoint while a training writes into the same work dir is allowed. The
test's log goes to its own ``<work_dir>/<timestamp>/`` folder (its copy of
the config, ``<work_dir>/<config name>.py``, replaces the training's).
"""
import argparse
import os
import os.path as osp
import sys

# Only the standard library is imported at the top: ``--help`` and a wrong
# command line answer at once; torch, mmengine and mmprompt load in main().
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


class KeyValueAction(argparse.Action):
    """Collect ``key=value`` strings (parsed later, like ``DictAction``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for value in values:
            if '=' not in value or value.startswith('='):
                parser.error(f"{option_string} takes KEY=VALUE pairs, got "
                             f"'{value}' (e.g. test_dataloader.batch_size=8)")
        items = list(getattr(namespace, self.dest, None) or []) + values
        setattr(namespace, self.dest, items)


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.

    Returns:
        argparse.Namespace: The options.
    """
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
        help='file to dump the results to (its folder must exist): '
        'predictions must go to a .pkl/.pickle file, metrics to .pkl, .json '
        'or .yaml')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out receives; defaults to the predictions')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=KeyValueAction,
        metavar='KEY=VALUE',
        help='override settings of the config, as key=value pairs merged into '
        'it, e.g. test_dataloader.batch_size=8 or key="[a,b]" for a list; '
        'quote values that contain spaces. A key the config lacks (and no '
        'constructor takes) is an error')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--untrained',
        action='store_true',
        help='test a config that trains prompts without a checkpoint, i.e. '
        'its initial (untrained) prompts; without this flag that is an error')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the full traceback of a user error (a wrong path, field '
        'or option) instead of the one-line explanation')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets LOCAL_RANK in the environment.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.out_item is not None and args.out is None:
        parser.error('--out-item needs --out FILE')
    if (args.out is not None and args.out_item != 'metrics'
            and not args.out.endswith(('.pkl', '.pickle'))):
        parser.error('predictions are dumped as a pickle: --out must end '
                     'with .pkl or .pickle (or use --out-item metrics)')
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


def merge_args(cfg, args):
    """Apply the command-line options to the config.

    Args:
        cfg (Config): The loaded config.
        args (argparse.Namespace): The parsed command line.

    Returns:
        Config: The updated config.

    Raises:
        ConfigError: For an unknown ``--cfg-options`` key.
    """
    from mmprompt.cli import merge_cfg_options

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

    return merge_cfg_options(cfg, args.cfg_options)


def check_run(cfg, args):
    """Check the files and folders of the run before anything is built.

    Args:
        cfg (Config): The merged config.
        args (argparse.Namespace): The parsed command line.

    Raises:
        MMPromptError: For a missing checkpoint or data root, or an
            ``--out`` file or work dir that cannot be written.
    """
    from mmprompt.cli import (check_checkpoint, check_data_roots,
                              check_launcher, check_out_file, check_work_dir)
    if args.checkpoint is not None:
        check_checkpoint(args.checkpoint, 'the checkpoint argument')
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from, '`load_from` of the config')
    check_out_file(args.out)
    check_work_dir(cfg.work_dir)
    check_launcher(args.launcher, 'test')
    check_data_roots(cfg, ['test_dataloader'])


def check_nothing_to_load(model, config):
    """Refuse to test a model that trains something, without a checkpoint.

    Args:
        model (nn.Module): The built model (possibly DDP-wrapped).
        config (str): The config path, for the message.

    Raises:
        ConfigError: The model has trainable parameters.
    """
    from mmprompt.errors import ConfigError
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    if trained:
        shown = ', '.join(
            repr(n.replace('module.', '', 1)) for n in trained[:3])
        raise ConfigError(
            f'{config} trains {len(trained)} parameter tensor(s) ({shown}'
            f'{" ..." if len(trained) > 3 else ""}), but no checkpoint was '
            'given, so the test would score their untrained initial values. '
            'Pass the checkpoint its training wrote (tools/test.py CONFIG '
            'work_dirs/<run>/epoch_N.pth), or add --untrained to test the '
            'model as initialised. Zero-shot configs need no checkpoint.')


def run_test(args):
    """Test as the command line says.

    Args:
        args (argparse.Namespace): The parsed command line.
    """
    import mmengine
    from mmengine.dist import is_main_process
    from mmengine.evaluator import DumpResults
    from mmengine.runner import Runner

    from mmprompt.cli import explain_errors, load_config
    from mmprompt.engine import close_process_group
    from mmprompt.registry import RUNNERS

    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_run(cfg, args)

    with explain_errors(cfg):
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        if not cfg.get('load_from') and not args.untrained:
            check_nothing_to_load(runner.model, args.config)

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


def main(argv=None):
    """Parse the command line, then test behind the user-error boundary.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.
    """
    args = parse_args(argv)
    import_mmprompt()
    from mmprompt.cli import run_tool
    run_tool(run_test, args, debug=args.debug)


if __name__ == '__main__':
    main()
