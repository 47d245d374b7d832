# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/dataset_converters/check_coop_data.py on partial data roots."""
import importlib.util
import io
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmprompt.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'check_coop_data.py')


def _tool(*args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, TOOL] + list(args),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)


def _main(*args):
    """Run the tool's main() in this process; return its exit status."""
    spec = importlib.util.spec_from_file_location('check_coop_data', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.main(list(args))
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            sys.stderr.write(exit_.code + '\n')
            return 1
        return exit_.code
    return 0


def _touch(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


def _image(path):
    """A tiny real JPEG (an empty file no longer passes the check)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.full((4, 6, 3), 100, np.uint8)).save(path)


def _dtd(root, classes=3, per_split=(4, 2, 3)):
    split = {}
    for key, n in zip(('train', 'val', 'test'), per_split):
        split[key] = [[f'c{c}/{key}{i}.jpg', c, f'c{c}']
                      for c in range(classes) for i in range(n)]
        for entry in split[key]:
            _image(osp.join(root, 'images', entry[0]))
    with open(osp.join(root, 'split_zhou_DescribableTextures.json'), 'w') as f:
        json.dump(split, f)


def test_report_on_a_partial_data_root(tmp_path, capsys):
    data = str(tmp_path / 'data')
    _dtd(osp.join(data, 'dtd'))
    os.remove(osp.join(data, 'dtd', 'images', 'c1', 'test2.jpg'))
    os.makedirs(osp.join(data, 'eurosat'))
    with open(osp.join(data, 'eurosat', 'split_zhou_EuroSAT.json'), 'w') as f:
        f.write('{"train": [')  # truncated download
    proc = _tool(data)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr[-2000:]
    assert f'[dtd] PROBLEM {data}/dtd (CoOpDTD)' in out
    assert '  train: 12 images, 3 classes (4-4 per class)' in out
    assert '  val: 6 images, 3 classes (2-2 per class)' in out
    assert (f'  test: 9 images, 3 classes (3-3 per class), 1 MISSING '
            f'(e.g. {data}/dtd/images/c1/test2.jpg); images: '
            'https://www.robots.ox.ac.uk/~vgg/data/dtd/') in out
    assert f"[eurosat] PROBLEM {data}/eurosat: CoOpEuroSAT: split file " \
        f"'{data}/eurosat/split_zhou_EuroSAT.json' is not valid JSON" in out
    assert f'[imagenet] MISSING folder {data}/imagenet' in out
    assert 'split:  classnames.txt: https://github.com/KaiyangZhou/CoOp/' \
        'blob/main/DATASETS.md#imagenet' in out
    assert f'2 of 15 datasets found under {data}, 0 usable.' in out
    # stderr is not a terminal: a few progress lines, no carriage-return bar.
    assert '\r' not in proc.stderr
    assert '[dtd] test: decoding 9 images ...\n' in proc.stderr
    assert '  9/9 (100 %)\n' in proc.stderr
    assert len(proc.stderr.splitlines()) < 40, proc.stderr[-2000:]

    # Fixed, and only the datasets asked for: success.
    _image(osp.join(data, 'dtd', 'images', 'c1', 'test2.jpg'))
    assert _main(data, '--datasets', 'dtd') == 0
    out = capsys.readouterr().out
    assert f'[dtd] OK {data}/dtd (CoOpDTD)' in out
    assert '1 of 1 datasets found' in out


def test_make_split_for_your_own_folder(tmp_path, capsys):
    images = tmp_path / 'mine' / 'images'
    for name, n in (('red_fox', 10), ('arctic_fox', 7)):
        for i in range(n):
            _touch(str(images / name / f'{i}.jpg'))
    out = str(tmp_path / 'mine' / 'split_mine.json')
    assert _main('--make-split', str(images), '--out', out) == 0
    printed = capsys.readouterr().out
    assert 'wrote' in printed and '2 classes' in printed
    assert 'skipped' not in printed
    with open(out) as f:
        split = json.load(f)
    # Sorted classes: arctic_fox = 0 (7 images: 4 / 1 / 2), red_fox = 1
    # (10 images: 5 / 2 / 3).
    assert [len(split[k]) for k in ('train', 'val', 'test')] == [9, 3, 5]
    paths = [e[0] for k in split for e in split[k]]
    assert len(set(paths)) == 17
    assert {tuple(e[1:])
            for e in split['test']} == {(0, 'arctic_fox'), (1, 'red_fox')}
    # The same seed writes the same file; an existing file needs --force.
    assert _main('--make-split', str(images), '--out', out) == 1
    assert 'exists; pass --force to replace it.' in capsys.readouterr().err
    again = str(tmp_path / 'again.json')
    assert _main('--make-split', str(images), '--out', again) == 0
    with open(again) as f:
        assert json.load(f) == split
    # The split plugs into CoOpDataset without code.
    dataset = DATASETS.build(
        dict(
            type='CoOpDataset',
            data_root=str(tmp_path / 'mine'),
            split_file='split_mine.json',
            num_shots=4,
            subsample='base'))
    assert dataset.metainfo['classes'] == ('arctic_fox', )
    assert len(dataset) == 4


def test_make_split_errors(tmp_path, capsys):
    assert _main('--make-split', str(tmp_path / 'none'), '--out',
                 str(tmp_path / 's.json')) == 1
    assert "image folder '" in capsys.readouterr().err
    _touch(str(tmp_path / 'few' / 'a' / '0.jpg'))
    _touch(str(tmp_path / 'few' / 'a' / 'README.md'))
    assert _main('--make-split', str(tmp_path / 'few'), '--out',
                 str(tmp_path / 's.json')) == 1
    assert "has one class sub-folder ('a'); classification needs at least " \
        'two classes' in capsys.readouterr().err
    _touch(str(tmp_path / 'few' / 'b' / '0.jpg'))
    assert _main('--make-split', str(tmp_path / 'few'), '--out',
                 str(tmp_path / 's.json')) == 1
    assert "class 'a' has 1 images, too few for one train and one test " \
        'image' in capsys.readouterr().err
    assert _main('--make-split', str(tmp_path / 'few')) == 2
    assert '--make-split needs --out' in capsys.readouterr().err


def test_undecodable_images_are_listed(tmp_path, capsys):
    data = str(tmp_path / 'data')
    images = osp.join(data, 'dtd', 'images')
    _dtd(osp.join(data, 'dtd'))
    with open(osp.join(images, 'c0', 'train0.jpg'), 'rb') as f:
        content = f.read()
    open(osp.join(images, 'c0', 'train1.jpg'), 'wb').close()  # 0 bytes
    with open(osp.join(images, 'c1', 'train0.jpg'), 'wb') as f:
        f.write(content[:len(content) // 2])  # an interrupted download
    with open(osp.join(images, 'c2', 'test0.jpg'), 'w') as f:
        f.write('<html>404 Not Found</html>')
    assert _main(data, '--datasets', 'dtd') == 1
    out = capsys.readouterr().out
    assert f'[dtd] PROBLEM {data}/dtd (CoOpDTD)' in out
    assert (f'  train: 12 images, 3 classes (4-4 per class), 2 UNDECODABLE '
            f'(e.g. {images}/c0/train1.jpg); images: https://') in out
    assert (f'    UNDECODABLE {images}/c0/train1.jpg: empty file (0 bytes)'
            in out)
    assert f'    UNDECODABLE {images}/c1/train0.jpg: OSError: ' in out
    assert '  val: 6 images, 3 classes (2-2 per class)\n' in out
    assert (f'  test: 9 images, 3 classes (3-3 per class), 1 UNDECODABLE '
            f'(e.g. {images}/c2/test0.jpg)') in out
    assert (f'    UNDECODABLE {images}/c2/test0.jpg: not in an image format '
            "PIL reads; the file begins b'<html>404 Not Fo'\n") in out
    assert '1 of 1 datasets found under' in out and '0 usable' in out
    # --no-decode only checks that the files are there.
    assert _main(data, '--datasets', 'dtd', '--no-decode') == 0
    out = capsys.readouterr().out
    assert f'[dtd] OK {data}/dtd (CoOpDTD)' in out
    assert 'UNDECODABLE' not in out


@pytest.mark.parametrize('kind', ['missing', 'file'])
def test_a_data_root_that_is_not_a_folder(tmp_path, capsys, kind):
    root = tmp_path / 'data'
    if kind == 'file':
        root.write_text('')
    assert _main(str(root)) == 1
    captured = capsys.readouterr()
    what = 'does not exist' if kind == 'missing' else 'is not a folder'
    assert captured.err == (
        f"error: data root '{root}' {what}; give the folder that holds the "
        'dataset folders (e.g. data, with data/dtd, data/eurosat, ...; see '
        'https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md).\n')
    assert captured.out == ''


def test_make_split_takes_only_image_files(tmp_path, capsys):
    images = tmp_path / 'images'
    for name in ('a/0.jpg', 'a/1.JPEG', 'a/2.png', 'a/3.webp', 'b/0.jpg',
                 'b/1.Jpg', 'b/2.tif', 'b/3.bmp', 'a/notes.txt', 'b/Thumbs.db',
                 'a/.DS_Store', 'b/._0.jpg', 'a/sub/4.jpg'):
        _touch(str(images / name))
    out = str(tmp_path / 'split.json')
    assert _main('--make-split', str(images), '--out', out) == 0
    printed = capsys.readouterr().out
    assert 'wrote ' + out + ': 2 classes, 4 train, 2 val, 2 test images' \
        in printed
    assert ("skipped 2 non-image files (e.g. 'a/notes.txt') and 2 hidden "
            'files; images are files ending in .jpg, .jpeg, .png, .ppm, '
            '.bmp, .pgm, .tif, .tiff, .webp (any case).') in printed
    with open(out) as f:
        split = json.load(f)
    assert sorted(e[0] for k in split for e in split[k]) == [
        'a/0.jpg', 'a/1.JPEG', 'a/2.png', 'a/3.webp', 'b/0.jpg', 'b/1.Jpg',
        'b/2.tif', 'b/3.bmp'
    ]


def test_progress_lines_without_a_terminal():
    spec = importlib.util.spec_from_file_location('check_coop_data', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stream = io.StringIO()  # not a terminal
    progress = module.Progress(1000, 'x: decoding 1000 images', stream)
    for _ in range(1000):
        progress.update()
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines == ['x: decoding 1000 images ...'] + [
        f'  {n}/1000 ({n // 10} %)' for n in range(250, 1001, 250)
    ]
    # Slow loops also report every `interval` seconds.
    stream = io.StringIO()
    progress = module.Progress(50, 'y', stream, interval=0)
    for _ in range(3):
        progress.update()
    assert stream.getvalue().splitlines() == [
        'y ...', '  1/50 (2 %)', '  2/50 (4 %)', '  3/50 (6 %)'
    ]

    class Terminal(io.StringIO):

        def isatty(self):
            return True

    stream = Terminal()
    progress = module.Progress(3, 'z', stream)
    for _ in range(3):
        progress.update()
    progress.finish()
    assert stream.getvalue().startswith('z\n[') and '\r' in \
        stream.getvalue()
