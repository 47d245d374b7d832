# Copyright (c) mmprompt contributors. All rights reserved.
"""The memory benchmark measures a step with and without checkpointing."""
import re

import pytest
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


def test_benchmark_prints_both_rows_and_the_ratio():
    out = _run([
        'tools/analysis_tools/benchmark_memory.py',
        'configs/coop/coop_tiny_synthetic.py', '--num-classes', '20',
        '--batch-size', '4', '--threads', '1'
    ], REPO)
    assert re.search(
        r'^coop_tiny_synthetic: one training step, batch 4, 20 '
        r'classes, device cpu; memory: RSS \(MiB\)',
        out,
        flags=re.M)
    rows = re.findall(
        r'^\| (off|on) \| (\d+) \| (\d+) \| (-?\d+) \| (\d+) \|$',
        out,
        flags=re.M)
    assert [r[0] for r in rows] == ['off', 'on']
    for _, peak, baseline, delta, ms in rows:
        peak, baseline, delta = int(peak), int(baseline), int(delta)
        # The process holds at least torch and the model; the peak is the
        # baseline plus the step (rounding to MiB apart).
        assert 100 < baseline <= peak and abs(peak - baseline - delta) <= 1
        assert int(ms) > 0
    assert re.search(
        r'^with checkpointing the step needs x[0-9.]+ less '
        r'memory \(step delta\), x[0-9.]+ less at the peak, and '
        r'x[0-9.]+ the time$',
        out,
        flags=re.M)
