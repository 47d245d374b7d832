# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/dataset_converters/check_coop_data.py on partial data roots."""
import json
import os
import os.path as osp
import subprocess
import sys

from mmprompt.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'check_coop_data.py')


def _tool(*args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
    return subprocess.run([sys.executable, TOOL] + list(args), cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=300)


def _touch(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


def _dtd(root, classes=3, per_split=(4, 2, 3)):
    split = {}
    for key, n in zip(('train', 'val', 'test'), per_split):
        split[key] = [[f'c{c}/{key}{i}.jpg', c, f'c{c}']
                      for c in range(classes) for i in range(n)]
        for entry in split[key]:
            _touch(osp.join(root, 'images', entry[0]))
    with open(osp.join(root, 'split_zhou_DescribableTextures.json'),
              'w') as f:
        json.dump(split, f)


def test_report_on_a_partial_data_root(tmp_path):
    data = str(tmp_path / 'data')
    _dtd(osp.join(data, 'dtd'))
    os.remove(osp.join(data, 'dtd', 'images', 'c1', 'test2.jpg'))
    os.makedirs(osp.join(data, 'eurosat'))
    with open(osp.join(data, 'eurosat', 'split_zhou_EuroSAT.json'),
              'w') as f:
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

    # Fixed, and only the datasets asked for: success.
    _touch(osp.join(data, 'dtd', 'images', 'c1', 'test2.jpg'))
    proc = _tool(data, '--datasets', 'dtd')
    assert proc.returncode == 0, proc.stdout
    assert f'[dtd] OK {data}/dtd (CoOpDTD)' in proc.stdout
    assert '1 of 1 datasets found' in proc.stdout


def test_make_split_for_your_own_folder(tmp_path):
    images = tmp_path / 'mine' / 'images'
    for name, n in (('red_fox', 10), ('arctic_fox', 7)):
        for i in range(n):
            _touch(str(images / name / f'{i}.jpg'))
    out = str(tmp_path / 'mine' / 'split_mine.json')
    proc = _tool('--make-split', str(images), '--out', out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'wrote' in proc.stdout and '2 classes' in proc.stdout
    with open(out) as f:
        split = json.load(f)
    # Sorted classes: arctic_fox = 0 (7 images: 4 / 1 / 2), red_fox = 1
    # (10 images: 5 / 2 / 3).
    assert [len(split[k]) for k in ('train', 'val', 'test')] == [9, 3, 5]
    paths = [e[0] for k in split for e in split[k]]
    assert len(set(paths)) == 17
    assert {tuple(e[1:]) for e in split['test']} == {(0, 'arctic_fox'),
                                                     (1, 'red_fox')}
    # The same seed writes the same file; an existing file needs --force.
    assert _tool('--make-split', str(images), '--out', out).returncode == 1
    again = str(tmp_path / 'again.json')
    _tool('--make-split', str(images), '--out', again)
    with open(again) as f:
        assert json.load(f) == split
    # The split plugs into CoOpDataset without code.
    dataset = DATASETS.build(
        dict(type='CoOpDataset', data_root=str(tmp_path / 'mine'),
             split_file='split_mine.json', num_shots=4, subsample='base'))
    assert dataset.metainfo['classes'] == ('arctic_fox', )
    assert len(dataset) == 4


def test_make_split_errors(tmp_path):
    proc = _tool('--make-split', str(tmp_path / 'none'), '--out',
                 str(tmp_path / 's.json'))
    assert proc.returncode == 1 and "image folder '" in proc.stderr
    _touch(str(tmp_path / 'few' / 'a' / '0.jpg'))
    proc = _tool('--make-split', str(tmp_path / 'few'), '--out',
                 str(tmp_path / 's.json'))
    assert "class 'a' has 1 images, too few for one train and one test " \
        'image' in proc.stderr
    proc = _tool('--make-split', str(tmp_path / 'few'))
    assert proc.returncode == 2 and '--make-split needs --out' in proc.stderr
