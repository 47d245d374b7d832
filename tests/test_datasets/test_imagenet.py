# Copyright (c) mmprompt contributors. All rights reserved.
"""ImageNet and its variants on fake folder layouts."""
import os
import os.path as osp

import pytest

from mmprompt.registry import DATASETS

WNIDS = [
    'n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475',
    'n01496331'
]
NAMES = [
    'tench', 'goldfish', 'great white shark', 'tiger shark',
    'hammerhead shark', 'electric ray'
]


def _touch(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


def _classnames(root, wnids=WNIDS, names=NAMES):
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'classnames.txt'), 'w') as f:
        f.writelines(f'{w} {n}\n' for w, n in zip(wnids, names))


def _folders(root, folders, count):
    # Written in reverse order: labels and files must come out sorted.
    for folder in reversed(folders):
        for i in reversed(range(count)):
            _touch(osp.join(root, folder, f'img_{i:03d}.JPEG'))


@pytest.fixture
def imagenet(tmp_path):
    root = str(tmp_path / 'imagenet')
    _classnames(root)
    _folders(osp.join(root, 'images', 'train'), WNIDS, 18)
    _folders(osp.join(root, 'images', 'val'), WNIDS, 3)
    return root


def test_imagenet_follows_the_protocol(imagenet):
    train = DATASETS.build(
        dict(
            type='CoOpImageNet',
            data_root=imagenet,
            num_shots=16,
            subsample='base'))
    assert train.metainfo['classes'] == tuple(NAMES[:3])
    assert train.metainfo['new_classes'] == tuple(NAMES[3:])
    assert train.metainfo['template'] == 'a photo of a {}.'
    assert len(train) == 3 * 16
    assert train.get_data_info(0)['img_path'].startswith(
        osp.join(imagenet, 'images', 'train', WNIDS[0]))
    # No val split in the protocol: val = the whole test split (ImageNet's
    # val folder), never sampled.
    val = DATASETS.build(
        dict(
            type='CoOpImageNet', data_root=imagenet, split='val',
            num_shots=16))
    test = DATASETS.build(
        dict(type='CoOpImageNet', data_root=imagenet, split='test'))
    assert len(val) == len(test) == 6 * 3
    assert [val.get_data_info(i) for i in range(18)] == \
        [test.get_data_info(i) for i in range(18)]
    assert test.get_data_info(0)['img_path'] == osp.join(
        imagenet, 'images', 'val', WNIDS[0], 'img_000.JPEG')
    assert list(
        test.get_gt_labels()) == [y for y in range(6) for _ in range(3)]


def test_imagenet_shots_do_not_depend_on_listing_order(imagenet, tmp_path):
    other = str(tmp_path / 'other')
    _classnames(other)
    # Same files, created in the opposite order.
    for split, count in (('train', 18), ('val', 3)):
        for folder in WNIDS:
            for i in range(count):
                _touch(
                    osp.join(other, 'images', split, folder,
                             f'img_{i:03d}.JPEG'))
    a, b = (
        DATASETS.build(
            dict(type='CoOpImageNet', data_root=root, num_shots=4, seed=2))
        for root in (imagenet, other))
    assert [
        osp.relpath(a.get_data_info(i)['img_path'], imagenet)
        for i in range(len(a))
    ] == [
        osp.relpath(b.get_data_info(i)['img_path'], other)
        for i in range(len(b))
    ]


def test_imagenet_errors(imagenet, tmp_path):
    os.rename(
        osp.join(imagenet, 'images', 'val'),
        osp.join(imagenet, 'images', 'validation'))
    with pytest.raises(
            FileNotFoundError,
            match=r"images/val' not found; "
            r'data_root must hold images/train/<wnid>/'):
        DATASETS.build(dict(type='CoOpImageNet', data_root=imagenet))
    root = str(tmp_path / 'short')
    _classnames(root, WNIDS[:5], NAMES[:5])
    _folders(osp.join(root, 'images', 'train'), WNIDS, 2)
    _folders(osp.join(root, 'images', 'val'), WNIDS, 2)
    with pytest.raises(
            ValueError,
            match=r"class folder 'n01496331' is not "
            r'in .*classnames.txt'):
        DATASETS.build(dict(type='CoOpImageNet', data_root=root))
    with pytest.raises(FileNotFoundError, match=r"classnames.txt' not found"):
        DATASETS.build(
            dict(
                type='CoOpImageNetSketch',
                data_root=str(tmp_path / 'short' / 'images')))


def test_imagenet_v2_labels_are_folder_indices(tmp_path):
    root = str(tmp_path / 'imagenetv2')
    _classnames(root)
    _folders(
        osp.join(root, 'imagenetv2-matched-frequency-format-val'),
        [str(i) for i in range(6)], 2)
    data = DATASETS.build(
        dict(type='CoOpImageNetV2', data_root=root, split='test'))
    assert data.metainfo['classes'] == tuple(NAMES)
    assert list(
        data.get_gt_labels()) == [y for y in range(6) for _ in range(2)]


@pytest.mark.parametrize('type_,image_dir', [('CoOpImageNetSketch', 'images'),
                                             ('CoOpImageNetA', 'imagenet-a'),
                                             ('CoOpImageNetR', 'imagenet-r')])
def test_wnid_variants_keep_their_class_subset(type_, image_dir, tmp_path):
    root = str(tmp_path / 'variant')
    _classnames(root)  # ImageNet's full list
    subset = [WNIDS[1], WNIDS[4], WNIDS[5]]
    _folders(osp.join(root, image_dir), subset, 2)
    _touch(osp.join(root, image_dir, 'README.txt'))
    data = DATASETS.build(dict(type=type_, data_root=root, split='test'))
    assert data.metainfo['classes'] == (NAMES[1], NAMES[4], NAMES[5])
    assert len(data) == 6
    assert data.metainfo['template'] == 'a photo of a {}.'


def test_imagenet_has_500_base_and_500_new_classes(tmp_path):
    root = str(tmp_path / 'imagenet')
    wnids = [f'n{i:08d}' for i in range(1000)]
    _classnames(root, wnids, [f'class {i}' for i in range(1000)])
    _folders(osp.join(root, 'images', 'train'), wnids, 2)
    _folders(osp.join(root, 'images', 'val'), wnids, 1)
    base = DATASETS.build(
        dict(
            type='CoOpImageNet', data_root=root, num_shots=1,
            subsample='base'))
    assert len(base.metainfo['classes']) == len(base) == 500
    assert base.metainfo['classes'][-1] == 'class 499'
    new = DATASETS.build(
        dict(
            type='CoOpImageNet', data_root=root, split='test',
            subsample='new'))
    assert new.metainfo['classes'][0] == 'class 500'
    assert sorted(set(new.get_gt_labels())) == list(range(500))
