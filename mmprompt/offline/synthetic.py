# Copyright (c) mmprompt contributors. All rights reserved.
"""A tiny procedurally drawn dataset in CoOp's format, for tests and demos.

Each class is a colour and a pattern (``'red striped'``, ``'blue dotted'``,
...) drawn on a dark background with a random period, phase, colour jitter
and pixel noise, so classes are easy to tell apart yet images differ. Read
it with :class:`~mmprompt.datasets.CoOpSynthetic`.

Unlike the procedural mini-DTD (:mod:`mmprompt.offline.procedural`), whose
textures a tiny CLIP was pretrained on, these images are a fast fixture:
32x32 by default, with any number of classes and any class names, for
tests that need a dataset on disk and not what a model learns from it.
Both write through :func:`~mmprompt.offline.writer.write_coop_dataset`.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .writer import write_coop_dataset

SYNTHETIC_SPLIT_FILE = 'split_zhou_Synthetic.json'

#: Foreground colours (RGB) of the default classes.
COLOURS: Dict[str, Tuple[int, int, int]] = {
    'red': (220, 40, 40),
    'green': (40, 190, 60),
    'blue': (50, 80, 230),
    'yellow': (235, 220, 50),
    'magenta': (220, 50, 200),
    'cyan': (50, 210, 220),
    'orange': (245, 140, 30),
    'purple': (120, 50, 170),
    'white': (240, 240, 240),
    'brown': (130, 80, 40),
}
#: Patterns of the default classes.
PATTERNS = ('striped', 'checkered', 'dotted', 'diagonal', 'ringed')


def default_class_styles(num_classes: int) -> List[Tuple[str, str, int]]:
    """Colour, pattern and scale level of each default class.

    Colours vary fastest and the pattern shifts by one every round of
    colours, so the first ``len(COLOURS) * len(PATTERNS)`` classes are all
    distinct (colour, pattern) pairs; beyond that the pattern scale changes.

    Args:
        num_classes (int): Number of classes.

    Returns:
        list[tuple[str, str, int]]: ``(colour, pattern, scale_level)``.
    """
    colours = list(COLOURS)
    per_level = len(colours) * len(PATTERNS)
    styles = []
    for idx in range(num_classes):
        level, k = divmod(idx, per_level)
        shift, c = divmod(k, len(colours))
        styles.append(
            (colours[c], PATTERNS[(c + shift) % len(PATTERNS)], level))
    return styles


def _pattern_mask(pattern: str, size: int, period: float, phase: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """A ``(size, size)`` float mask in [0, 1] of one pattern."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    y = y + phase[0]
    x = x + phase[1]
    if pattern == 'striped':
        mask = (y % period) < period / 2
    elif pattern == 'checkered':
        mask = ((y // (period / 2)) + (x // (period / 2))) % 2 == 0
    elif pattern == 'dotted':
        dy = (y % period) - period / 2
        dx = (x % period) - period / 2
        mask = dy**2 + dx**2 < (period * 0.3)**2
    elif pattern == 'diagonal':
        mask = ((x + y) % period) < period / 2
    elif pattern == 'ringed':
        cy, cx = size / 2 + rng.uniform(-3, 3, size=2)
        radius = np.sqrt((y - phase[0] - cy)**2 + (x - phase[1] - cx)**2)
        mask = (radius % period) < period / 2
    else:
        raise ValueError(f'Unknown pattern {pattern!r}.')
    return mask.astype(np.float32)


def _draw_image(colour: Tuple[int, int, int], pattern: str, level: int,
                size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one ``(size, size, 3)`` uint8 image of a class."""
    period = rng.uniform(5.0, 8.0) * (1.5**level) * size / 32
    phase = rng.uniform(0, period, size=2)
    mask = _pattern_mask(pattern, size, period, phase, rng)[..., None]
    fg = np.clip(np.array(colour) + rng.normal(0, 12, size=3), 0, 255)
    bg = rng.uniform(10, 50, size=3)
    image = bg * (1 - mask) + fg * mask
    image = image + rng.normal(0, 10, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_synthetic_coop_dataset(
    out_dir: str,
    num_classes: int = 10,
    images_per_class: Sequence[int] = (20, 4, 10),
    image_size: int = 32,
    seed: int = 0,
    class_names: Optional[Sequence[str]] = None,
    overwrite: bool = False,
) -> Dict[str, List[list]]:
    """Write a small synthetic dataset in CoOp's format.

    Writes ``out_dir/images/<folder>/<folder>_<i>.png`` (``<folder>`` is the
    class name with spaces turned into ``_``; ``i`` counts over the class's
    train, val and test images) and ``out_dir/split_zhou_Synthetic.json``
    (``{"train"|"val"|"test": [[rel_path, label, classname], ...]}``, as
    CoOp writes it). Everything is drawn from one
    ``np.random.default_rng(seed)``, so a seed always gives identical bytes.
    The files are written into a temporary folder next to ``out_dir`` that
    is renamed into place when complete (see
    :func:`~mmprompt.offline.writer.write_dataset_atomically`).

    Args:
        out_dir (str): Output folder; read it with
            :class:`~mmprompt.datasets.CoOpSynthetic`.
        num_classes (int): Number of classes. Defaults to 10.
        images_per_class (Sequence[int]): Train, val and test images per
            class. Defaults to ``(20, 4, 10)``.
        image_size (int): Side of the square images. Defaults to 32.
        seed (int): Seed of the drawing. Defaults to 0.
        class_names (Sequence[str], optional): Names of the classes, unique;
            the drawing style still follows the class index. Defaults to
            None, i.e. ``'<colour> <pattern>'`` such as ``'red striped'``.
        overwrite (bool): Replace ``out_dir/images`` and the split file if
            ``out_dir`` is not empty. Defaults to False.

    Returns:
        dict[str, list[list]]: The split written to the JSON file.

    Raises:
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is
            False.
        ValueError: For invalid counts or class names.
    """
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}.')
    if len(images_per_class) != 3 or images_per_class[0] < 1 or min(
            images_per_class) < 0:
        raise ValueError(
            'images_per_class must be (train >= 1, val >= 0, test >= 0), got '
            f'{tuple(images_per_class)}.')
    if image_size < 8:
        raise ValueError(f'image_size must be >= 8, got {image_size}.')
    styles = default_class_styles(num_classes)
    if class_names is None:
        class_names = [
            f'{colour} {pattern}' + (f' {level + 1}x' * bool(level))
            for colour, pattern, level in styles
        ]
    class_names = list(class_names)
    if len(class_names) != num_classes or len(set(class_names)) != num_classes:
        raise ValueError(
            f'class_names must be {num_classes} unique names, got '
            f'{class_names}.')
    folders = [name.replace(' ', '_') for name in class_names]
    bad = [
        name for name in folders
        if not name or '/' in name or '\\' in name or name in ('.', '..')
    ]
    if bad or len(set(folders)) != num_classes:
        raise ValueError(f'class_names must give unique folder names without '
                         f'path separators, got {class_names}.')

    def samples():
        rng = np.random.default_rng(seed)
        n_train, n_val, n_test = images_per_class
        keys = ['train'] * n_train + ['val'] * n_val + ['test'] * n_test
        for label, (name, folder,
                    (colour, pattern,
                     level)) in enumerate(zip(class_names, folders, styles)):
            for idx, key in enumerate(keys):
                image = _draw_image(COLOURS[colour], pattern, level,
                                    image_size, rng)
                yield key, f'{folder}/{folder}_{idx}.png', label, name, image

    # Through a temporary folder renamed into place: an interrupted run
    # leaves no half-written dataset.
    return write_coop_dataset(out_dir, SYNTHETIC_SPLIT_FILE, samples(),
                              overwrite)
