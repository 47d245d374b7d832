# Copyright (c) mmprompt contributors. All rights reserved.
"""The offline demo: zero-shot CLIP vs CoOp, base-to-new, in a few minutes.

Runs the user-facing tools on the embedded default: the procedural mini-DTD
(textures named after DTD categories, written to ``data/procdtd`` on first
use) and mmprompt's tiny CLIP pretrained on procedural textures (shipped as
the open_clip tag ``'procdtd'``). While each of its three runs goes, it shows
the run, epoch, loss and ETA (one status line on a terminal; a line at the
start and every 30 s elsewhere), and at the end it prints base / new / H for
both methods::

    python tools/demo.py [--work-dir work_dirs/demo] [--seed 1]
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ZERO_SHOT = 'configs/zeroshot/clip_tinyclip_procdtd.py'
COOP = 'configs/coop/coop_tinyclip_procdtd.py'


def run(args, log_path, progress, index, label):
    """Run a tool with this interpreter; stop with its log on failure.

    Args:
        args (list[str]): The tool and its arguments.
        log_path (str): Where its output goes.
        progress (Progress): Shows the epoch, loss and ETA while it runs.
        index (int): The run's number (of ``progress.total``).
        label (str): What it is, on the progress lines.

    Returns:
        float: The seconds it took.
    """
    from mmprompt.progress import run_logged
    start = time.time()
    progress.start(index, label)
    code = run_logged(
        [sys.executable] + args,
        log_path,
        progress,
        step=osp.splitext(osp.basename(args[0]))[0],
        cwd=REPO)
    secs = time.time() - start
    if code != 0:
        progress.write(f'{progress.prefix}: FAILED ({secs:.0f} s)')
        with open(log_path) as f:
            sys.stderr.write(f.read()[-4000:])
        sys.exit(f'demo: `{" ".join(args)}` failed, log: {log_path}')
    progress.write(f'{progress.prefix}: done ({secs:.0f} s), log {log_path}')
    return secs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/procdtd')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    sys.path.insert(0, REPO)
    from mmprompt.errors import MMPromptError
    from mmprompt.offline import ensure_procedural_dataset
    from mmprompt.progress import Progress

    data_root = osp.join(REPO, args.data_root)
    try:
        # Written once, through a temporary folder renamed into place: a
        # demo killed while writing leaves no half-written data root.
        ensure_procedural_dataset(data_root)
    except MMPromptError as err:
        sys.exit(f'demo: {err}')
    work = osp.join(REPO, args.work_dir)
    os.makedirs(work, exist_ok=True)
    seed = args.seed
    data = [
        f'{split}_dataloader.dataset.{key}={value}'
        for split in ('train', 'val', 'test')
        for key, value in (('data_root', data_root), ('seed', seed))
    ]
    common = ['--cfg-options', f'randomness.seed={seed}']

    results = {}
    # On a terminal, one status line (step, epoch, loss, ETA) redrawn while
    # a tool runs; elsewhere a line when it starts and every 30 s.
    progress = Progress(total=3)
    zs_out = osp.join(work, 'zeroshot_metrics.json')
    secs = run([
        'tools/test.py', ZERO_SHOT, '--work-dir',
        osp.join(work, 'zeroshot'), '--out', zs_out, '--out-item', 'metrics'
    ] + common + [d for d in data if 'test' in d],
               osp.join(work, 'zeroshot.log'), progress, 1,
               f'zero-shot CLIP, test {ZERO_SHOT}')
    results['zero-shot CLIP'] = (zs_out, secs)

    coop_dir = osp.join(work, 'coop')
    secs = run(
        ['tools/train.py', COOP, '--work-dir', coop_dir] + common + data,
        osp.join(work, 'coop_train.log'), progress, 2, f'CoOp, train {COOP}')
    with open(osp.join(coop_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    coop_out = osp.join(work, 'coop_metrics.json')
    secs += run([
        'tools/test.py', COOP, checkpoint, '--work-dir', coop_dir, '--out',
        coop_out, '--out-item', 'metrics'
    ] + common + data, osp.join(work, 'coop_test.log'), progress, 3,
                f'CoOp, test {COOP}')
    results['CoOp (trained on base)'] = (coop_out, secs)

    print(f'\nmmprompt demo: procedural mini-DTD ({data_root}), '
          f"mmprompt's tiny CLIP pretrained on procedural textures, "
          f'seed {seed}')
    print(f'{"method":<24}{"base":>8}{"new":>8}{"H":>8}{"time (s)":>10}')
    for name, (path, secs) in results.items():
        with open(path) as f:
            m = json.load(f)
        print(f'{name:<24}{m["base/top1"]:8.2f}{m["new/top1"]:8.2f}'
              f'{m["hm"]:8.2f}{secs:10.1f}')
    print(f'checkpoint: {checkpoint} ({osp.getsize(checkpoint) / 1024:.0f} '
          f'KB); logs in {work}')


if __name__ == '__main__':
    main()
