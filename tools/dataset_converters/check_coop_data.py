# Copyright (c) mmprompt contributors. All rights reserved.
"""Check a data root against CoOp's layouts, or make a split for your data.

Check: for every dataset of the CoOp benchmark (or those named with
``--datasets``) it reports whether its folder is there, whether the split /
class-name files parse, how many classes and images each split has, how
many listed images are missing, and which images do not decode (empty,
truncated or not an image; each one is listed), with the official source of
what is missing::

    python tools/dataset_converters/check_coop_data.py data
    python tools/dataset_converters/check_coop_data.py data --datasets dtd

Every image is decoded as training decodes it (``LoadCoOpImage``); that
reads every file, so on large datasets ``--no-decode`` (only check that the
files exist) is much faster, and ``--no-image-check`` only parses the split
files. On a terminal a progress bar shows the progress; otherwise (a log
file, CI) a line every 25 % (or every minute).

Exit status 1 when the data root does not exist or a dataset folder that
exists has a problem (absent datasets are only listed). Nothing is written.

Make a split: for your own images in ``FOLDER/<class>/*``, write a CoOp-format
split file (per class, a seeded shuffle cut into train / val / test as CoOp
does for DTD: 50 / 20 / 30 % by default). Only image files count (names
ending in .jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff or .webp, any
case); hidden and other files are skipped, and their number is printed::

    python tools/dataset_converters/check_coop_data.py \\
        --make-split data/mine/images --out data/mine/split_mine.json

then use it without code: ``dict(type='CoOpDataset', data_root='data/mine',
split_file='split_mine.json', image_dir='images')``.
"""
import argparse
import json
import os
import os.path as osp
import random
import sys
import time
from collections import Counter

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

COOP_DOC = 'https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md'

#: name (as in config names): (folder, dataset type, where the images come
#: from, where the split / class-name file comes from)
BENCHMARK = {
    'imagenet': ('imagenet', 'CoOpImageNet',
                 'https://image-net.org (train and val into images/)',
                 f'classnames.txt: {COOP_DOC}#imagenet'),
    'caltech101': ('caltech-101', 'CoOpCaltech101',
                   'http://www.vision.caltech.edu/Image_Datasets/Caltech101/'
                   '101_ObjectCategories.tar.gz',
                   f'split_zhou_Caltech101.json: {COOP_DOC}#caltech101'),
    'oxford-pets':
    ('oxford_pets', 'CoOpOxfordPets',
     'https://www.robots.ox.ac.uk/~vgg/data/pets/data/'
     'images.tar.gz', f'split_zhou_OxfordPets.json: {COOP_DOC}#oxfordpets'),
    'stanford-cars': ('stanford_cars', 'CoOpStanfordCars',
                      'http://ai.stanford.edu/~jkrause/car196/ (cars_train, '
                      'cars_test)', f'split_zhou_StanfordCars.json: '
                      f'{COOP_DOC}#stanfordcars'),
    'oxford-flowers': ('oxford_flowers', 'CoOpOxfordFlowers',
                       'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/'
                       '102flowers.tgz', f'split_zhou_OxfordFlowers.json: '
                       f'{COOP_DOC}#flowers102'),
    'food101': ('food-101', 'CoOpFood101',
                'https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/',
                f'split_zhou_Food101.json: {COOP_DOC}#food101'),
    'fgvc-aircraft': ('fgvc_aircraft', 'CoOpFGVCAircraft',
                      'https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/'
                      'archives/fgvc-aircraft-2013b.tar.gz (its data/)',
                      'variants.txt and images_variant_*.txt: in the same '
                      'archive'),
    'sun397': ('sun397', 'CoOpSUN397',
               'http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz',
               f'split_zhou_SUN397.json: {COOP_DOC}#sun397'),
    'dtd':
    ('dtd', 'CoOpDTD', 'https://www.robots.ox.ac.uk/~vgg/data/dtd/download/'
     'dtd-r1.0.1.tar.gz',
     f'split_zhou_DescribableTextures.json: {COOP_DOC}#dtd'),
    'eurosat': ('eurosat', 'CoOpEuroSAT',
                'http://madm.dfki.de/files/sentinel/EuroSAT.zip (into 2750/)',
                f'split_zhou_EuroSAT.json: {COOP_DOC}#eurosat'),
    'ucf101':
    ('ucf101', 'CoOpUCF101', f'UCF-101-midframes.zip: {COOP_DOC}#ucf101',
     f'split_zhou_UCF101.json: {COOP_DOC}#ucf101'),
    'imagenetv2': ('imagenetv2', 'CoOpImageNetV2',
                   'https://github.com/modestyachts/ImageNetV2 '
                   '(matched-frequency)',
                   f'classnames.txt (ImageNet\'s): {COOP_DOC}#imagenetv2'),
    'imagenet-sketch': ('imagenet-sketch', 'CoOpImageNetSketch',
                        'https://github.com/HaohanWang/ImageNet-Sketch',
                        f'classnames.txt (ImageNet\'s): '
                        f'{COOP_DOC}#imagenet-sketch'),
    'imagenet-a': ('imagenet-adversarial', 'CoOpImageNetA',
                   'https://github.com/hendrycks/natural-adv-examples',
                   f'classnames.txt (ImageNet\'s): {COOP_DOC}#imagenet-a'),
    'imagenet-r': ('imagenet-rendition', 'CoOpImageNetR',
                   'https://github.com/hendrycks/imagenet-r',
                   f'classnames.txt (ImageNet\'s): {COOP_DOC}#imagenet-r'),
}
TEST_ONLY = ('imagenetv2', 'imagenet-sketch', 'imagenet-a', 'imagenet-r')


