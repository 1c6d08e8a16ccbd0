"""Run the scatter kernels over planned work items: serially, or in parallel with `prange` over groups.

`build_tensors` is the single entry of every binned representation: it finds each window's segment
edges, plans balanced items (`plan.py`), runs them one group per thread and adds the carried boundary
planes of split voxel windows afterwards. Dense windows go through a sensor-size scratch combined into
planes afterwards (docs/representations.md, "How it is fast").
"""

from __future__ import annotations

from typing import Callable

import numba
import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.represent import kernels as kn
from egvsr.events.represent.plan import (
    CARRY_COL, K_COL, MODE_COL, MODE_DIRECT, S0_COL, S1_COL, plan_items,
)

# Event-equivalents charged per plane cell (zeroing + combining) when balancing threads.
PLANE_CHARGE = 0.35
# Events per scratch cell (planes x channels x sensor pixels) above which an item accumulates in a
# sensor-size scratch instead of scattering every event into the output (measured crossovers,
# 346x260, benchmarks/voxelize.py era): voxel at the sensor size ...
PAIR_DENSITY = 1.5
# ... voxel at a target size (scratch + cell splat vs 8 read-modify-writes per event) ...
SPLAT_DENSITY = 0.6
# ... hard bins at a target size (scratch + cell splat vs 4 read-modify-writes per event).
HARD_SPLAT_DENSITY = 1.0
# Work (event-equivalents) per parallel group at least; below twice this a call stays serial.
MIN_PARALLEL_WORK = 250_000
# Groups per thread: more, smaller groups handed out dynamically (chunk size 1) keep all threads
# busy when a core is shared with other processes.
GROUPS_PER_THREAD = 4


@numba.njit(cache=True, nogil=True)
def _linear_group(g, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
                  channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy):
    """Process the voxel items of group `g` (bilinear time, S segments -> S + 1 planes per window).

    plane: output plane (channels * out_cells); the scratch plane is channels * width * height.
    off / soff: OFF-channel offset in the output / in the scratch.
    """
    i_lo = groups[g]
    i_hi = groups[g + 1]
    splane = channels * width * height
    need = 0
    for it in range(i_lo, i_hi):
        if items[it, MODE_COL] != MODE_DIRECT:
            need = max(need, (items[it, S1_COL] - items[it, S0_COL]) * splane)
    acc = np.empty(need, np.complex64)
    wplanes = nseg + 1
    mx = np.uint32(0)
    my = np.uint32(0)
    for it in range(i_lo, i_hi):
        k = items[it, K_COL]
        s0 = items[it, S0_COL]
        s1 = items[it, S1_COL]
        ts = starts[k]
        span = spans[k]
        obase = k * wplanes * plane
        if items[it, MODE_COL] == MODE_DIRECT:
            out[obase: obase + wplanes * plane] = 0.0
            for s in range(s0, s1):
                i0 = edges[k, s]
                i1 = edges[k, s + 1]
                if i1 <= i0:
                    continue
                base = obase + s * plane
                tseg, sh, scale, c = kn.segment_time(ts, span, nseg, s)
                if native:
                    a, b = kn.linear_direct_native(x, y, t, p, i0, i1, tseg, sh, scale, c, out, base,
                                                   plane, pa, pb, off, width, height)
                else:
                    a, b = kn.linear_direct_splat(x, y, t, p, i0, i1, tseg, sh, scale, c, out, base,
                                                  plane, pa, pb, off, taps)
                mx = max(mx, a)
                my = max(my, b)
            continue
        n = (s1 - s0) * splane
        acc[:n] = 0.0
        for s in range(s0, s1):
            i0 = edges[k, s]
            i1 = edges[k, s + 1]
            if i1 <= i0:
                continue
            tseg, sh, scale, c = kn.segment_time(ts, span, nseg, s)
            a, b = kn.linear_pairs_native(x, y, t, p, i0, i1, tseg, sh, scale, c, acc,
                                          (s - s0) * splane, pa, pb, soff, width, height)
            mx = max(mx, a)
            my = max(my, b)
        last = s1 == nseg
        if native:
            kn.combine_pairs(acc, out, obase + s0 * plane, s1 - s0, plane, last)
        else:
            hi = s1 + 1 if last else s1
            out[obase + s0 * plane: obase + hi * plane] = 0.0
            kn.combine_pairs_splat(acc, out, obase + s0 * plane, s1 - s0, channels, height, width,
                                   out_cells, taps, last)
        cs = items[it, CARRY_COL]
        if cs >= 0:
            a0 = n - splane
            for q in range(splane):
                carries[cs, q] = acc[a0 + q].imag
    maxxy[g, 0] = mx
    maxxy[g, 1] = my


