# Copyright (c) mmprompt contributors. All rights reserved.
"""Peak memory of one training step, with and without gradient checkpointing.

Builds a config's model like ``benchmark_train_iter.py`` (whose ``build`` it
uses: ``--random-weights`` runs offline, ``--num-classes`` synthetic class
names), then runs one ``model.train_step`` (forward, backward, optimiser
step) on random images of the backbone's input size, once as configured and
once with ``model.head.text_encoder.grad_checkpointing=True``. Each run is a
fresh subprocess, so neither sees the other's allocations. On the CPU the
memory is the process's resident set: the *baseline* after building the
model and the batch, then the *peak* during the step (``ru_maxrss``; on
Linux the high-water mark is reset to the baseline first, through
``/proc/self/clear_refs``, so the peak is the step's and not the build's);
on CUDA it is ``torch.cuda.memory_allocated`` / ``max_memory_allocated``.
The time is that of a second step (the first pays one-time costs).
Prints a markdown table and how many times less the step needs with
checkpointing. Example (CoOp, ViT-B/16, ImageNet's 1000 classes, batch 32,
CPU; the defaults)::

    python tools/analysis_tools/benchmark_memory.py \\
        configs/coop/coop_vitb16_imagenet.py \\
        --random-weights --num-classes 1000 --batch-size 32
"""
import argparse
import gc
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DEFAULT_CONFIG = osp.join(REPO, 'configs/coop/coop_vitb16_imagenet.py')
#: What the second run adds to the config.
CHECKPOINTING = {'model.head.text_encoder.grad_checkpointing': True}
#: Marks the result line a worker prints.
RESULT = 'benchmark_memory result: '
MIB = 2**20


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config',
        nargs='?',
        default=DEFAULT_CONFIG,
        help='the config to train (default: CoOp ViT-B/16 on ImageNet)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--num-classes', type=int, default=1000)
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='set every pretrained in the model to None')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config (both runs)')
    parser.add_argument(
        '--worker', choices=['off', 'on'], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'config {args.config} does not exist')
    if args.batch_size < 1 or args.num_classes < 1:
        parser.error('--batch-size and --num-classes must be at least 1')
    return args


def _max_rss() -> int:
    """The peak resident set of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == 'darwin' else peak * 1024  # macOS: bytes


def _reset_max_rss() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def measure(args) -> dict:
    """One training step in this process: its memory and time.

    Returns:
        dict: ``peak``, ``baseline`` and ``delta`` (bytes) of the first
        step, ``ms`` of a second one, ``kind`` (what was measured),
        ``checkpointing`` and the first step's ``loss``.
    """
    import torch

    sys.path.insert(0, HERE)
    from benchmark_train_iter import _random_batch, build

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker == 'on':
        args.cfg_options = {**(args.cfg_options or {}), **CHECKPOINTING}
    model, optim_wrapper = build(args.config, args)
    model.train()
    data = _random_batch(model, args)
    gc.collect()
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        kind = 'GPU allocated'
    else:
        reset = _reset_max_rss()
        baseline = _max_rss()
        kind = 'RSS' if reset else 'RSS (peak includes the build)'
    losses = model.train_step(data, optim_wrapper)
    peak = torch.cuda.max_memory_allocated() if cuda else _max_rss()
    # Timed on a second step: the first pays one-time costs (lazy inits).
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.train_step(data, optim_wrapper)
    if cuda:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1000
    text = model.head.text_encoder
    return dict(
        peak=peak,
        baseline=baseline,
        delta=peak - baseline,
        ms=ms,
        kind=kind,
        checkpointing=bool(text.transformer.grad_checkpointing),
        loss=float(sum(v for k, v in losses.items() if 'loss' in k)))


def run_worker(argv, mode: str) -> dict:
    """Measure in a fresh Python process: its result."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    proc = subprocess.run(
        [sys.executable,
         osp.abspath(__file__), *argv, '--worker', mode],
        env=env,
        capture_output=True,
        text=True)
    lines = [
        line for line in proc.stdout.splitlines() if line.startswith(RESULT)
    ]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(
            f'the measurement with text-encoder gradient checkpointing '
            f'{mode} failed (exit status {proc.returncode}); its output is '
            'above')
    return json.loads(lines[-1][len(RESULT):])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.worker:
        sys.stdout.write(RESULT + json.dumps(measure(args)) + '\n')
        return
    rows = {mode: run_worker(argv, mode) for mode in ('off', 'on')}
    if not rows['on']['checkpointing'] or rows['off']['checkpointing']:
        raise SystemExit('the config sets text_encoder.grad_checkpointing '
                         'itself; remove it to compare')
    name = osp.splitext(osp.basename(args.config))[0]
    unit = rows['off']['kind']
    sys.stdout.write(
        f'{name}: one training step, batch {args.batch_size}, '
        f'{args.num_classes} classes, device {args.device}; memory: {unit} '
        '(MiB), each run in a fresh process\n\n'
        '| text-encoder grad checkpointing | peak | baseline after build | '
        'step delta | ms / step |\n| --- | --- | --- | --- | --- |\n')
    for mode in ('off', 'on'):
        row = rows[mode]
        sys.stdout.write(
            f"| {mode} | {row['peak'] / MIB:.0f} | "
            f"{row['baseline'] / MIB:.0f} | {row['delta'] / MIB:.0f} | "
            f"{row['ms']:.0f} |\n")
    off, on = rows['off'], rows['on']
    sys.stdout.write(
        '\nwith checkpointing the step needs '
        f"x{off['delta'] / max(on['delta'], 1):.2f} less memory (step "
        f"delta), x{off['peak'] / on['peak']:.2f} less at the peak, and "
        f"x{on['ms'] / off['ms']:.2f} the time\n")
    sys.stdout.flush()


if __name__ == '__main__':
    main()
