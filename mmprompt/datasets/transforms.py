# Copyright (c) mmprompt contributors. All rights reserved.
"""Image loading as in the official CoOp / Dassl pipeline.

Dassl (and so CoOp, CoCoOp, MaPLe, KgCoOp, PromptSRC) reads every image with
``PIL.Image.open(path).convert('RGB')``, which does **not** apply a JPEG's
EXIF orientation. mmpretrain's default ``LoadImageFromFile`` decodes with
OpenCV, which does; a rotated JPEG then reaches the model rotated (and, when
it is not square, with another shape) than in the official pipeline.
:class:`LoadCoOpImage` decodes as Dassl does and returns what
``LoadImageFromFile`` returns, and turns an image that cannot be read into a
:class:`~mmprompt.errors.DataError` naming the file.
"""
import io
from typing import Optional

import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image, ImageOps, UnidentifiedImageError

from mmprompt.errors import DataError, PathNotFoundError
from mmprompt.registry import TRANSFORMS

__all__ = [
    'IMG_EXTENSIONS', 'CHECK_TOOL', 'decode_image', 'load_image',
    'LoadCoOpImage'
]

#: File endings (lower case) that count as images, e.g. for
#: ``check_coop_data.py --make-split``; the formats PIL decodes that image
#: datasets ship in.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')

#: The tool that lists every missing or undecodable image of a data root.
CHECK_TOOL = 'tools/dataset_converters/check_coop_data.py'

_HINT = (f'Replace the file (re-download or re-extract the dataset); '
         f'`python {CHECK_TOOL} DATA_ROOT` lists every missing or '
         f'undecodable image of a data root.')


def decode_image(content: bytes,
                 path: str,
                 exif_orientation: bool = False) -> np.ndarray:
    """Decode image bytes as Dassl does, into a BGR uint8 array.

    Dassl's ``read_image`` is ``Image.open(path).convert('RGB')``: PIL, RGB,
    EXIF orientation ignored, every mode (grey, palette, RGBA, CMYK, LA)
    converted by PIL's ``convert('RGB')`` (alpha dropped, not blended). The
    pixels are returned in BGR order, as mmcv's loaders return them (the
    configs' ``data_preprocessor`` has ``to_rgb=True``).

    Args:
        content (bytes): The file's bytes.
        path (str): The file the bytes are from, named in errors.
        exif_orientation (bool): Apply the EXIF orientation tag (rotate /
            flip as a photo viewer shows the image) before converting.
            Defaults to False (as Dassl).

    Returns:
        np.ndarray: The image, shape (H, W, 3), dtype uint8, BGR, contiguous.

    Raises:
        DataError: The bytes are empty, truncated or not an image; its
            ``reason`` attribute says why in a few words.
    """
    if not content:
        error = DataError(f"cannot decode image '{path}': the file is empty "
                          f'(0 bytes). {_HINT}')
        error.reason = 'empty file (0 bytes)'
        raise error
    try:
        with io.BytesIO(content) as buff:
            img = Image.open(buff)
            if exif_orientation:
                img = ImageOps.exif_transpose(img)
            # convert() loads every pixel, so a truncated file fails here and
            # not lazily later.
            array = np.asarray(img.convert('RGB'))
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError..
        if isinstance(err, UnidentifiedImageError):
            reason = ('not in an image format PIL reads; the file begins '
                      f'{content[:16]!r}')
        else:
            reason = f'{type(err).__name__}: {err}'
        error = DataError(f"cannot decode image '{path}' ({reason}); it is "
                          f'truncated, corrupt or not an image. {_HINT}')
        error.reason = reason
        raise error from err
    return np.ascontiguousarray(array[:, :, ::-1])


def load_image(path: str,
               exif_orientation: bool = False,
               backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and decode one image as Dassl does (see :func:`decode_image`).

    Args:
        path (str): The image file (local, or any mmengine file backend).
        exif_orientation (bool): Apply the EXIF orientation. Defaults to
            False.
        backend_args (dict, optional): Arguments of mmengine's file backend.
            Defaults to None.

    Returns:
        np.ndarray: The image, shape (H, W, 3), dtype uint8, BGR.

    Raises:
        PathNotFoundError: The file does not exist.
        DataError: The file cannot be read or decoded.
    """
    try:
        content = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as err:
        raise PathNotFoundError(f"image '{path}' not found. {_HINT}") from err
    except OSError as err:
        raise DataError(f"cannot read image '{path}' "
                        f'({type(err).__name__}: {err}). {_HINT}') from err
    return decode_image(content, path, exif_orientation)


@TRANSFORMS.register_module()
class LoadCoOpImage(BaseTransform):
    """Load an image as the official CoOp / Dassl pipeline does.

    A drop-in replacement of mmpretrain's ``LoadImageFromFile``: the same
    keys and array layout, but decoded as Dassl decodes
    (``PIL.Image.open(path).convert('RGB')``, EXIF orientation ignored).
    For JPEGs the result is byte-identical to
    ``LoadImageFromFile(imdecode_backend='pillow',
    color_type='color_ignore_orientation')``; for 8-bit PNGs (grey, RGB,
    RGBA, palette) it is identical to the default (OpenCV)
    ``LoadImageFromFile``. An image that cannot be read raises (never
    returns None, which mmengine's dataset would answer by silently
    fetching another image).

    Required Keys:

    - img_path

    Modified Keys:

    - img (np.ndarray): (H, W, 3) uint8 in BGR order (float32 with
      ``to_float32``).
    - img_shape (tuple[int, int]): (H, W).
    - ori_shape (tuple[int, int]): (H, W).

    Args:
        exif_orientation (bool): Apply the JPEG's EXIF orientation (as
            OpenCV, photo viewers and mmcv's ``color`` flag do) instead of
            ignoring it as Dassl does. Defaults to False.
        to_float32 (bool): Return a float32 array. Defaults to False.
        backend_args (dict, optional): Arguments of mmengine's file backend
            (e.g. to read from object storage). Defaults to None.

    Raises:
        PathNotFoundError: The image file does not exist.
        DataError: The image is empty, truncated, corrupt or not an image;
            the message names the file.

    Examples:
        >>> pipeline = [dict(type='LoadCoOpImage'),
        ...             dict(type='ResizeEdge', scale=224, edge='short',
        ...                  interpolation='bicubic', backend='pillow')]
    """

    def __init__(self,
                 exif_orientation: bool = False,
                 to_float32: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        self.exif_orientation = exif_orientation
        self.to_float32 = to_float32
        self.backend_args = None if backend_args is None else dict(
            backend_args)

    def transform(self, results: dict) -> dict:
        """Load ``results['img_path']`` into ``results['img']``.

        Args:
            results (dict): The data info, with ``img_path``.

        Returns:
            dict: ``results`` with ``img``, ``img_shape`` and ``ori_shape``.
        """
        img = load_image(results['img_path'], self.exif_orientation,
                         self.backend_args)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}('
                f'exif_orientation={self.exif_orientation}, '
                f'to_float32={self.to_float32}, '
                f'backend_args={self.backend_args})')
