"""The ESIM-style event model as numba kernels: one call per (sub-)frame interval.

Per pixel, D(t) = L(t) - ref(t) with L = log(I + eps) linear in time between two frames (a leak
lowers ref at `leak * Cp` per µs). Each time D reaches +Cp an ON event fires and ref steps up by Cp;
at -Cn an OFF event fires and ref steps down by Cn; the event time is the interpolated crossing time.
Shot noise (a Poisson list per interval, `noise.shot_events`) joins each pixel's candidates in time
order (a crossing at the same time goes first) and does not move ref. A candidate is emitted only
if at least `refractory` µs passed since the pixel's last emitted event; crossings move ref whether
or not they are emitted (as ESIM does). Times are floored to int µs; an interval's events come out
stably sorted by time (ties: pixel raster order, then order).

Speed: most pixels do not fire in a short sub-step. Each pixel keeps a band of input values, float32
lo < I < hi, inside which it cannot fire: hi + eps is a lower bound of exp(ref + Cp) and lo + eps
an upper bound of exp(ref - Cn) (Taylor bounds, a 1e-9 safety margin, rounded outwards to float32,
hi lowered with the leak). One vectorized compare finds the pixels outside their band; only they
take logarithms and run the exact log-domain model, so the band changes speed, never results.
The kernels are serial on purpose: a sub-frame is too little work to pay for waking threads (on a
busy 2-core machine `parallel=True` measured 10x slower); run clips in parallel processes instead.
`egvsr.events.simulate.reference` is the plain numpy version; the tests hold the two equal.
"""

from __future__ import annotations

import math

import numba
import numpy as np

NEVER = np.int64(-(2**62))  # "this pixel has not fired yet"
MARGIN = 1e-9  # relative safety margin of the no-crossing prefilter (float64 rounding is ~1e-16)
F32_SLACK = 2.0**-22  # rounding a band edge to float32 (error <= 2**-24) on its safe side


@numba.njit(cache=True, inline="always")
def _crossing_time(k, pol, da, step, span, ta, dt):
    """Interpolated time of the k-th crossing (k >= 1)."""
    num = k * step - da if pol > 0 else da + k * step
    frac = num / span if span > 0.0 else 0.0
    if frac < 0.0:
        frac = 0.0
    elif frac > 1.0:
        frac = 1.0
    return ta + frac * dt


@numba.njit(cache=True, inline="always")
def _exp_below(y):
    """A lower bound of exp(y) for y >= 0 (Taylor polynomial of degree 4); no exp call."""
    return 1.0 + y * (1.0 + y * 0.5 * (1.0 + y / 3.0 * (1.0 + y * 0.25)))


@numba.njit(cache=True, inline="always")
def _exp_neg_above(a):
    """An upper bound of exp(-a) for a >= 0 (alternating Taylor series cut after a positive term)."""
    return 1.0 - a * (1.0 - a * 0.5 * (1.0 - a / 3.0 * (1.0 - a * 0.25)))


@numba.njit(cache=True, inline="always")
def _shrink(lk):
    """A lower bound of exp(-lk) for lk >= 0: how far a leak of lk lowers exp(ref + Cp), at most."""
    return 1.0 - lk if lk < 1.0 else 0.0


@numba.njit(cache=True, inline="always")
def _f32_below(v):
    """A float32 <= v, for the upper band edge (v > -1)."""
    return np.float32(v * (1.0 - F32_SLACK)) if v > 0.0 else np.float32(-1.0)


@numba.njit(cache=True, inline="always")
def _f32_above(v):
    """A float32 >= v, for the lower band edge."""
    return np.float32(v * (1.0 + F32_SLACK)) if v > 0.0 else np.float32(v * (1.0 - F32_SLACK))


