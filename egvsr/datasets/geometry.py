"""Patch and scale bookkeeping: where an HR crop sits on the sensor and how it maps to LR pixels.

The ground-truth rule (see docs/datasets.md): for scale `s` and LR size h×w the HR crop is
H = floor(s·h) × W = floor(s·w) sensor pixels and the LR image is that crop resized to h×w, so the
effective scale is H/h (≈ s). The products are exact, of the scale as written (`exact_scale`): 1.4 × 180
is 252, where the float product is 251.99999999999997. A sensor pixel centre (x + 0.5) maps to the LR coordinate
(x - x0 + 0.5)·w/W - 0.5 (align_corners=False convention), the same map the resize and the
event kernels use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer, is_real


def fmt_scale(s: float) -> str:
    """A scale as short as `:g` writes it, but exact: 16.000000001 is not shown as 16 (it is not scored
    as 16: its output size differs), so what a table or message shows is what was checked and scored."""
    short = f"{s:g}"
    return short if float(short) == s else repr(float(s))


def exact_scale(scale: float) -> Fraction:
    """A finite scale as the decimal written for it (its repr, the shortest that reads back as the same
    float): 1.4 is 7/5, not the binary 1.3999999999999999112, so sizes are floors of what the user wrote."""
    return Fraction(repr(float(scale)))


def check_scales(scales: object, where: str) -> list[float]:
    """Scales to score: a non-empty list of distinct finite numbers >= 1 (`where` names their source)."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, (list, tuple)):
        raise ConfigError(f"{where} {scales!r}: expected a list of scales, e.g. [2, 4]")
    if not scales:
        raise ConfigError(f"{where}: give at least one scale")
    out: list[float] = []
    for s in scales:
        v = _scale(s, where)
        if v in out:
            raise ConfigError(f"{where}: scale {fmt_scale(v)} is given twice; give each scale once")
        out.append(v)
    return out


def _scale(s, where: str) -> float:
    """One scale: a finite number >= 1 (the output is the recording at that factor); not a bool."""
    try:
        if isinstance(s, bool):
            raise TypeError
        v = float(s)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: {s!r} is not a number") from None
    if not 1 <= v < float("inf"):
        raise ConfigError(f"{where} {s}: expected a finite scale >= 1 (the super-resolution factor)")
    return v


def hr_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """(floor(s·h), floor(s·w)), exactly (`exact_scale`): the output size for LR size (h, w) at scale `s`
    (the models' rule)."""
    h, w = check_sides((h, w), ("h", "w"))
    if not (is_real(scale) and 0 < scale < float("inf")):
        raise ConfigError(f"scale {scale!r}: expected a finite number > 0 (the super-resolution factor)")
    s = exact_scale(scale)
    return math.floor(s * h), math.floor(s * w)


def check_sides(values: tuple, names: tuple[str, str]) -> tuple[int, int]:
    """Two image sides as ints, each a whole number >= 1 (not a bool, float or string), else one
    `ConfigError` naming the argument (`names`)."""
    for v, name in zip(values, names):
        if not is_integer(v) or v < 1:
            raise ConfigError(f"{name} {v!r}: expected a whole number of pixels >= 1")
    return int(values[0]), int(values[1])


def lr_size_for_frame(height: int, width: int, scale: float) -> tuple[int, int]:
    """LR size floor(height/s) × floor(width/s) for a whole frame, exactly, so its HR crop floor(s·h) fits."""
    s = exact_scale(scale)
    h, w = math.floor(int(height) / s), math.floor(int(width) / s)
    if h < 1 or w < 1:
        raise ConfigError(
            f"scale {fmt_scale(scale)}: a {width}x{height} frame (width x height) is smaller than one LR pixel at "
            "this scale; expected a scale at most min(height, width)"
        )
    return h, w


