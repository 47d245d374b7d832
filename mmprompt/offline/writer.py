# Copyright (c) mmprompt contributors. All rights reserved.
"""Write a generated dataset in CoOp's layout, complete or not at all.

Both generators of the offline world (:mod:`mmprompt.offline.procedural`
and :mod:`mmprompt.offline.synthetic`) write through
:func:`write_coop_dataset`: they only draw the images, and this module
saves them, writes the ``split_zhou_*.json`` file as CoOp formats it and
renames the finished folder into place (:func:`write_dataset_atomically`).
"""
import json
import os
import os.path as osp
import shutil
import uuid
from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np
from PIL import Image

#: The splits of a CoOp split file, in the order CoOp writes them.
SPLITS = ('train', 'val', 'test')
#: ``(split, rel_path, label, classname, image)``: one image to write;
#: ``image`` is RGB uint8 of shape ``(H, W, 3)``.
Sample = Tuple[str, str, int, str, np.ndarray]


def write_split(split: dict, split_path: str) -> None:
    """Write a ``split_zhou_*.json`` file as CoOp formats it."""
    with open(split_path, 'w') as f:
        json.dump(split, f, indent=4, separators=(',', ': '))


def _not_empty_error(out_dir: str) -> FileExistsError:
    return FileExistsError(
        f"'{out_dir}' is not empty; choose an empty or new folder, or "
        'pass overwrite=True (replaces its images/ and split file).')


def _move_into(tmp_dir: str, out_dir: str, split_file: str) -> None:
    """Replace ``out_dir``'s ``images/`` and split file by ``tmp_dir``'s.

    The old split file goes first and the new one comes last, so an
    interrupted replacement never leaves a split file next to images it
    does not describe.
    """
    split_path = osp.join(out_dir, split_file)
    image_root = osp.join(out_dir, 'images')
    if osp.lexists(split_path):
        os.remove(split_path)
    shutil.rmtree(image_root, ignore_errors=True)
    shutil.move(osp.join(tmp_dir, 'images'), image_root)
    shutil.move(osp.join(tmp_dir, split_file), split_path)


def write_dataset_atomically(out_dir: str,
                             split_file: str,
                             write: Callable[[str, str], dict],
                             overwrite: bool = False) -> dict:
    """Write a generated dataset so that no half-written folder remains.

    ``write(split_path, image_root)`` writes the split file and the images
    into a new temporary folder next to ``out_dir``
    (``.<name>.tmp-<pid>-<random>``). Only when it has finished is that
    folder renamed to ``out_dir`` (one atomic ``os.rename``), so a process
    killed while writing leaves ``out_dir`` absent (and at most a stale
    temporary folder, which may be deleted), never a folder without its
    split file. An empty ``out_dir`` is replaced the same way; a non-empty
    one only with ``overwrite`` (then its ``images/`` and split file are
    replaced, other files are kept).

    When two processes (e.g. the ranks of a distributed run) write the same
    ``out_dir`` at once, the first rename wins; the other process removes its
    temporary folder and gets a :class:`FileExistsError`, after which the
    winner's complete dataset is in place.

    Args:
        out_dir (str): The dataset root to write.
        split_file (str): Name of the split file in it.
        write (Callable[[str, str], dict]): Writes the dataset given the
            split file's path and the image folder, and returns the split.
        overwrite (bool): Allow a non-empty ``out_dir``. Defaults to False.

    Returns:
        dict: What ``write`` returned.

    Raises:
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is False
            (also when another process filled it meanwhile), or it is a
            file.
    """
    if osp.lexists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(
            f"'{out_dir}' exists and is not a folder; choose a new folder.")
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise _not_empty_error(out_dir)
    target = osp.abspath(out_dir)
    parent = osp.dirname(target)
    os.makedirs(parent, exist_ok=True)
    # os.mkdir (unlike tempfile.mkdtemp) honours the umask, so the renamed
    # folder gets the permissions of any other new folder.
    tmp_dir = osp.join(
        parent, f'.{osp.basename(target)}.tmp-{os.getpid()}-'
        f'{uuid.uuid4().hex[:8]}')
    os.mkdir(tmp_dir)
    try:
        result = write(
            osp.join(tmp_dir, split_file), osp.join(tmp_dir, 'images'))
        try:
            # Atomic; replaces a missing or empty folder (POSIX).
            os.rename(tmp_dir, target)
            return result
        except OSError:
            if not osp.isdir(target):
                raise
        if os.listdir(target) and not overwrite:
            # Another writer's rename came first: keep its dataset.
            raise _not_empty_error(out_dir)
        # Overwrite, or an empty folder a rename cannot replace (a mount
        # point): move the contents instead.
        _move_into(tmp_dir, target, split_file)
        return result
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_coop_dataset(out_dir: str,
                       split_file: str,
                       samples: Iterable[Sample],
                       overwrite: bool = False) -> Dict[str, List[list]]:
    """Write drawn images and their split file in CoOp's layout.

    Saves every ``(split, rel_path, label, classname, image)`` of
    ``samples`` as the PNG ``out_dir/images/<rel_path>`` and lists it as
    ``[rel_path, label, classname]`` in ``split`` of
    ``out_dir/<split_file>`` (``{"train"|"val"|"test": [...]}``, in the
    order drawn), all through :func:`write_dataset_atomically`. ``samples``
    is consumed once, inside the temporary folder, so a lazy iterator draws
    nothing when ``out_dir`` is refused.

    Args:
        out_dir (str): The dataset root to write.
        split_file (str): Name of the split file, e.g.
            ``'split_zhou_ProceduralDTD.json'``.
        samples (Iterable[tuple]): The images to write; see :data:`Sample`.
        overwrite (bool): Allow a non-empty ``out_dir`` (its ``images/``
            and split file are replaced). Defaults to False.

    Returns:
        dict[str, list[list]]: The split written to the JSON file.

    Raises:
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is
            False.
    """

    def write(split_path: str, image_root: str) -> Dict[str, List[list]]:
        split: Dict[str, List[list]] = {key: [] for key in SPLITS}
        for key, rel_path, label, classname, image in samples:
            path = osp.join(image_root, rel_path)
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(image).save(path)
            split[key].append([rel_path, label, classname])
        write_split(split, split_path)
        return split

    return write_dataset_atomically(out_dir, split_file, write, overwrite)
