# Copyright (c) mmprompt contributors. All rights reserved.
"""Write a small synthetic dataset in CoOp's format.

Example::

    python tools/misc/make_synthetic_dataset.py data/synthetic \\
        --num-classes 10 --images-per-class 20 4 10 --seed 0

Read it with ``dict(type='CoOpSynthetic', data_root='data/synthetic')``.
"""
import argparse

from mmengine.logging import print_log

from mmprompt.offline import make_synthetic_coop_dataset


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write a synthetic dataset in CoOp format '
        '(images/<class>/<class>_<i>.png + split_zhou_Synthetic.json).')
    parser.add_argument('out_dir', help='output folder (new or empty)')
    parser.add_argument(
        '--num-classes', type=int, default=10, help='number of classes')
    parser.add_argument(
        '--images-per-class',
        type=int,
        nargs=3,
        default=[20, 4, 10],
        metavar=('TRAIN', 'VAL', 'TEST'),
        help='train, val and test images per class')
    parser.add_argument(
        '--image-size', type=int, default=32, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='drawing seed')
    parser.add_argument(
        '--class-names',
        nargs='+',
        default=None,
        help='class names (default: "<colour> <pattern>")')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace images/ and the split file of a non-empty out_dir')
    return parser.parse_args(argv)


def main(argv=None):
    """Generate the dataset and log a summary."""
    args = parse_args(argv)
    split = make_synthetic_coop_dataset(
        args.out_dir,
        num_classes=args.num_classes,
        images_per_class=tuple(args.images_per_class),
        image_size=args.image_size,
        seed=args.seed,
        class_names=args.class_names,
        overwrite=args.overwrite)
    counts = ' / '.join(f'{len(split[key])} {key}' for key in split)
    print_log(
        f'Wrote {args.num_classes} classes ({counts} images) to '
        f'{args.out_dir}',
        logger='current')


if __name__ == '__main__':
    main()
