# Copyright (c) mmprompt contributors. All rights reserved.
"""Run configs over seeds with the user-facing tools and tabulate base/new/H.

Each config x seed is trained with ``tools/train.py`` (configs without a
``train_cfg``, such as zero-shot CLIP, are only tested) and tested with
``tools/test.py`` on its last checkpoint. The seed goes to
``randomness.seed`` and to every dataloader's ``dataset.seed`` (the few-shot
draw). The table reports the per-seed mean ± std of B and N and, as the
literature does, H of the seed-averaged B and N::

    python tools/run_protocol.py \
        configs/zeroshot/clip_tinyclip_procdtd.py \
        configs/coop/coop_tinyclip_procdtd.py \
        --seeds 1 2 3 --work-dir work_dirs/procdtd --out results/procdtd

writes ``results/procdtd.md`` and ``results/procdtd.csv``. A failed run is
reported with its log and left out of the averages; the script then exits
non-zero.
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
from mmprompt.evaluation import average_base_new  # noqa: E402


def seed_options(cfg, seed):
    opts = [f'randomness.seed={seed}']
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader and 'seed' in loader.get('dataset', {}):
            opts.append(f'{split}_dataloader.dataset.seed={seed}')
    return opts


def run_tool(args, log_path):
    with open(log_path, 'w') as log:
        return subprocess.run([sys.executable] + args, cwd=REPO, stdout=log,
                              stderr=subprocess.STDOUT).returncode


def run_one(config, seed, work_dir, extra):
    """Train (if the config trains) and test one seed; metrics or None."""
    cfg = Config.fromfile(config)
    opts = ['--cfg-options'] + seed_options(cfg, seed) + extra
    os.makedirs(work_dir, exist_ok=True)
    checkpoint = []
    if cfg.get('train_cfg'):
        log = osp.join(work_dir, 'train.log')
        if run_tool(['tools/train.py', config, '--work-dir', work_dir] + opts,
                    log) != 0:
            return None, log
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            checkpoint = [f.read().strip()]
    out = osp.join(work_dir, 'metrics.json')
    log = osp.join(work_dir, 'test.log')
    if run_tool(['tools/test.py', config] + checkpoint +
                ['--work-dir', work_dir, '--out', out, '--out-item',
                 'metrics'] + opts, log) != 0:
        return None, log
    with open(out) as f:
        return json.load(f), log


def summarise(name, results):
    """One table row: mean ± std of B and N, H of the means."""
    base = [r['base/top1'] for r in results]
    new = [r['new/top1'] for r in results]
    avg = average_base_new(results)
    return dict(
        method=name,
        seeds=len(results),
        base=f'{np.mean(base):.2f} ± {np.std(base):.2f}',
        new=f'{np.mean(new):.2f} ± {np.std(new):.2f}',
        H=f'{avg["hm"]:.2f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--work-dir', default='work_dirs/protocol')
    parser.add_argument('--out', help='write OUT.md and OUT.csv')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='key=value overrides passed to every run')
    args = parser.parse_args()

    rows, failures = [], []
    total = len(args.configs) * len(args.seeds)
    done = 0
    for config in args.configs:
        name = osp.splitext(osp.basename(config))[0]
        results = []
        for seed in args.seeds:
            start = time.time()
            work_dir = osp.join(args.work_dir, name, f'seed{seed}')
            metrics, log = run_one(config, seed, work_dir, args.cfg_options)
            done += 1
            if metrics is None:
                failures.append(f'{name} seed {seed}: see {log}')
                print(f'[{done}/{total}] {name} seed {seed}: FAILED, log '
                      f'{log}', flush=True)
                continue
            results.append(metrics)
            print(f'[{done}/{total}] {name} seed {seed}: base '
                  f'{metrics["base/top1"]:.2f} new {metrics["new/top1"]:.2f}'
                  f' H {metrics["hm"]:.2f} ({time.time() - start:.0f} s)',
                  flush=True)
        if results:
            rows.append(summarise(name, results))

    header = ['method', 'seeds', 'base', 'new', 'H']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + ' --- |' * len(header)]
    lines += ['| ' + ' | '.join(str(r[k]) for k in header) + ' |'
              for r in rows]
    table = '\n'.join(lines)
    print('\n' + table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '.md', 'w') as f:
            f.write(table + '\n')
        with open(args.out + '.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
    if failures:
        print('\nFailed runs:\n  ' + '\n  '.join(failures))
        sys.exit(1)


if __name__ == '__main__':
    main()