@numba.njit(cache=True, inline="always")
def _compact(mask, act):
    """Indices i with mask[i] != 0 into act, 8 pixels at a time, branch-free; returns the count.

    `mask` holds 0/1 bytes and is padded to a multiple of 8 with zeros; `act` has room for 8 more.
    """
    words = mask.view(np.uint64)
    nc = 0
    for w in range(words.shape[0]):
        word = words[w]
        if word == 0:
            continue
        for b in range(8):
            act[nc] = w * 8 + b
            nc += np.int64((word >> np.uint64(8 * b)) & np.uint64(1))
    return nc


@numba.njit(cache=True)
def _scan(I1, lo, hi, mask, act):
    """Pixels whose intensity left their no-crossing band (indices into act); returns the count."""
    for i in range(I1.shape[0]):  # vectorized compare of float32 arrays
        v = I1[i]
        mask[i] = (v <= lo[i]) | (v >= hi[i])
    return _compact(mask, act)


@numba.njit(cache=True)
def _scan_noisy(I1, ref, lo, hi, cp, eps, leak, dt, shot_pix, mask, act, act_ns):
    """`_scan` with shot events (their pixels are always candidates) and leak (which lowers the ref
    and the band's upper edge of every pixel that stays quiet); act_ns: shots per candidate."""
    mask[: I1.shape[0]] = 0
    for s in range(shot_pix.shape[0]):
        mask[shot_pix[s]] = 1
    for i in range(I1.shape[0]):  # branch-free, so it vectorizes
        v = I1[i]
        lk = leak * cp[i] * dt
        up = (np.float64(hi[i]) + eps) * _shrink(lk)
        quiet = (mask[i] == 0) & (lo[i] < v) & ((np.float64(v) + eps) < up)
        if leak != 0.0:
            ref[i] = ref[i] - lk if quiet else ref[i]
            hi[i] = _f32_below(up - eps) if quiet else hi[i]
        mask[i] = not quiet
    nc = _compact(mask, act)
    s = 0
    for a in range(nc):  # shots per candidate (both lists are in pixel order)
        i = act[a]
        ns = 0
        while s < shot_pix.shape[0] and shot_pix[s] == i:
            ns += 1
            s += 1
        act_ns[a] = ns
    return nc


