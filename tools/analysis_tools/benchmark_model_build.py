# Copyright (c) mmprompt contributors. All rights reserved.
"""Time building a CLIP prompt model: one open_clip build for both towers.

Builds the model of a config (random weights, as no download is possible
here) and, side by side, the same two towers the way mmprompt built them
before: one open_clip build each. Prints the open_clip builds counted and
the seconds of each, best of ``--repeats``. Example::

    python tools/analysis_tools/benchmark_model_build.py \\
        configs/coop/coop_vitb16_dtd.py
"""
import argparse
import time
from unittest import mock

import open_clip
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmprompt.models.clip import build_open_clip, loading
from mmprompt.registry import MODELS


def count_builds():
    calls = []
    create = open_clip.create_model

    def spy(*args, **kwargs):
        calls.append(args[0])
        return create(*args, **kwargs)

    return calls, mock.patch.object(open_clip, 'create_model', spy)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        loading._spare = None
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    init_default_scope('mmprompt')
    model_cfg = Config.fromfile(args.config).model
    model_cfg.backbone.pretrained = None
    model_cfg.head.text_encoder.pretrained = None
    name = model_cfg.backbone.model_name
    kwargs = model_cfg.backbone.get('model_kwargs') or {}

    calls, spy = count_builds()
    with spy:
        MODELS.build(model_cfg)
    print(f'{args.config}: {len(calls)} open_clip build(s) of {calls}')
    model = best_of(lambda: MODELS.build(model_cfg), args.repeats)
    twice = best_of(
        lambda: [build_open_clip(name, None, **kwargs) for _ in range(2)],
        args.repeats)
    print(f'model build (one open_clip build): {model:.2f} s')
    print(f'two open_clip builds (before):     {twice:.2f} s')
    print(f'ratio: x{twice / model:.2f}')


if __name__ == '__main__':
    main()
