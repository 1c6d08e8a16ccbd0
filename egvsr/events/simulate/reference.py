"""The event model of `esim.py`, vectorized with numpy: the reference the kernels are tested against.

Every pixel is processed every interval (no prefilter). All candidate events (threshold crossings
and the interval's shot-noise list) are built as flat arrays and put in per-pixel time order by one
lexsort; the sequential refractory rule runs as a loop over the rank within a pixel, vectorized
across pixels.
Same formulas, same order of floating-point operations, same output order as the numba kernel.
"""

from __future__ import annotations

import numpy as np

from egvsr.events.simulate.esim import NEVER, TIE


def _crossing_time(k, pol, da, step, span, ta, dt):
    num = np.where(pol > 0, k * step - da, da + k * step)
    safe = np.where(span > 0.0, span, 1.0)
    frac = np.where(span > 0.0, num / safe, 0.0)
    return ta + np.clip(frac, 0.0, 1.0) * dt


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


class NumpyESIM:
    """Per-pixel state and the numpy step of the model (same interface as `esim.NumbaESIM`; one
    thread whatever `threads` says)."""

    def __init__(self, cp: np.ndarray, cn: np.ndarray, width: int, eps: float, leak: float,
                 refractory: float, threads: int = 1) -> None:
        self.cp, self.cn = cp, cn
        self.width, self.eps, self.leak = int(width), float(eps), float(leak)
        self.refractory = float(refractory)

    def start(self, I: np.ndarray, ref_offset: np.ndarray | None, t0: float) -> None:
        self.L = np.log(I.astype(np.float64) + self.eps)
        self.ref = self.L.copy()
        if ref_offset is not None:
            self.ref -= ref_offset
        self.last = np.full(I.shape[0], NEVER, np.int64)

    def step(self, I1: np.ndarray, ta: float, tb: float, shots: tuple) -> tuple:
        cp, cn, ref = self.cp, self.cn, self.ref
        ta = float(ta)
        dt = float(tb) - ta
        npix = I1.shape[0]
        L1 = np.log(I1.astype(np.float64) + self.eps)
        lk = self.leak * cp * dt
        da = self.L - ref
        db = (L1 - ref) + lk
        on = db + TIE >= cp
        off = ~on & (TIE - db >= cn)
        n = np.zeros(npix, np.int64)
        n[on] = np.floor((db[on] + TIE) / cp[on]).astype(np.int64)
        n[off] = np.floor((TIE - db[off]) / cn[off]).astype(np.int64)
        pol = np.where(on, 1, np.where(off, -1, 0))
        step = np.where(on, cp, np.where(off, cn, 0.0))
        span = np.where(on, db - da, np.where(off, da - db, 0.0))
        spix, t_shot, p_shot = shots
        ns = np.bincount(spix, minlength=npix)

        # every candidate: pixel, time, polarity, kind (0 crossing, 1 shot), index within its kind
        cpix = np.repeat(np.arange(npix), n)
        k = _ranks(n) + 1
        t_cross = _crossing_time(k, pol[cpix], da[cpix], step[cpix], span[cpix], ta, dt)
        j = _ranks(ns)  # shots come sorted by pixel, then time
        P = np.concatenate([cpix, spix])
        T = np.concatenate([t_cross, t_shot])
        Q = np.concatenate([pol[cpix], p_shot])
        kind = np.concatenate([np.zeros(cpix.size, np.int64), np.ones(spix.size, np.int64)])
        idx = np.concatenate([k, j])
        order = np.lexsort((idx, kind, T, P))  # per pixel, in time order; crossings first on ties
        P, T, Q = P[order], T[order], Q[order]
        rank = _ranks(np.bincount(P, minlength=npix)) if P.size else P
        ti = np.floor(T).astype(np.int64)
        ok = np.zeros(P.size, bool)
        lst = self.last
        for r in range(int(rank.max(initial=-1)) + 1):  # the refractory rule, one rank at a time
            sel = np.flatnonzero(rank == r)
            px = P[sel]
            good = (lst[px] == NEVER) | ((ti[sel] - lst[px]) >= self.refractory)
            ok[sel] = good
            lst[px[good]] = ti[sel][good]
        ref[:] = (ref - lk) + (pol * n) * step
        self.L = L1
        P, ti, Q, rank = P[ok], ti[ok], Q[ok], rank[ok]
        out = np.lexsort((rank, P, ti))
        P, ti, Q = P[out], ti[out], Q[out]
        w = self.width
        return (P % w).astype(np.uint16), (P // w).astype(np.uint16), ti, Q.astype(np.int8)
