# Copyright (c) mmprompt contributors. All rights reserved.
"""Run configs over seeds with the user-facing tools and tabulate them.

Each config x seed is trained with ``tools/train.py`` (configs without a
``train_cfg``, such as zero-shot CLIP, are only tested) and tested with
``tools/test.py`` on its last checkpoint; with ``--test-configs`` the same
checkpoint is also tested with each of those configs (cross-dataset and
domain generalisation: train on ImageNet, test on the other datasets). The
seed goes to ``randomness.seed`` and to every dataloader's ``dataset.seed``
(the few-shot draw); ``--shots K`` sets ``num_shots`` of the train and val
datasets (the few-shot protocol) and of a prompt learner sized by it
(instance-wise prompts).

The table has one row per config (and per test config) with the mean ± std
over seeds of base / new accuracy with H of the means, as the literature
computes it (base-to-new configs), or of top-1 (all-class configs);
``--average`` adds the average row (H of the averaged base and new; with
``--test-configs``, over the test configs' rows only)::

    # base-to-new, offline world
    python tools/run_protocol.py \\
        configs/zeroshot/clip_tinyclip_procdtd.py \\
        configs/coop/coop_tinyclip_procdtd.py \\
        --seeds 1 2 3 --work-dir work_dirs/procdtd --out results/procdtd
    # cross-dataset: CoOp trained on ImageNet, tested on two other datasets
    python tools/run_protocol.py \\
        configs/coop/coop_vitb16_imagenet_fewshot.py \\
        --test-configs configs/coop/coop_vitb16_caltech101_fewshot.py \\
        configs/coop/coop_vitb16_eurosat_fewshot.py --average

``--dry-run`` prints the commands instead of running them, ``--slurm FILE``
writes them as a slurm array script (one task per config x seed), and
``--collect`` only reads the ``metrics.json`` files such runs left in the
work dirs. Runs are reported as they finish; a failed or missing run is
listed with its log, left out of the averages, and makes the script exit
with status 1.
"""
import argparse
import csv
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
from mmprompt.evaluation import harmonic_mean  # noqa: E402

BASE, NEW, TOP1 = 'base/top1', 'new/top1', 'accuracy/top1'
COLUMNS = ['method', 'seeds', 'base', 'new', 'H', 'top-1']


def name_of(config):
    return osp.splitext(osp.basename(config))[0]


def dataset_options(config, seed, shots):
    """``--cfg-options`` that set the seed (and shots) of a config."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    opts = [f'randomness.seed={seed}']
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        dataset = loader.get('dataset', {}) if loader else {}
        if 'seed' in dataset:
            opts.append(f'{split}_dataloader.dataset.seed={seed}')
        if shots is not None and split != 'test' and 'num_shots' in dataset:
            opts.append(f'{split}_dataloader.dataset.num_shots={shots}')
    learner = ((cfg.get('model') or {}).get('head') or {}).get(
        'prompt_learner') or {}
    if shots is not None and 'num_shots' in learner:  # instance-wise prompts
        opts.append(f'model.head.prompt_learner.num_shots={shots}')
    return opts, bool(cfg.get('train_cfg'))


def plan(args):
    """The runs: per config x seed, a list of (tool args, log, metrics)."""
    jobs = []
    for config in args.configs:
        for seed in args.seeds:
            work_dir = osp.join(args.work_dir, name_of(config), f'seed{seed}')
            opts, trains = dataset_options(config, seed, args.shots)
            opts += args.cfg_options
            steps = []
            checkpoint = []
            if trains:
                steps.append((['tools/train.py', config, '--work-dir',
                               work_dir, '--cfg-options'] + opts,
                              osp.join(work_dir, 'train.log'), None))
                checkpoint = [osp.join(work_dir, 'LAST_CHECKPOINT')]
            # --test-configs reuse a trained checkpoint.
            targets = [(config, work_dir)] + [
                (test, osp.join(work_dir, name_of(test)))
                for test in (args.test_configs if trains else [])
            ]
            for test_config, test_dir in targets:
                test_opts = opts if test_config == config else \
                    dataset_options(test_config, seed, None)[0]
                out = osp.join(test_dir, 'metrics.json')
                steps.append((['tools/test.py', test_config] + checkpoint +
                              ['--work-dir', test_dir, '--out', out,
                               '--out-item', 'metrics', '--cfg-options'] +
                              test_opts, osp.join(test_dir, 'test.log'), out))
            jobs.append(dict(config=config, seed=seed, work_dir=work_dir,
                             steps=steps))
    return jobs


def resolve(step_args, work_dir):
    """Replace the checkpoint placeholder by the run's last checkpoint."""
    placeholder = osp.join(work_dir, 'LAST_CHECKPOINT')
    if placeholder not in step_args:
        return step_args
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    return [last if a == placeholder else a for a in step_args]


def shell_line(job):
    """One shell line running a job's steps (for --dry-run / --slurm)."""
    cmds = []
    for step_args, log, _ in job['steps']:
        step_args = [
            '"$(cat {})"'.format(shlex.quote(
                osp.join(job['work_dir'], 'last_checkpoint')))
            if a == osp.join(job['work_dir'], 'LAST_CHECKPOINT') else
            shlex.quote(a) for a in step_args
        ]
        cmds.append(f'mkdir -p {shlex.quote(osp.dirname(log))} && python '
                    f'{" ".join(step_args)} > {shlex.quote(log)} 2>&1')
    return ' && '.join(cmds)


def run(job):
    """Run a job's steps; the failing step's log or None."""
    for step_args, log, _ in job['steps']:
        os.makedirs(osp.dirname(log), exist_ok=True)
        try:
            step_args = resolve(step_args, job['work_dir'])
        except FileNotFoundError:
            return log
        with open(log, 'w') as f:
            code = subprocess.run([sys.executable] + step_args, cwd=REPO,
                                  stdout=f, stderr=subprocess.STDOUT
                                  ).returncode
        if code != 0:
            return log
    return None


