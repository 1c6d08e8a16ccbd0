"""Float seconds -> int64 microseconds, checked, in one pass (layouts that store time as seconds).

The numpy version (`rint(ts * 1e6).astype(int64)` plus a finiteness and range check) makes five
passes and three temporaries over the column; this kernel reads each timestamp once and writes its
microsecond value, with the same float64 arithmetic, so the results are identical.
"""

from __future__ import annotations

import numba
import numpy as np

_LIMIT = 2.0**63  # |µs| must stay below this to fit int64
_BLOCK = 2048


@numba.njit(cache=True, nogil=True)
def _to_us(ts: np.ndarray, out: np.ndarray) -> int:
    """out[i] = rint(ts[i] * 1e6); returns the first i whose value is NaN, infinite or beyond int64."""
    n = ts.shape[0]
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        bad = False
        for i in range(start, stop):
            v = ts[i] * 1e6
            ok = abs(v) < _LIMIT  # False for NaN
            bad |= not ok
            out[i] = np.int64(np.rint(v)) if ok else 0
        if bad:
            for i in range(start, stop):
                if not abs(ts[i] * 1e6) < _LIMIT:
                    return i
    return -1


def seconds_to_us(ts: np.ndarray) -> tuple[np.ndarray, int]:
    """(int64 µs rounded to nearest, index of the first bad timestamp or -1) for float seconds `ts`.

    float64 keeps µs exact up to about 2^53 µs (285 years), far beyond any recording's clock.
    """
    ts = np.ascontiguousarray(ts, dtype=np.float64)
    out = np.empty(ts.shape[0], np.int64)
    return out, (int(_to_us(ts, out)) if ts.size else -1)
