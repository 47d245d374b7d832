# Copyright (c) mmprompt contributors. All rights reserved.
"""The feature-store benchmark's encoder-pass counts."""
import re

# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run


def test_passes_counts_every_image_encoder_pass_of_a_run():
    out = _run([
        'tools/analysis_tools/benchmark_feature_store.py', 'passes',
        'configs/coop/coop_vitb16_dtd.py', '--sizes', 'train=384', 'val=188',
        'test=1692', '--views', '10'
    ], REPO)
    assert ('200 epochs of 384 training images, 10 validation passes of 188 '
            'images, a test of 1692 images') in out
    rows = dict(re.findall(r'^\| (.+?) \| ([0-9,]+) \| [0-9.]+ \|$', out,
                           flags=re.M))
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