@numba.njit(cache=True)
def _step(I0, I1, ref, last, lo, hi, cp, cn, eps, leak, ta, dt, refractory, shot_pix, shot_t,
          shot_p, width, k_step, log_cache, log_step, mask, act, act_da, act_db, act_ns, act_n, act_l1):
    """One interval: find the pixels that may fire, emit their candidates, sort; update state.

    lo/hi: the no-crossing band (see the module docstring); shot_*: this interval's
    shot events sorted by pixel, then time (see `noise.shot_events`); log_cache[i] holds
    log(I + eps) of pixel i at the end of interval log_step[i] (a pixel that was a candidate in the
    previous interval reuses it as its start value: moving edges stay candidates for several
    sub-steps, and the logarithm is the largest cost per candidate); act*: scratch arrays of one
    entry per pixel, kept by the caller.
    """
    if leak == 0.0 and shot_pix.shape[0] == 0:
        nc = _scan(I1, lo, hi, mask, act)
        act_ns[:nc] = 0
    else:
        nc = _scan_noisy(I1, ref, lo, hi, cp, eps, leak, dt, shot_pix, mask, act, act_ns)
    for a in range(nc):  # pass 1: the logarithms (the start one cached from the previous interval)...
        i = act[a]
        act_da[a] = log_cache[i] if log_step[i] == k_step - 1 else math.log(np.float64(I0[i]) + eps)
        l1 = math.log(np.float64(I1[i]) + eps)
        act_l1[a] = l1
        log_cache[i] = l1
        log_step[i] = k_step
    for a in range(nc):  # ...D at both ends, and the crossings: floor(D / Cp) up or (-D / Cn) down
        i = act[a]
        r = ref[i]
        da = act_da[a] - r
        db = (act_l1[a] - r) + leak * cp[i] * dt
        on = db >= cp[i]
        off = db <= -cn[i]
        q = (db / cp[i]) if on else (-db / cn[i])
        act_n[a] = np.int64(math.floor(q)) if (on or off) else 0
        act_da[a] = da
        act_db[a] = db
    na = 0
    total = 0
    for a in range(nc):  # keep the candidates that fire; the others only leak
        i = act[a]
        n = act_n[a]
        ns = act_ns[a]
        if n + ns == 0:
            lk = leak * cp[i] * dt
            if lk != 0.0:
                ref[i] = ref[i] - lk
                hi[i] = _f32_below((np.float64(hi[i]) + eps) * _shrink(lk) - eps)
            continue
        act[na] = i  # compact in place (na <= a)
        act_da[na] = act_da[a]
        act_db[na] = act_db[a]
        act_ns[na] = ns
        act_n[na] = n
        act_l1[na] = act_l1[a]
        na += 1
        total += n + ns

    cand_x = np.empty(total, np.uint16)
    cand_y = np.empty(total, np.uint16)
    cand_t = np.empty(total, np.int64)
    cand_p = np.empty(total, np.int8)
    t_lo = np.int64(math.floor(ta))
    nb = np.int64(math.floor(ta + dt)) - t_lo + 1
    counting = nb <= max(1 << 20, 4 * total)
    start = np.zeros(nb + 1 if counting else 1, np.int64)
    inv_width = 1.0 / width
    s0 = 0  # first shot of the current pixel (pixels and shots both go in raster order)
    c = 0
    for a in range(na):  # pass 2: candidates in time order, refractory filter, state update
        i = act[a]
        yi = np.int64((i + 0.5) * inv_width)  # exact for any sensor size, and no integer division
        xi = np.uint16(i - yi * width)
        da = act_da[a]
        ns = act_ns[a]
        r = ref[i]
        lk = leak * cp[i] * dt
        n = act_n[a]  # crossings counted in pass 1; polarity, step and span follow from db
        db = act_db[a]
        pol, step, span = (1, cp[i], db - da) if db >= cp[i] else (-1, cn[i], da - db)
        lst = last[i]
        if ns == 0:  # the common case: crossings only
            for k in range(1, n + 1):
                ti = np.int64(math.floor(_crossing_time(k, pol, da, step, span, ta, dt)))
                if lst == NEVER or (ti - lst) >= refractory:
                    lst = ti
                    cand_x[c] = xi
                    cand_y[c] = np.uint16(yi)
                    cand_t[c] = ti
                    cand_p[c] = pol
                    c += 1
        else:  # merge the pixel's shot events (sorted by time) with its crossings
            while shot_pix[s0] != i:
                s0 += 1
            k = 1
            s = s0
            for j in range(n + ns):
                tk = _crossing_time(k, pol, da, step, span, ta, dt) if k <= n else 0.0
                if s < s0 + ns and (k > n or shot_t[s] < tk):
                    t = shot_t[s]
                    p = shot_p[s]
                    s += 1
                else:
                    t = tk
                    p = pol
                    k += 1
                ti = np.int64(math.floor(t))
                if lst == NEVER or (ti - lst) >= refractory:
                    lst = ti
                    cand_x[c] = xi
                    cand_y[c] = np.uint16(yi)
                    cand_t[c] = ti
                    cand_p[c] = p
                    c += 1
        last[i] = lst
        r = r - lk + pol * n * step
        ref[i] = r
        if n > 0:  # new bounds of exp(ref + Cp), exp(ref - Cn), from x1 = exp(l1)
            x1 = np.float64(I1[i]) + eps
            d_end = act_l1[a] - r  # D after the crossings: in [0, Cp) or (-Cn, 0]
            hi[i] = _f32_below(x1 * _exp_below(cp[i] - d_end) * (1.0 - MARGIN) - eps)
            lo[i] = _f32_above(x1 * _exp_neg_above(cn[i] + d_end) * (1.0 + MARGIN) - eps)
        elif lk != 0.0:  # shot events only: ref just leaked
            hi[i] = _f32_below((np.float64(hi[i]) + eps) * _shrink(lk) - eps)
    return _collect(cand_x, cand_y, cand_t, cand_p, c, t_lo, nb, counting, start)


