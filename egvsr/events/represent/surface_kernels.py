"""Time-surface kernels (numba): per pixel and polarity, exp(-(t_ref - t_last) / tau) of the latest event.

A window [t_start, t_end) is cut into `bins` equal sub-windows; surface b is taken at the end of
sub-window b (t_ref = t_start + ceil((b + 1) * span / bins)) from the events in [t_start, t_ref), so
it has memory within the window only. Output (bins, 2, H, W), channel 0 = ON, 1 = OFF; 0 where a
pixel saw no event. At a target size each event goes to the output pixel that contains its scaled
centre (a time surface has no mass to conserve; the latest event of the covered pixels wins).
"""

from __future__ import annotations

import numba
import numpy as np


def nearest_tables(height: int, width: int, out_height: int, out_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(row * out_width, col) uint32 tables mapping sensor rows/columns to output pixels."""
    col = np.minimum(np.floor((np.arange(width) + 0.5) * out_width / width), out_width - 1)
    row = np.minimum(np.floor((np.arange(height) + 0.5) * out_height / height), out_height - 1)
    return (row.astype(np.uint32) * np.uint32(out_width)), col.astype(np.uint32)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _surface_window(k, x, y, t, p, edges, thr, inv_tau, rows, cols, hw, out):
    """All `bins` surfaces of window k into out[k] (bins, 2, hw); returns (max x, max y).

    Times are kept relative to the window start (>= 0 for the window's events), so -1 marks "no
    event" whatever the sign of the absolute timestamps.
    """
    nb = edges.shape[1] - 1
    t0 = thr[k, 0]
    last = np.full(2 * hw, -1, np.int64)
    xmax = np.uint32(cols.shape[0] - 1)
    ymax = np.uint32(rows.shape[0] - 1)
    mx = np.uint32(0)
    my = np.uint32(0)
    for b in range(nb):
        for i in range(edges[k, b], edges[k, b + 1]):
            xi = np.uint32(x[i])
            yi = np.uint32(y[i])
            mx = max(mx, xi)
            my = max(my, yi)
            c = np.uint32((1 - np.int32(p[i])) >> 1 & 1)
            last[c * hw + rows[min(yi, ymax)] + cols[min(xi, xmax)]] = t[i] - t0
        ref = thr[k, b + 1] - t0
        for j in range(2 * hw):
            lt = last[j]
            out[k, b, j] = np.float32(np.exp(-(ref - lt) * inv_tau)) if lt >= 0 else np.float32(0.0)
    return mx, my


@numba.njit(cache=True, nogil=True, parallel=True)
def _surfaces_parallel(groups, x, y, t, p, edges, thr, inv_tau, rows, cols, hw, out, maxxy):
    for g in numba.prange(groups.shape[0] - 1):
        mx = np.uint32(0)
        my = np.uint32(0)
        for k in range(groups[g], groups[g + 1]):
            a, b = _surface_window(k, x, y, t, p, edges, thr, inv_tau[k], rows, cols, hw, out)
            mx = max(mx, a)
            my = max(my, b)
        maxxy[g, 0] = mx
        maxxy[g, 1] = my


@numba.njit(cache=True, nogil=True)
def _surfaces_serial(groups, x, y, t, p, edges, thr, inv_tau, rows, cols, hw, out, maxxy):
    for g in range(groups.shape[0] - 1):
        mx = np.uint32(0)
        my = np.uint32(0)
        for k in range(groups[g], groups[g + 1]):
            a, b = _surface_window(k, x, y, t, p, edges, thr, inv_tau[k], rows, cols, hw, out)
            mx = max(mx, a)
            my = max(my, b)
        maxxy[g, 0] = mx
        maxxy[g, 1] = my


def build_surfaces(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int, starts: np.ndarray,
    ends: np.ndarray, bins: int, tau_us: np.ndarray, out_size: tuple[int, int] | None, threads: int,
) -> tuple[np.ndarray, int, int]:
    """(K, bins, 2, H', W') float32 time surfaces and the largest x, y seen.

    tau_us: decay constant per window (K,) in µs.
    """
    from egvsr.events.represent.batched import segment_edges

    spans = ends - starts
    edges = segment_edges(t, starts, spans, bins)
    s = np.arange(bins + 1, dtype=np.int64)
    thr = starts[:, None] + (s[None, :] * spans[:, None] + (bins - 1)) // bins
    oh, ow = out_size if out_size is not None else (height, width)
    rows, cols = nearest_tables(height, width, oh, ow)
    hw = oh * ow
    nwin = starts.shape[0]
    out = np.empty((nwin, bins, 2 * hw), np.float32)
    # balance windows over threads by events plus the dense per-window cost
    cost = (edges[:, -1] - edges[:, 0]) + 4.0 * bins * 2 * hw
    ngroups = 1 if threads <= 1 else max(1, min(4 * int(threads), nwin, int(cost.sum() // 250_000)))
    cum = np.cumsum(cost)
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, ngroups) / ngroups) if nwin else []
    groups = np.unique(np.concatenate([[0], np.asarray(cuts, np.int64), [nwin]])).astype(np.int64)
    maxxy = np.zeros((max(len(groups) - 1, 1), 2), np.uint32)
    with np.errstate(over="ignore"):  # a tau below ~1e-308 µs: 1/tau is inf and every surface value 0
        inv_tau = 1.0 / np.asarray(tau_us, np.float64)
    if len(groups) > 2:
        old = numba.set_parallel_chunksize(1)
        try:
            _surfaces_parallel(groups, x, y, t, p, edges, thr, inv_tau, rows, cols, hw, out, maxxy)
        finally:
            numba.set_parallel_chunksize(old)
    else:
        _surfaces_serial(groups, x, y, t, p, edges, thr, inv_tau, rows, cols, hw, out, maxxy)
    return out.reshape(nwin, bins, 2, oh, ow), int(maxxy[:, 0].max()), int(maxxy[:, 1].max())