@dataclass(frozen=True)
class CropGeometry:
    """An HR crop (y0, x0, H, W) of a sensor frame and the LR size (h, w) it is resized to."""

    y0: int
    x0: int
    H: int
    W: int
    h: int
    w: int

    @property
    def scale_eff(self) -> tuple[float, float]:
        """The effective (vertical, horizontal) scale H/h, W/w."""
        return self.H / self.h, self.W / self.w

    def sensor_to_lr(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous LR coordinates of sensor pixel centres (x, y) (pixel-centre convention)."""
        xl = (np.asarray(x, np.float64) - self.x0 + 0.5) * (self.w / self.W) - 0.5
        yl = (np.asarray(y, np.float64) - self.y0 + 0.5) * (self.h / self.H) - 0.5
        return xl, yl

    def nearest_lr_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """The LR row of each crop row and the LR column of each crop column whose centre is nearest to the crop
        pixel's centre: `sensor_to_lr` rounded (a tie, at a half, upward), in exact integer arithmetic."""
        rows = ((2 * np.arange(self.H, dtype=np.int64) + 1) * self.h) // (2 * self.H)
        cols = ((2 * np.arange(self.W, dtype=np.int64) + 1) * self.w) // (2 * self.W)
        return rows, cols

    def hr_slices(self) -> tuple[slice, slice]:
        """Row and column slices of the crop in sensor pixels."""
        return slice(self.y0, self.y0 + self.H), slice(self.x0, self.x0 + self.W)


def as_pair(v: int | tuple[int, int], what: str = "patch_size") -> tuple[int, int]:
    """An int or (height, width) as a pair of positive ints (`what` names the argument in errors). Only
    integers count: a str ("16" is no (1, 6)), a float (8.9 is no 8) or a bool (True is no 1) is refused."""
    if is_integer(v):
        h = w = int(v)  # type: ignore[call-overload]
    elif isinstance(v, (tuple, list, np.ndarray)) and np.ndim(v) == 1 and len(v) == 2 \
            and all(is_integer(x) for x in v):
        h, w = (int(x) for x in v)
    else:
        raise ConfigError(f"{what} {v!r}: expected a positive integer or (height, width) of positive integers")
    if h < 1 or w < 1:
        raise ConfigError(f"{what} {v!r}: expected positive sides")
    return h, w


def frame_geometry(height: int, width: int, scale: float) -> CropGeometry:
    """Whole-frame geometry: the largest LR size at `scale`, HR crop centred on the frame."""
    h, w = lr_size_for_frame(height, width, scale)
    H, W = hr_size(h, w, scale)
    return CropGeometry((height - H) // 2, (width - W) // 2, H, W, h, w)


def patch_geometry(
    height: int, width: int, patch: int | tuple[int, int], scale: float, rng: np.random.Generator
) -> CropGeometry:
    """A random LR patch of size `patch` at `scale`: HR crop of floor(s·patch) at a uniform offset."""
    h, w = as_pair(patch)
    H, W = hr_size(h, w, scale)
    if H > height or W > width:
        raise ConfigError(
            f"patch_size {h}x{w} at scale {fmt_scale(scale)} needs an HR crop of {H}x{W}, larger than the "
            f"{height}x{width} frame; use a smaller patch_size or scale range"
        )
    y0 = int(rng.integers(0, height - H + 1))
    x0 = int(rng.integers(0, width - W + 1))
    return CropGeometry(y0, x0, H, W, h, w)


def query_grid(H: int, W: int) -> np.ndarray:
    """(H, W, 2) float32 pixel-centre coordinates in [-1, 1], last axis (y, x) (LIIF's make_coord)."""
    H, W = check_sides((H, W), ("H", "W"))
    ys = -1.0 + (2.0 * np.arange(H) + 1.0) / H
    xs = -1.0 + (2.0 * np.arange(W) + 1.0) / W
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1)
    return grid.astype(np.float32)


def cell_size(H: int, W: int) -> np.ndarray:
    """(2,) float32 size of one output pixel in the [-1, 1] coordinate frame, (y, x) order."""
    return np.array([2.0 / H, 2.0 / W], np.float32)
