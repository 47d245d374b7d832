# Copyright (c) mmprompt contributors. All rights reserved.
"""The CoOp benchmark datasets on fake layouts written in temp dirs."""
import json
import os
import os.path as osp

import pytest

from mmprompt.registry import DATASETS

# (type, split file, image dir, dataset_name, template)
SPLIT_DATASETS = [
    ('CoOpCaltech101', 'split_zhou_Caltech101.json', '101_ObjectCategories',
     'Caltech101', 'a photo of a {}.'),
    ('CoOpOxfordPets', 'split_zhou_OxfordPets.json', 'images', 'OxfordPets',
     'a photo of a {}, a type of pet.'),
    ('CoOpStanfordCars', 'split_zhou_StanfordCars.json', '', 'StanfordCars',
     'a photo of a {}.'),
    ('CoOpOxfordFlowers', 'split_zhou_OxfordFlowers.json', 'jpg',
     'OxfordFlowers', 'a photo of a {}, a type of flower.'),
    ('CoOpFood101', 'split_zhou_Food101.json', 'images', 'Food101',
     'a photo of {}, a type of food.'),
    ('CoOpSUN397', 'split_zhou_SUN397.json', 'SUN397', 'SUN397',
     'a photo of a {}.'),
    ('CoOpEuroSAT', 'split_zhou_EuroSAT.json', '2750', 'EuroSAT',
     'a centered satellite photo of {}.'),
    ('CoOpUCF101', 'split_zhou_UCF101.json', 'UCF-101-midframes', 'UCF101',
     'a photo of a person doing {}.'),
]


def _touch(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    open(path, 'wb').close()


def write_split_layout(root,
                       split_file,
                       image_dir,
                       classnames,
                       counts=(18, 2, 3)):
    """A CoOp split file and (empty) image files for it."""
    split = {}
    for key, count in zip(('train', 'val', 'test'), counts):
        entries = []
        for label, name in enumerate(classnames):
            for i in range(count):
                rel = f'{name.replace(" ", "_")}/{key}_{i}.jpg'
                entries.append([rel, label, name])
                _touch(osp.join(root, image_dir, rel))
        split[key] = entries
    with open(osp.join(root, split_file), 'w') as f:
        json.dump(split, f)


@pytest.mark.parametrize(
    'spec', SPLIT_DATASETS, ids=[s[0] for s in SPLIT_DATASETS])
def test_split_datasets_read_their_layout(spec, tmp_path):
    type_, split_file, image_dir, dataset_name, template = spec
    classnames = [f'class {i}' for i in range(7)]
    root = str(tmp_path / 'data')
    write_split_layout(root, split_file, image_dir, classnames)
    train = DATASETS.build(
        dict(type=type_, data_root=root, num_shots=16, subsample='base'))
    assert len(train) == 4 * 16  # ceil(7 / 2) base classes, 16 shots
    assert train.metainfo['classes'] == tuple(classnames[:4])
    assert train.metainfo['new_classes'] == tuple(classnames[4:])
    assert train.metainfo['template'] == template
    assert train.metainfo['dataset_name'] == dataset_name
    path = train.get_data_info(0)['img_path']
    assert osp.normpath(path).startswith(
        osp.normpath(osp.join(root, image_dir)))
    test = DATASETS.build(
        dict(type=type_, data_root=root, split='test', subsample='new'))
    assert len(test) == 3 * 3
    assert set(test.get_gt_labels()) == {0, 1, 2}


def test_missing_split_file_names_the_file(tmp_path):
    os.makedirs(tmp_path / 'pets')
    with pytest.raises(
            FileNotFoundError,
            match=r"CoOpOxfordPets: split file .*"
            r"split_zhou_OxfordPets.json' not found"):
        DATASETS.build(
            dict(type='CoOpOxfordPets', data_root=str(tmp_path / 'pets')))


@pytest.mark.parametrize('type_,raw,clean', [
    ('CoOpCaltech101', [
        'airplanes', 'Faces', 'Leopards', 'Motorbikes', 'accordion'
    ], ['airplane', 'face', 'leopard', 'motorbike', 'accordion']),
    ('CoOpEuroSAT', ['AnnualCrop', 'Highway', 'SeaLake', 'Forest'],
     ['Annual Crop Land', 'Highway or Road', 'Sea or Lake', 'Forest']),
    ('CoOpUCF101', ['ApplyEyeMakeup', 'Apply_Lipstick', 'YoYo'
                    ], ['Apply_Eye_Makeup', 'Apply_Lipstick', 'Yo_Yo']),
])
def test_class_name_rules(type_, raw, clean, tmp_path):
    cls = DATASETS.get(type_)
    assert [cls.clean_classname(name) for name in raw] == clean
    # Idempotent: CoOp's split files already hold the cleaned names.
    assert [cls.clean_classname(name) for name in clean] == clean
    spec = next(s for s in SPLIT_DATASETS if s[0] == type_)
    root = str(tmp_path / 'data')
    write_split_layout(root, spec[1], spec[2], raw)
    dataset = DATASETS.build(dict(type=type_, data_root=root, split='test'))
    assert list(dataset.metainfo['classes']) == clean


def write_aircraft(root, variants, counts=(17, 2, 3), drop=None):
    with open(osp.join(root, 'variants.txt'), 'w') as f:
        f.write('\n'.join(variants) + '\n')
    image = 1000
    for key, count in zip(('train', 'val', 'test'), counts):
        if key == drop:
            continue
        lines = []
        for variant in variants:
            for _ in range(count):
                lines.append(f'{image:07d} {variant}')
                _touch(osp.join(root, 'images', f'{image:07d}.jpg'))
                image += 1
        with open(osp.join(root, f'images_variant_{key}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def test_fgvc_aircraft_reads_the_official_variant_files(tmp_path):
    root = str(tmp_path / 'fgvc')
    os.makedirs(root)
    variants = ['707-320', '727-200', 'A300B4', 'Cessna 172', 'F-16A/B']
    write_aircraft(root, variants)
    train = DATASETS.build(
        dict(
            type='CoOpFGVCAircraft',
            data_root=root,
            num_shots=16,
            subsample='base'))
    assert train.metainfo['classes'] == ('707-320', '727-200', 'A300B4')
    assert train.metainfo['template'] == \
        'a photo of a {}, a type of aircraft.'
    assert len(train) == 3 * 16
    assert train.get_data_info(0)['img_path'].startswith(
        osp.join(root, 'images'))
    test = DATASETS.build(
        dict(type='CoOpFGVCAircraft', data_root=root, split='test'))
    assert len(test) == 5 * 3
    assert sorted(set(test.get_gt_labels())) == list(range(5))
    names = [variants[label] for label in test.get_gt_labels()]
    assert names[:3] == ['707-320'] * 3  # file order, label = variants.txt


def test_fgvc_aircraft_errors(tmp_path):
    root = str(tmp_path / 'fgvc')
    os.makedirs(root)
    write_aircraft(root, ['707-320', 'A300B4'], drop='val')
    with pytest.raises(
            FileNotFoundError,
            match=r"images_variant_val.txt' "
            r'not found.*official FGVC-Aircraft archive'):
        DATASETS.build(dict(type='CoOpFGVCAircraft', data_root=root))
    write_aircraft(root, ['707-320', 'A300B4'])
    with open(osp.join(root, 'variants.txt'), 'w') as f:
        f.write('707-320\n')
    with pytest.raises(
            ValueError, match=r"names variant 'A300B4', which is "
            r'not in'):
        DATASETS.build(dict(type='CoOpFGVCAircraft', data_root=root))
