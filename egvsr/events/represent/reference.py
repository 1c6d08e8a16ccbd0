"""Plain numpy references for every kernel of this package (float64, written for clarity, not speed).

The tests compare the numba kernels against these on random streams and edge cases. They share no
code with the kernels: time bins come from a direct floor of the normalised time (not from the
kernels' binary-searched segments) and the spatial splat weights are computed per event.
"""

from __future__ import annotations

import numpy as np

from egvsr.events.represent.normalization import ZERO_FRACTION  # the documented threshold, not code


def _window(x, y, t, p, t_start, t_end):
    m = (t >= t_start) & (t < t_end)
    return (x[m].astype(np.int64), y[m].astype(np.int64), t[m].astype(np.int64),
            p[m].astype(np.int64))


def _taps(x, y, width, height, size):
    """Per-event list of (flat pixel index, weight) pairs: 1 tap at the sensor size, else 4 bilinear taps."""
    if size is None or tuple(size) == (height, width):
        return [(y * width + x, np.ones(x.shape, np.float64))], height, width
    oh, ow = size
    u = (x + 0.5) * ow / width - 0.5
    v = (y + 0.5) * oh / height - 0.5
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = u - u0
    fv = v - v0
    taps = []
    for dv, wv in ((0, 1.0 - fv), (1, fv)):
        for du, wu in ((0, 1.0 - fu), (1, fu)):
            col = np.clip(u0.astype(np.int64) + du, 0, ow - 1)
            row = np.clip(v0.astype(np.int64) + dv, 0, oh - 1)
            taps.append((row * ow + col, wv * wu))
    return taps, oh, ow


def _polarity(p, polarity):
    if polarity == "signed":
        return np.zeros(p.shape, np.int64), p.astype(np.float64), 1
    return (p < 0).astype(np.int64), np.ones(p.shape, np.float64), 2


def voxel_grid_ref(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int,
    bins: int, t_start: int, t_end: int, size: tuple[int, int] | None = None, polarity: str = "signed",
) -> np.ndarray:
    """Zhu et al. event volume over [t_start, t_end): tn = (bins - 1)(t - t_start)/(t_end - t_start),
    weight 1 - frac to floor(tn) and frac to floor(tn) + 1 (floor capped at bins - 2, so no event
    loses mass). Returns (bins, H, W) for "signed", (bins, 2, H, W) for "split"."""
    x, y, t, p = _window(x, y, t, p, t_start, t_end)
    span = float(t_end - t_start)
    tn = (bins - 1) * (t - t_start) / span
    ti = np.clip(np.floor(tn), 0, max(bins - 2, 0)).astype(np.int64)
    fr = tn - ti
    chan, val, nch = _polarity(p, polarity)
    taps, oh, ow = _taps(x, y, width, height, size)
    cells = nch * oh * ow
    flat = np.zeros((bins + 1) * cells, np.float64)
    for pix, w in taps:
        base = chan * oh * ow + pix
        flat += np.bincount(ti * cells + base, weights=val * w * (1.0 - fr), minlength=flat.size)
        flat += np.bincount((ti + 1) * cells + base, weights=val * w * fr, minlength=flat.size)
    vol = flat[: bins * cells].reshape(bins, nch, oh, ow)
    return vol[:, 0] if polarity == "signed" else vol


def event_frames_ref(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int,
    bins: int, t_start: int, t_end: int, size: tuple[int, int] | None = None, polarity: str = "signed",
) -> np.ndarray:
    """Stacked event frames: bin = floor(bins (t - t_start) / (t_end - t_start)) (exact integers);
    "signed" sums polarity (bins, H, W), "split" counts ON/OFF (bins, 2, H, W)."""
    x, y, t, p = _window(x, y, t, p, t_start, t_end)
    ti = ((t - t_start) * bins) // (t_end - t_start)
    chan, val, nch = _polarity(p, polarity)
    taps, oh, ow = _taps(x, y, width, height, size)
    cells = nch * oh * ow
    flat = np.zeros(bins * cells, np.float64)
    for pix, w in taps:
        flat += np.bincount(ti * cells + chan * oh * ow + pix, weights=val * w, minlength=flat.size)
    vol = flat.reshape(bins, nch, oh, ow)
    return vol[:, 0] if polarity == "signed" else vol


def event_moments_ref(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int,
    moments: int, t_start: int, t_end: int, size: tuple[int, int] | None = None,
) -> np.ndarray:
    """EGVSR moments: (moments, 2, H, W) ON/OFF counts in equal time bins."""
    return event_frames_ref(x, y, t, p, width, height, moments, t_start, t_end, size, "split")


def time_surface_ref(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int,
    bins: int, t_start: int, t_end: int, tau_us: float, size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(bins, 2, H, W): for bin b with reference time r_b = t_start + ceil((b + 1) span / bins),
    exp(-(r_b - t_last) / tau) at each pixel/polarity whose latest event in [t_start, r_b) is t_last,
    else 0. At a target size each event goes to the output pixel nearest its scaled centre."""
    x, y, t, p = _window(x, y, t, p, t_start, t_end)
    oh, ow = (height, width) if size is None else size
    col = np.clip(np.floor((x + 0.5) * ow / width).astype(np.int64), 0, ow - 1)
    row = np.clip(np.floor((y + 0.5) * oh / height).astype(np.int64), 0, oh - 1)
    chan = (p < 0).astype(np.int64)
    out = np.zeros((bins, 2, oh, ow), np.float64)
    span = t_end - t_start
    for b in range(bins):
        ref = t_start + -((-(b + 1) * span) // bins)
        m = t < ref
        last = np.full(2 * oh * ow, np.iinfo(np.int64).min, np.int64)  # timestamps may be negative
        np.maximum.at(last, chan[m] * oh * ow + row[m] * ow + col[m], t[m])
        seen = np.zeros(2 * oh * ow, bool)
        seen[chan[m] * oh * ow + row[m] * ow + col[m]] = True
        surf = np.zeros(2 * oh * ow)
        surf[seen] = np.exp(-(ref - last[seen]) / tau_us)
        out[b] = surf.reshape(2, oh, ow)
    return out


def normalize_ref(v: np.ndarray, mode: str, unit: float = 0.0) -> np.ndarray:
    """One window: "standard" = (v - mean) / std over the non-zero entries (E2VID; zeros stay zero,
    std 0 -> 1, also where the non-zero values lie within ZERO_FRACTION * scale of each other); "percentile" =
    v / q98(|v| non-zero), clipped to [-1, 1] (EvTexture); "none". Before either, |v| < ZERO_FRACTION * scale
    is 0 (rounding left-overs, as in `normalization`), scale = max(max|v|, unit)."""
    v = np.asarray(v, np.float64)
    if mode == "none":
        return v.copy()
    scale = max(np.abs(v).max(initial=0.0), unit)
    v = np.where(np.abs(v) < ZERO_FRACTION * scale, 0.0, v)  # float32 left-overs count as 0
    nz = v != 0
    if not nz.any():
        return v.copy()
    out = np.zeros_like(v)
    if mode == "standard":
        vals = v[nz]
        mean = vals.mean()
        std = vals.std()
        equal = vals.max() - vals.min() <= ZERO_FRACTION * scale  # equal but for float32 rounding
        out[nz] = (vals - mean) / (std if std > 0 and not equal else 1.0)
        return out
    q = np.percentile(np.abs(v[nz]), 98.0)
    return np.clip(v / q, -1.0, 1.0)
