# Copyright (c) mmprompt contributors. All rights reserved.
"""Procedurally drawn textures named after DTD categories ("mini-DTD").

An offline stand-in for the Describable Textures Dataset (Cimpoi et al.,
CVPR 2014): every class of :data:`PROCEDURAL_CLASSES` is a DTD category drawn
by a small vectorised numpy program, so each class is recognisable by its
geometry at 64x64 while colours, scale, orientation, phase, line width and
noise vary from image to image.

Two rendering styles share the geometry of each class:

* ``'pretrain'``: crisp edges, saturated colours named in :data:`COLOURS`,
  light pixel noise. Used to pretrain a tiny CLIP on captions built from the
  class name and the attributes :func:`render_texture` returns.
* ``'downstream'``: the same drawings in muted colours (palette colours
  blended toward gray), lower contrast, a Gaussian blur, an illumination
  gradient with a vignette and stronger noise. The downstream few-shot
  dataset (:func:`make_procedural_dataset`, read by
  :class:`~mmprompt.datasets.CoOpProceduralDTD`) uses it, so prompt learning
  has a moderate style gap to adapt to.

All randomness comes from the generator passed in; lengths are given in
units of a 64-pixel image and scale with ``size``. The images and split
files are written through :func:`~mmprompt.offline.writer.write_coop_dataset`.
The shipped tiny CLIP (``mmprompt-tinyclip``) was pretrained on these
drawings: a change to any pixel they draw is a bug.
"""
import math
import os.path as osp
import shlex
import time
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from mmprompt.errors import PathNotFoundError
from .writer import write_coop_dataset

PROCEDURAL_SPLIT_FILE = 'split_zhou_ProceduralDTD.json'
#: The command-line generator of the dataset (relative to the repository).
PROCEDURAL_GENERATOR = 'tools/dataset_converters/make_procedural_dtd.py'
#: What :class:`~mmprompt.datasets.CoOpProceduralDTD` writes into a missing
#: ``data_root``: the generator's defaults (32 / 8 / 40 images per class,
#: 64x64, seed 0).
FIRST_USE_ARGS = dict(num_train=32, num_val=8, num_test=40, size=64, seed=0)

#: Rendering styles of :func:`render_texture`.
STYLES = ('pretrain', 'downstream')
#: Scale levels of the drawings (element size / period), reported in the
#: attributes of every image.
SCALES = ('small', 'medium', 'large')
#: The named colours of the ``'pretrain'`` palette (RGB).
COLOURS: Dict[str, Tuple[int, int, int]] = {
    'red': (215, 35, 35),
    'orange': (245, 135, 20),
    'yellow': (245, 215, 35),
    'green': (40, 165, 55),
    'cyan': (40, 200, 215),
    'blue': (35, 70, 205),
    'purple': (125, 45, 175),
    'pink': (245, 125, 185),
    'brown': (120, 70, 30),
    'black': (20, 20, 20),
    'white': (245, 245, 245),
    'gray': (128, 128, 128),
}

# Luma weights (ITU-R BT.601), to keep foreground and background apart.
_LUMA = np.array([0.299, 0.587, 0.114])
_MIN_LUMA_GAP = {'pretrain': 45.0, 'downstream': 60.0}
_MIN_RGB_GAP = {'pretrain': 120.0, 'downstream': 80.0}

# name -> drawing function, filled by ``_register``.
_DRAWERS: Dict[str, Callable[['_Canvas'], np.ndarray]] = {}


def _register(name: str):
    """Register a drawing function under a DTD class name."""

    def wrap(func):
        _DRAWERS[name] = func
        return func

    return wrap


