"""Per-axis bilinear tap tables for building a representation directly at a target resolution.

A sensor pixel centre `c` maps to `u = (c + 0.5) * out / size - 0.5` in output pixel units (the same
convention as area-preserving image resizing). Its unit weight is split between `floor(u)` and
`floor(u) + 1` in proportion to the distance; a tap that falls outside the output is folded into the
nearest valid pixel, so every event keeps its full mass (the weights of each row of the table sum to 1).
"""

from __future__ import annotations

import numpy as np

from egvsr.errors import ConfigError


def axis_taps(size: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (i0, i1, w0, w1) for each of `size` sensor coordinates mapped onto `out` pixels.

    i0/i1 are uint32 output indices in [0, out), w0/w1 float32 weights with w0 + w1 == 1.
    """
    if out < 1:
        raise ConfigError(f"target size: expected at least 1 pixel per side, got {out}")
    c = np.arange(size, dtype=np.float64)
    u = (c + 0.5) * (out / size) - 0.5
    f = np.floor(u)
    w1 = u - f
    i0 = f.astype(np.int64)
    i1 = i0 + 1
    # fold taps outside [0, out) into the nearest valid pixel: clamping keeps the weight
    i0 = np.clip(i0, 0, out - 1).astype(np.uint32)
    i1 = np.clip(i1, 0, out - 1).astype(np.uint32)
    w1 = w1.astype(np.float32)
    w0 = (np.float32(1.0) - w1).astype(np.float32)
    return i0, i1, w0, w1


def splat_tables(
    height: int, width: int, out_height: int, out_width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row and column tap tables for a (height, width) sensor splatted onto (out_height, out_width).

    Row indices are pre-multiplied by `out_width`, so a tap's flat index is `row_index + col_index`.
    Returns (r0, r1, rw0, rw1, c0, c1, cw0, cw1).
    """
    r0, r1, rw0, rw1 = axis_taps(height, out_height)
    c0, c1, cw0, cw1 = axis_taps(width, out_width)
    ow = np.uint32(out_width)
    return r0 * ow, r1 * ow, rw0, rw1, c0, c1, cw0, cw1
