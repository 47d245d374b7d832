# Copyright (c) mmprompt contributors. All rights reserved.
"""Write the procedural mini-DTD in CoOp's layout.

Example::

    python tools/dataset_converters/make_procedural_dtd.py data/procdtd \\
        --num-train 32 --num-val 8 --num-test 40 --seed 0

Read it with ``dict(type='CoOpProceduralDTD', data_root='data/procdtd')``;
that dataset runs this generator with its defaults by itself when its
``data_root`` does not exist. The files are written into a temporary folder
next to ``out_dir`` and renamed into place when complete, so an interrupted
run leaves no half-written folder.
"""
import argparse
import time

from mmengine.logging import print_log

from mmprompt.offline import (PROCEDURAL_CLASSES, PROCEDURAL_SPLIT_FILE,
                              STYLES, make_procedural_dataset)


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write procedural textures named after DTD categories '
        'in CoOp format (images/<class>/<class>_<i>.png + '
        f'{PROCEDURAL_SPLIT_FILE}).')
    parser.add_argument('out_dir', help='output folder (new or empty)')
    parser.add_argument('--seed', type=int, default=0, help='drawing seed')
    parser.add_argument(
        '--num-train', type=int, default=32, help='train images per class')
    parser.add_argument(
        '--num-val', type=int, default=8, help='val images per class')
    parser.add_argument(
        '--num-test', type=int, default=40, help='test images per class')
    parser.add_argument(
        '--size', type=int, default=64, help='image side in pixels')
    parser.add_argument(
        '--style',
        choices=STYLES,
        default='downstream',
        help='rendering style (default: downstream)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace images/ and the split file of a non-empty out_dir')
    return parser.parse_args(argv)


def main(argv=None):
    """Generate the dataset and log a summary."""
    args = parse_args(argv)
    start = time.perf_counter()
    split = make_procedural_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        size=args.size,
        seed=args.seed,
        style=args.style,
        overwrite=args.overwrite)
    counts = ' / '.join(f'{len(split[key])} {key}' for key in split)
    print_log(
        f'Wrote {len(PROCEDURAL_CLASSES)} classes ({counts} images, '
        f'{args.size}x{args.size}, {args.style} style, seed {args.seed}) to '
        f'{args.out_dir} in {time.perf_counter() - start:.1f} s.',
        logger='current')
    return split


if __name__ == '__main__':
    main()
