"""Frames in, flat float32 luminance in [0, 1] out: what the event model reads every (sub-)frame.

Gray frames take one fused numba pass (finite check, range, scale, clip) into a buffer the caller may
reuse; RGB is weighted first (ITU-R BT.601). The simulator converts every sub-frame, so this pass is part
of its per-step cost (docs/simulator.md, "Speed"). Float frames must lie in [0, 1]: an overshoot within
`FLOAT_TOLERANCE` (interpolation, the luma weights' rounding) is clipped, anything further is refused, as a
0..255 float frame clipped to [0, 1] would silently lose almost all of its contrast.
"""

from __future__ import annotations

import numba
import numpy as np

from egvsr.errors import EventValidationError
from egvsr.events.stream import native_order

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as OpenCV's RGB -> gray
#: how far beyond [0, 1] a float frame may reach and still be read (clipped); further is refused
FLOAT_TOLERANCE = 1e-3


@numba.njit(cache=True)
def _clip_into(a, scale, low, high, out):
    """out = clip(float32(a) * scale, 0, 1) for a 2-D array; returns (whether a is all finite, whether
    every value of a lies in [low, high]).

    Branch-free (v - v is 0 exactly for finite v), so the loop vectorizes (a running min and max would
    not: 10x slower).
    """
    h, w = a.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    finite = inside = True
    for r in range(h):
        row = out[r * w:(r + 1) * w]
        ok = within = True
        for c in range(w):
            x = a[r, c]
            ok &= (x - x) == 0  # finite in its own type (float64 1e300 is: the range check refuses it)
            within &= (x >= low) & (x <= high)
            v = np.float32(x) * scale
            v = v if v > zero else zero
            row[c] = v if v < one else one
        finite &= ok
        inside &= within
    return finite, inside


def _bounds(dtype: np.dtype) -> tuple[np.generic, np.generic]:
    """[low, high] in `dtype` holding exactly the values within `FLOAT_TOLERANCE` of [0, 1] (uint8: all),
    so the range check compares in the frame's own type (as fast as the clip)."""
    if dtype == np.uint8:
        return np.uint8(0), np.uint8(255)
    low, high = dtype.type(-FLOAT_TOLERANCE), dtype.type(1.0 + FLOAT_TOLERANCE)
    if float(low) < -FLOAT_TOLERANCE:  # rounded outward: the next value inward
        low = np.nextafter(low, dtype.type(0))
    if float(high) > 1.0 + FLOAT_TOLERANCE:
        high = np.nextafter(high, dtype.type(0))
    return low, high


def _out_of_range(frame: np.ndarray, where: str) -> EventValidationError:
    """The refusal of a float frame beyond [0, 1] (and `FLOAT_TOLERANCE`), naming its range."""
    a = np.asarray(frame)
    lo, hi = float(a.min()), float(a.max())
    advice = "; divide it by 255 if it holds 0..255 levels" if hi > 1 else ""
    return EventValidationError(
        f"{where}: float values from {lo:.6g} to {hi:.6g}; expected intensities in [0, 1] (uint8 frames "
        f"hold 0..255){advice}"
    )


def _checked_dtype(a: np.ndarray, where: str = "frame") -> np.ndarray:
    """`a` if its dtype is one a frame may have (uint8 0..255, or float 0..1), as an array the numba pass
    takes: native byte order, float16 (and float wider than 64 bits) as float32 / float64. Any other
    dtype is refused, RGB included (the luma product would make uint16 or bool frames float)."""
    if a.dtype != np.uint8 and a.dtype.kind != "f":
        raise EventValidationError(f"{where}: expected uint8 or float in [0, 1], got dtype {a.dtype}")
    if a.dtype.itemsize == 2:  # float16: numba has no half floats; float32 holds every value (inf, NaN too)
        return a.astype(np.float32)
    if a.dtype.itemsize > 8:  # long double: a finite value beyond float64 saturates there (never inf)
        top = np.finfo(np.float64).max
        return np.where(np.isfinite(a), np.clip(a, -top, top), a).astype(np.float64)
    return native_order(a)


def to_luminance(frame: np.ndarray, height: int, width: int, out: np.ndarray | None = None,
                 where: str = "frame") -> np.ndarray:
    """Flat float32 luminance in [0, 1] of one frame, written into `out` (float32, height*width) if given.

    Accepts (H, W), (H, W, 1) or (H, W, 3) RGB, uint8 (0..255) or float (0..1, overshoots within
    `FLOAT_TOLERANCE` clipped), in either byte order. `where` names the frame in errors ("frame 3").
    """
    a = _checked_dtype(np.asarray(frame), where)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    bounds = _bounds(a.dtype)
    if a.ndim == 3 and a.shape[2] == 3:
        bounds = (np.float32(-np.inf), np.float32(np.inf))  # checked here: the luma's range follows
        if a.dtype != np.uint8 and a.size:  # the channels' own range (a luma can hide one channel's overshoot)
            lo, hi = float(a.min()), float(a.max())  # NaN and inf: named below, by position
            if np.isfinite(lo) and np.isfinite(hi) and not -FLOAT_TOLERANCE <= lo <= hi <= 1 + FLOAT_TOLERANCE:
                raise _out_of_range(frame, where)
        a = a.astype(np.float32) @ (LUMA / 255.0 if a.dtype == np.uint8 else LUMA)
    if a.ndim != 2 or a.shape != (height, width):
        raise EventValidationError(
            f"{where}: expected shape ({height}, {width}) gray or ({height}, {width}, 3) RGB, "
            f"got {np.asarray(frame).shape}"
        )
    scale = np.float32(1.0 / 255.0) if a.dtype == np.uint8 else np.float32(1.0)
    if out is None:
        out = np.empty(height * width, np.float32)
    finite, inside = _clip_into(a, scale, *bounds, out)
    if not finite:
        row, col = (int(v) for v in np.argwhere(~np.isfinite(a))[0])
        raise EventValidationError(
            f"{where}: value {float(a[row, col])!r} at row {row}, column {col}; expected finite intensities "
            "(uint8 0..255 or float 0..1)"
        )
    if not inside:
        raise _out_of_range(frame, where)
    return out
