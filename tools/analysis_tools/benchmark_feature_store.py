# Copyright (c) mmprompt contributors. All rights reserved.
"""Benchmarks of the feature store: sweeps, fast views, encoder passes.

Three subcommands, each printing its figures as markdown tables:

``sweep``: run ``tools/run_protocol.py`` over configs and seeds twice, side
by side, without the store and with the exact store (test, validation and
training views; a fresh store folder), and print the wall time of each
sweep, the ratio, and whether every run's metrics are identical
(``--warm`` runs the store sweep once more on the filled store)::

    python tools/analysis_tools/benchmark_feature_store.py sweep \\
        configs/zeroshot/clip_tinyclip_procdtd.py \\
        configs/coop/coop_tinyclip_procdtd.py \\
        configs/kgcoop/kgcoop_tinyclip_procdtd.py --seeds 1 2 3

``views``: the same configs trained exactly (no store) and with fast views
``V`` (each with a fresh store, so every row pays its own encoding), with
base / new / H over the seeds, H's distance to exact training and the wall
time::

    python tools/analysis_tools/benchmark_feature_store.py views \\
        configs/coop/coop_tinyclip_procdtd.py --views 1 4 10 25 --seeds 1 2 3

``passes``: the number of images the image encoder is run on in a full run
of a config, counted from the loops' own batch plans (the train sampler's
batches of every epoch, the validation passes, the test set), for the
reference computation (the Dassl code of the seed papers encodes every
training image in every epoch), mmprompt without the store, with exact views
(first run, and a second run or method with the same seed) and with fast
views. ``--sizes`` gives the split sizes of a dataset that is not on disk
(the paper's DTD setting)::

    python tools/analysis_tools/benchmark_feature_store.py passes \\
        configs/coop/coop_vitb16_dtd.py --sizes train=384 val=188 test=1692
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# run_protocol.py's line after each run: "[2/6] coop seed 2: ... (41 s)"
PROGRESS = re.compile(r'^\[\d+/\d+\] (.+?) seed \d+: .*\((\d+) s\)$',
                      re.MULTILINE)
STORE_OFF = [
    'default_hooks.feature_store.test=False',
    'default_hooks.feature_store.val=False'
]


def run_protocol(configs, seeds, work_dir, options, store_dir=None):
    """Run run_protocol.py; return its wall time in seconds and the seconds
    of each config's runs (summed over the seeds, from its progress lines,
    which are kept in ``work_dir/run_protocol.log``)."""
    env = dict(os.environ)
    if store_dir:
        env['MMPROMPT_FEATURE_STORE'] = store_dir
    command = [
        sys.executable,
        osp.join(REPO, 'tools/run_protocol.py'), *configs, '--seeds',
        *map(str, seeds), '--work-dir', work_dir, '--out',
        osp.join(work_dir, 'table'), '--cfg-options', *options
    ]
    print('$ ' + ' '.join(command[1:]), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f'run_protocol failed (status {proc.returncode}):\n'
                 f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'run_protocol.log'), 'w') as f:
        f.write(proc.stdout)
    return seconds, per_config_seconds(proc.stdout)


def per_config_seconds(stdout: str) -> dict:
    """``{config label: seconds of its runs}`` from run_protocol's output."""
    found = {}
    for match in PROGRESS.finditer(stdout):
        label, taken = match.group(1), int(match.group(2))
        found[label] = found.get(label, 0) + taken
    return found


def run_metrics(work_dir):
    """``{relative run dir: metrics}`` of every finished run."""
    found = {}
    for path in glob.glob(
            osp.join(work_dir, '**', 'metrics.json'), recursive=True):
        with open(path) as f:
            found[osp.relpath(osp.dirname(path), work_dir)] = json.load(f)
    return found


def table_rows(work_dir):
    with open(osp.join(work_dir, 'table.csv')) as f:
        return list(csv.DictReader(f))


def sweep(args):
    root = args.work_dir or tempfile.mkdtemp(prefix='mmprompt-sweep-')
    off_dir, on_dir = osp.join(root, 'no_store'), osp.join(root, 'store')
    store_dir = tempfile.mkdtemp(prefix='mmprompt-store-')
    off, _ = run_protocol(args.configs, args.seeds, off_dir,
                          STORE_OFF + args.cfg_options)
    exact = ['default_hooks.feature_store.train_views=exact'
             ] + args.cfg_options
    on, _ = run_protocol(args.configs, args.seeds, on_dir, exact, store_dir)
    warm = None
    if args.warm:  # the same sweep again on the filled store: all hits
        warm_dir = osp.join(root, 'store_warm')
        warm, _ = run_protocol(args.configs, args.seeds, warm_dir, exact,
                               store_dir)
    a, b = run_metrics(off_dir), run_metrics(on_dir)
    same = [run for run in a if b.get(run) == a[run]]
    if warm is not None:
        c = run_metrics(warm_dir)
        same = [run for run in same if c.get(run) == a[run]]
    print(f'\n{len(args.configs)} configs x {len(args.seeds)} seeds, '
          f'{len(a)} runs; store folder {store_dir}\n')
    print('| sweep | wall time | speed-up |')
    print('| --- | --- | --- |')
    print(f'| no feature store | {off:.0f} s | x1.00 |')
    print(f'| exact feature store (test, val, training views) | {on:.0f} s '
          f'| x{off / on:.2f} |')
    if warm is not None:
        print(f'| the same again, on the filled store (all hits) | '
              f'{warm:.0f} s | x{off / warm:.2f} |')
    print(f'\nidentical metrics: {len(same)} of {len(a)} runs' +
          ('' if len(same) == len(a) == len(b) else
           f'; differing: {sorted(set(a) ^ set(same))}'))


