# Copyright (c) mmprompt contributors. All rights reserved.
"""The offline demo: zero-shot CLIP vs CoOp, base-to-new, in a few minutes.

Runs the user-facing tools on the embedded default: the procedural mini-DTD
(textures named after DTD categories, written to ``data/procdtd`` on first
use) and mmprompt's tiny CLIP pretrained on procedural textures (shipped as
the open_clip tag ``'procdtd'``). It prints base / new / H for both methods::

    python tools/demo.py [--work-dir work_dirs/demo] [--seed 1]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ZERO_SHOT = 'configs/zeroshot/clip_tinyclip_procdtd.py'
COOP = 'configs/coop/coop_tinyclip_procdtd.py'


def run(args, log_path):
    """Run a tool with this interpreter; stop with its log on failure."""
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.run(
            [sys.executable] + args,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_path) as f:
            sys.stderr.write(f.read()[-4000:])
        sys.exit(f'demo: `{" ".join(args)}` failed, log: {log_path}')
    return time.time() - start


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
    zs_out = osp.join(work, 'zeroshot_metrics.json')
    secs = run([
        'tools/test.py', ZERO_SHOT, '--work-dir',
        osp.join(work, 'zeroshot'), '--out', zs_out, '--out-item', 'metrics'
    ] + common + [d for d in data if 'test' in d],
               osp.join(work, 'zeroshot.log'))
    results['zero-shot CLIP'] = (zs_out, secs)

    coop_dir = osp.join(work, 'coop')
    secs = run(['tools/train.py', COOP, '--work-dir', coop_dir] + common +
               data, osp.join(work, 'coop_train.log'))
    with open(osp.join(coop_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    coop_out = osp.join(work, 'coop_metrics.json')
    secs += run([
        'tools/test.py', COOP, checkpoint, '--work-dir', coop_dir, '--out',
        coop_out, '--out-item', 'metrics'
    ] + common + data, osp.join(work, 'coop_test.log'))
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