@lru_cache(maxsize=8)
def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel centres ``(y, x)`` of a ``size`` image in 64-pixel units."""
    coords = (np.arange(size, dtype=np.float64) + 0.5) * (64.0 / size)
    y, x = np.meshgrid(coords, coords, indexing='ij')
    y.flags.writeable = False
    x.flags.writeable = False
    return y, x


class _Canvas:
    """Coordinates, randomness and drawing helpers of one image.

    Lengths are in units of a 64-pixel image (``px`` is one pixel), so the
    same drawing code gives the same picture at every ``size``.

    Args:
        size (int): Image side in pixels.
        rng (np.random.Generator): Randomness of the geometry.
        scale (int): Index into :data:`SCALES`.
        fg (np.ndarray): Foreground colour, shape (3,), float.
        bg (np.ndarray): Background colour, shape (3,), float.
        extra_colour (Callable): ``extra_colour(exclude)`` returns another
            colour of the style's palette (for multi-coloured classes).
    """

    def __init__(self, size: int, rng: np.random.Generator, scale: int,
                 fg: np.ndarray, bg: np.ndarray, extra_colour: Callable):
        self.size = size
        self.px = 64.0 / size
        self.y, self.x = _grid(size)
        self.rng = rng
        self.scale = scale
        self.fg = fg
        self.bg = bg
        self.extra_colour = extra_colour

    # -- random numbers -------------------------------------------------
    def uniform(self, low: float, high: float) -> float:
        """One uniform number in ``[low, high)``."""
        return float(self.rng.uniform(low, high))

    def pick(self, small: Tuple[float, float], medium: Tuple[float, float],
             large: Tuple[float, float]) -> float:
        """A uniform number from the range of the image's scale."""
        return self.uniform(*(small, medium, large)[self.scale])

    # -- geometry ---------------------------------------------------------
    def rotate(self, theta: float, cx: float = 32.0, cy: float = 32.0):
        """Coordinates ``(u, v)`` rotated by ``theta`` about ``(cx, cy)``."""
        cos, sin = math.cos(theta), math.sin(theta)
        x, y = self.x - cx, self.y - cy
        return x * cos + y * sin, y * cos - x * sin

    def aa(self, sd: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage of a signed distance (negative inside)."""
        return np.clip(0.5 - sd / self.px, 0.0, 1.0)

    def stripes(self, u: np.ndarray, period: float,
                width: float) -> np.ndarray:
        """Lines of ``width`` every ``period`` along ``u``."""
        return self.aa(np.abs(u % period - period / 2) - width / 2)

    def square_wave(self, t: np.ndarray, period: float) -> np.ndarray:
        """A +-1 square wave with one-pixel anti-aliased edges."""
        return np.clip(
            2.0 * (np.abs(t % period - period / 2) - period / 4) / self.px,
            -1.0, 1.0)

    def noise(self,
              f_low: float,
              f_high: float,
              num: int = 12,
              theta: Optional[float] = None,
              spread: float = math.pi,
              u: Optional[np.ndarray] = None,
              v: Optional[np.ndarray] = None) -> np.ndarray:
        """Band-limited noise: a sum of random plane waves.

        Args:
            f_low (float): Lowest frequency (cycles per unit).
            f_high (float): Highest frequency (cycles per unit).
            num (int): Number of waves. Defaults to 12.
            theta (float, optional): Mean wave direction; None for
                isotropic noise. Defaults to None.
            spread (float): Half-range of directions around ``theta``.
                Defaults to pi.
            u (np.ndarray, optional): Coordinates to evaluate at (e.g.
                warped ones). Defaults to the pixel grid.
            v (np.ndarray, optional): See ``u``.

        Returns:
            np.ndarray: Zero-mean noise of about unit standard deviation.
        """
        rng = self.rng
        freq = 2 * math.pi * rng.uniform(f_low, f_high, num)
        if theta is None:
            angle = rng.uniform(0, 2 * math.pi, num)
        else:
            angle = theta + rng.uniform(-spread, spread, num)
        phase = rng.uniform(0, 2 * math.pi, num)
        amp = rng.uniform(0.5, 1.0, num)
        amp *= math.sqrt(2.0 / np.sum(amp**2))
        fx = (freq * np.cos(angle))[:, None, None]
        fy = (freq * np.sin(angle))[:, None, None]
        if u is None:
            # Separable on the grid: evaluate on (num, H, 1) + (num, 1, W).
            xs, ys = self.x[0][None, None, :], self.y[:, 0][None, :, None]
            waves = np.cos(fx * xs + fy * ys + phase[:, None, None])
        else:
            waves = np.cos(fx * u[None] + fy * v[None] + phase[:, None, None])
        return np.tensordot(amp, waves, axes=1)

    def scatter(self,
                u: np.ndarray,
                v: np.ndarray,
                cell: float,
                margin: float = 0.0,
                row: Optional[float] = None,
                stagger: bool = False):
        """One random point per lattice cell; the 3x3 cells around a pixel.

        Points lie uniformly in ``[margin, cell - margin]`` of their cell
        (``margin = cell / 2`` gives a regular lattice).

        Args:
            u (np.ndarray): Pixel coordinates along the rows.
            v (np.ndarray): Pixel coordinates across the rows.
            cell (float): Cell width.
            margin (float): Distance of the points from the cell border.
                Defaults to 0.
            row (float, optional): Cell height. Defaults to ``cell``.
            stagger (bool): Shift odd rows by half a cell (a triangular
                lattice with ``row = cell * sqrt(3) / 2``). Defaults to
                False.

        Returns:
            tuple: ``(du, dv, idx, num_cells)``: offsets from the 9
            candidate points to each pixel, shape (9, H, W) each, their
            flat cell indices (for per-point attributes) and the number of
            cells.
        """
        row = cell if row is None else row
        half = cell / 2 if stagger else 0.0
        i = np.floor(v / row).astype(np.int64)
        i0, ni = int(i.min()) - 1, int(i.max() - i.min()) + 3
        j0 = int(np.floor(u.min() / cell)) - 3
        nj = int(np.floor(u.max() / cell)) - j0 + 4
        span_u = max(cell - 2 * margin, 0.0)
        span_v = max(row - 2 * margin * row / cell, 0.0)
        off = self.rng.random((2, ni, nj))
        rows = np.arange(ni) + i0
        pts_u = ((np.arange(nj) + j0)[None, :] * cell + margin +
                 off[0] * span_u + (rows % 2)[:, None] * half).ravel()
        pts_v = (rows[:, None] * row + margin * row / cell +
                 off[1] * span_v).ravel()
        dus, dvs, idxs = [], [], []
        for di in (-1, 0, 1):
            r = i + di
            j = np.floor((u - (r % 2) * half) / cell).astype(np.int64)
            for dj in (-1, 0, 1):
                idx = (r - i0) * nj + (j + dj - j0)
                dus.append(u - pts_u[idx])
                dvs.append(v - pts_v[idx])
                idxs.append(idx)
        return np.stack(dus), np.stack(dvs), np.stack(idxs), ni * nj

    def voronoi(self,
                u: np.ndarray,
                v: np.ndarray,
                cell: float,
                margin: float = 0.0,
                row: Optional[float] = None,
                stagger: bool = False):
        """Distance to the nearest point and to the Voronoi cell border.

        Args:
            u, v, cell, margin, row, stagger: See :meth:`scatter`.

        Returns:
            tuple: ``(dist, edge, idx)``: distance to the nearest point, to
            the nearest cell border and the nearest point's cell index,
            each of shape (H, W).
        """
        du, dv, idx, _ = self.scatter(u, v, cell, margin, row, stagger)
        d2 = du * du + dv * dv
        k = np.argmin(d2, axis=0)[None]
        du1 = np.take_along_axis(du, k, 0)
        dv1 = np.take_along_axis(dv, k, 0)
        d1 = np.take_along_axis(d2, k, 0)
        sep = 2 * np.hypot(du1 - du, dv1 - dv)
        with np.errstate(divide='ignore', invalid='ignore'):
            edge = np.where(sep > 1e-6, (d2 - d1) / sep, np.inf).min(0)
        return np.sqrt(d1[0]), edge, np.take_along_axis(idx, k, 0)[0]

    def level_lines(self, phase: np.ndarray, half_width: float) -> np.ndarray:
        """Lines of even width where ``phase`` is a multiple of pi.

        The distance to the nearest line is the phase's distance to a
        multiple of pi over the phase's gradient (a first-order estimate),
        so warped lines keep their width.
        """
        grad_v, grad_u = np.gradient(phase, self.px)
        slope = np.maximum(np.hypot(grad_u, grad_v), 1e-3)
        wrapped = np.abs((phase / math.pi + 0.5) % 1.0 - 0.5) * math.pi
        return self.aa(wrapped / slope - half_width)

    def compose(self, mask: np.ndarray) -> np.ndarray:
        """Blend background (0) to foreground (1): a (H, W, 3) image."""
        return self.bg + mask[..., None] * (self.fg - self.bg)

    def light_dark(self) -> Tuple[np.ndarray, np.ndarray]:
        """The lighter and the darker of the two colours."""
        if self.fg @ _LUMA >= self.bg @ _LUMA:
            return self.fg, self.bg
        return self.bg, self.fg


def _triangle(t: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1, values in [0, 1]."""
    return 2 * np.abs(t - np.floor(t + 0.5))


# ---------------------------------------------------------------------------
# Stripes and lines
# ---------------------------------------------------------------------------
@_register('banded')
def _banded(c: _Canvas) -> np.ndarray:
    """Two to four wide bands."""
    period = c.pick((15, 18), (19, 24), (26, 34))
    u, _ = c.rotate(c.uniform(0, math.pi))
    u = u + c.uniform(0, period)
    return c.compose(c.stripes(u, period, period * c.uniform(0.4, 0.6)))


@_register('striped')
def _striped(c: _Canvas) -> np.ndarray:
    """Many stripes of about equal width."""
    period = c.pick((4.4, 5.2), (5.6, 6.8), (7.2, 9))
    u, _ = c.rotate(c.uniform(0, math.pi))
    u = u + c.uniform(0, period)
    return c.compose(c.stripes(u, period, period * c.uniform(0.42, 0.58)))


@_register('lined')
def _lined(c: _Canvas) -> np.ndarray:
    """Sparse thin parallel lines."""
    period = c.pick((6.5, 8), (8.5, 10.5), (11, 14))
    u, _ = c.rotate(c.uniform(0, math.pi))
    u = u + c.uniform(0, period)
    return c.compose(c.stripes(u, period, c.uniform(1.0, 1.4)))


@_register('zigzagged')
def _zigzagged(c: _Canvas) -> np.ndarray:
    """Stripes folded into zigzags."""
    period = c.pick((7, 8.5), (9, 11), (12, 15))
    amp = period * c.uniform(0.5, 0.8)
    wave = period * c.uniform(0.9, 1.3)
    u, v = c.rotate(c.uniform(0, math.pi))
    u = u + amp * _triangle(v / wave + c.uniform(0, 1)) + c.uniform(0, period)
    # Distances along u overstate the true ones on the slanted segments.
    slant = math.sqrt(1 + (2 * amp / wave)**2)
    d = (np.abs(u % period - period / 2) - period / 4) / slant
    return c.compose(c.aa(d))


@_register('stratified')
def _stratified(c: _Canvas) -> np.ndarray:
    """Irregular, roughly horizontal layers of several tones."""
    thick = c.pick((1.5, 4), (2.5, 6.5), (3.5, 9))
    u, v = c.rotate(c.uniform(-0.3, 0.3))
    widths = c.rng.uniform(0.4, 1.6, 64) * thick
    bounds = np.cumsum(widths) - 50 - c.uniform(0, thick)
    tones = np.empty(len(bounds) + 1)
    tone = c.uniform(0, 1)
    for k in range(len(tones)):
        # Neighbouring layers differ by at least a quarter of the range.
        tone = (tone + c.uniform(0.25, 0.75)) % 1.0
        tones[k] = tone
    warp = sum(
        c.uniform(0.4, 1.5) *
        np.sin(2 * math.pi * u / c.uniform(12, 40) + c.uniform(0, 6.3))
        for _ in range(3))
    layer = np.searchsorted(bounds, (v + warp).ravel()).reshape(v.shape)
    mask = tones[layer] + 0.06 * np.sin(v * c.uniform(2.5, 4.0))
    return c.compose(np.clip(mask, 0, 1))


# ---------------------------------------------------------------------------
# Lattices
# ---------------------------------------------------------------------------
@_register('chequered')
def _chequered(c: _Canvas) -> np.ndarray:
    """A chessboard of squares."""
    side = c.pick((5, 6), (7, 9), (10, 13))
    u, v = c.rotate(c.uniform(-0.2, 0.2))
    u = u + c.uniform(0, 2 * side)
    v = v + c.uniform(0, 2 * side)
    sq = c.square_wave(u, 2 * side) * c.square_wave(v, 2 * side)
    return c.compose(0.5 + 0.5 * sq)


@_register('grid')
def _grid_texture(c: _Canvas) -> np.ndarray:
    """Thin axis-aligned lines forming squares."""
    period = c.pick((7, 8.5), (9.5, 11.5), (12.5, 16))
    width = c.uniform(1.0, 1.5)
    u, v = c.rotate(c.uniform(-0.17, 0.17))
    lines_u = c.stripes(u + c.uniform(0, period), period, width)
    lines_v = c.stripes(v + c.uniform(0, period), period, width)
    return c.compose(np.maximum(lines_u, lines_v))


@_register('meshed')
def _meshed(c: _Canvas) -> np.ndarray:
    """A dense net of thick strands around diamond-shaped holes."""
    period = c.pick((4.5, 5.3), (5.8, 6.8), (7.3, 8.8))
    width = period * c.uniform(0.3, 0.4)
    base = c.uniform(0, math.pi)
    half = c.uniform(0.45, 0.6)  # half the angle between the strands
    u1, _ = c.rotate(base + half)
    u2, _ = c.rotate(base - half)
    mask = np.maximum(
        c.stripes(u1 + c.uniform(0, period), period, width),
        c.stripes(u2 + c.uniform(0, period), period, width))
    return c.compose(mask)


@_register('crosshatched')
def _crosshatched(c: _Canvas) -> np.ndarray:
    """Two sets of dense, diagonal, pencil-like hatch lines."""
    period = c.pick((3.2, 3.8), (4.0, 4.8), (5.0, 6.0))
    first = math.pi / 4 + c.uniform(-0.25, 0.25)
    second = first + math.pi / 2 + c.uniform(-0.3, 0.3)
    if c.rng.random() < 0.5:
        first, second = -first, -second
    mask = 0.0
    for theta in (first, second):
        u, _ = c.rotate(theta)
        lines = c.stripes(u + c.uniform(0, period), period,
                          c.uniform(0.8, 1.1))
        strength = np.clip(0.75 + 0.45 * c.noise(1 / 24, 1 / 12, 6), 0.3, 1)
        mask = np.maximum(mask, lines * strength)
    return c.compose(mask)


@_register('woven')
def _woven(c: _Canvas) -> np.ndarray:
    """A basket weave: blocks of parallel threads alternating direction."""
    thread = c.pick((1.8, 2.3), (2.4, 3.0), (3.1, 3.8))
    num = int(c.rng.integers(2, 4))
    block = thread * num
    u, v = c.rotate(c.uniform(-0.2, 0.2))
    u = u + c.uniform(0, 2 * block)
    v = v + c.uniform(0, 2 * block)
    horizontal = (np.floor(u / block) + np.floor(v / block)) % 2 == 0
    across = np.where(horizontal, v, u)
    along = np.where(horizontal, u, v)
    profile = np.sin(math.pi * (across % thread) / thread)**0.7
    ends = np.sin(math.pi * (along % block) / block)**0.35
    shade = 0.15 + 0.85 * profile * ends
    colour = np.where(horizontal[..., None], c.fg, c.bg)
    dark = 0.5 * np.minimum(c.fg, c.bg)
    return dark + shade[..., None] * (colour - dark)


@_register('waffled')
def _waffled(c: _Canvas) -> np.ndarray:
    """A grid of square pockets between raised, lit ridges."""
    cell = c.pick((9, 10.5), (11, 13), (13.5, 16))
    wall = cell * c.uniform(0.06, 0.1)  # half the width of a ridge
    bevel = cell * c.uniform(0.1, 0.14)
    u, v = c.rotate(c.uniform(-0.2, 0.2))
    lu = (u + c.uniform(0, cell)) % cell - cell / 2
    lv = (v + c.uniform(0, cell)) % cell - cell / 2
    m = np.maximum(np.abs(lu), np.abs(lv))
    inner = cell / 2 - wall
    height = np.clip((m - (inner - bevel)) / bevel, 0, 1)
    # Bevel normals point into the pocket; light comes from the top left.
    side_u = np.abs(lu) >= np.abs(lv)
    facing = np.where(side_u, -np.sign(lu), -np.sign(lv))
    on_bevel = (height > 0) & (height < 1)
    shade = np.where(on_bevel, -0.3 * facing, 0.0)
    mask = np.clip(0.4 + 0.6 * height + shade, 0, 1)[..., None]
    light, dark = c.light_dark()
    return dark + mask * (light - dark)


@_register('honeycombed')
def _honeycombed(c: _Canvas) -> np.ndarray:
    """Hexagonal cells with thin walls."""
    spacing = c.pick((7, 8), (9, 10.5), (11, 13.5))
    u, v = c.rotate(c.uniform(0, math.pi / 3))
    _, edge, _ = c.voronoi(
        u + c.uniform(0, spacing),
        v,
        spacing,
        margin=spacing / 2,
        row=spacing * math.sqrt(3) / 2,
        stagger=True)
    wall = c.aa(edge - c.uniform(0.5, 0.8))
    depth = 0.18 * np.clip(1 - edge / (spacing / 2), 0, 1)
    return c.compose(np.maximum(wall, depth))


# ---------------------------------------------------------------------------
# Dots, holes and specks
# ---------------------------------------------------------------------------
@_register('dotted')
def _dotted(c: _Canvas) -> np.ndarray:
    """Small round dots at random positions."""
    cell = c.pick((5.5, 6.5), (7, 8), (8.5, 10))
    radius = c.pick((0.9, 1.1), (1.2, 1.5), (1.6, 1.9))
    du, dv, idx, n = c.scatter(c.x, c.y, cell, margin=radius + 0.5)
    present = c.rng.random(n) < c.uniform(0.55, 0.8)
    d = np.hypot(du[4], dv[4])
    return c.compose(c.aa(d - radius) * present[idx[4]])


@_register('polka-dotted')
def _polka_dotted(c: _Canvas) -> np.ndarray:
    """A regular lattice of large round dots."""
    period = c.pick((10.5, 12), (12.5, 14.5), (15, 18))
    radius = period * c.uniform(0.27, 0.34)
    stagger = c.rng.random() < 0.5
    u, v = c.rotate(c.uniform(-0.3, 0.3))
    dist, _, _ = c.voronoi(
        u + c.uniform(0, period),
        v + c.uniform(0, period),
        period,
        margin=period / 2,
        row=period * (math.sqrt(3) / 2 if stagger else 1.0),
        stagger=stagger)
    return c.compose(c.aa(dist - radius))


@_register('perforated')
def _perforated(c: _Canvas) -> np.ndarray:
    """A plain plate with a dense regular lattice of small dark holes."""
    period = c.pick((4.8, 5.6), (6, 7), (7.5, 9))
    radius = period * c.uniform(0.2, 0.26)
    stagger = c.rng.random() < 0.5
    u, v = c.rotate(c.uniform(-0.3, 0.3))
    dist, _, _ = c.voronoi(
        u + c.uniform(0, period),
        v + c.uniform(0, period),
        period,
        margin=period / 2,
        row=period * (math.sqrt(3) / 2 if stagger else 1.0),
        stagger=stagger)
    plate, other = c.light_dark()
    hole = c.aa(dist - radius)[..., None]
    sheen = 1 + 0.06 * (c.y - 32)[..., None] / 32
    return plate * sheen * (1 - hole) + 0.35 * other * hole


@_register('porous')
def _porous(c: _Canvas) -> np.ndarray:
    """A surface riddled with irregular dark pores of varied size."""
    f = c.pick((1 / 5.5, 1 / 4), (1 / 7, 1 / 5), (1 / 9, 1 / 6.5))
    field = c.noise(f * 0.6, f, 24)
    pores = np.clip((field - c.uniform(0.7, 1.0)) / 0.25, 0, 1)[..., None]
    surface, other = c.light_dark()
    grain = 1 + 0.05 * c.noise(1 / 3, 1 / 2, 8)[..., None]
    return surface * grain * (1 - pores) + 0.4 * other * pores


@_register('sprinkled')
def _sprinkled(c: _Canvas) -> np.ndarray:
    """Short rod-like specks in several colours, like cake sprinkles."""
    cell = c.pick((5, 6), (6.5, 7.5), (8, 9.5))
    half_len = cell * c.uniform(0.28, 0.36)
    half_width = cell * c.uniform(0.11, 0.14)
    du, dv, idx, n = c.scatter(c.x, c.y, cell)
    angle = c.rng.uniform(0, math.pi, n)
    present = c.rng.random(n) < 0.85
    palette = [c.fg]
    for _ in range(int(c.rng.integers(2, 4))):
        palette.append(c.extra_colour([c.bg] + palette))
    colour_id = c.rng.integers(0, len(palette), n)
    cos, sin = np.cos(angle)[idx], np.sin(angle)[idx]
    t = np.clip(du * cos + dv * sin, -half_len, half_len)
    dist = np.hypot(du - t * cos, dv - t * sin)
    cover = c.aa(dist - half_width) * present[idx]
    top = np.argmax(cover, axis=0)[None]
    cover_top = np.take_along_axis(cover, top, 0)[0]
    colour = np.asarray(palette)[colour_id[np.take_along_axis(idx, top, 0)[0]]]
    return c.bg + cover_top[..., None] * (colour - c.bg)


@_register('flecked')
def _flecked(c: _Canvas) -> np.ndarray:
    """Dense, tiny, thin strokes in random directions."""
    cell = c.pick((3.8, 4.5), (4.8, 5.6), (5.8, 7))
    half_len = cell * c.uniform(0.25, 0.4)
    du, dv, idx, n = c.scatter(c.x, c.y, cell)
    angle = c.rng.uniform(0, math.pi, n)
    alpha = c.rng.uniform(0.6, 1.0, n) * (c.rng.random(n) < 0.65)
    cos, sin = np.cos(angle)[idx], np.sin(angle)[idx]
    t = np.clip(du * cos + dv * sin, -half_len, half_len)
    dist = np.hypot(du - t * cos, dv - t * sin)
    cover = (c.aa(dist - c.uniform(0.6, 0.8)) * alpha[idx]).max(0)
    return c.compose(cover)


@_register('bubbly')
def _bubbly(c: _Canvas) -> np.ndarray:
    """Overlapping circle outlines of various sizes, like bubbles."""
    cell = c.pick((9, 10.5), (11, 13), (13.5, 16))
    du, dv, idx, n = c.scatter(c.x, c.y, cell)
    radius = (c.rng.uniform(0.3, 0.9, n) * cell)[idx]
    present = (c.rng.random(n) < 0.85)[idx]
    width = c.uniform(0.45, 0.65)
    dist = np.hypot(du, dv)
    ring = c.aa(np.abs(dist - radius) - width) * present
    fill = 0.15 * c.aa(dist - radius) * present
    glint = c.aa(
        np.hypot(du + 0.4 * radius, dv + 0.4 * radius) -
        0.15 * radius) * present
    return c.compose(np.maximum(np.maximum(ring, glint), fill).max(0))


# ---------------------------------------------------------------------------
# Cells, scales and networks
# ---------------------------------------------------------------------------
@_register('scaly')
def _scaly(c: _Canvas) -> np.ndarray:
    """Rows of overlapping round scales."""
    radius = c.pick((4.5, 5.5), (6, 7.5), (8, 10))
    u, v = c.rotate(c.uniform(0, 2 * math.pi))
    u = u + c.uniform(0, 2 * radius)
    v = v + c.uniform(0, 2 * radius)
    top_row = np.floor(v / radius)
    edge = np.full(u.shape, np.inf)
    depth = np.zeros(u.shape)
    # The upper row covers the lower one: the first row that contains a
    # pixel owns it.
    for k in (-1, 0, 1, 2):
        row = top_row + k
        offset = (row % 2) * radius
        cu = np.round((u - offset) / (2 * radius)) * 2 * radius + offset
        dist = np.hypot(u - cu, v - row * radius)
        take = (dist < radius) & np.isinf(edge)
        edge = np.where(take, radius - dist, edge)
        depth = np.where(take, dist / radius, depth)
    edge = np.where(np.isinf(edge), 0.0, edge)
    outline = c.aa(edge - c.uniform(0.5, 0.75))
    return c.compose(np.maximum(outline, 0.45 * depth**2))


@_register('cracked')
def _cracked(c: _Canvas) -> np.ndarray:
    """An irregular network of thin cracks between plates."""
    cell = c.pick((9, 11), (12, 15), (16, 20))
    warp, jag = c.uniform(1.0, 1.8), c.uniform(0.25, 0.4)
    u = c.x + warp * c.noise(1 / 30, 1 / 16, 8) + jag * c.noise(
        1 / 6, 1 / 4, 8)
    v = c.y + warp * c.noise(1 / 30, 1 / 16, 8) + jag * c.noise(
        1 / 6, 1 / 4, 8)
    _, edge, cell_id = c.voronoi(u, v, cell, margin=0.1 * cell)
    half_width = c.uniform(0.45, 0.7) * (1 + 0.3 * c.noise(1 / 20, 1 / 10, 6))
    crack = c.aa(edge - np.maximum(half_width, 0.25))
    tone = c.rng.uniform(-0.08, 0.08, cell_id.max() + 1)[cell_id]
    return c.compose(np.clip(crack + np.abs(tone) * (1 - crack), 0, 1))


@_register('cobwebbed')
def _cobwebbed(c: _Canvas) -> np.ndarray:
    """Radial threads joined by concentric polygons, like a spider web."""
    spacing = c.pick((3.5, 4.5), (5, 6.5), (7, 9))
    num = int(c.rng.integers(9, 15))
    cx, cy = 32 + c.uniform(-12, 12), 32 + c.uniform(-12, 12)
    step = 2 * math.pi / num
    spokes = np.sort((np.arange(num) + c.rng.uniform(-0.2, 0.2, num)) * step +
                     c.uniform(0, step)) % (2 * math.pi)
    spokes = np.sort(spokes)
    x, y = c.x - cx, c.y - cy
    rho = np.hypot(x, y)
    phi = np.arctan2(y, x) % (2 * math.pi)
    k = np.searchsorted(spokes, phi.ravel()).reshape(phi.shape)
    ext = np.concatenate([[spokes[-1] - 2 * math.pi], spokes,
                          [spokes[0] + 2 * math.pi]])
    left, right = ext[k], ext[k + 1]
    half = (right - left) / 2
    mid = (left + right) / 2
    spoke_dist = rho * np.minimum(
        np.abs(np.sin(phi - left)), np.abs(np.sin(right - phi)))
    # Distance along the sector's axis, rescaled so that rings cross the
    # spokes at multiples of ``spacing``.
    q = rho * np.cos(phi - mid) / np.cos(half)
    phase = c.uniform(0, spacing)
    ring_dist = np.abs((q - phase) % spacing - spacing / 2) * np.cos(half)
    ring = c.aa(ring_dist - c.uniform(0.4, 0.55)) * (q > 1.5 * spacing)
    spoke = c.aa(spoke_dist - c.uniform(0.45, 0.6))
    return c.compose(np.maximum(ring, spoke))


@_register('veined')
def _veined(c: _Canvas) -> np.ndarray:
    """A midrib with thinner side veins branching off, like a leaf."""
    spacing = c.pick((5, 6.5), (7, 9), (9.5, 12))
    angle = c.uniform(0.6, 0.95)  # angle of the side veins to the midrib
    u, v = c.rotate(c.uniform(0, 2 * math.pi))
    v = v + c.uniform(-8, 8) + c.uniform(
        -2, 2) * np.sin(u / c.uniform(15, 30) + c.uniform(0, 6.3))
    side = np.abs(v)
    bend = c.uniform(0.0, 0.02)
    s = u - side / math.tan(angle) + bend * side**2
    s = s + np.where(v > 0, 0.0, c.uniform(0, spacing))
    branch_dist = np.abs(s % spacing - spacing / 2) * math.sin(angle)
    branch_width = np.maximum(0.75 - side / 60, 0.35)
    branches = c.aa(branch_dist - branch_width)
    midrib = c.aa(side - c.uniform(0.9, 1.3))
    base = 0.1 * np.clip(c.noise(1 / 20, 1 / 10, 6), -1, 1) + 0.1
    return c.compose(np.maximum(np.maximum(branches, midrib), base))


# ---------------------------------------------------------------------------
# Curves and flows
# ---------------------------------------------------------------------------
@_register('spiralled')
def _spiralled(c: _Canvas) -> np.ndarray:
    """A spiral around a point near the centre."""
    spacing = c.pick((4.5, 5.5), (6, 7.5), (8, 10))
    arms = 1 if c.rng.random() < 0.7 else 2
    hand = 1 if c.rng.random() < 0.5 else -1
    cx, cy = 32 + c.uniform(-10, 10), 32 + c.uniform(-10, 10)
    x, y = c.x - cx, c.y - cy
    rho = np.hypot(x, y)
    turn = hand * np.arctan2(y, x) / (2 * math.pi)
    t = rho / (spacing * arms) - turn + c.uniform(0, 1)
    d = np.abs((t * arms) % 1 - 0.5) * spacing
    return c.compose(c.aa(d - spacing * c.uniform(0.2, 0.27)))


@_register('swirly')
def _swirly(c: _Canvas) -> np.ndarray:
    """Stripes twisted around a few vortices."""
    period = c.pick((5, 6), (6.5, 8), (8.5, 10.5))
    x, y = c.x, c.y
    for _ in range(int(c.rng.integers(2, 5))):
        cx, cy = c.uniform(6, 58), c.uniform(6, 58)
        strength = c.uniform(2.0, 3.5) * (1 if c.rng.random() < 0.5 else -1)
        sigma = c.uniform(9, 14)
        dx, dy = x - cx, y - cy
        twist = strength * np.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
        cos, sin = np.cos(twist), np.sin(twist)
        x, y = cx + dx * cos - dy * sin, cy + dx * sin + dy * cos
    theta = c.uniform(0, math.pi)
    u = x * math.cos(theta) + y * math.sin(theta) + c.uniform(0, period)
    return c.compose(c.stripes(u, period, period * 0.5))


@_register('marbled')
def _marbled(c: _Canvas) -> np.ndarray:
    """Thin turbulent veins over a cloudy stone base."""
    period = c.pick((14, 18), (19, 24), (25, 32))
    u, _ = c.rotate(c.uniform(0, math.pi))
    # Turbulence: the phase warp of the veins, smooth enough that it bends
    # them rather than breaking them up.
    turb = (
        np.abs(c.noise(1 / 40, 1 / 24, 10)) +
        0.3 * np.abs(c.noise(1 / 16, 1 / 10, 10)))
    veins = c.level_lines(
        2 * math.pi * u / period + c.uniform(1.5, 2.2) * turb +
        c.uniform(0, 6.3), c.uniform(0.6, 0.9))
    fine = c.level_lines(
        2 * math.pi * u / (period * 0.6) + 1.5 * turb + c.uniform(0, 6.3),
        0.45)
    fine = 0.45 * fine * (c.noise(1 / 30, 1 / 15, 6) > 0)
    cloud = 0.2 + 0.15 * c.noise(1 / 30, 1 / 16, 6)
    mask = np.clip(np.maximum(np.maximum(veins, fine), cloud), 0, 1)
    light, dark = c.light_dark()
    return light + mask[..., None] * (dark - light)


@_register('wrinkled')
def _wrinkled(c: _Canvas) -> np.ndarray:
    """Many short, roughly parallel, wavy ridges."""
    f = c.pick((1 / 7.5, 1 / 6), (1 / 10, 1 / 8), (1 / 13, 1 / 10))
    field = c.noise(f * 0.8, f, 16, theta=c.uniform(0, math.pi), spread=0.5)
    ridge = (1 - np.clip(np.abs(field) / 1.2, 0, 1))**3
    light = 0.5 + 0.25 * np.tanh(np.gradient(field, axis=0) / c.px)
    return c.compose(np.clip(0.65 * ridge + 0.45 * light - 0.1, 0, 1))


@_register('blotchy')
def _blotchy(c: _Canvas) -> np.ndarray:
    """Large soft blobs covering the surface."""
    f = c.pick((1 / 11, 1 / 8), (1 / 15, 1 / 11), (1 / 21, 1 / 15))
    field = c.noise(f * 0.7, f, 12) + 0.2 * c.noise(f * 2, f * 3, 8)
    mask = 1 / (1 + np.exp(-2.5 * (field - c.uniform(-0.3, 0.3))))
    return c.compose(mask)


@_register('stained')
def _stained(c: _Canvas) -> np.ndarray:
    """A few irregular stains with darker rims on a plain surface."""
    size = c.pick((8, 11), (11, 15), (15, 20))
    alpha = np.zeros(c.x.shape)
    wobble_u = c.noise(1 / 12, 1 / 6, 6)
    for _ in range(int(c.rng.integers(1, 4))):
        cx, cy = c.uniform(12, 52), c.uniform(12, 52)
        radius = size * c.uniform(0.75, 1.25)
        x, y = c.x - cx, c.y - cy
        phi = np.arctan2(y, x)
        edge = radius * (1 + sum(
            c.uniform(0, 0.1) * np.cos(k * phi + c.uniform(0, 6.3))
            for k in range(2, 6)))
        sd = np.hypot(x, y) - edge + 1.0 * wobble_u
        inside = c.aa(sd)
        rim = np.exp(-(np.minimum(sd, 0) / c.uniform(1.0, 2.0))**2) * inside
        stain = inside * c.uniform(0.3, 0.5) + rim * 0.5
        alpha = 1 - (1 - alpha) * (1 - np.clip(stain, 0, 1))
    return c.compose(alpha)


#: Names of the classes, in label order (DTD's spelling, sorted).
PROCEDURAL_CLASSES: Tuple[str, ...] = tuple(sorted(_DRAWERS))


# ---------------------------------------------------------------------------
# Colours and styles
# ---------------------------------------------------------------------------
def _style_colour(name: str, style: str,
                  rng: np.random.Generator) -> np.ndarray:
    """The RGB colour (float, shape (3,)) of a palette name in a style."""
    rgb = np.asarray(COLOURS[name], dtype=np.float64)
    if style == 'pretrain':
        return np.clip(rgb + rng.normal(0, 6, 3), 0, 255)
    # Muted: blend toward a mid gray and jitter, never an exact palette hue.
    gray = rng.uniform(110, 150)
    blend = rng.uniform(0.25, 0.45)
    rgb = (1 - blend) * rgb + blend * gray + rng.normal(0, 8, 3)
    return np.clip(rgb, 0, 255)


def _distinct(a: np.ndarray, b: np.ndarray, style: str) -> bool:
    """Whether two colours are far enough apart to draw one on the other."""
    return (abs(float((a - b) @ _LUMA)) >= _MIN_LUMA_GAP[style]
            and float(np.linalg.norm(a - b)) >= _MIN_RGB_GAP[style])


def _pick_colours(rng: np.random.Generator, style: str):
    """Foreground and background names and colours of one image."""
    names = list(COLOURS)
    for _ in range(100):
        i, j = rng.choice(len(names), 2, replace=False)
        fg = _style_colour(names[i], style, rng)
        bg = _style_colour(names[j], style, rng)
        if _distinct(fg, bg, style):
            return (names[i], names[j]), fg, bg
    # Unreachable in practice; keep a valid, high-contrast pair.
    return ('white', 'black'), _style_colour('white', style, rng), \
        _style_colour('black', style, rng)


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a (H, W, C) float image (reflect pad)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-taps**2 / (2 * sigma * sigma))
    kernel /= kernel.sum()
    h, w = image.shape[:2]
    radius = min(radius, h - 1, w - 1)
    kernel = kernel[len(kernel) // 2 - radius:len(kernel) // 2 + radius + 1]
    kernel /= kernel.sum()
    pad = np.pad(image, ((radius, radius), (0, 0), (0, 0)), mode='reflect')
    out = sum(k * pad[i:i + h] for i, k in enumerate(kernel))
    pad = np.pad(out, ((0, 0), (radius, radius), (0, 0)), mode='reflect')
    return sum(k * pad[:, i:i + w] for i, k in enumerate(kernel))


def _apply_style(image: np.ndarray, style: str, rng: np.random.Generator,
                 size: int) -> np.ndarray:
    """Render a drawn float image in a style; returns uint8 (H, W, 3)."""
    if style == 'pretrain':
        image = image + rng.normal(0, rng.uniform(2, 5), image.shape)
    else:
        image = _gaussian_blur(image, rng.uniform(0.5, 0.9) * size / 64)
        mean = image.mean(axis=(0, 1))
        image = mean + (image - mean) * rng.uniform(0.75, 0.9)
        y, x = _grid(size)
        y, x = (y[..., None] - 32) / 32, (x[..., None] - 32) / 32
        gain = (1 + rng.uniform(-0.15, 0.15) * x +
                rng.uniform(-0.15, 0.15) * y) * (1 - rng.uniform(0.1, 0.3) *
                                                 (x * x + y * y) / 2)
        image = image * gain + rng.uniform(-10, 10)
        image = image + rng.normal(0, rng.uniform(3, 6), image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def render_texture(classname: str,
                   rng: np.random.Generator,
                   size: int = 64,
                   style: str = 'pretrain') -> Tuple[np.ndarray, dict]:
    """Draw one texture image of a class.

    The class fixes the geometry; ``rng`` draws the scale (one of
    :data:`SCALES`), colours, orientation, phase, line widths and noise.
    The same generator state always gives the same image, and the geometry
    does not depend on ``style`` (the same seed draws the same pattern in
    both styles, only coloured and rendered differently).

    Args:
        classname (str): One of :data:`PROCEDURAL_CLASSES`.
        rng (np.random.Generator): The source of randomness, e.g.
            ``np.random.default_rng([seed, label, split_index, i])``.
        size (int): Side of the square image in pixels (>= 8). Defaults to
            64.
        style (str): One of :data:`STYLES`. Defaults to ``'pretrain'``.

    Returns:
        tuple[np.ndarray, dict]: The RGB image, uint8 of shape
        ``(size, size, 3)``, and its attributes ``dict(colours=(fg_name,
        bg_name), scale=scale)``: the :data:`COLOURS` names the foreground
        and background derive from (in ``'downstream'`` images they are
        muted versions of them; ``'sprinkled'`` adds specks in other
        palette colours) and the scale name.

    Raises:
        ValueError: For an unknown class or style, or a too small size.

    Examples:
        >>> import numpy as np
        >>> image, attrs = render_texture('striped', np.random.default_rng(0))
        >>> image.shape, image.dtype
        ((64, 64, 3), dtype('uint8'))
        >>> sorted(attrs)
        ['colours', 'scale']
    """
    if classname not in _DRAWERS:
        raise ValueError(f'Unknown procedural texture class {classname!r}; '
                         f'valid classes are {list(PROCEDURAL_CLASSES)}.')
    if style not in STYLES:
        raise ValueError(
            f'Unknown style {style!r}; valid styles are {list(STYLES)}.')
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f'size must be an int >= 8, got {size!r}.')
    # Independent streams: the geometry does not depend on the colour or
    # style draws, so one seed gives the same pattern in both styles.
    geo_seed, colour_seed, style_seed = rng.integers(0, 2**63, 3)
    colour_rng = np.random.default_rng(colour_seed)
    scale = int(colour_rng.integers(0, len(SCALES)))
    names, fg, bg = _pick_colours(colour_rng, style)

    def extra_colour(exclude: Sequence[np.ndarray]) -> np.ndarray:
        """Another palette colour, distinct from the ones in ``exclude``."""
        colour = fg
        for _ in range(50):
            name = list(COLOURS)[int(colour_rng.integers(0, len(COLOURS)))]
            colour = _style_colour(name, style, colour_rng)
            if _distinct(colour, exclude[0], style) and all(
                    np.linalg.norm(colour - other) > 40
                    for other in exclude[1:]):
                break
        return colour

    canvas = _Canvas(size, np.random.default_rng(geo_seed), scale, fg, bg,
                     extra_colour)
    image = _DRAWERS[classname](canvas)
    image = _apply_style(image, style, np.random.default_rng(style_seed), size)
    return image, dict(colours=names, scale=SCALES[scale])


# ---------------------------------------------------------------------------
# The downstream dataset
# ---------------------------------------------------------------------------
def class_folder(classname: str) -> str:
    """The image folder (and file prefix) of a class: ``'polka_dotted'``."""
    return classname.replace('-', '_').replace(' ', '_')


def make_procedural_dataset(out_dir: str,
                            num_train: int = 32,
                            num_val: int = 8,
                            num_test: int = 40,
                            size: int = 64,
                            seed: int = 0,
                            style: str = 'downstream',
                            overwrite: bool = False) -> Dict[str, List[list]]:
    """Write the procedural textures in CoOp's layout.

    Writes ``out_dir/images/<folder>/<folder>_<i>.png`` for every class of
    :data:`PROCEDURAL_CLASSES` (``<folder>`` is the class name with ``-`` and
    spaces turned into ``_``; ``i`` counts over the class's train, val and
    test images) and ``out_dir/split_zhou_ProceduralDTD.json``
    (``{"train"|"val"|"test": [[rel_path, label, classname], ...]}``).
    Image ``i`` of split ``s`` (0, 1, 2 for train, val, test) of class
    ``label`` is drawn from ``np.random.default_rng([seed, label, s, i])``,
    so a seed always gives identical bytes and an image does not change when
    the counts of other splits or classes do.

    Args:
        out_dir (str): Output folder; read it with
            :class:`~mmprompt.datasets.CoOpProceduralDTD`.
        num_train (int): Train images per class (>= 1). Defaults to 32.
        num_val (int): Val images per class (>= 0). Defaults to 8.
        num_test (int): Test images per class (>= 0). Defaults to 40.
        size (int): Image side in pixels (>= 8). Defaults to 64.
        seed (int): Seed of the drawing (>= 0). Defaults to 0.
        style (str): One of :data:`STYLES`. Defaults to ``'downstream'``.
        overwrite (bool): If ``out_dir`` is not empty, replace its
            ``images/`` and split file (nothing else). Defaults to False.

    Returns:
        dict[str, list[list]]: The split written to the JSON file.

    Raises:
        FileExistsError: If ``out_dir`` is not empty and ``overwrite`` is
            False.
        ValueError: For invalid counts, size, seed or style.
    """
    counts = dict(train=num_train, val=num_val, test=num_test)
    for key, count in counts.items():
        if isinstance(count, bool) or not isinstance(
                count, int) or count < (key == 'train'):
            raise ValueError(
                f'num_{key} must be an int >= {int(key == "train")}, got '
                f'{count!r}.')
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f'seed must be an int >= 0, got {seed!r}.')
    if style not in STYLES:
        raise ValueError(
            f'Unknown style {style!r}; valid styles are {list(STYLES)}.')
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f'size must be an int >= 8, got {size!r}.')

    def samples():
        for label, name in enumerate(PROCEDURAL_CLASSES):
            folder = class_folder(name)
            index = 0
            for split_index, (key, count) in enumerate(counts.items()):
                for i in range(count):
                    rng = np.random.default_rng([seed, label, split_index, i])
                    image, _ = render_texture(name, rng, size, style)
                    yield (key, f'{folder}/{folder}_{index}.png', label, name,
                           image)
                    index += 1

    return write_coop_dataset(out_dir, PROCEDURAL_SPLIT_FILE, samples(),
                              overwrite)