def row_of(name, results):
    """mean ± std over seeds; H of the mean base and new."""
    row = dict(method=name, seeds=len(results))
    if all(BASE in r and NEW in r for r in results):
        base = [r[BASE] for r in results]
        new = [r[NEW] for r in results]
        row.update(base=f'{np.mean(base):.2f} ± {np.std(base):.2f}',
                   new=f'{np.mean(new):.2f} ± {np.std(new):.2f}',
                   H=f'{harmonic_mean(np.mean(base), np.mean(new)):.2f}',
                   _base=np.mean(base), _new=np.mean(new))
    elif all(TOP1 in r for r in results):
        top1 = [r[TOP1] for r in results]
        row.update({'top-1': f'{np.mean(top1):.2f} ± {np.std(top1):.2f}',
                    '_top1': np.mean(top1)})
    else:
        raise ValueError(f'{name}: the metrics have neither {BASE!r} and '
                         f'{NEW!r} nor {TOP1!r}: {sorted(results[0])}')
    return row


def average_row(rows):
    """The average over rows: H of the averaged base and new, mean top-1."""
    row = dict(method='average', seeds='')
    with_bn = [r for r in rows if '_base' in r]
    if with_bn:
        base = np.mean([r['_base'] for r in with_bn])
        new = np.mean([r['_new'] for r in with_bn])
        row.update(base=f'{base:.2f}', new=f'{new:.2f}',
                   H=f'{harmonic_mean(base, new):.2f}')
    with_top1 = [r for r in rows if '_top1' in r]
    if with_top1:
        row['top-1'] = f'{np.mean([r["_top1"] for r in with_top1]):.2f}'
    return row


def table(rows):
    """Markdown table and the columns it shows."""
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + ' --- |' * len(columns)]
    lines += ['| ' + ' | '.join(str(r.get(c, '')) for c in columns) + ' |'
              for r in rows]
    return '\n'.join(lines), columns


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--shots', type=int,
                        help='num_shots of the train and val datasets')
    parser.add_argument('--test-configs', nargs='+', default=[],
                        help='also test each checkpoint with these configs')
    parser.add_argument('--work-dir', default='work_dirs/protocol')
    parser.add_argument('--out', help='write OUT.md and OUT.csv')
    parser.add_argument('--average', action='store_true',
                        help='add the average row')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--dry-run', action='store_true',
                      help='print the commands, run nothing')
    mode.add_argument('--slurm', metavar='FILE',
                      help='write a slurm array script, run nothing')
    mode.add_argument('--collect', action='store_true',
                      help='only read the metrics of finished runs')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[],
        help='key=value overrides for the runs of the given configs')
    args = parser.parse_args(argv)

    jobs = plan(args)
    if args.dry_run:
        for job in jobs:
            print(shell_line(job))
        return
    if args.slurm:
        lines = '\n'.join(f'  {shlex.quote(shell_line(job))}' for job in jobs)
        with open(args.slurm, 'w') as f:
            f.write('#!/usr/bin/env bash\n'
                    f'#SBATCH --array=0-{len(jobs) - 1}\n'
                    '#SBATCH --gres=gpu:1\n'
                    '# One config x seed per array task; submit from the '
                    'repository root with sbatch.\n'
                    f'cd {shlex.quote(REPO)}\n'
                    f'JOBS=(\n{lines}\n)\n'
                    'eval "${JOBS[$SLURM_ARRAY_TASK_ID]}"\n')
        print(f'wrote {args.slurm}: {len(jobs)} array tasks')
        return

    results, failures = {}, []
    for done, job in enumerate(jobs, 1):
        start = time.time()
        failed = None if args.collect else run(job)
        label = f'[{done}/{len(jobs)}] {name_of(job["config"])} seed ' \
            f'{job["seed"]}'
        if failed:
            failures.append(f'{label[label.index("]") + 2:]}: see {failed}')
            print(f'{label}: FAILED, log {failed}', flush=True)
            continue
        parts = []
        for _, log, out in job['steps']:
            if out is None:
                continue
            name = name_of(job['config'])
            if osp.dirname(out) != job['work_dir']:
                name += ' → ' + osp.basename(osp.dirname(out))
            if not osp.exists(out):
                failures.append(f'{name} seed {job["seed"]}: no {out}')
                parts.append(f'{name}: MISSING')
                continue
            with open(out) as f:
                metrics = json.load(f)
            results.setdefault(name, []).append(metrics)
            shown = (f'base {metrics[BASE]:.2f} new {metrics[NEW]:.2f}'
                     if BASE in metrics else
                     f'top-1 {metrics.get(TOP1, float("nan")):.2f}')
            parts.append(f'{name}: {shown}')
        print(f'{label}: {"; ".join(parts)} ({time.time() - start:.0f} s)',
              flush=True)

    rows = [row_of(name, res) for name, res in results.items()]
    if args.average and rows:
        # With --test-configs, the average is over the test datasets (the
        # cross-dataset / domain-generalisation average).
        targets = [r for r in rows if ' → ' in r['method']]
        rows.append(average_row(targets if args.test_configs else rows))
    text, columns = table(rows)
    print('\n' + text)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '.md', 'w') as f:
            f.write(text + '\n')
        with open(args.out + '.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=columns,
                                    extrasaction='ignore')
            writer.writeheader()
            writer.writerows(rows)
    if failures:
        print('\nFailed or missing runs:\n  ' + '\n  '.join(failures))
        sys.exit(1)


if __name__ == '__main__':
    main()