@numba.njit(cache=True)
def _collect(cand_x, cand_y, cand_t, cand_p, total, t_lo, nb, counting, start):
    """The events sorted stably by time: counting sort over the interval's µs, else mergesort.

    They were made pixel by pixel in raster order, so ties keep that order.
    """
    x = np.empty(total, np.uint16)
    y = np.empty(total, np.uint16)
    t = np.empty(total, np.int64)
    p = np.empty(total, np.int8)
    if counting:
        for c in range(total):
            start[cand_t[c] - t_lo + 1] += 1
        for b in range(nb):
            start[b + 1] += start[b]
        for c in range(total):
            b = cand_t[c] - t_lo
            d = start[b]
            start[b] = d + 1
            x[d] = cand_x[c]
            y[d] = cand_y[c]
            t[d] = cand_t[c]
            p[d] = cand_p[c]
        return x, y, t, p
    order = np.argsort(cand_t[:total], kind="mergesort")
    for d in range(total):
        c = order[d]
        x[d] = cand_x[c]
        y[d] = cand_y[c]
        t[d] = cand_t[c]
        p[d] = cand_p[c]
    return x, y, t, p


class NumbaESIM:
    """Per-pixel state and the numba step of the model, for flat float32 luminance frames in [0, 1]."""

    def __init__(self, cp: np.ndarray, cn: np.ndarray, width: int, eps: float, leak: float,
                 refractory: float) -> None:
        self.cp, self.cn = cp, cn
        self.width, self.eps, self.leak = int(width), float(eps), float(leak)
        self.refractory = float(refractory)
        n = cp.shape[0]
        self._mask = np.zeros((n + 7) // 8 * 8, np.uint8)
        self._log_cache = np.empty(n, np.float64)
        self._log_step = np.full(n, -2, np.int64)
        self._k = 0
        self._scratch = (np.empty(n + 8, np.int64), np.empty(n, np.float64), np.empty(n, np.float64),
                         np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64))

    def start(self, I: np.ndarray, ref_offset: np.ndarray | None) -> None:
        """Reference = log(I + eps) - ref_offset (offset: the random leak phase, or none)."""
        self.I = I
        self.ref = np.log(I.astype(np.float64) + self.eps)
        if ref_offset is not None:
            self.ref -= ref_offset
        self.last = np.full(I.shape[0], NEVER, np.int64)
        self._log_step.fill(-2)
        self._k = 0
        up = np.exp(self.ref + self.cp) * (1.0 - MARGIN) - self.eps
        down = np.exp(self.ref - self.cn) * (1.0 + MARGIN) - self.eps
        self.hi = np.where(up > 0, up * (1.0 - F32_SLACK), -1.0).astype(np.float32)
        self.lo = (down * np.where(down > 0, 1.0 + F32_SLACK, 1.0 - F32_SLACK)).astype(np.float32)

    def step(self, I1: np.ndarray, ta: float, tb: float, shots: tuple):
        """Events (x, y, t, p) of the interval [ta, tb] µs ending at frame I1; advances the state.

        shots: (pixel, time, polarity) of the interval's shot noise, sorted by pixel then time.
        """
        out = _step(self.I, I1, self.ref, self.last, self.lo, self.hi, self.cp, self.cn, self.eps,
                    self.leak, float(ta), float(tb) - float(ta), self.refractory, *shots,
                    self.width, self._k, self._log_cache, self._log_step, self._mask, *self._scratch)
        self.I = I1
        self._k += 1
        return out