class Progress:
    """Progress of a loop: a bar on a terminal, a few lines otherwise.

    Args:
        total (int): The number of steps.
        label (str): What is done, e.g. ``'[dtd] test: decoding 1880 images'``.
        stream (file, optional): Where to write. Defaults to ``sys.stderr``.
        interval (float): Without a terminal, also write a line when this
            many seconds passed since the last one. Defaults to 60.
    """

    def __init__(self, total, label, stream=None, interval=60.0):
        self.total, self.label, self.interval = total, label, interval
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, 'isatty', None)
        self.bar = None
        self.done = self.shown = 0
        if total and isatty is not None and isatty():
            from mmengine.utils import ProgressBar
            self.stream.write(f'{label}\n')
            self.bar = ProgressBar(total, file=self.stream)
        elif total:
            self.stream.write(f'{label} ...\n')
            self.stream.flush()
        self.last = time.monotonic()

    def update(self):
        """Count one step done."""
        self.done += 1
        if self.bar is not None:
            self.bar.update()
            return
        quarter = self.done * 4 // self.total
        now = time.monotonic()
        if quarter > self.shown * 4 // self.total or (now - self.last
                                                      >= self.interval):
            self.stream.write(f'  {self.done}/{self.total} '
                              f'({self.done * 100 // self.total} %)\n')
            self.stream.flush()
            self.shown, self.last = self.done, now

    def finish(self):
        """End the bar's line."""
        if self.bar is not None:
            self.stream.write('\n')
            self.stream.flush()


