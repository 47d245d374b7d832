# Copyright (c) mmprompt contributors. All rights reserved.
"""LoadCoOpImage: Dassl's decoding, and loud errors for broken images."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmprompt.errors import DataError, PathNotFoundError
from mmprompt.registry import DATASETS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_CONFIGS = ('coop_dtd_base2new.py', 'coop_synthetic_base2new.py',
                'coop_procdtd_base2new.py')


def _pixels(h, w, seed=0):
    return np.random.default_rng(seed).integers(
        0, 256, (h, w, 3), dtype=np.uint8)


def _exif_jpeg(path, orientation=6, h=12, w=20):
    """A non-square JPEG whose EXIF says "rotate 90 degrees to show"."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_pixels(h, w)).save(path, exif=exif.tobytes(), quality=95)
    return str(path)


def _load(path, **kwargs):
    return TRANSFORMS.build(dict(type='LoadCoOpImage', **kwargs))(
        dict(img_path=str(path)))


def test_default_decodes_as_dassl_ignoring_exif(tmp_path):
    path = _exif_jpeg(tmp_path / 'rot.jpg')
    results = _load(path)
    # Dassl: Image.open(path).convert('RGB'); mmcv's layout: BGR uint8.
    dassl = np.asarray(Image.open(path).convert('RGB'))
    assert dassl.shape == (12, 20, 3)
    img = results['img']
    assert img.dtype == np.uint8 and img.shape == (12, 20, 3)
    np.testing.assert_array_equal(img, dassl[:, :, ::-1])
    assert results['img_shape'] == results['ori_shape'] == (12, 20)
    # Byte-identical to mmcv's pillow decoding that ignores the orientation.
    mmcv_pillow = TRANSFORMS.build(
        dict(
            type='LoadImageFromFile',
            imdecode_backend='pillow',
            color_type='color_ignore_orientation'))(
                dict(img_path=path))
    np.testing.assert_array_equal(img, mmcv_pillow['img'])


def test_old_loader_and_exif_option_rotate(tmp_path):
    path = _exif_jpeg(tmp_path / 'rot.jpg')
    dassl_bgr = np.asarray(Image.open(path).convert('RGB'))[:, :, ::-1]
    # The loader of the configs before: OpenCV applies the orientation, so
    # the image reaches the model rotated, with another shape.
    old = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=path))
    assert old['img'].shape == (20, 12, 3)
    rotated = _load(path, exif_orientation=True)
    assert rotated['img'].shape == (20, 12, 3)
    assert rotated['img_shape'] == rotated['ori_shape'] == (20, 12)
    # Orientation 6: shown after rotating 90 degrees clockwise.
    np.testing.assert_array_equal(rotated['img'], np.rot90(dassl_bgr, k=-1))
    mmcv_exif = TRANSFORMS.build(
        dict(type='LoadImageFromFile', imdecode_backend='pillow'))(
            dict(img_path=path))
    np.testing.assert_array_equal(rotated['img'], mmcv_exif['img'])
    assert _load(path, to_float32=True)['img'].dtype == np.float32


@pytest.mark.parametrize('mode', ['RGB', 'RGBA', 'L', 'P'])
def test_png_identical_to_the_old_loader(tmp_path, mode):
    path = str(tmp_path / f'{mode}.png')
    image = Image.fromarray(_pixels(9, 14, seed=3))
    if mode == 'RGBA':
        image.putalpha(Image.fromarray(_pixels(9, 14, seed=4)[:, :, 0]))
    else:
        image = image.convert(mode)
    image.save(path)
    old = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=path))
    new = _load(path)
    np.testing.assert_array_equal(new['img'], old['img'])
    assert new['img_shape'] == old['img_shape'] == (9, 14)


