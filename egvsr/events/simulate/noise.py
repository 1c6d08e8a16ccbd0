"""Shot noise of one interval: Poisson events at uniform pixels and times, random polarity.

Drawn from a generator keyed by (clip noise key, interval index), so a clip's noise does not depend
on how its pixels are processed; both model implementations take the same list. Splitting one
Poisson(rate * pixels * dt) count uniformly over pixels is the same as an independent Poisson
process of `rate` per pixel. Each event is one random integer key (pixel, time on a grid of 2**20
steps per interval, polarity bit), so one integer sort orders the list by pixel, then time.
"""

from __future__ import annotations

import numpy as np

TIME_BITS = 20
_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int8))


def shot_events(key: int, interval: int, n_pix: int, rate_per_us: float, ta: float, dt: float):
    """(pixel, time µs, polarity) of the interval's shot events, sorted by pixel, then time."""
    lam = rate_per_us * dt * n_pix
    if lam <= 0.0:
        return _EMPTY
    rng = np.random.default_rng([int(key), int(interval)])
    n = int(rng.poisson(lam))
    code = np.sort(rng.integers(0, n_pix << (TIME_BITS + 1), n, dtype=np.int64))
    pix = code >> (TIME_BITS + 1)
    step = (code >> 1) & ((1 << TIME_BITS) - 1)
    t = ta + (step + 0.5) * (dt / (1 << TIME_BITS))
    p = np.where(code & 1, 1, -1).astype(np.int8)
    return pix, t, p
