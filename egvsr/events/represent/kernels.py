"""Numba scatter kernels for one work item: one window's events in one of its time segments.

Each time segment is a contiguous index range of the time-sorted events, so the target plane is fixed
and only the fractional time is computed per event, in blocks (indices and weights first, then the
scatter). Voxel items accumulate into a complex64 scratch (planes s and s + 1 in one cell);
`combine_pairs` turns it into planes. Coordinates are clamped before use and the largest x and y seen
are returned, so out-of-sensor events become an error (docs/representations.md, "How it is fast").
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 256
_U = np.uint64


@numba.njit(cache=True, nogil=True)
def segment_time(start, span, nseg, s):
    """(tseg, sh, scale, c) for segment `s` of a window (see the module docstring); once per segment."""
    tseg = start + (np.int64(s) * span + nseg - 1) // nseg
    seg_len = (span + nseg - 1) // nseg + 1
    sh = 0
    while (seg_len >> sh) >= (1 << 31):
        sh += 1
    scale = np.float32(nseg * float(1 << sh) / span)
    c = np.float32((nseg * (tseg - start) - np.int64(s) * span) / span)
    return tseg, sh, scale, c


@numba.njit(cache=True, nogil=True, fastmath=True)
def linear_pairs_native(x, y, t, p, i0, i1, tseg, sh, scale, c, acc, base, pa, pb, off, width,
                        height):
    """Add events [i0, i1) of one voxel segment into complex scratch `acc` starting at `base`.

    Real part: weight (1 - f) for the segment's plane; imaginary part: f for the next plane.
    Returns (max x, max y).
    """
    ush = _U(sh)
    w = np.uint32(width)
    xmax = np.uint32(width - 1)
    ymax = np.uint32(height - 1)
    idx = np.empty(BLOCK, np.uint32)
    wl = np.empty(BLOCK, np.float32)
    wr = np.empty(BLOCK, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    b = _U(base)
    for b0 in range(i0, i1, BLOCK):
        m = _U(min(i1 - b0, BLOCK))
        first = _U(b0)
        for j in range(m):
            i = first + j
            f = np.float32(np.int32(_U(t[i] - tseg) >> ush)) * scale + c
            pv = np.int32(p[i])
            v = pa * np.float32(pv) + pb
            xi = np.uint32(x[i])
            yi = np.uint32(y[i])
            mx = max(mx, xi)
            my = max(my, yi)
            idx[j] = np.uint32(pv < 0) * off + min(yi, ymax) * w + min(xi, xmax)
            a = v * f
            wl[j] = v - a
            wr[j] = a
        for j in range(m):
            k = b + _U(idx[j])
            acc[k] = complex(acc[k].real + wl[j], acc[k].imag + wr[j])
    return mx, my


@numba.njit(cache=True, nogil=True, fastmath=True)
def _taps4(x, y, i, r0, r1, rw0, rw1, c0, c1, cw0, cw1, xmax, ymax):
    """Clamped coordinates of event i and its 4 bilinear taps: (xi, yi, ia, ib, ic, id, qa..qd)."""
    xi = np.uint32(x[i])
    yi = np.uint32(y[i])
    xc = _U(min(xi, xmax))
    yc = _U(min(yi, ymax))
    ya = r0[yc]
    yb = r1[yc]
    xa = c0[xc]
    xb = c1[xc]
    return (xi, yi, ya + xa, ya + xb, yb + xa, yb + xb, rw0[yc] * cw0[xc], rw0[yc] * cw1[xc],
            rw1[yc] * cw0[xc], rw1[yc] * cw1[xc])


@numba.njit(cache=True, nogil=True, fastmath=True)
def linear_direct_native(x, y, t, p, i0, i1, tseg, sh, scale, c, out, base, plane, pa, pb, off,
                         width, height):
    """Add events of one voxel segment straight into `out`: its plane at `base`, the next at
    base + plane."""
    ush = _U(sh)
    w = np.uint32(width)
    xmax = np.uint32(width - 1)
    ymax = np.uint32(height - 1)
    idx = np.empty(BLOCK, np.uint32)
    wl = np.empty(BLOCK, np.float32)
    wr = np.empty(BLOCK, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    b = _U(base)
    b2 = _U(base + plane)
    for b0 in range(i0, i1, BLOCK):
        m = _U(min(i1 - b0, BLOCK))
        first = _U(b0)
        for j in range(m):
            i = first + j
            f = np.float32(np.int32(_U(t[i] - tseg) >> ush)) * scale + c
            pv = np.int32(p[i])
            v = pa * np.float32(pv) + pb
            xi = np.uint32(x[i])
            yi = np.uint32(y[i])
            mx = max(mx, xi)
            my = max(my, yi)
            idx[j] = np.uint32(pv < 0) * off + min(yi, ymax) * w + min(xi, xmax)
            a = v * f
            wl[j] = v - a
            wr[j] = a
        for j in range(m):
            k = _U(idx[j])
            out[b + k] += wl[j]
            out[b2 + k] += wr[j]
    return mx, my


@numba.njit(cache=True, nogil=True, fastmath=True)
def linear_direct_splat(x, y, t, p, i0, i1, tseg, sh, scale, c, out, base, plane, pa, pb, off,
                        taps):
    """As `linear_direct_native` with the 4-tap spatial splat."""
    r0, r1, rw0, rw1, c0, c1, cw0, cw1 = taps
    ush = _U(sh)
    xmax = np.uint32(c0.shape[0] - 1)
    ymax = np.uint32(r0.shape[0] - 1)
    idx = np.empty(4 * BLOCK, np.uint32)
    wl = np.empty(4 * BLOCK, np.float32)
    wr = np.empty(4 * BLOCK, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    b = _U(base)
    b2 = _U(base + plane)
    for b0 in range(i0, i1, BLOCK):
        m = _U(min(i1 - b0, BLOCK))
        first = _U(b0)
        for j in range(m):
            i = first + j
            f = np.float32(np.int32(_U(t[i] - tseg) >> ush)) * scale + c
            pv = np.int32(p[i])
            v = pa * np.float32(pv) + pb
            xi, yi, ia, ib, ic, id_, qa, qb, qc, qd = _taps4(x, y, i, r0, r1, rw0, rw1, c0, c1, cw0,
                                                             cw1, xmax, ymax)
            mx = max(mx, xi)
            my = max(my, yi)
            o = np.uint32(pv < 0) * off
            a = v * f
            l = v - a
            k = 4 * j
            idx[k] = ia + o
            idx[k + 1] = ib + o
            idx[k + 2] = ic + o
            idx[k + 3] = id_ + o
            wl[k] = l * qa
            wr[k] = a * qa
            wl[k + 1] = l * qb
            wr[k + 1] = a * qb
            wl[k + 2] = l * qc
            wr[k + 2] = a * qc
            wl[k + 3] = l * qd
            wr[k + 3] = a * qd
        for j in range(4 * m):
            k = _U(idx[j])
            out[b + k] += wl[j]
            out[b2 + k] += wr[j]
    return mx, my


@numba.njit(cache=True, nogil=True, fastmath=True)
def hard_native(x, y, p, i0, i1, out, base, pa, pb, off, width, height):
    """Add each event of [i0, i1) with its polarity value to the plane at `base` (no time math)."""
    w = np.uint32(width)
    xmax = np.uint32(width - 1)
    ymax = np.uint32(height - 1)
    idx = np.empty(BLOCK, np.uint32)
    wv = np.empty(BLOCK, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    b = _U(base)
    for b0 in range(i0, i1, BLOCK):
        m = _U(min(i1 - b0, BLOCK))
        first = _U(b0)
        for j in range(m):
            i = first + j
            pv = np.int32(p[i])
            xi = np.uint32(x[i])
            yi = np.uint32(y[i])
            mx = max(mx, xi)
            my = max(my, yi)
            idx[j] = np.uint32(pv < 0) * off + min(yi, ymax) * w + min(xi, xmax)
            wv[j] = pa * np.float32(pv) + pb
        for j in range(m):
            out[b + _U(idx[j])] += wv[j]
    return mx, my


@numba.njit(cache=True, nogil=True, fastmath=True)
def hard_splat(x, y, p, i0, i1, out, base, pa, pb, off, taps):
    """As `hard_native` with the 4-tap spatial splat."""
    r0, r1, rw0, rw1, c0, c1, cw0, cw1 = taps
    xmax = np.uint32(c0.shape[0] - 1)
    ymax = np.uint32(r0.shape[0] - 1)
    idx = np.empty(4 * BLOCK, np.uint32)
    wv = np.empty(4 * BLOCK, np.float32)
    mx = np.uint32(0)
    my = np.uint32(0)
    b = _U(base)
    for b0 in range(i0, i1, BLOCK):
        m = _U(min(i1 - b0, BLOCK))
        first = _U(b0)
        for j in range(m):
            i = first + j
            pv = np.int32(p[i])
            v = pa * np.float32(pv) + pb
            xi, yi, ia, ib, ic, id_, qa, qb, qc, qd = _taps4(x, y, i, r0, r1, rw0, rw1, c0, c1, cw0,
                                                             cw1, xmax, ymax)
            mx = max(mx, xi)
            my = max(my, yi)
            o = np.uint32(pv < 0) * off
            k = 4 * j
            idx[k] = ia + o
            idx[k + 1] = ib + o
            idx[k + 2] = ic + o
            idx[k + 3] = id_ + o
            wv[k] = v * qa
            wv[k + 1] = v * qb
            wv[k + 2] = v * qc
            wv[k + 3] = v * qd
        for j in range(4 * m):
            out[b + _U(idx[j])] += wv[j]
    return mx, my


@numba.njit(cache=True, nogil=True, fastmath=True)
def combine_pairs(acc, out, obase, nplanes, plane, last):
    """Planes from a pair scratch: out[q] = Re acc[q] + Im acc[q - 1] for q in [0, nplanes), and
    with `last` also out[nplanes] = Im acc[nplanes - 1] (the window's final plane). Plane 0 gets no Im
    term here; when the item does not start the window the caller adds the previous item's carry."""
    n = _U(plane)
    ob = _U(obase)
    for q in range(nplanes):
        a = _U(q) * n
        o = ob + a
        if q == 0:
            for k in range(n):
                out[o + k] = acc[a + k].real
        else:
            for k in range(n):
                out[o + k] = acc[a + k].real + acc[a - n + k].imag
    if last:
        a = _U(nplanes - 1) * n
        o = ob + _U(nplanes) * n
        for k in range(n):
            out[o + k] = acc[a + k].imag


@numba.njit(cache=True, nogil=True, fastmath=True)
def _splat_cell_rows(v, yc, xrow, out, o, r0, r1, rw0, rw1, c0, c1, cw0, cw1):
    """Splat one sensor cell value `v` at (yc, xrow) onto its 4 output taps at offset `o`."""
    ya = o + _U(r0[yc])
    yb = o + _U(r1[yc])
    xa = _U(c0[xrow])
    xb = _U(c1[xrow])
    va = v * rw0[yc]
    vb = v * rw1[yc]
    out[ya + xa] += va * cw0[xrow]
    out[ya + xb] += va * cw1[xrow]
    out[yb + xa] += vb * cw0[xrow]
    out[yb + xb] += vb * cw1[xrow]


@numba.njit(cache=True, nogil=True, fastmath=True)
def splat_plane(src, sbase, out, obase, channels, height, width, out_cells, taps):
    """Add a dense sensor-size plane group (channels, H, W) at src[sbase:] onto the output planes at
    out[obase:] with the bilinear splat weights (the same weights the per-event splat uses, applied
    once per non-zero cell: exact by linearity). out_cells: H' * W' per channel."""
    r0, r1, rw0, rw1, c0, c1, cw0, cw1 = taps
    hw = _U(height * width)
    w = _U(width)
    for ch in range(channels):
        s = _U(sbase) + _U(ch) * hw
        o = _U(obase) + _U(ch) * _U(out_cells)
        for yy in range(height):
            yc = _U(yy)
            row = s + yc * w
            for xx in range(width):
                xc = _U(xx)
                v = src[row + xc]
                if v != 0:
                    _splat_cell_rows(v, yc, xc, out, o, r0, r1, rw0, rw1, c0, c1, cw0, cw1)


@numba.njit(cache=True, nogil=True, fastmath=True)
def combine_pairs_splat(acc, out, obase, nplanes, channels, height, width, out_cells, taps, last):
    """As `combine_pairs` for a sensor-size pair scratch, splatting each combined plane onto the
    (zeroed) output planes of out_cells per channel."""
    r0, r1, rw0, rw1, c0, c1, cw0, cw1 = taps
    hw = _U(height * width)
    w = _U(width)
    splane = _U(channels) * hw
    oplane = _U(channels) * _U(out_cells)
    for q in range(nplanes + (1 if last else 0)):
        for ch in range(channels):
            cur = _U(min(q, nplanes - 1)) * splane + _U(ch) * hw
            prev = cur - splane
            o = _U(obase) + _U(q) * oplane + _U(ch) * _U(out_cells)
            for yy in range(height):
                yc = _U(yy)
                for xx in range(width):
                    xc = _U(xx)
                    k = yc * w + xc
                    if q == nplanes:
                        v = acc[cur + k].imag
                    elif q == 0:
                        v = acc[cur + k].real
                    else:
                        v = acc[cur + k].real + acc[prev + k].imag
                    if v != 0:
                        _splat_cell_rows(v, yc, xc, out, o, r0, r1, rw0, rw1, c0, c1, cw0, cw1)
