# Copyright (c) mmprompt contributors. All rights reserved.
"""Plot the multimodal-vs-text accuracy gap logged by MetaGapMonitorHook.

Reads ``meta_gap/*`` from the ``<timestamp>/vis_data/scalars.json`` files of
each work dir (all runs in it, so a resumed run continues its curve; a later
run overrides an epoch measured twice), prints the curve and draws base test
accuracy with multimodal prototypes (solid) and with text only (dashed)
above their gap, as Fig. 4 of the meta-training paper::

    python tools/analysis_tools/plot_meta_gap.py \
        work_dirs/meta_tinyclip_procdtd --out gap.png
    # several runs, e.g. 5/10/20-way
    python tools/analysis_tools/plot_meta_gap.py work_dirs/meta_* \
        --labels 5-way 10-way 20-way --out gap.png
"""
import argparse
import glob
import json
import os.path as osp
import sys

KEYS = ('meta_gap/mm_top1', 'meta_gap/text_top1', 'meta_gap/gap')


def load_gap_curve(work_dir):
    """``[(epoch, mm_top1, text_top1, gap), ...]`` sorted by epoch."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    points = {}
    for path in files:
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if all(key in record for key in KEYS):
                    points[int(record['step'])] = tuple(
                        float(record[key]) for key in KEYS)
    if not points:
        raise ValueError(
            f'no {KEYS[0]} values under {work_dir}/*/vis_data/scalars.json; '
            'train with MetaGapMonitorHook in `custom_hooks` and '
            "LocalVisBackend in `vis_backends` (configs/meta/ do both).")
    return [(epoch, ) + points[epoch] for epoch in sorted(points)]


def plot(curves, labels, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (acc_ax, gap_ax) = plt.subplots(
        2, 1, sharex=True, figsize=(6, 6), height_ratios=(2, 1))
    for curve, label, colour in zip(curves, labels,
                                    plt.rcParams['axes.prop_cycle']):
        epochs = [p[0] for p in curve]
        acc_ax.plot(
            epochs, [p[1] for p in curve],
            '-o',
            ms=3,
            color=colour['color'],
            label=f'{label} multimodal')
        acc_ax.plot(
            epochs, [p[2] for p in curve],
            '--o',
            ms=3,
            color=colour['color'],
            label=f'{label} text only')
        gap_ax.plot(
            epochs, [p[3] for p in curve],
            '-o',
            ms=3,
            color=colour['color'],
            label=label)
    acc_ax.set_ylabel('base test top-1 (%)')
    acc_ax.legend(fontsize='small')
    gap_ax.axhline(0, color='grey', lw=0.5)
    gap_ax.set_ylabel('gap (points)')
    gap_ax.set_xlabel('epoch')
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='one legend label per work dir (default: the '
        'folder names)')
    parser.add_argument('--out', help='save the figure here (e.g. gap.png)')
    args = parser.parse_args(argv)
    labels = args.labels or [
        osp.basename(osp.normpath(d)) for d in args.work_dirs
    ]
    if len(labels) != len(args.work_dirs):
        parser.error(f'{len(args.work_dirs)} work dirs but {len(labels)} '
                     'labels')
    try:
        curves = [load_gap_curve(d) for d in args.work_dirs]
    except ValueError as err:
        sys.exit(f'error: {err}')
    for label, curve in zip(labels, curves):
        print(f'{label}\n  epoch  multimodal  text only    gap')
        for epoch, mm, text, gap in curve:
            print(f'  {epoch:5d}  {mm:10.2f}  {text:9.2f}  {gap:+6.2f}')
    if args.out:
        plot(curves, labels, args.out)
        print(f'saved {args.out}')


if __name__ == '__main__':
    main()
