# Copyright (c) mmprompt contributors. All rights reserved.
"""The offline world: generators that write datasets on disk.

Nothing here is a dataset a config names (those are
:class:`~mmprompt.datasets.CoOpProceduralDTD` and
:class:`~mmprompt.datasets.CoOpSynthetic`, which read what these write);
these are the fixtures of the tests, the demo and the tiny CLIP's
pretraining, importable without :mod:`mmprompt.datasets`:

* :mod:`~mmprompt.offline.procedural`: the procedural mini-DTD, 29 texture
  classes named after DTD categories in a ``'pretrain'`` and a
  ``'downstream'`` style (:func:`render_texture`), written in CoOp's layout
  by :func:`make_procedural_dataset`. The shipped tiny CLIP was pretrained
  on these drawings, and the learning tests run on them.
* :mod:`~mmprompt.offline.synthetic`: a tiny, fast dataset of coloured
  patterns with any number of classes and any class names
  (:func:`make_synthetic_coop_dataset`), for tests that need files on disk.
* :mod:`~mmprompt.offline.writer`: the one writer both go through
  (:func:`write_coop_dataset`): PNG images and a ``split_zhou_*.json`` in a
  temporary folder renamed into place (:func:`write_dataset_atomically`).
"""
from .procedural import (COLOURS, FIRST_USE_ARGS, PROCEDURAL_CLASSES,
                         PROCEDURAL_SPLIT_FILE, SCALES, STYLES, class_folder,
                         ensure_procedural_dataset, generator_command,
                         make_procedural_dataset, render_texture)
from .synthetic import (SYNTHETIC_SPLIT_FILE, default_class_styles,
                        make_synthetic_coop_dataset)
from .writer import write_coop_dataset, write_dataset_atomically, write_split

__all__ = [
    'COLOURS', 'FIRST_USE_ARGS', 'PROCEDURAL_CLASSES', 'PROCEDURAL_SPLIT_FILE',
    'SCALES', 'STYLES', 'class_folder', 'ensure_procedural_dataset',
    'generator_command', 'make_procedural_dataset', 'render_texture',
    'SYNTHETIC_SPLIT_FILE', 'default_class_styles',
    'make_synthetic_coop_dataset', 'write_coop_dataset',
    'write_dataset_atomically', 'write_split'
]
