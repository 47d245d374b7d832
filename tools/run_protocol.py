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

Every config x seed has its own work dir, ``WORK_DIR/<config>/seed<k>``
(``WORK_DIR/<config>/shots<K>/seed<k>`` with ``--shots K``), and each test
config its own folder in it, ``.../seed<k>/<test config>``. ``<config>`` is
the file name without ``.py``; configs of the call that share a file name
get as many parent folders as tell them apart (``configs/coop/x.py`` and
``configs/kgcoop/x.py`` run in ``WORK_DIR/coop/x/seed1`` and
``WORK_DIR/kgcoop/x/seed1`` and are the rows ``coop/x`` and ``kgcoop/x``).
So the same configs and ``--shots`` always name the same work dirs, and
``--collect`` with the arguments of an earlier call finds its runs (a config
run alone is looked for in the longer path when a call also names a config
of the same file name: collect them as they were run). A config or seed given
twice is an error. Runs with other ``--cfg-options`` need another
``--work-dir``.

``--cfg-options`` go to every training and to the test of each given config
(the model must match its checkpoint). A config that is only tested keeps
those whose top-level key it has: training options such as
``train_cfg.max_epochs=5 train_cfg.val_interval=5`` are left out of its
test, with a note naming them, so one call can mix zero-shot CLIP and
trained methods. ``--test-configs`` get none of them (a data root of the
source dataset must not reach the targets); ``--test-cfg-options`` go to
every test, of the given configs and of the test configs, by the same rule.
Each option is checked against every config it reaches (a misspelt key such
as ``train_cfg.max_epoch=1`` is an error before anything is run or written).