def _broken(tmp_path):
    """The three ways an image file is broken: empty, truncated, text."""
    good = _exif_jpeg(tmp_path / 'good.jpg', h=64, w=64)
    with open(good, 'rb') as f:
        content = f.read()
    files = {}
    files['empty'] = tmp_path / 'empty.jpg'
    files['empty'].write_bytes(b'')
    files['truncated'] = tmp_path / 'truncated.jpg'
    files['truncated'].write_bytes(content[:len(content) // 2])
    files['text'] = tmp_path / 'text.jpg'
    files['text'].write_text('<html>404 Not Found</html>')
    return {k: str(v) for k, v in files.items()}


def test_broken_images_raise_a_data_error_naming_the_file(tmp_path):
    files = _broken(tmp_path)
    tool = 'tools/dataset_converters/check_coop_data.py DATA_ROOT'
    with pytest.raises(
            DataError,
            match=rf"cannot decode image '{files['empty']}': the "
            r'file is empty \(0 bytes\)\. Replace the file .*' + tool):
        _load(files['empty'])
    # PIL opens a truncated JPEG lazily; the transform must load it.
    with pytest.raises(
            DataError,
            match=rf"cannot decode image '{files['truncated']}' "
            r'\(OSError: .*\); it is truncated, corrupt or not '
            r'an image\.'):
        _load(files['truncated'])
    with pytest.raises(
            DataError,
            match=rf"cannot decode image '{files['text']}' "
            r'\(not in an image format PIL reads; the file begins '
            r"b'<html>404 Not Fo'\); it is truncated, corrupt or "
            r'not an image\. .*' + tool) as info:
        _load(files['text'])
    assert info.value.reason == ('not in an image format PIL reads; the '
                                 "file begins b'<html>404 Not Fo'")
    with pytest.raises(
            PathNotFoundError,
            match=rf"image '{tmp_path}/none.jpg' not found\. "):
        _load(tmp_path / 'none.jpg')
    # A DataError is still a ValueError for old `except ValueError` code.
    with pytest.raises(ValueError):
        _load(files['text'])


@pytest.mark.parametrize('config', BASE_CONFIGS)
def test_base_pipelines_load_as_dassl_and_fail_loudly(tmp_path, config):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', config))
    assert cfg.train_pipeline[0] == dict(type='LoadCoOpImage')
    assert cfg.test_pipeline[0] == dict(type='LoadCoOpImage')
    assert cfg.train_dataloader.dataset.pipeline[0]['type'] == \
        'LoadCoOpImage'
    assert cfg.val_dataloader.dataset.pipeline[0]['type'] == 'LoadCoOpImage'

    # A tiny CoOp-format data root whose first training image is truncated.
    root = tmp_path / 'data'
    files = _broken(tmp_path)
    split = {'train': [], 'val': [], 'test': []}
    for key in split:
        for c in range(2):
            name = f'c{c}/{key}.jpg'
            os.makedirs(root / 'images' / f'c{c}', exist_ok=True)
            _exif_jpeg(root / 'images' / name, h=40, w=72)
            split[key].append([name, c, f'c{c}'])
    with open(files['truncated'], 'rb') as f:
        (root / 'images' / 'c0' / 'train.jpg').write_bytes(f.read())
    with open(root / 'split.json', 'w') as f:
        json.dump(split, f)

    def build(key, pipeline, test_mode):
        return DATASETS.build(
            dict(
                type='CoOpDataset',
                data_root=str(root),
                split_file='split.json',
                split=key,
                pipeline=pipeline,
                test_mode=test_mode))

    # The test pipeline sees Dassl's (unrotated) landscape image: its short
    # edge is the height, so the resized image is wider than high before
    # the centre crop; with the orientation applied it would be taller.
    test_set = build('test', cfg.test_pipeline[:2], True)
    scale = cfg.test_pipeline[1]['scale']
    assert test_set[0]['img'].shape[:2] == (scale, scale * 72 // 40)
    # Training (test_mode False: mmengine would fetch another image if the
    # loader returned None) raises instead, naming the file.
    train_set = build('train', cfg.train_pipeline, False)
    bad = f"{root}/images/c0/train.jpg"
    with pytest.raises(DataError, match=f"cannot decode image '{bad}'"):
        train_set[0]
    assert train_set[1]['inputs'].shape[0] == 3
