"""Single-pass invariant checks over event arrays (numba, no temporaries).

Each returns the first offending index or -1, so a 100-million-event stream is checked in one read
without allocating `np.diff`-sized intermediates.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def first_decrease(t: np.ndarray) -> int:
    """Index i of the first t[i] < t[i-1], or -1 when `t` is non-decreasing."""
    for i in range(1, t.shape[0]):
        if t[i] < t[i - 1]:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def first_outside(a: np.ndarray, lo: int, hi: int) -> int:
    """Index of the first element outside [lo, hi), or -1."""
    for i in range(a.shape[0]):
        v = a[i]
        if v < lo or v >= hi:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def first_not_unit(p: np.ndarray) -> int:
    """Index of the first polarity that is neither +1 nor -1, or -1."""
    for i in range(p.shape[0]):
        v = p[i]
        if v != 1 and v != -1:
            return i
    return -1