The table has one row per config (and per test config) with the mean ± std
over seeds of base / new accuracy with H of the means, as the literature
computes it (base-to-new configs), or of top-1 (all-class configs);
``--average`` adds the average row (H of the averaged base and new; with
``--test-configs``, over the test configs' rows only); with ``--shots K``
every row has the column ``shots`` (``tools/analysis_tools/plot_results.py``
draws accuracy over shots from the tables of several such calls)::

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
work dirs. While a run goes, its progress is shown (on a terminal one status
line, redrawn: run i/n, epoch, loss, elapsed time and ETA; elsewhere a line
when it starts and one every 30 s), and each run is reported when it
finishes; a failed or missing run, or one
whose ``metrics.json`` cannot be read, is listed with its log or file, left
out of the averages, and makes the script exit with status 1. When no run
has metrics (a wrong ``--work-dir``, say), nothing is written and the
script stops with an error (status 2, as for the other user mistakes, such
as a config given twice): ``--out`` never replaces a table with an empty
one. ``OUT.md`` and ``OUT.csv`` are written whole or not at all.
"""
import argparse
import csv
import functools
import io
import json
import math
import os
import os.path as osp
import shlex
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
from mmprompt.errors import PathNotFoundError  # noqa: E402
from mmprompt.errors import ConfigError, DataError  # noqa: E402
from mmprompt.evaluation import harmonic_mean  # noqa: E402
from mmprompt.progress import Progress, run_logged  # noqa: E402

BASE, NEW, TOP1 = 'base/top1', 'new/top1', 'accuracy/top1'
COLUMNS = ['method', 'seeds', 'shots', 'base', 'new', 'H', 'top-1']


def name_of(config):
    """The file name of a config without its extension."""
    return osp.splitext(osp.basename(config))[0]


def labels_of(configs, option):
    """Unique names of configs: the file name, with parent folders if needed.

    Configs that share a file name get as many of their parent folders as
    tell them apart (``coop/x`` and ``kgcoop/x``); the others keep their
    file name, so the work dirs of earlier calls stay where they were.

    Args:
        configs (list[str]): Config paths.
        option (str): The command-line option that gave them, for errors.

    Returns:
        list[str]: One name per config, ``/`` between folders.

    Raises:
        ConfigError: If a config is given twice.
    """
    paths = [osp.normpath(osp.abspath(c)) for c in configs]
    first = {}
    for config, path in zip(configs, paths):
        if path in first:
            raise ConfigError(
                f'{config} is given twice in {option} (also as '
                f'{first[path]}); each config is one row and one run per '
                'seed: give it once')
        first[path] = config
    parts = [osp.splitext(p)[0].split(os.sep) for p in paths]
    labels = [name_of(c) for c in configs]
    for name in set(labels):
        group = [i for i, label in enumerate(labels) if label == name]
        depth = 1
        while len({tuple(parts[i][-depth:]) for i in group}) < len(group):
            depth += 1
        for i in group:
            labels[i] = '/'.join(parts[i][-depth:])
    return labels


@functools.lru_cache(maxsize=None)
def load_config(config):
    """The config of a file, read once per call.

    Args:
        config (str): The config file.

    Returns:
        Config: The loaded config.

    Raises:
        PathNotFoundError: If the file (or a ``_base_`` file) is missing.
        ConfigError: If it cannot be parsed.
    """
    from mmprompt.cli import load_config as load
    return load(config)


@functools.lru_cache(maxsize=None)
def check_config_options(config, options, flag):
    """Check ``key=value`` options against the config they will reach.

    A misspelt key (``train_cfg.max_epoch=1``) would make every run fail
    (or be silently ignored) after the tool has started them all; it fails
    here, before anything is run or written.

    Args:
        config (str): The config file the options go to.
        options (tuple[str]): ``key=value`` options.
        flag (str): The option that gave them, for the message.

    Raises:
        ConfigError: Naming the option, the config and the closest fields.
    """
    from mmprompt.cli import check_cfg_options, parse_cfg_options
    if not options:
        return
    try:
        check_cfg_options(load_config(config), parse_cfg_options(options))
    except ConfigError as e:
        message = str(e)
        if message.startswith('--cfg-options '):
            message = flag + message[len('--cfg-options'):]
        raise ConfigError(f'{message} (checked against {config}; nothing '
                          'was run or written)') from e


def dataset_options(config, seed, shots):
    """``--cfg-options`` that set the seed (and shots) of a config."""
    cfg = load_config(config)
    opts = [f'randomness.seed={seed}']
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        dataset = loader.get('dataset', {}) if loader else {}
        if 'seed' in dataset:
            opts.append(f'{split}_dataloader.dataset.seed={seed}')
        if shots is not None and split != 'test' and 'num_shots' in dataset:
            opts.append(f'{split}_dataloader.dataset.num_shots={shots}')
    learner = ((cfg.get('model') or {}).get('head')
               or {}).get('prompt_learner') or {}
    if shots is not None and 'num_shots' in learner:  # instance-wise prompts
        opts.append(f'model.head.prompt_learner.num_shots={shots}')
    return opts, bool(cfg.get('train_cfg'))


def top_key(option):
    """The top-level config key of a ``key=value`` option."""
    return option.split('=', 1)[0].split('.', 1)[0]


def check_options(options, flag):
    """Raise a ConfigError for an option that is not ``key=value``."""
    for option in options:
        if '=' not in option or not option.split('=', 1)[0]:
            raise ConfigError(
                f'{flag}: {option!r} is not key=value; write e.g. '
                'train_cfg.max_epochs=5 (quote values with spaces)')


def options_for_test(config, options):
    """The options a test of ``config`` gets, and those it leaves out.

    An option whose top-level key the config lacks (or sets to None), such
    as ``train_cfg.max_epochs=5`` for zero-shot CLIP, would make mmengine
    build a half training setup; it is left out.

    Args:
        config (str): The tested config.
        options (list[str]): ``key=value`` options.

    Returns:
        tuple[list[str], list[str]]: The kept and the left-out options.
    """
    cfg = load_config(config)
    kept, dropped = [], []
    for option in options:
        (kept
         if cfg.get(top_key(option)) is not None else dropped).append(option)
    return kept, dropped


def check_disjoint(jobs):
    """Raise a ConfigError if a run's work dir is or holds another's."""
    dirs = [(osp.normpath(osp.abspath(j['work_dir'])), j) for j in jobs]
    for i, (a, job_a) in enumerate(dirs):
        for b, job_b in dirs[i + 1:]:
            if a == b or b.startswith(a + os.sep) or \
                    a.startswith(b + os.sep):
                raise ConfigError(
                    f'the runs of {job_a["label"]} seed {job_a["seed"]} and '
                    f'{job_b["label"]} seed {job_b["seed"]} would share the '
                    f'work dir {min(a, b, key=len)}; rename one of the '
                    'configs')


def plan(args):
    """The runs and the notes on left-out options.

    Args:
        args (argparse.Namespace): The parsed command line.

    Returns:
        tuple[list[dict], list[str]]: Per config x seed, a dict with the
        config, its ``label``, the seed, the ``work_dir`` and the ``steps``
        (tool args, log, metrics file or None, row name); and one note per
        config whose tests leave options out.

    Raises:
        PathNotFoundError: If a config file (or a file it inherits) is
            missing.
        ConfigError: If a config is given twice, cannot be parsed, two runs
            would share a work dir, or an option names a field a config it
            reaches does not have (trained configs: all ``--cfg-options``;
            tests: the options they keep).
    """
    labels = labels_of(args.configs, 'the configs')
    test_labels = labels_of(args.test_configs, '--test-configs')
    for config in args.configs + args.test_configs:
        load_config(config)  # a missing or broken file fails at once
    jobs, notes = [], []

    def note(row, flag, dropped, config, only_tested):
        keys = ', '.join(dict.fromkeys(top_key(o) for o in dropped))
        text = (f'{row}: {flag} {" ".join(dropped)} left out of its test: '
                f'{config} has no {keys}' +
                (' (it is only tested)' if only_tested else ''))
        if text not in notes:
            notes.append(text)

    for config, label in zip(args.configs, labels):
        for seed in args.seeds:
            work_dir = osp.join(
                args.work_dir, *label.split('/'),
                *([] if args.shots is None else [f'shots{args.shots}']),
                f'seed{seed}')
            opts, trains = dataset_options(config, seed, args.shots)
            steps = []
            checkpoint = []
            if trains:
                check_config_options(config, tuple(args.cfg_options),
                                     '--cfg-options')
                steps.append(([
                    'tools/train.py', config, '--work-dir', work_dir,
                    '--cfg-options'
                ] + opts + args.cfg_options, osp.join(work_dir, 'train.log'),
                              None, None))
                checkpoint = [osp.join(work_dir, 'LAST_CHECKPOINT')]
            # --test-configs reuse a trained checkpoint.
            targets = [(config, label, work_dir, opts, args.cfg_options)]
            for test, test_label in (zip(args.test_configs, test_labels)
                                     if trains else []):
                targets.append((test, f'{label} → {test_label}',
                                osp.join(work_dir, *test_label.split('/')),
                                dataset_options(test, seed, None)[0], []))
            for test_config, row, test_dir, test_opts, user in targets:
                for flag, options in (('--cfg-options', user),
                                      ('--test-cfg-options',
                                       args.test_cfg_options)):
                    kept, dropped = options_for_test(test_config, options)
                    check_config_options(test_config, tuple(kept), flag)
                    test_opts = test_opts + kept
                    if dropped:
                        note(row, flag, dropped, test_config, not trains)
                out = osp.join(test_dir, 'metrics.json')
                steps.append((['tools/test.py', test_config] + checkpoint + [
                    '--work-dir', test_dir, '--out', out, '--out-item',
                    'metrics', '--cfg-options'
                ] + test_opts, osp.join(test_dir, 'test.log'), out, row))
            jobs.append(
                dict(
                    config=config,
                    label=label,
                    seed=seed,
                    work_dir=work_dir,
                    steps=steps))
    check_disjoint(jobs)
    return jobs, notes


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
    for step_args, log, _, _ in job['steps']:
        step_args = [
            '"$(cat {})"'.format(
                shlex.quote(osp.join(job['work_dir'], 'last_checkpoint'))) if a
            == osp.join(job['work_dir'], 'LAST_CHECKPOINT') else shlex.quote(a)
            for a in step_args
        ]
        # The interpreter run() uses, so a printed command is what is run.
        cmds.append(f'mkdir -p {shlex.quote(osp.dirname(log))} && '
                    f'{shlex.quote(sys.executable)} {" ".join(step_args)} '
                    f'> {shlex.quote(log)} 2>&1')
    return ' && '.join(cmds)


def run(job, progress=None):
    """Run a job's steps; the failing step's log or None.

    Args:
        job (dict): A run of :func:`plan`.
        progress (Progress, optional): Shows the epoch, loss and ETA read
            from each step's log while it runs. Defaults to None.

    Returns:
        str | None: The log of the step that failed, or None.
    """
    for step_args, log, _, row in job['steps']:
        os.makedirs(osp.dirname(log), exist_ok=True)
        try:
            step_args = resolve(step_args, job['work_dir'])
        except FileNotFoundError:
            return log
        step = 'train' if row is None else (
            'test' if row == job['label'] else f'test {row}')
        code = run_logged(
            [sys.executable] + step_args, log, progress, step=step, cwd=REPO)
        if code != 0:
            return log
    return None


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def read_metrics(path):
    """The metrics of a run's ``metrics.json``, or what is wrong with it.

    Args:
        path (str): An existing ``metrics.json``.

    Returns:
        tuple[dict | None, str | None]: The metrics and None, or None and
        what is wrong (unreadable, not JSON, not a dict, or without numbers
        for ``base/top1`` and ``new/top1`` or ``accuracy/top1``).
    """
    try:
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
    except json.JSONDecodeError as e:
        return None, f'is not valid JSON ({e})'
    except UnicodeDecodeError as e:
        return None, f'is not a UTF-8 text file ({e.reason})'
    except OSError as e:
        return None, f'cannot be read ({e.strerror or e})'
    if not isinstance(metrics, dict):
        return None, (f'holds a JSON {type(metrics).__name__}, not an '
                      'object of metrics')
    if not (_number(metrics.get(BASE)) and _number(metrics.get(NEW))
            or _number(metrics.get(TOP1))):
        return None, (f'has no numbers for {BASE!r} and {NEW!r} nor for '
                      f'{TOP1!r} (its keys: {sorted(metrics)})')
    return metrics, None


def row_of(name, results):
    """mean ± std over seeds; H of the mean base and new."""
    row = dict(method=name, seeds=len(results))
    if all(BASE in r and NEW in r for r in results):
        base = [r[BASE] for r in results]
        new = [r[NEW] for r in results]
        row.update(
            base=f'{np.mean(base):.2f} ± {np.std(base):.2f}',
            new=f'{np.mean(new):.2f} ± {np.std(new):.2f}',
            H=f'{harmonic_mean(np.mean(base), np.mean(new)):.2f}',
            _base=np.mean(base),
            _new=np.mean(new))
    elif all(TOP1 in r for r in results):
        top1 = [r[TOP1] for r in results]
        row.update({
            'top-1': f'{np.mean(top1):.2f} ± {np.std(top1):.2f}',
            '_top1': np.mean(top1)
        })
    else:
        raise DataError(f'{name}: the metrics of its seeds have neither all '
                        f'{BASE!r} and {NEW!r} nor all {TOP1!r}: '
                        f'{[sorted(r) for r in results]}')
    return row


def average_row(rows):
    """The average over rows: H of the averaged base and new, mean top-1."""
    row = dict(method='average', seeds='')
    with_bn = [r for r in rows if '_base' in r]
    if with_bn:
        base = np.mean([r['_base'] for r in with_bn])
        new = np.mean([r['_new'] for r in with_bn])
        row.update(
            base=f'{base:.2f}',
            new=f'{new:.2f}',
            H=f'{harmonic_mean(base, new):.2f}')
    with_top1 = [r for r in rows if '_top1' in r]
    if with_top1:
        row['top-1'] = f'{np.mean([r["_top1"] for r in with_top1]):.2f}'
    return row


def table(rows):
    """Markdown table and the columns it shows."""
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + ' --- |' * len(columns)]
    lines += [
        '| ' + ' | '.join(str(r.get(c, '')) for c in columns) + ' |'
        for r in rows
    ]
    return '\n'.join(lines), columns


def write_atomic(path, text):
    """Write a text file whole or not at all (temp file + os.replace).

    Args:
        path (str): The file to write; its folder is created if needed.
        text (str): The content.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, suffix='.tmp', prefix=f'.{osp.basename(path)}.')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def no_runs_error(args, jobs, outs):
    """The error for a call in which no run has readable metrics."""
    work_dir = osp.abspath(args.work_dir)
    where = f'--work-dir {args.work_dir}' + (
        f' ({work_dir})' if work_dir != osp.normpath(args.work_dir) else '')
    if not osp.isdir(args.work_dir):
        where += ', which does not exist'
    kept = ''
    if args.out:
        tables = f'{args.out}.md and {args.out}.csv'
        kept = (f'; {tables} are left as they were' if
                osp.exists(args.out + '.md') or osp.exists(args.out + '.csv')
                else f'; {tables} are not written')
    existing = [out for out in outs if osp.exists(out)]
    if existing:
        return DataError(
            f'no table: none of the {len(outs)} metrics.json files of the '
            f'{len(jobs)} runs under {where} can be read (see the list '
            f'above){kept}')
    hint = ('pass the --work-dir, configs, --seeds and --shots of the call '
            'that ran them'
            if args.collect else 'every run failed: see the logs listed above')
    return PathNotFoundError(
        f'no table: none of the {len(outs)} metrics.json files of the '
        f'{len(jobs)} runs exists under {where} (the first: {outs[0]}); '
        f'{hint}{kept}')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument(
        '--shots',
        type=int,
        help='num_shots of the train and val datasets; the '
        'runs go to <config>/shots<K>/seed<k>')
    parser.add_argument(
        '--test-configs',
        nargs='+',
        default=[],
        help='also test each checkpoint with these configs')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/protocol',
        help='root of the runs\' work dirs, <config>/seed<k> in it')
    parser.add_argument(
        '--out',
        help='write OUT.md and OUT.csv (not when '
        'no run has metrics)')
    parser.add_argument(
        '--average', action='store_true', help='add the average row')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        '--dry-run',
        action='store_true',
        help='print the commands, run nothing')
    mode.add_argument(
        '--slurm',
        metavar='FILE',
        help='write a slurm array script, run nothing')
    mode.add_argument(
        '--collect',
        action='store_true',
        help='only read the metrics of finished runs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides for the trainings and tests of the given '
        'configs; a config that is only tested (zero-shot) leaves out those '
        'whose top-level key it lacks, e.g. train_cfg.max_epochs=5, with a '
        'note')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the traceback of a user error (a wrong option, an empty '
        'work dir) instead of one line')
    parser.add_argument(
        '--test-cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides for every test, of the given configs and '
        'of --test-configs (after --cfg-options; the same rule for missing '
        'keys), e.g. test_dataloader.batch_size=64')
    args = parser.parse_args(argv)
    check_options(args.cfg_options, '--cfg-options')
    check_options(args.test_cfg_options, '--test-cfg-options')
    if args.shots is not None and args.shots < 1:
        raise ConfigError(
            f'--shots {args.shots}: give a positive number of shots per '
            'class (1, 2, 4, 8, 16)')
    seen = set()
    for seed in args.seeds:
        if seed in seen:
            raise ConfigError(
                f'--seeds {" ".join(map(str, args.seeds))}: seed {seed} is '
                'given twice; each seed is one run: give it once')
        seen.add(seed)

    jobs, notes = plan(args)
    for text in notes:
        print(f'note: {text}', file=sys.stderr, flush=True)
    if args.dry_run:
        for job in jobs:
            print(shell_line(job))
        return
    if args.slurm:
        lines = '\n'.join(f'  {shlex.quote(shell_line(job))}' for job in jobs)
        write_atomic(
            args.slurm, '#!/usr/bin/env bash\n'
            f'#SBATCH --array=0-{len(jobs) - 1}\n'
            '#SBATCH --gres=gpu:1\n'
            '# One config x seed per array task; submit from the '
            'repository root with sbatch.\n'
            f'cd {shlex.quote(REPO)}\n'
            f'JOBS=(\n{lines}\n)\n'
            'eval "${JOBS[$SLURM_ARRAY_TASK_ID]}"\n')
        print(f'wrote {args.slurm}: {len(jobs)} array tasks')
        return

    results, failures, outs = {}, [], []
    # On a terminal, one status line (run, epoch, loss, ETA) redrawn while
    # a run goes; elsewhere a line when a run starts and every 30 s.
    progress = Progress(len(jobs))
    for done, job in enumerate(jobs, 1):
        start = time.time()
        label = f'[{done}/{len(jobs)}] {job["label"]} seed {job["seed"]}'
        failed = None
        if not args.collect:
            progress.start(done, f'{job["label"]} seed {job["seed"]}')
            failed = run(job, progress)
            progress.clear()
        if failed:
            outs += [out for _, _, out, _ in job['steps'] if out]
            failures.append(f'{label[label.index("]") + 2:]}: see {failed}')
            print(f'{label}: FAILED, log {failed}', flush=True)
            continue
        parts = []
        for _, log, out, name in job['steps']:
            if out is None:
                continue
            outs.append(out)
            if not osp.exists(out):
                failures.append(f'{name} seed {job["seed"]}: no {out}')
                parts.append(f'{name}: MISSING')
                continue
            metrics, problem = read_metrics(out)
            if problem:
                failures.append(f'{name} seed {job["seed"]}: {out} '
                                f'{problem}')
                parts.append(f'{name}: UNREADABLE')
                continue
            results.setdefault(name, []).append(metrics)
            shown = (f'base {metrics[BASE]:.2f} new {metrics[NEW]:.2f}' if
                     _number(metrics.get(BASE)) and _number(metrics.get(NEW))
                     else f'top-1 {metrics[TOP1]:.2f}')
            parts.append(f'{name}: {shown}')
        print(
            f'{label}: {"; ".join(parts)} ({time.time() - start:.0f} s)',
            flush=True)

    failed_list = '\nFailed or missing runs:\n  ' + '\n  '.join(failures)
    if not results:
        print(failed_list, flush=True)
        raise no_runs_error(args, jobs, outs)
    rows = [row_of(name, res) for name, res in results.items()]
    if args.average:
        # With --test-configs, the average is over the test datasets (the
        # cross-dataset / domain-generalisation average).
        targets = [r for r in rows if ' → ' in r['method']]
        if targets or not args.test_configs:
            rows.append(average_row(targets if args.test_configs else rows))
    if args.shots is not None:  # the x of tools/analysis_tools/plot_results
        for row in rows:
            row['shots'] = args.shots
    text, columns = table(rows)
    print('\n' + text)
    if args.out:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=columns, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(args.out + '.md', text + '\n')
        write_atomic(args.out + '.csv', buffer.getvalue())
        print(f'wrote {args.out}.md and {args.out}.csv')
    if failures:
        print(failed_list)
        sys.exit(1)


if __name__ == '__main__':
    from mmprompt.cli import run_tool

    # A user mistake is one line, ``error: ...``, and exit status 2.
    run_tool(main, debug='--debug' in sys.argv[1:])