def generator_command(data_root: str, **kwargs) -> str:
    """The generator's command line that writes ``data_root``.

    Args:
        data_root (str): The output folder.
        **kwargs: Arguments of :func:`make_procedural_dataset` that differ
            from its defaults (``num_train``, ``size``, ...).

    Returns:
        str: E.g. ``'python tools/dataset_converters/make_procedural_dtd.py
        data/procdtd'``.
    """
    defaults = dict(
        num_train=32,
        num_val=8,
        num_test=40,
        size=64,
        seed=0,
        style='downstream')
    flags = ''.join(f" --{key.replace('_', '-')} {value}"
                    for key, value in kwargs.items()
                    if key in defaults and value != defaults[key])
    return f'python {PROCEDURAL_GENERATOR} {shlex.quote(data_root)}{flags}'


def missing_split_message(data_root: str) -> str:
    """The error for an existing ``data_root`` without the split file.

    Args:
        data_root (str): The folder that lacks
            :data:`PROCEDURAL_SPLIT_FILE`.

    Returns:
        str: The message, naming the generator command that writes it.
    """
    return (
        f"CoOpProceduralDTD: data_root '{data_root}' exists but has no "
        f"'{PROCEDURAL_SPLIT_FILE}' (an interrupted or foreign folder?). The "
        'procedural mini-DTD is written on first use only where no folder '
        'exists, never into an existing one. Remove the folder to have the '
        f'next run write it (rm -r {shlex.quote(data_root)}), or write it '
        f'with `{generator_command(data_root)} --overwrite` (replaces its '
        'images/ and split file, keeps other files), or point data_root at '
        'the folder that holds the split file.')


