"""Shot noise of one interval: Poisson events at uniform pixels and times, random polarity.

Drawn from a counter-based generator seeded by the clip's noise key and the interval index alone, so
the noise does not depend on how pixels are processed and both model implementations take the same
list. The pixels laid end to end make one line walked with exponential gaps, so events come out sorted
by pixel, then time, without a sort (docs/simulator.md).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int8))

_U53 = 1.0 / 9007199254740992.0  # 2**-53
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_KEY_SALT = np.uint64(0x5851F42D4C957F2D)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_BLOCK_EVENTS = 4096.0  # expected events per stretch of the line walked from 0
_MAX_BLOCK = 1 << 20  # pixels per stretch at most: positions keep >= 33 bits within a pixel


def _ziggurat(n: int = 256, r: float = 7.69711747013104972, v: float = 0.0039496598225815571993):
    """Exponential ziggurat (Marsaglia & Tsang 2000): n layers of area v; layer i spans
    [0, x[i]) and is under the density left of x[i + 1]. Layer 0 holds the tail beyond r."""
    x = np.zeros(n + 1)
    x[0], x[1] = v / math.exp(-r), r
    for i in range(1, n):
        x[i + 1] = -math.log(math.exp(-x[i]) + v / x[i])
    x[n] = 0.0  # the recursion ends at ~1e-15
    k = np.array([int(x[i + 1] / x[i] * 2.0**53) for i in range(n)], np.int64)
    return k, x[:n] * _U53, np.exp(-x), r


_ZK, _ZW, _ZF, _ZR = _ziggurat()


@numba.njit(cache=True, inline="always")
def _mix(z):
    """splitmix64 finalizer: a bijective 64-bit mix."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def _exp_slow(z, s):
    """Exponential(1) from draw z whose fast ziggurat test failed: tail, wedge test, or a redraw.
    Returns (value, stream state); only bits 0-7 and 11-63 of each draw are used."""
    while True:
        i = np.int64(z & np.uint64(255))
        j = np.int64(z >> np.uint64(11))
        if j < _ZK[i]:
            return j * _ZW[i], s
        s += _GAMMA
        u = float(np.int64(_mix(s) >> np.uint64(11))) * _U53
        if i == 0:
            return _ZR - math.log1p(-u), s
        x = j * _ZW[i]
        if _ZF[i] + u * (_ZF[i + 1] - _ZF[i]) < math.exp(-x):
            return x, s
        s += _GAMMA
        z = _mix(s)


@numba.njit(cache=True)
def _walk(s, n_pix, block, inv_m, zw, ta, dt, t_max, start, x, pix, tt, pp, n):
    """Walk the line from pixel `start`, position `x` in its stretch, writing events from n on.
    Returns (n, s, start, x): start == n_pix when done, else the output is full."""
    cap = pix.shape[0]
    while start < n_pix:
        w = min(block, n_pix - start)
        while True:
            if n >= cap:
                return n, s, start, x
            s += _GAMMA
            z = _mix(s)
            i = z & np.uint64(255)  # unsigned indices: no negative-index code
            j = np.int64(z >> np.uint64(11))
            if j < _ZK[i]:
                x += j * zw[i]
            else:
                e, s = _exp_slow(z, s)
                x += e * inv_m
            if x >= w:
                break
            off = int(x)
            t = ta + (x - off) * dt
            k = np.uint64(n)  # unsigned: no negative-index wraparound code
            pix[k] = start + off
            tt[k] = min(t, t_max)
            pp[k] = np.int8((np.int64(z >> np.uint64(8)) & 1) * 2 - 1)  # bit 8: not used above
            n += 1
        start += w
        x = 0.0
    return n, s, start, x


@numba.njit(cache=True)
def _shots(key, interval, n_pix, rate, ta, dt, t_max, cap):
    """The kernel of `shot_events` (rate * dt > 0 and finite, ta + dt > ta)."""
    m = rate * dt  # expected events per pixel
    block = int(min(float(_MAX_BLOCK), max(1.0, _BLOCK_EVENTS / m)))
    s = _mix(_mix(np.uint64(key) ^ _KEY_SALT) + np.uint64(interval) * _GAMMA)
    zw = _ZW * (1.0 / m)
    pix = np.empty(cap, np.int64)
    tt = np.empty(cap, np.float64)
    pp = np.empty(cap, np.int8)
    n, s, start, x = _walk(s, n_pix, block, 1.0 / m, zw, ta, dt, t_max, 0, 0.0, pix, tt, pp, 0)
    while start < n_pix:  # out of room (rare): grow and go on
        cap = 2 * cap
        pix2 = np.empty(cap, np.int64)
        tt2 = np.empty(cap, np.float64)
        pp2 = np.empty(cap, np.int8)
        pix2[:n] = pix[:n]
        tt2[:n] = tt[:n]
        pp2[:n] = pp[:n]
        pix, tt, pp = pix2, tt2, pp2
        n, s, start, x = _walk(s, n_pix, block, 1.0 / m, zw, ta, dt, t_max, start, x, pix, tt, pp, n)
    return pix[:n], tt[:n], pp[:n]


_INF = math.inf


def _kernel_args(key, interval, n_pix, rate_per_us, ta, dt):
    """The arguments of `_shots` (cap: mean + 8 sd), or None for an empty list."""
    rate, ta, dt, n_pix = float(rate_per_us), float(ta), float(dt), int(n_pix)
    if rate <= 0.0 or dt <= 0.0 or n_pix <= 0:
        return None
    lam = rate * dt * n_pix
    t_end = ta + dt
    if not (lam < _INF and -_INF < ta < _INF):  # also NaN
        raise ValueError(f"shot_events: rate {rate!r}, ta {ta!r} and dt {dt!r} must be finite")
    if not (t_end > ta and lam > 1e-250):  # no float64 time in [ta, ta + dt), or nothing to draw
        return None
    key, interval = int(key) & 0xFFFFFFFFFFFFFFFF, int(interval) & 0xFFFFFFFFFFFFFFFF
    if key >= 1 << 63:  # as int64 (the kernel reads the bits as uint64)
        key -= 1 << 64
    if interval >= 1 << 63:
        interval -= 1 << 64
    return (key, interval, n_pix, rate, ta, dt, math.nextafter(t_end, -_INF),
            int(lam + 8.0 * math.sqrt(lam) + 64.0))


def shot_events(key: int, interval: int, n_pix: int, rate_per_us: float, ta: float, dt: float) -> tuple:
    """(pixel int64, time float64 µs, polarity int8 ±1) of the shot events in [ta, ta + dt):
    `rate_per_us` per pixel per µs, sorted by pixel, then time; a function of (key, interval) and
    the other arguments alone. Empty when the rate, dt or n_pix is not positive (or when no float64
    lies in [ta, ta + dt)); ValueError for a non-finite rate, ta or dt."""
    args = _kernel_args(key, interval, n_pix, rate_per_us, ta, dt)
    return _EMPTY if args is None else _shots(*args)
