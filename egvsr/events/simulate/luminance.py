"""Frames in, flat float32 luminance in [0, 1] out: what the event model reads every (sub-)frame.

Gray frames take one fused numba pass (finite check, scale, clip) into a buffer the caller may reuse;
RGB is weighted first (ITU-R BT.601). The simulator converts every sub-frame, so this pass is part of
its per-step cost (docs/simulator.md, "Speed").
"""

from __future__ import annotations

import numba
import numpy as np

from egvsr.errors import EventValidationError
from egvsr.events.stream import native_order

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as OpenCV's RGB -> gray


@numba.njit(cache=True)
def _clip_into(a, scale, out):
    """out = clip(float32(a) * scale, 0, 1) for a 2-D array; returns False if a holds NaN or inf.

    Branch-free (v - v is 0 exactly for finite v), so the loop vectorizes.
    """
    h, w = a.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    finite = True
    for r in range(h):
        row = out[r * w:(r + 1) * w]
        ok = True
        for c in range(w):
            x = a[r, c]
            ok &= (x - x) == 0  # finite in its own type (float64 1e300 is, and clips to 1)
            v = np.float32(x) * scale
            v = v if v > zero else zero
            row[c] = v if v < one else one
        finite &= ok
    return finite


def _checked_dtype(a: np.ndarray) -> np.ndarray:
    """`a` if its dtype is one a frame may have (uint8 0..255, or float 0..1), as an array the numba pass
    takes: native byte order, float16 (and float wider than 64 bits) as float32 / float64. Any other
    dtype is refused, RGB included (the luma product would make uint16 or bool frames float)."""
    if a.dtype != np.uint8 and a.dtype.kind != "f":
        raise EventValidationError(f"frame: expected uint8 or float in [0, 1], got dtype {a.dtype}")
    if a.dtype.itemsize == 2:  # float16: numba has no half floats; float32 holds every value (inf, NaN too)
        return a.astype(np.float32)
    if a.dtype.itemsize > 8:  # long double: a finite value beyond float64 saturates there (never inf)
        top = np.finfo(np.float64).max
        return np.where(np.isfinite(a), np.clip(a, -top, top), a).astype(np.float64)
    return native_order(a)


def to_luminance(frame: np.ndarray, height: int, width: int, out: np.ndarray | None = None) -> np.ndarray:
    """Flat float32 luminance in [0, 1] of one frame, written into `out` (float32, height*width) if given.

    Accepts (H, W), (H, W, 1) or (H, W, 3) RGB, uint8 (0..255) or float (0..1), in either byte order.
    """
    a = _checked_dtype(np.asarray(frame))
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] == 3:
        a = a.astype(np.float32) @ (LUMA / 255.0 if a.dtype == np.uint8 else LUMA)
    if a.ndim != 2 or a.shape != (height, width):
        raise EventValidationError(
            f"frame: expected shape ({height}, {width}) gray or ({height}, {width}, 3) RGB, "
            f"got {np.asarray(frame).shape}"
        )
    scale = np.float32(1.0 / 255.0) if a.dtype == np.uint8 else np.float32(1.0)
    if out is None:
        out = np.empty(height * width, np.float32)
    if not _clip_into(a, scale, out):
        row, col = (int(v) for v in np.argwhere(~np.isfinite(a))[0])
        raise EventValidationError(
            f"frame: value {float(a[row, col])!r} at row {row}, column {col}; expected finite intensities "
            "(uint8 0..255 or float 0..1)"
        )
    return out