def ensure_procedural_dataset(data_root: str) -> bool:
    """Write the default procedural mini-DTD if ``data_root`` is absent.

    The dataset is deterministic, so writing it on first use gives the same
    bytes as the generator command (:func:`generator_command`) with the
    arguments :data:`FIRST_USE_ARGS`. It is written through a temporary
    folder renamed into place
    (:func:`~mmprompt.offline.writer.write_dataset_atomically`): ranks of a
    distributed run that write at once all end up using the first complete
    copy, and a run killed while writing leaves no folder behind.
    :class:`~mmprompt.datasets.CoOpProceduralDTD` calls it when its
    ``data_root`` is missing.

    Args:
        data_root (str): The dataset folder.

    Returns:
        bool: True if this call wrote the dataset; False if it was there
        (or another process wrote it meanwhile).

    Raises:
        PathNotFoundError: If ``data_root`` exists without the split file;
            nothing is written into an existing folder.
    """
    split_path = osp.join(data_root, PROCEDURAL_SPLIT_FILE)
    if osp.lexists(data_root):
        if osp.isfile(split_path):
            return False
        raise PathNotFoundError(missing_split_message(data_root))
    command = generator_command(data_root, **FIRST_USE_ARGS)
    print_log(
        f"CoOpProceduralDTD: data_root '{data_root}' does not exist; writing "
        'the procedural mini-DTD there (first use; deterministic, the same '
        f'files as `{command}`).',
        logger='current')
    start = time.perf_counter()
    try:
        split = make_procedural_dataset(data_root, **FIRST_USE_ARGS)
    except FileExistsError:
        if not osp.isfile(split_path):
            raise
        print_log(
            f"CoOpProceduralDTD: another process wrote '{data_root}' first; "
            'using its copy.',
            logger='current')
        return False
    counts = ' / '.join(f'{len(split[key])} {key}' for key in split)
    print_log(
        f"CoOpProceduralDTD: wrote '{data_root}' ({counts} images) in "
        f'{time.perf_counter() - start:.1f} s.',
        logger='current')
    return True
