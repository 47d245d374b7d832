# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/run_protocol.py: aggregation of work dirs, commands, a real run."""
import importlib.util
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

from mmprompt.errors import ConfigError, DataError, PathNotFoundError
from mmprompt.evaluation import harmonic_mean
from mmprompt.offline import make_synthetic_coop_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'run_protocol.py')
COOP_DTD = 'configs/coop/coop_vitb16_dtd.py'
COOP_EUROSAT = 'configs/coop/coop_vitb16_eurosat.py'
IMAGENET = 'configs/coop/coop_vitb16_imagenet_fewshot.py'
ZEROSHOT = 'configs/zeroshot/clip_tiny_synthetic.py'
PYTHON = shlex.quote(sys.executable)  # the interpreter the tool runs


def _tool(*args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, TOOL] + list(args),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)


def _metrics(path, **values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(values, f)


def test_collect_aggregates_seeds_and_datasets(tmp_path):
    work = str(tmp_path / 'work')
    dtd = [(80., 50.), (82., 52.), (81., 57.)]
    eurosat = [(90., 60.), (92., 70.), (94., 80.)]
    for name, values in (('coop_vitb16_dtd', dtd), ('coop_vitb16_eurosat',
                                                    eurosat)):
        for seed, (b, n) in enumerate(values, 1):
            _metrics(
                osp.join(work, name, f'seed{seed}', 'metrics.json'), **{
                    'base/top1': b,
                    'new/top1': n,
                    'hm': harmonic_mean(b, n)
                })
    out = str(tmp_path / 'results' / 'b2n')
    proc = _tool(COOP_DTD, COOP_EUROSAT, '--work-dir', work, '--collect',
                 '--average', '--out', out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '[3/6] coop_vitb16_dtd seed 3: coop_vitb16_dtd: base 81.00 ' \
        'new 57.00' in proc.stdout
    with open(out + '.md') as f:
        lines = f.read().splitlines()
    assert lines[0] == '| method | seeds | base | new | H |'
    # mean ± (population) std per dataset, H of the means.
    assert lines[2] == '| coop_vitb16_dtd | 3 | 81.00 ± 0.82 | 53.00 ± 2.94' \
        f' | {harmonic_mean(81, 53):.2f} |'
    assert lines[3] == '| coop_vitb16_eurosat | 3 | 92.00 ± 1.63 | 70.00 ' \
        f'± 8.16 | {harmonic_mean(92, 70):.2f} |'
    # The average row: H of the averaged base and new.
    assert lines[4] == f'| average |  | 86.50 | 61.50 | ' \
        f'{harmonic_mean(86.5, 61.5):.2f} |'
    with open(out + '.csv') as f:
        assert f.readline().strip() == 'method,seeds,base,new,H'


def test_missing_runs_are_reported_not_dropped(tmp_path):
    work = str(tmp_path / 'work')
    for seed in (1, 3):
        _metrics(
            osp.join(work, 'coop_vitb16_dtd', f'seed{seed}', 'metrics.json'),
            **{
                'base/top1': 80.,
                'new/top1': 60.,
                'hm': 68.57
            })
    proc = _tool(COOP_DTD, '--work-dir', work, '--collect')
    assert proc.returncode == 1
    assert 'coop_vitb16_dtd: MISSING' in proc.stdout
    assert 'Failed or missing runs:\n  coop_vitb16_dtd seed 2: no ' in \
        proc.stdout
    assert '| coop_vitb16_dtd | 2 | 80.00 ± 0.00 | 60.00 ± 0.00 |' in \
        proc.stdout


def test_cross_dataset_rows_and_top1(tmp_path):
    work = str(tmp_path / 'work')
    for seed, (source, target) in enumerate([(70., 90.), (72., 92.)], 1):
        run = osp.join(work, 'coop_vitb16_imagenet_fewshot', f'seed{seed}')
        _metrics(osp.join(run, 'metrics.json'), **{'accuracy/top1': source})
        _metrics(
            osp.join(run, 'coop_vitb16_caltech101_fewshot', 'metrics.json'),
            **{'accuracy/top1': target})
    proc = _tool(IMAGENET, '--seeds', '1', '2', '--test-configs',
                 'configs/coop/coop_vitb16_caltech101_fewshot.py',
                 '--work-dir', work, '--collect', '--average')
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    table = proc.stdout[proc.stdout.index('| method'):].splitlines()
    assert table[0] == '| method | seeds | top-1 |'
    assert table[2] == '| coop_vitb16_imagenet_fewshot | 2 | 71.00 ± 1.00 |'
    assert table[3] == '| coop_vitb16_imagenet_fewshot → ' \
        'coop_vitb16_caltech101_fewshot | 2 | 91.00 ± 1.00 |'
    # The cross-dataset average is over the targets only.
    assert table[4] == '| average |  | 91.00 |'


def test_dry_run_and_slurm_write_the_commands(tmp_path):
    proc = _tool(IMAGENET, '--seeds', '2', '--shots', '4', '--dry-run',
                 '--test-configs', 'configs/coop/coop_vitb16_imagenetv2.py')
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip()
    assert line.count('\n') == 0  # one line per config x seed
    assert 'python tools/train.py configs/coop/coop_vitb16_imagenet_fewshot' \
        '.py' in line
    assert 'randomness.seed=2 train_dataloader.dataset.seed=2 ' \
        'train_dataloader.dataset.num_shots=4' in line
    assert 'python tools/test.py configs/coop/coop_vitb16_imagenetv2.py ' \
        '"$(cat work_dirs/protocol/coop_vitb16_imagenet_fewshot/shots4/' \
        'seed2/last_checkpoint)"' in line  # --shots K: <config>/shotsK/seedk
    assert 'prompt_learner.num_shots' not in line
    # instance-wise prompts are sized by the shots: --shots sets them too
    spec = importlib.util.spec_from_file_location('run_protocol', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    opts, trains = tool.dataset_options(
        osp.join(REPO, 'configs/instance/instance_rn50_oxford-pets_fewshot4'
                 '.py'),
        seed=1,
        shots=2)
    assert trains and 'train_dataloader.dataset.num_shots=2' in opts
    assert 'model.head.prompt_learner.num_shots=2' in opts
    script = str(tmp_path / 'array.sh')
    proc = _tool(COOP_DTD, COOP_EUROSAT, '--slurm', script)
    assert proc.returncode == 0 and 'wrote' in proc.stdout
    with open(script) as f:
        text = f.read()
    assert '#SBATCH --array=0-5' in text
    assert 'eval "${JOBS[$SLURM_ARRAY_TASK_ID]}"' in text
    assert subprocess.run(['bash', '-n', script]).returncode == 0


@pytest.fixture
def synthetic(tmp_path):
    root = str(tmp_path / 'synthetic')
    make_synthetic_coop_dataset(
        root, num_classes=4, images_per_class=(4, 2, 3), seed=1)
    return root


@pytest.mark.slow
def test_a_real_zero_shot_run(synthetic, tmp_path):
    work = str(tmp_path / 'work')
    # Training options of the call (for the trained configs) do not reach
    # the test of a zero-shot config: mmengine would refuse a train_cfg
    # without a train_dataloader.
    proc = _tool('configs/zeroshot/clip_tiny_synthetic.py', '--seeds', '1',
                 '--work-dir', work, '--cfg-options',
                 f'test_dataloader.dataset.data_root={synthetic}',
                 'train_cfg.max_epochs=5', 'param_scheduler.1.T_max=5')
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert 'note: clip_tiny_synthetic: --cfg-options train_cfg.max_epochs=5 ' \
        'param_scheduler.1.T_max=5 left out of its test' in proc.stderr
    with open(osp.join(work, 'clip_tiny_synthetic', 'seed1',
                       'metrics.json')) as f:
        metrics = json.load(f)
    assert f'base {metrics["base/top1"]:.2f}' in proc.stdout


# In-process calls of the tool (fast): --dry-run and --collect over fake
# work dirs with hand-written metrics.json files.


@pytest.fixture
def tool(monkeypatch):
    monkeypatch.chdir(REPO)
    spec = importlib.util.spec_from_file_location('run_protocol_mod', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(path, trains=True):
    """A tiny config file: enough for the tool to plan its runs."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('randomness = dict(seed=0)\n'
                'model = dict(type="X")\n'
                'test_dataloader = dict(dataset=dict(seed=0))\n')
        if trains:
            f.write('train_dataloader = dict(dataset=dict(seed=0, '
                    'num_shots=16))\n'
                    'train_cfg = dict(max_epochs=2)\n'
                    'param_scheduler = [dict(), dict(T_max=2)]\n')
    return str(path)


def _work_dirs(stdout):
    return [a.split()[0] for a in stdout.split('--work-dir ')[1:]]


def test_same_file_names_get_their_own_work_dirs_and_rows(
        tool, tmp_path, capsys):
    coop = _config(tmp_path / 'configs' / 'coop' / 'x.py')
    kgcoop = _config(tmp_path / 'configs' / 'kgcoop' / 'x.py')
    other = _config(tmp_path / 'configs' / 'coop' / 'y.py')
    target_a = _config(tmp_path / 'a' / 't.py', trains=False)
    target_b = _config(tmp_path / 'b' / 't.py', trains=False)
    work = str(tmp_path / 'work')
    tool.main([
        coop, kgcoop, other, '--seeds', '1', '2', '--work-dir', work,
        '--test-configs', target_a, target_b, '--dry-run'
    ])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    # Each config x seed has its own work dir; only configs that share a
    # file name get their folders, the others keep <work>/<name>/seed<k>.
    runs = [_work_dirs(line)[0] for line in lines]
    assert runs == [
        osp.join(work, *d)
        for d in (('coop', 'x', 'seed1'), ('coop', 'x',
                                           'seed2'), ('kgcoop', 'x', 'seed1'),
                  ('kgcoop', 'x', 'seed2'), ('y', 'seed1'), ('y', 'seed2'))
    ]
    # and each test config its own folder in it.
    assert _work_dirs(lines[0])[1:] == [
        runs[0],
        osp.join(runs[0], 'a', 't'),
        osp.join(runs[0], 'b', 't')
    ]
    # --shots K keeps the runs of other shot counts apart.
    tool.main([
        coop, kgcoop, '--seeds', '1', '--shots', '4', '--work-dir', work,
        '--dry-run'
    ])
    assert _work_dirs(capsys.readouterr().out)[0] == osp.join(
        work, 'coop', 'x', 'shots4', 'seed1')
    # --collect reads them back as separate rows.
    for run, (b, n) in zip(runs[:4], [(80., 60.), (82., 62.), (70., 50.),
                                      (72., 52.)]):
        _metrics(
            osp.join(run, 'metrics.json'), **{
                'base/top1': b,
                'new/top1': n
            })
    tool.main(
        [coop, kgcoop, '--seeds', '1', '2', '--work-dir', work, '--collect'])
    out = capsys.readouterr().out
    assert '[3/4] kgcoop/x seed 1: kgcoop/x: base 70.00 new 50.00' in out
    assert '| coop/x | 2 | 81.00 ± 1.00 | 61.00 ± 1.00 |' in out
    assert '| kgcoop/x | 2 | 71.00 ± 1.00 | 51.00 ± 1.00 |' in out


def test_a_config_or_seed_given_twice_is_an_error(tool):
    with pytest.raises(
            ConfigError,
            match=r'\./configs/coop/coop_vitb16_dtd\.py is given '
            r'twice in the configs \(also as configs/coop/'
            r'coop_vitb16_dtd\.py\).*give it once'):
        tool.main([COOP_DTD, './' + COOP_DTD, '--dry-run'])
    with pytest.raises(
            ConfigError, match='--seeds 1 2 1: seed 1 is given twice'):
        tool.main([COOP_DTD, '--seeds', '1', '2', '1', '--dry-run'])
    with pytest.raises(
            ConfigError, match="--cfg-options: 'max_epochs' is not key=value"):
        tool.main([COOP_DTD, '--cfg-options', 'max_epochs', '--dry-run'])


def test_training_options_skip_test_only_configs(tool, capsys):
    tool.main([
        COOP_DTD, 'configs/zeroshot/clip_tiny_synthetic.py', '--seeds', '1',
        '--dry-run', '--test-cfg-options', 'test_dataloader.batch_size=8',
        '--cfg-options', 'train_cfg.max_epochs=5', 'param_scheduler.1.T_max=5',
        'test_dataloader.num_workers=0'
    ])
    captured = capsys.readouterr()
    coop, zeroshot = captured.out.splitlines()
    train, test = coop.split(' && mkdir')
    # A trained config gets them in its training and its test,
    for line in (train, test):
        assert 'train_cfg.max_epochs=5 param_scheduler.1.T_max=5 ' \
            'test_dataloader.num_workers=0' in line
    assert 'batch_size' not in train and \
        test.endswith('test_dataloader.batch_size=8 > work_dirs/protocol/'
                      'coop_vitb16_dtd/seed1/test.log 2>&1')
    # a zero-shot config only those whose top-level key it has, and a note
    # says which were left out.
    assert zeroshot.startswith('mkdir -p work_dirs/protocol/'
                               f'clip_tiny_synthetic/seed1 && {PYTHON} '
                               'tools/test.py configs/zeroshot/')
    assert '--cfg-options randomness.seed=1 test_dataloader.dataset.seed=1 ' \
        'test_dataloader.num_workers=0 test_dataloader.batch_size=8 >' \
        in zeroshot
    assert captured.err == (
        'note: clip_tiny_synthetic: --cfg-options train_cfg.max_epochs=5 '
        'param_scheduler.1.T_max=5 left out of its test: configs/zeroshot/'
        'clip_tiny_synthetic.py has no train_cfg, param_scheduler (it is '
        'only tested)\n')
    # A kept option must fit the test-only config too: zero-shot CLIP's
    # handcrafted prompts take no n_ctx (its test would fail to build).
    with pytest.raises(
            ConfigError,
            match=r'^--cfg-options model\.head\.prompt_learner\.'
            r'n_ctx: `model\.head\.prompt_learner` has no field '
            r'`n_ctx` nor is it an argument of HandcraftedPrompts'):
        tool.main([
            COOP_DTD, ZEROSHOT, '--seeds', '1', '--dry-run', '--cfg-options',
            'model.head.prompt_learner.n_ctx=4'
        ])
    # --test-cfg-options reach the test configs, --cfg-options do not.
    tool.main([
        IMAGENET, '--seeds', '1', '--dry-run', '--test-configs',
        'configs/coop/coop_vitb16_imagenetv2.py', '--cfg-options',
        'train_cfg.max_epochs=5', '--test-cfg-options',
        'model.head.prompt_learner.n_ctx=4'
    ])
    target = capsys.readouterr().out.split(' && mkdir')[-1]
    assert 'coop_vitb16_imagenetv2.py' in target
    assert 'model.head.prompt_learner.n_ctx=4' in target
    assert 'max_epochs' not in target


def test_collect_refuses_to_write_a_table_with_no_runs(tool, tmp_path, capsys):
    out = str(tmp_path / 'results' / 'b2n')
    _metrics(
        osp.join(tmp_path, 'good', 'coop_vitb16_dtd', 'seed1', 'metrics.json'),
        **{
            'base/top1': 80.,
            'new/top1': 60.
        })
    tool.main([
        COOP_DTD, '--seeds', '1', '--work-dir',
        str(tmp_path / 'good'), '--collect', '--out', out
    ])
    with open(out + '.md') as f:
        good_md = f.read()
    with open(out + '.csv') as f:
        good_csv = f.read()
    assert '| coop_vitb16_dtd | 1 | 80.00 ± 0.00 |' in good_md
    empty = str(tmp_path / 'empty')
    os.makedirs(empty)
    with pytest.raises(
            PathNotFoundError,
            match=f'no table: none of the 3 metrics.json files of the 3 runs '
            f'exists under --work-dir {empty} \\(the first: {empty}/'
            f'coop_vitb16_dtd/seed1/metrics.json\\); pass the --work-dir, '
            f'configs, --seeds and --shots of the call that ran them; '
            f'{out}.md and {out}.csv are left as they were'):
        tool.main([COOP_DTD, '--work-dir', empty, '--collect', '--out', out])
    assert 'Failed or missing runs:\n  coop_vitb16_dtd seed 1: no ' in \
        capsys.readouterr().out
    with open(out + '.md') as f:
        assert f.read() == good_md
    with open(out + '.csv') as f:
        assert f.read() == good_csv
    # Only unreadable metrics: a DataError, and still no table.
    _metrics(
        osp.join(empty, 'coop_vitb16_dtd', 'seed1', 'metrics.json'), loss=1.)
    with pytest.raises(
            DataError,
            match='none of the 1 metrics.json '
            'files of the 1 runs under --work-dir .* can be read'):
        tool.main([
            COOP_DTD, '--seeds', '1', '--work-dir', empty, '--collect',
            '--out', out
        ])
    with open(out + '.md') as f:
        assert f.read() == good_md
    # From the command line: one line on stderr, no traceback, status 2.
    proc = _tool(COOP_DTD, '--work-dir', str(tmp_path / 'nowhere'),
                 '--collect', '--out', out)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        'error: no table: none of the 3 metrics.json files of the 3 runs '
        f'exists under --work-dir {tmp_path}/nowhere, which does not exist '
        '(the first: ')
    assert 'Traceback' not in proc.stderr


def test_an_unreadable_metrics_file_is_reported_with_its_path(
        tool, tmp_path, capsys):
    work = str(tmp_path / 'work')
    runs = [osp.join(work, 'coop_vitb16_dtd', f'seed{s}') for s in range(5)]
    for run in runs:
        os.makedirs(run)
    _metrics(
        osp.join(runs[0], 'metrics.json'), **{
            'base/top1': 80.,
            'new/top1': 60.
        })
    _metrics(
        osp.join(runs[1], 'metrics.json'), **{
            'base/top1': 82.,
            'new/top1': 62.
        })
    with open(osp.join(runs[2], 'metrics.json'), 'w') as f:
        f.write('{"base/top1": 80.0, "new/')  # a run killed mid-write
    _metrics(osp.join(runs[3], 'metrics.json'), **{'base/top1': 'n/a'})
    with open(osp.join(runs[4], 'metrics.json'), 'w') as f:
        f.write('[1, 2]')
    out = str(tmp_path / 'b2n')
    with pytest.raises(SystemExit) as exit_:
        tool.main([
            COOP_DTD, '--seeds', '0', '1', '2', '3', '4', '--work-dir', work,
            '--collect', '--out', out
        ])
    assert exit_.value.code == 1
    stdout = capsys.readouterr().out
    assert '[3/5] coop_vitb16_dtd seed 2: coop_vitb16_dtd: UNREADABLE' in \
        stdout
    assert ('Failed or missing runs:\n'
            f'  coop_vitb16_dtd seed 2: {runs[2]}/metrics.json is not valid '
            'JSON (Unterminated string starting at: line 1 column 21 '
            '(char 20))\n'
            f'  coop_vitb16_dtd seed 3: {runs[3]}/metrics.json has no numbers'
            " for 'base/top1' and 'new/top1' nor for 'accuracy/top1' (its "
            "keys: ['base/top1'])\n"
            f'  coop_vitb16_dtd seed 4: {runs[4]}/metrics.json holds a JSON '
            'list, not an object of metrics') in stdout
    # The table has the good runs.
    with open(out + '.md') as f:
        assert f.read().splitlines()[2] == \
            '| coop_vitb16_dtd | 2 | 81.00 ± 1.00 | 61.00 ± 1.00 | ' \
            f'{harmonic_mean(81, 61):.2f} |'


def test_tables_are_written_whole_or_not_at_all(tool, tmp_path, monkeypatch,
                                                capsys):
    work = str(tmp_path / 'work')
    _metrics(
        osp.join(work, 'coop_vitb16_dtd', 'seed1', 'metrics.json'), **{
            'base/top1': 80.,
            'new/top1': 60.
        })
    out = str(tmp_path / 'results' / 'b2n')
    os.makedirs(osp.dirname(out))
    for ext in ('.md', '.csv'):
        with open(out + ext, 'w') as f:
            f.write('the good table\n')

    def crash(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(tool.os, 'replace', crash)
    with pytest.raises(OSError, match='No space left on device'):
        tool.main([
            COOP_DTD, '--seeds', '1', '--work-dir', work, '--collect', '--out',
            out
        ])
    for ext in ('.md', '.csv'):
        with open(out + ext) as f:
            assert f.read() == 'the good table\n'
    assert sorted(os.listdir(osp.dirname(out))) == ['b2n.csv', 'b2n.md']
    monkeypatch.undo()
    monkeypatch.chdir(REPO)
    tool.main([
        COOP_DTD, '--seeds', '1', '--work-dir', work, '--collect', '--out', out
    ])
    assert sorted(os.listdir(osp.dirname(out))) == ['b2n.csv', 'b2n.md']
    with open(out + '.csv') as f:
        assert f.read().splitlines()[1].startswith('coop_vitb16_dtd,1,80.00')
    assert oct(os.stat(out + '.md').st_mode & 0o777) != oct(0o600)


def test_a_missing_config_is_one_paragraph(tool, tmp_path):
    with pytest.raises(
            PathNotFoundError,
            match='config file configs/coop/nope.py does not '
            'exist'):
        tool.main(['configs/coop/nope.py', '--dry-run'])
    # also a test config, even before any run is planned
    with pytest.raises(
            PathNotFoundError,
            match='config file configs/coop/nope.py does not '
            'exist'):
        tool.main(
            [COOP_DTD, '--test-configs', 'configs/coop/nope.py', '--dry-run'])
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type="X"\n')
    with pytest.raises(
            ConfigError,
            match='config file '
            f'{re.escape(str(broken))} .*syntax error'):
        tool.main([str(broken), '--dry-run'])
    # From the command line: one line, no traceback, status 2.
    proc = _tool('configs/coop/nope.py', '--dry-run')
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        'error: config file configs/coop/nope.py does not exist.')
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
    assert proc.stdout == ''


@pytest.mark.parametrize('shots', ['0', '-4'])
def test_shots_must_be_positive(tool, tmp_path, capsys, shots):
    script = tmp_path / 'array.sh'
    for mode in (['--dry-run'], ['--slurm', str(script)]):
        with pytest.raises(
                ConfigError,
                match=f'^--shots {shots}: give a positive number of shots '
                r'per class \(1, 2, 4, 8, 16\)$'):
            tool.main([COOP_DTD, '--shots', shots] + mode)
    assert capsys.readouterr().out == ''  # no command printed
    assert not script.exists()  # no script written


def test_misspelt_options_fail_before_anything_is_written(
        tool, tmp_path, capsys):
    script = tmp_path / 'array.sh'
    # a training option is checked against the trained config
    with pytest.raises(
            ConfigError,
            match=r"^--cfg-options train_cfg\.max_epoch: `train_cfg` has no "
            r"field `max_epoch`, so the option would be silently ignored\. "
            r"Did you mean 'max_epochs'\?.* \(checked against "
            r'configs/coop/coop_vitb16_dtd\.py; nothing was run or '
            r'written\)$'):
        tool.main([
            COOP_DTD, '--cfg-options', 'train_cfg.max_epoch=1', '--slurm',
            str(script)
        ])
    assert not script.exists()
    with pytest.raises(ConfigError, match='--cfg-options train_cfg.max_epoch'):
        tool.main(
            [COOP_DTD, '--cfg-options', 'train_cfg.max_epoch=1', '--dry-run'])
    assert capsys.readouterr().out == ''
    # --test-cfg-options are checked against each test config, and named so
    source = _config(tmp_path / 'source.py')
    with open(source, 'a') as f:
        f.write('test_dataloader = dict(dataset=dict(seed=0, split="a"))\n')
    target = _config(tmp_path / 'target.py', trains=False)
    tool.main([
        source, '--seeds', '1', '--dry-run', '--test-cfg-options',
        'test_dataloader.dataset.split=b'
    ])
    assert 'test_dataloader.dataset.split=b' in capsys.readouterr().out
    with pytest.raises(
            ConfigError,
            match=r'^--test-cfg-options test_dataloader\.dataset\.split: '
            r'`test_dataloader\.dataset` has no field `split`, so the option '
            r'would be silently ignored\..* \(checked against '
            f'{re.escape(target)}; nothing was run or written\\)$'):
        tool.main([
            source, '--seeds', '1', '--dry-run', '--test-configs', target,
            '--test-cfg-options', 'test_dataloader.dataset.split=b'
        ])
    assert capsys.readouterr().out == ''
    # an option a test-only config keeps is checked against it
    with pytest.raises(
            ConfigError,
            match=r'^--cfg-options test_dataloader\.batchsize: .*'
            r'\(checked against configs/zeroshot/'
            r'clip_tiny_synthetic\.py;'):
        tool.main([
            ZEROSHOT, '--dry-run', '--cfg-options',
            'test_dataloader.batchsize=8'
        ])
    # one it drops (a training option: the existing rule) is not: a note
    tool.main([
        ZEROSHOT, '--seeds', '1', '--dry-run', '--cfg-options',
        'train_cfg.max_epoch=1'
    ])
    captured = capsys.readouterr()
    assert 'max_epoch' not in captured.out
    assert captured.err.startswith(
        'note: clip_tiny_synthetic: --cfg-options train_cfg.max_epoch=1 '
        'left out of its test')


def test_printed_commands_are_the_ones_run(tool, tmp_path, capsys,
                                           monkeypatch):
    config = _config(tmp_path / 'configs' / 'x.py')
    work = str(tmp_path / 'work')
    tool.main([config, '--seeds', '1', '--work-dir', work, '--dry-run'])
    line = capsys.readouterr().out.strip()
    train, test = line.split(' && mkdir -p ')
    assert f' && {PYTHON} tools/train.py {config} ' in train
    assert f' && {PYTHON} tools/test.py {config} ' in test
    calls = []

    def fake_run(cmd, log, progress=None, step='', **kwargs):
        calls.append(cmd)
        assert kwargs == dict(cwd=tool.REPO)
        assert step == ('train' if len(calls) == 1 else 'test')
        run_dir = osp.join(work, 'x', 'seed1')
        with open(osp.join(run_dir, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(run_dir, 'epoch_2.pth'))
        return 1 if len(calls) > 1 else 0

    # The steps run through mmprompt.progress.run_logged (live progress).
    monkeypatch.setattr(tool, 'run_logged', fake_run)
    with pytest.raises(PathNotFoundError):  # the fake test: no metrics
        tool.main([config, '--seeds', '1', '--work-dir', work])
    assert [c[:2] for c in calls] == [[sys.executable, 'tools/train.py'],
                                      [sys.executable, 'tools/test.py']]
    # the same arguments as printed (the checkpoint read from the file)
    assert ' '.join(map(shlex.quote, calls[0])) in train
    assert ' '.join(map(shlex.quote, calls[1][:3])) in test