def check(data_root, name, check_images=True, decode=True):
    """Report lines and whether the dataset is usable (None: absent).

    Args:
        data_root (str): The folder holding the datasets' folders.
        name (str): A key of :data:`BENCHMARK`.
        check_images (bool): Check that the listed images exist. Defaults
            to True.
        decode (bool): Also decode every image that exists, as
            ``LoadCoOpImage`` does (only with ``check_images``). Defaults to
            True.

    Returns:
        tuple[list[str], bool | None]: The report lines, and whether the
        dataset is usable (None: its folder is absent).
    """
    from mmprompt.datasets.transforms import load_image
    from mmprompt.errors import DataError
    from mmprompt.registry import DATASETS
    folder, type_, images_from, split_from = BENCHMARK[name]
    root = osp.join(data_root, folder)
    if not osp.isdir(root):
        return [
            f'MISSING folder {root}', f'  images: {images_from}',
            f'  split:  {split_from}'
        ], None
    lines, ok = [], True
    splits = ('test', ) if name in TEST_ONLY else ('train', 'val', 'test')
    for split in splits:
        try:
            dataset = DATASETS.build(
                dict(
                    type=type_,
                    data_root=root,
                    split=split,
                    check_images=False))
        except Exception as err:  # report whatever the dataset says
            return [
                f'PROBLEM {root}: {err}', f'  images: {images_from}',
                f'  split:  {split_from}'
            ], False
        paths = [
            dataset.get_data_info(i)['img_path'] for i in range(len(dataset))
        ]
        counts = Counter(int(y) for y in dataset.get_gt_labels())
        text = (f'{split}: {len(paths)} images, {len(counts)} classes '
                f'({min(counts.values())}-{max(counts.values())} per class)')
        broken = []
        if check_images:
            missing = []
            progress = Progress(
                len(paths), f'[{name}] {split}: '
                f'{"decoding" if decode else "looking for"} '
                f'{len(paths)} images')
            for path in paths:
                if not osp.exists(path):
                    missing.append(path)
                elif decode:
                    try:
                        load_image(path)
                    except DataError as err:
                        broken.append((path, err.reason))
                progress.update()
            progress.finish()
            if missing:
                text += f', {len(missing)} MISSING (e.g. {missing[0]})'
            if broken:
                text += (f', {len(broken)} UNDECODABLE (e.g. '
                         f'{broken[0][0]})')
            if missing or broken:
                ok = False
                text += f'; images: {images_from}'
        lines.append(text)
        lines.extend(f'  UNDECODABLE {path}: {reason}'
                     for path, reason in broken)
    head = 'OK' if ok else 'PROBLEM'
    return [f'{head} {root} ({type_})'] + [f'  {line}' for line in lines], ok


