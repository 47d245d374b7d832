# Copyright (c) mmprompt contributors. All rights reserved.
"""The feature-store benchmark's encoder-pass counts and run times."""
import importlib.util
import os.path as osp
import re

import pytest
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


def test_passes_counts_every_image_encoder_pass_of_a_run():
    out = _run([
        'tools/analysis_tools/benchmark_feature_store.py', 'passes',
        'configs/coop/coop_vitb16_dtd.py', '--sizes', 'train=384', 'val=188',
        'test=1692', '--views', '10'
    ], REPO)
    assert ('200 epochs of 384 training images, 10 validation passes of 188 '
            'images, a test of 1692 images') in out
    rows = dict(
        re.findall(r'^\| (.+?) \| ([0-9,]+) \| [0-9.]+ \|$', out, flags=re.M))
    counts = {k: int(v.replace(',', '')) for k, v in rows.items()}
    assert counts['reference (Dassl: every training image every epoch, '
                  'then test)'] == 200 * 384 + 1692
    # val every 20 epochs without the store; each eval set once with it
    assert counts['mmprompt, no feature store'] == \
        200 * 384 + 10 * 188 + 1692
    assert counts['exact views, first run'] == 200 * 384 + 188 + 1692
    assert counts['exact views, a second run or method with the same '
                  'seed'] == 0
    assert counts['fast views (V = 10), first run'] == 10 * 384 + 188 + 1692


def test_per_config_seconds_come_from_run_protocol_progress_lines():
    spec = importlib.util.spec_from_file_location(
        'benchmark_feature_store',
        osp.join(REPO, 'tools/analysis_tools/benchmark_feature_store.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # the lines tools/run_protocol.py prints after each run
    stdout = ('[1/4] coop seed 1: coop: base 67.00 new 69.23 (41 s)\n'
              '[2/4] coop seed 2: coop: base 66.80 new 68.10 (39 s)\n'
              '[3/4] meta seed 1: FAILED, log /w/meta/seed1/train.log\n'
              '[4/4] coop → dtd seed 1: coop → dtd: top-1 55.10 (7 s)\n')
    assert bench.per_config_seconds(stdout) == {'coop': 80, 'coop → dtd': 7}
