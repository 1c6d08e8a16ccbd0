"""Single-pass invariant checks over event arrays (numba, no temporaries).

Each returns the first offending index or -1, so a 100-million-event stream is checked in one read
without allocating `np.diff`-sized intermediates. The arrays are scanned in blocks with a branch-free
test per element (which LLVM turns into SIMD code); only a block that fails is scanned again for the
exact index. An element-wise early-exit loop cannot be vectorized and costs ~4x more per event.
"""

from __future__ import annotations

import numba
import numpy as np

from egvsr.errors import EventValidationError

BLOCK = 2048
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@numba.njit(cache=True, nogil=True)
def first_decrease(t: np.ndarray) -> int:
    """Index i of the first t[i] < t[i-1], or -1 when `t` is non-decreasing."""
    n = t.shape[0]
    for start in range(1, n, BLOCK):
        stop = min(n, start + BLOCK)
        # two shifted views indexed from 0: `t[i - 1]` with a signed index would make numba test for
        # negative (wrap-around) indices, which keeps LLVM from vectorizing the loop (4x slower)
        cur, prev = t[start:stop], t[start - 1:stop - 1]
        bad = False
        for j in range(stop - start):
            bad |= cur[j] < prev[j]
        if bad:
            for j in range(stop - start):
                if cur[j] < prev[j]:
                    return start + j
    return -1


@numba.njit(cache=True, nogil=True)
def first_outside(a: np.ndarray, lo: int, hi: int) -> int:
    """Index of the first element outside [lo, hi) (NaN counts as outside), or -1."""
    n = a.shape[0]
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        bad = 0
        for i in range(start, stop):
            v = a[i]
            bad |= ~((v >= lo) & (v < hi))
        if bad:
            for i in range(start, stop):
                v = a[i]
                if not (v >= lo and v < hi):
                    return i
    return -1


@numba.njit(cache=True, nogil=True)
def first_not_unit(p: np.ndarray) -> int:
    """Index of the first polarity that is neither +1 nor -1, or -1."""
    n = p.shape[0]
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        bad = 0
        for i in range(start, stop):
            v = p[i]
            bad |= (v != 1) & (v != -1)
        if bad:
            for i in range(start, stop):
                v = p[i]
                if v != 1 and v != -1:
                    return i
    return -1


@numba.njit(cache=True, nogil=True)
def maybe_invalid(x: np.ndarray, y: np.ndarray, p_bytes: np.ndarray, width, height) -> bool:
    """False when every x < width, y < height and p is +1 or -1, in one pass; True otherwise.

    For x, y uint16 with `width`, `height` as np.uint16 and int8 polarities viewed as uint8 (so the
    comparisons stay 16 and 8 bits wide and vectorize); -1 is 0xFF and +1 is 0x01, the only bytes b
    with (b + 1) & 0xFD == 0. A True is only a hint: the caller runs the exact checks
    (`first_outside`, `first_not_unit`) to find and report the first bad element.
    """
    n = x.shape[0]
    one, mask = np.uint8(1), np.uint8(0xFD)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        bad = np.uint8(0)
        for i in range(start, stop):
            bad |= np.uint8(x[i] >= width) | np.uint8(y[i] >= height) | (np.uint8(p_bytes[i] + one) & mask)
        if bad:
            return True
    return False



def is_integer(value: object) -> bool:
    """An int (Python's or NumPy's), not a bool: what integer arguments take (1.0, "1" and True are refused
    rather than truncated or read as text)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> bool:
    """A real number (int or float, Python's or NumPy's), neither a bool nor a string ("0.2" or True is no
    threshold, time or scale)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def is_frame_rate(value: object) -> bool:
    """A frame rate an `fps` argument takes: a real number (`is_real`), finite and > 0 (not True, "25" or inf)."""
    return is_real(value) and 0 < value < float("inf")  # type: ignore[operator]


def as_array(value: object, what: str) -> np.ndarray:
    """`np.asarray(value)`, with a ragged nest of sequences (frames of different sizes, a list inside a list
    of times) refused as an `EventValidationError` naming `what`, not numpy's bare ValueError."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise EventValidationError(f"{what}: expected an array of one shape, got a ragged "
                                   f"{type(value).__name__} (items of different shapes or lengths)") from None


def first_beyond_int64(t: np.ndarray) -> int:
    """Index of the first unsigned 64-bit value of `t` at or above 2**63 (no int64 holds it), or -1."""
    if t.dtype.kind == "u" and t.dtype.itemsize >= 8 and t.size:
        bad = np.flatnonzero(t > INT64_MAX)
        return int(bad[0]) if bad.size else -1
    return -1


def int64_times(t: np.ndarray, what: str) -> np.ndarray:
    """Integer timestamps `t` as int64 µs; uint64 values at or above 2**63 are refused naming `what` and
    the index (a plain cast would wrap them negative), as the file readers refuse them."""
    k = first_beyond_int64(t)
    if k >= 0:
        raise EventValidationError(
            f"{what}: {int(t[k])} at index {k} is beyond the int64 microsecond range (>= 2**63); "
            "expected timestamps below 2**63 µs"
        )
    return t.astype(np.int64, copy=False)


def first_not_increasing(t: np.ndarray) -> int:
    """Index i of the first t[i] <= t[i-1], or -1 when `t` strictly increases. Neighbours are compared,
    never subtracted: `np.diff` of int64 times wraps around near the int64 limits, so a time that jumps
    from near 2**63 to near -2**63 would look like a step forward. For frame times (small arrays)."""
    t = np.asarray(t)
    bad = np.flatnonzero(t[1:] <= t[:-1]) if t.size > 1 else ()
    return int(bad[0]) + 1 if len(bad) else -1


def check_increasing_times(t: np.ndarray, what: str, decreasing: str = "decreasing") -> None:
    """Raise `EventValidationError` naming `what` unless the int64 times `t` strictly increase (the word
    for a step back is `decreasing`); compared by `first_not_increasing`, so no wrap near the int64 limits."""
    i = first_not_increasing(t)
    if i >= 0:
        kind = "duplicated" if t[i] == t[i - 1] else decreasing
        raise EventValidationError(f"{what}: timestamps must strictly increase; {kind} at index {i} "
                                   f"({int(t[i - 1])} -> {int(t[i])} µs)")