@numba.njit(cache=True, nogil=True)
def _hard_group(g, groups, items, x, y, p, edges, out, nseg, plane, channels, pa, pb, off, soff,
                native, width, height, out_cells, taps, maxxy):
    """Process the hard-binned items of group `g` (S segments -> S planes per window)."""
    i_lo = groups[g]
    i_hi = groups[g + 1]
    splane = channels * width * height
    need = 0
    for it in range(i_lo, i_hi):
        if items[it, MODE_COL] != MODE_DIRECT:
            need = max(need, splane)
    scratch = np.empty(need, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    for it in range(i_lo, i_hi):
        k = items[it, K_COL]
        s0 = items[it, S0_COL]
        s1 = items[it, S1_COL]
        obase = k * nseg * plane
        out[obase + s0 * plane: obase + s1 * plane] = 0.0
        direct = items[it, MODE_COL] == MODE_DIRECT
        for s in range(s0, s1):
            i0 = edges[k, s]
            i1 = edges[k, s + 1]
            if i1 <= i0:
                continue
            base = obase + s * plane
            if native:
                a, b = kn.hard_native(x, y, p, i0, i1, out, base, pa, pb, off, width, height)
            elif direct:
                a, b = kn.hard_splat(x, y, p, i0, i1, out, base, pa, pb, off, taps)
            else:  # one plane at a time through the sensor-size scratch, then splat
                scratch[:] = 0.0
                a, b = kn.hard_native(x, y, p, i0, i1, scratch, 0, pa, pb, soff, width, height)
                kn.splat_plane(scratch, 0, out, base, channels, height, width, out_cells, taps)
            mx = max(mx, a)
            my = max(my, b)
    maxxy[g, 0] = mx
    maxxy[g, 1] = my


@numba.njit(cache=True, nogil=True)
def _group(g, linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
           channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy):
    if linear:
        _linear_group(g, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
                      channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy)
    else:
        _hard_group(g, groups, items, x, y, p, edges, out, nseg, plane, channels, pa, pb, off, soff,
                    native, width, height, out_cells, taps, maxxy)


@numba.njit(cache=True, nogil=True, parallel=True)
def _run_parallel(linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg,
                  plane, channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy):
    for g in numba.prange(groups.shape[0] - 1):
        _group(g, linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
               channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy)


@numba.njit(cache=True, nogil=True)
def _run_serial(linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
                channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy):
    for g in range(groups.shape[0] - 1):
        _group(g, linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
               channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy)


@numba.njit(cache=True, nogil=True)
def _add_carries(items, carries, out, nseg, plane, channels, native, width, height, out_cells,
                 taps):
    """Add each split voxel item's last Im plane (sensor size) into the next plane of its window."""
    wplanes = nseg + 1
    for it in range(items.shape[0]):
        cs = items[it, CARRY_COL]
        if cs < 0:
            continue
        o = (items[it, K_COL] * wplanes + items[it, S1_COL]) * plane
        if native:
            for q in range(plane):
                out[o + q] += carries[cs, q]
        else:
            kn.splat_plane(carries[cs], 0, out, o, channels, height, width, out_cells, taps)


def segment_edges(t: np.ndarray, starts: np.ndarray, spans: np.ndarray, nseg: int) -> np.ndarray:
    """(K, nseg + 1) index of the first event of each segment; segment s holds the events with
    floor(nseg * (t - start) / span) == s, i.e. t >= start + ceil(s * span / nseg) (exact integers)."""
    s = np.arange(nseg + 1, dtype=np.int64)
    thr = starts[:, None] + (s[None, :] * spans[:, None] + (nseg - 1)) // nseg
    return np.searchsorted(t, thr.ravel(), side="left").astype(np.int64).reshape(thr.shape)


def scratch_bytes(items: np.ndarray, groups: np.ndarray, linear: bool, scratch_cells: int, n_carry: int,
                  threads: int) -> int:
    """Bytes of sensor-size scratch a plan allocates: per group, that of its largest item accumulating
    at the sensor size (voxel: a complex64 plane per segment; hard bins: one float32 plane), for as many
    groups as run at once, plus a float32 plane per carried voxel boundary. Sparse windows need none."""
    dense = items[:, MODE_COL] != MODE_DIRECT
    cells = (items[:, S1_COL] - items[:, S0_COL]) * 8 if linear else np.full(len(items), 4)
    per_item = np.where(dense, cells, 0) * int(scratch_cells)
    per_group = sorted((int(per_item[a:b].max(initial=0)) for a, b in zip(groups[:-1], groups[1:])), reverse=True)
    return sum(per_group[:max(1, int(threads))]) + 4 * int(scratch_cells) * int(n_carry)


def _check_indices(values: int, where: str) -> None:
    """Refuse a window of `values` values (bins x channels x pixels, at `where`): the kernels index
    one window in 32 bits."""
    if values >= 2**32:
        raise ConfigError(f"one window would hold {values} values (bins x channels x pixels, at {where}); "
                          "expected fewer than 2**32")


def build_tensors(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, width: int, height: int,
    starts: np.ndarray, ends: np.ndarray, nseg: int, linear: bool, channels: int,
    out_size: tuple[int, int] | None, taps: tuple[np.ndarray, ...] | None, threads: int,
    budget: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int, int]:
    """Build K windows; returns (flat float32 array, max x, max y seen in the windows' events).

    linear: voxel grid (nseg = bins - 1 segments, bins planes); else hard bins (nseg planes).
    channels: 1 (signed polarity) or 2 (ON, OFF counts). out_size: (H', W') or None for the sensor;
    taps: its `splat_tables` (None at the sensor size).
    budget: called with the bytes of sensor-size scratch the plan needs (`scratch_bytes`), before the
    output or the scratch is allocated; it may refuse them.
    """
    spans = ends - starts
    edges = segment_edges(t, starts, spans, nseg)
    oh, ow = out_size if out_size is not None else (height, width)
    out_cells = oh * ow
    plane = channels * out_cells
    scratch_cells = channels * width * height
    nplanes = nseg + 1 if linear else nseg
    nwin = starts.shape[0]
    if channels == 1:  # value p, one channel
        pa, pb, off, soff = np.float32(1.0), np.float32(0.0), np.uint32(0), np.uint32(0)
    else:  # value 1; p = +1 -> ON channel 0, p = -1 -> OFF channel 1
        pa, pb = np.float32(0.0), np.float32(1.0)
        off, soff = np.uint32(out_cells), np.uint32(width * height)
    _check_indices(nplanes * plane, "the output size")
    native = taps is None
    events = int(edges[:, -1].sum() - edges[:, 0].sum()) if nwin else 0
    work = events + PLANE_CHARGE * nplanes * plane * nwin
    ngroups = 1 if threads <= 1 else max(1, min(int(threads) * GROUPS_PER_THREAD,
                                                 int(work // MIN_PARALLEL_WORK)))
    density = PAIR_DENSITY if native else (SPLAT_DENSITY if linear else HARD_SPLAT_DENSITY)
    items, groups, n_carry = plan_items(edges, plane, scratch_cells, linear, not native, ngroups,
                                        PLANE_CHARGE, density)
    scratch = scratch_bytes(items, groups, linear, scratch_cells, n_carry, threads)
    if scratch:  # a dense or split window: it accumulates at the sensor size
        _check_indices(nplanes * scratch_cells, "the sensor size")
    if budget is not None:
        budget(scratch)
    out = np.empty(nwin * nplanes * plane, np.float32)
    maxxy = np.zeros((max(len(groups) - 1, 1), 2), np.uint32)
    if native:
        z = np.zeros(1, np.uint32)
        f = np.zeros(1, np.float32)
        taps = (z, z, f, f, z, z, f, f)
    parallel = len(groups) > 2
    carries = np.zeros((max(n_carry, 1), scratch_cells if n_carry else 1), np.float32)
    run = _run_parallel if parallel else _run_serial
    old = numba.set_parallel_chunksize(1) if parallel else 0  # groups are handed out dynamically
    try:
        run(linear, groups, items, x, y, t, p, starts, spans, edges, out, carries, nseg, plane,
            channels, pa, pb, off, soff, native, width, height, out_cells, taps, maxxy)
    finally:
        if parallel:
            numba.set_parallel_chunksize(old)
    if n_carry:
        _add_carries(items, carries, out, nseg, plane, channels, native, width, height, out_cells,
                     taps)
    return out, int(maxxy[:, 0].max()), int(maxxy[:, 1].max())
