# Copyright (c) mmprompt contributors. All rights reserved.
"""The training-iteration benchmark runs configs and reports their rows."""
import re

import pytest
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


def test_benchmark_prints_one_row_per_config():
    out = _run([
        'tools/analysis_tools/benchmark_train_iter.py',
        'configs/coop/coop_tiny_synthetic.py',
        'configs/maple/maple_tinyclip_procdtd.py',
        'configs/instance/instance_tinyclip_procdtd_fewshot4.py',
        '--random-weights', '--iters', '2', '--warmup', '1', '--num-classes',
        '5', '--batch-size', '2'
    ], REPO)
    rows = re.findall(
        r'^\| (\S+) \| ([0-9,]+) \| ([0-9.]+) ± ([0-9.]+) \| '
        r'x([0-9.]+) \|',
        out,
        flags=re.M)
    assert [r[0] for r in rows] == [
        'coop_tiny_synthetic', 'maple_tinyclip_procdtd',
        'instance_tinyclip_procdtd_fewshot4'
    ]
    # CoOp: 4 x 64 context; MaPLe (depth 3, width 128): 2 x 128 context,
    # 2 deep text prompts of 2 x 128, 3 couplings Linear(128, 128).
    assert int(rows[0][1].replace(',', '')) == 4 * 64
    assert int(rows[1][1].replace(',', '')) == \
        2 * 128 + 2 * 2 * 128 + 3 * (128 * 128 + 128)
    # instance-wise: 16 x 128 global ctx, 5 classes x 4 shots x 4 x 128
    assert int(rows[2][1].replace(',', '')) == 16 * 128 + 5 * 4 * 4 * 128
    assert float(rows[0][4]) == 1.0 and float(rows[0][2]) > 0


def test_store_modes_of_frozen_prompted_and_promptsrc_towers():
    out = _run([
        'tools/analysis_tools/benchmark_train_iter.py',
        'configs/coop/coop_tiny_synthetic.py',
        'configs/maple/maple_tinyclip_procdtd.py',
        'configs/promptsrc/promptsrc_tinyclip_procdtd.py', '--random-weights',
        '--iters', '1', '--warmup', '0', '--num-classes', '5', '--batch-size',
        '2', '--store'
    ], REPO)
    modes = re.findall(
        r'^\| (\S+) \| ([^|]+) \| [-0-9.± ]+ \| '
        r'(?:x[0-9.]+|-) \|$',
        out,
        flags=re.M)
    modes = [(name, mode.strip()) for name, mode in modes
             if 'ms / iter' not in mode]
    assert modes == [
        ('coop_tiny_synthetic', 'no store'),
        ('coop_tiny_synthetic', 'exact views, miss'),
        ('coop_tiny_synthetic', 'exact views, hit'),
        ('coop_tiny_synthetic', 'fast views (10 views, 200 epochs)'),
        ('coop_tiny_synthetic', 'encoder pass only'),
        ('maple_tinyclip_procdtd',
         'no feature store: MaPLePromptLearner prompts the image encoder'),
        ('promptsrc_tinyclip_procdtd', 'no store'),
        ('promptsrc_tinyclip_procdtd', 'exact views, miss'),
        ('promptsrc_tinyclip_procdtd',
         'exact views, hit (frozen target read)'),
        ('promptsrc_tinyclip_procdtd', 'encoder pass only'),
    ]