def views(args):
    root = args.work_dir or tempfile.mkdtemp(prefix='mmprompt-views-')
    results = []
    for views in [None] + list(args.views):
        name = 'exact' if views is None else f'views{views}'
        work = osp.join(root, name)
        options = (STORE_OFF if views is None else [
            f'default_hooks.feature_store.train_views={views}'
        ]) + args.cfg_options
        _, seconds = run_protocol(args.configs, args.seeds, work, options,
                                  tempfile.mkdtemp(prefix='mmprompt-store-'))
        results.append((views, seconds, table_rows(work)))
    exact = {row['method']: row for row in results[0][2]}
    print(f'\n{len(args.seeds)} seeds ({", ".join(map(str, args.seeds))})\n')
    print('| config | training views | base | new | H or top-1 | '
          f'vs exact | wall time ({len(args.seeds)} runs) |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for views, seconds, rows in results:
        for row in rows:
            score = _score(row)
            delta = score - _score(exact.get(row['method'], {}))
            label = 'exact (every epoch)' if views is None else f'V = {views}'
            print(f"| {row['method']} | {label} | {row.get('base', '')} | "
                  f"{row.get('new', '')} | {row.get('H') or row['top-1']} | "
                  f"{delta:+.2f} | {seconds.get(row['method'], 0)} s |")


def _score(row) -> float:
    """H of a base-to-new row, else the mean top-1 (nan if absent)."""
    value = row.get('H') or row.get('top-1') or 'nan'
    return float(value.split()[0])


def passes(args):
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    epochs = args.epochs or cfg.train_cfg.max_epochs
    interval = cfg.train_cfg.get('val_interval', 1)
    sizes = dict(item.split('=') for item in args.sizes or [])
    sizes = {k: int(v) for k, v in sizes.items()}
    if not sizes:
        from mmengine.registry import DefaultScope

        import mmprompt  # noqa: F401
        from mmprompt.registry import DATASETS
        with DefaultScope.overwrite_default_scope('mmprompt'):
            for name in ('train', 'val', 'test'):
                loader = cfg.get(f'{name}_dataloader')
                if loader:
                    sizes[name] = len(DATASETS.build(loader.dataset))
    train, val, test = (sizes.get(k, 0) for k in ('train', 'val', 'test'))
    has_val = cfg.get('val_cfg') is not None and cfg.get('val_dataloader')
    val_passes = epochs // interval if has_val else 0
    evals = val_passes * val + test
    once = (val if val_passes else 0) + test  # each set once, then stored
    v = args.views
    rows = [
        ('reference (Dassl: every training image every epoch, then test)',
         epochs * train + test),
        ('mmprompt, no feature store', epochs * train + evals),
        ('exact views, first run', epochs * train + once),
        ('exact views, a second run or method with the same seed', 0),
        (f'fast views (V = {v}), first run', v * train + once),
        (f'fast views (V = {v}), a second run with the same seed', 0),
    ]
    print(f'{osp.basename(args.config)}: {epochs} epochs of {train} training '
          f'images, {val_passes} validation passes of {val} images, a test '
          f'of {test} images\n')
    print('| computation | image-encoder passes (images) | vs reference |')
    print('| --- | --- | --- |')
    for name, count in rows:
        print(f'| {name} | {count:,} | {count / rows[0][1]:.3f} |')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('sweep', 'views'):
        p = sub.add_parser(name)
        p.add_argument('configs', nargs='+')
        p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
        p.add_argument(
            '--work-dir',
            help='root of the runs (default: a '
            'temporary folder)')
        p.add_argument(
            '--cfg-options',
            nargs='+',
            default=[],
            metavar='KEY=VALUE',
            help='more options for every run (e.g. data roots)')
        if name == 'views':
            p.add_argument(
                '--views', type=int, nargs='+', default=[1, 4, 10, 25])
        else:
            p.add_argument(
                '--warm',
                action='store_true',
                help='run the store sweep a second time on the '
                'filled store')
    p = sub.add_parser('passes')
    p.add_argument('config')
    p.add_argument(
        '--sizes',
        nargs='+',
        metavar='SPLIT=N',
        help='split sizes (train=384 val=188 test=1692) instead '
        'of building the datasets')
    p.add_argument('--epochs', type=int, help='default: the config\'s')
    p.add_argument('--views', type=int, default=10)
    args = parser.parse_args()
    for config in getattr(args, 'configs', [getattr(args, 'config', None)]):
        if not osp.isfile(config):
            parser.error(f'config {config} does not exist')
    dict(sweep=sweep, views=views, passes=passes)[args.command](args)


if __name__ == '__main__':
    main()
