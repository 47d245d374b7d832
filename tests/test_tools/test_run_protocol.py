# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/run_protocol.py: aggregation of work dirs, commands, a real run."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmprompt.datasets import make_synthetic_coop_dataset
from mmprompt.evaluation import harmonic_mean

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'run_protocol.py')
COOP_DTD = 'configs/coop/coop_vitb16_dtd.py'
COOP_EUROSAT = 'configs/coop/coop_vitb16_eurosat.py'
IMAGENET = 'configs/coop/coop_vitb16_imagenet_fewshot.py'


def _tool(*args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    return subprocess.run([sys.executable, TOOL] + list(args), cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=300)


def _metrics(path, **values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(values, f)


def test_collect_aggregates_seeds_and_datasets(tmp_path):
    work = str(tmp_path / 'work')
    dtd = [(80., 50.), (82., 52.), (81., 57.)]
    eurosat = [(90., 60.), (92., 70.), (94., 80.)]
    for name, values in (('coop_vitb16_dtd', dtd),
                         ('coop_vitb16_eurosat', eurosat)):
        for seed, (b, n) in enumerate(values, 1):
            _metrics(osp.join(work, name, f'seed{seed}', 'metrics.json'),
                     **{'base/top1': b, 'new/top1': n,
                        'hm': harmonic_mean(b, n)})
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
        _metrics(osp.join(work, 'coop_vitb16_dtd', f'seed{seed}',
                          'metrics.json'),
                 **{'base/top1': 80., 'new/top1': 60., 'hm': 68.57})
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
        _metrics(osp.join(run, 'metrics.json'),
                 **{'accuracy/top1': source})
        _metrics(osp.join(run, 'coop_vitb16_caltech101_fewshot',
                          'metrics.json'), **{'accuracy/top1': target})
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
        '"$(cat work_dirs/protocol/coop_vitb16_imagenet_fewshot/seed2/' \
        'last_checkpoint)"' in line
    assert 'prompt_learner.num_shots' not in line
    # instance-wise prompts are sized by the shots: --shots sets them too
    spec = importlib.util.spec_from_file_location('run_protocol', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    opts, trains = tool.dataset_options(
        osp.join(REPO, 'configs/instance/instance_rn50_oxford-pets_fewshot4'
                 '.py'), seed=1, shots=2)
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
    make_synthetic_coop_dataset(root, num_classes=4,
                                images_per_class=(4, 2, 3), seed=1)
    return root


def test_a_real_zero_shot_run(synthetic, tmp_path):
    work = str(tmp_path / 'work')
    proc = _tool('configs/zeroshot/clip_tiny_synthetic.py', '--seeds', '1',
                 '--work-dir', work, '--cfg-options',
                 f'test_dataloader.dataset.data_root={synthetic}')
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    with open(osp.join(work, 'clip_tiny_synthetic', 'seed1',
                       'metrics.json')) as f:
        metrics = json.load(f)
    assert f'base {metrics["base/top1"]:.2f}' in proc.stdout