def make_split(image_folder, out, ratios=(0.5, 0.2, 0.3), seed=1, force=False):
    """Write a CoOp split file for ``image_folder/<class>/*``.

    Classes are the sorted sub-folders (label = index); each class's sorted
    files are shuffled with ``random.Random(seed)`` and cut into
    ``round(n * ratios[0])`` train, ``round(n * ratios[1])`` val and the rest
    test images; each class needs at least one train and one test image.
    Only image files count (:data:`IMG_EXTENSIONS`, any case); hidden files
    (``.*``), sub-folders and other files are skipped.

    Returns:
        tuple[dict, list[str], int]: The split that was written, the
        skipped non-image files (``<class>/<name>``), and the number of
        skipped hidden files.
    """
    from mmprompt.datasets.transforms import IMG_EXTENSIONS
    from mmprompt.errors import ConfigError, DataError, PathNotFoundError
    if abs(sum(ratios) - 1) > 1e-6 or min(ratios) < 0:
        raise ConfigError(f'--ratios must be 3 non-negative numbers summing '
                          f'to 1, but got {list(ratios)}.')
    if not osp.isdir(image_folder):
        raise PathNotFoundError(f"image folder '{image_folder}' not found.")
    if osp.exists(out) and not force:
        raise FileExistsError(f"'{out}' exists; pass --force to replace it.")
    classes = sorted(
        d for d in os.listdir(image_folder)
        if osp.isdir(osp.join(image_folder, d)) and not d.startswith('.'))
    if not classes:
        raise DataError(f"'{image_folder}' has no class sub-folders; "
                        'expected FOLDER/<class>/<image>.')
    if len(classes) < 2:
        raise DataError(
            f"'{image_folder}' has one class sub-folder ('{classes[0]}'); "
            'classification needs at least two classes, each in its own '
            'FOLDER/<class>/ (is FOLDER one level too deep?).')
    rng = random.Random(seed)
    split = {'train': [], 'val': [], 'test': []}
    skipped, hidden = [], 0
    for label, name in enumerate(classes):
        files = []
        for f in sorted(os.listdir(osp.join(image_folder, name))):
            if f.startswith('.'):
                hidden += 1
            elif osp.isdir(osp.join(image_folder, name, f)):
                continue
            elif f.lower().endswith(IMG_EXTENSIONS):
                files.append(f)
            else:
                skipped.append(f'{name}/{f}')
        rng.shuffle(files)
        n_train = round(len(files) * ratios[0])
        n_val = round(len(files) * ratios[1])
        if n_train < 1 or len(files) - n_train - n_val < 1:
            raise DataError(
                f"class '{name}' has {len(files)} images, too few for one "
                f'train and one test image with ratios {list(ratios)}.')
        parts = (files[:n_train], files[n_train:n_train + n_val],
                 files[n_train + n_val:])
        for key, part in zip(split, parts):
            split[key].extend([f'{name}/{f}', label, name] for f in part)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(split, f, indent=4, separators=(',', ': '))
    return split, skipped, hidden


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('data_root', nargs='?', help='folder to check')
    parser.add_argument(
        '--datasets',
        nargs='+',
        choices=sorted(BENCHMARK),
        metavar='NAME',
        help='check only these: ' + ', '.join(BENCHMARK))
    parser.add_argument(
        '--no-image-check',
        action='store_true',
        help='only parse the split files')
    parser.add_argument(
        '--no-decode',
        action='store_true',
        help='check that the images exist, but do not '
        'decode them (much faster on large datasets)')
    parser.add_argument(
        '--make-split',
        metavar='FOLDER',
        help='write a split file for FOLDER/<class>/*')
    parser.add_argument('--out', help='the split file to write')
    parser.add_argument(
        '--ratios',
        type=float,
        nargs=3,
        default=(0.5, 0.2, 0.3),
        metavar=('TRAIN', 'VAL', 'TEST'))
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument(
        '--force', action='store_true', help='replace an existing --out file')
    args = parser.parse_args(argv)

    if args.make_split:
        if not args.out:
            parser.error('--make-split needs --out')
        try:
            split, skipped, hidden = make_split(args.make_split, args.out,
                                                args.ratios, args.seed,
                                                args.force)
        except (OSError, ValueError) as err:
            sys.exit(f'error: {err}')
        classes = len({entry[1] for entry in split['test']})
        print(f'wrote {args.out}: {classes} classes, ' +
              ', '.join(f'{len(v)} {k}' for k, v in split.items()) + ' images')
        if skipped or hidden:
            from mmprompt.datasets.transforms import IMG_EXTENSIONS
            print(f'skipped {len(skipped)} non-image files' +
                  (f" (e.g. '{skipped[0]}')" if skipped else '') +
                  f' and {hidden} hidden files; images are files ending in ' +
                  ', '.join(IMG_EXTENSIONS) + ' (any case).')
        return
    if not args.data_root:
        parser.error('give a data root to check, or --make-split')
    if not osp.isdir(args.data_root):
        what = 'is not a folder' if osp.exists(args.data_root) else \
            'does not exist'
        sys.exit(f"error: data root '{args.data_root}' {what}; give the "
                 'folder that holds the dataset folders (e.g. data, with '
                 f'data/dtd, data/eurosat, ...; see {COOP_DOC}).')

    # The datasets log what each split holds; the report says it already.
    from mmengine.logging import MMLogger
    if MMLogger.check_instance_created('check_coop_data'):
        MMLogger.get_instance('check_coop_data').setLevel('WARNING')
    else:
        MMLogger.get_instance('check_coop_data', log_level='WARNING')
    names = args.datasets or list(BENCHMARK)
    present = problems = 0
    for name in names:
        lines, ok = check(args.data_root, name, not args.no_image_check,
                          not args.no_decode)
        print(f'[{name}] ' + '\n'.join(lines), flush=True)
        present += ok is not None
        problems += ok is False
    print(f'\n{present} of {len(names)} datasets found under '
          f'{args.data_root}, {present - problems} usable.')
    if problems:
        sys.exit(1)


if __name__ == '__main__':
    main()
