"""Every built-in representation against a per-event reference written from docs/representations.md alone.

Independent of `reference.py` (which is vectorized): each event is placed one at a time, times in exact
fractions, so the conventions the docs state (half-open windows, the bilinear time and space taps with
border folding, exact-integer bins, the time surface's reference time, polarity channels) are checked
as written, on random streams with events at t_start, t_end - 1, t_end, outside the window and all at once.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numba
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.represent import represent_batch


def _axis(c, size, out):
    u = (c + 0.5) * out / size - 0.5  # sensor pixel c -> output units; taps outside fold onto the border
    f = math.floor(u)
    return [(min(max(f, 0), out - 1), 1 - (u - f)), (min(max(f + 1, 0), out - 1), u - f)]


def _doc_tensor(rep, events, width, height, bins, t0, t1, size, polarity):
    oh, ow = size or (height, width)
    out = np.zeros((bins, 2, oh, ow))
    span = t1 - t0
    inside = [e for e in events if t0 <= e[2] < t1]
    if rep == "timesurface":
        for b in range(bins):
            ref = t0 + -(-(b + 1) * span // bins)  # the first µs after sub-window b
            for x, y, t, p in inside:
                if t < ref:  # sorted: the latest event wins
                    r = min(math.floor((y + 0.5) * oh / height), oh - 1)
                    c = min(math.floor((x + 0.5) * ow / width), ow - 1)
                    out[b, 0 if p > 0 else 1, r, c] = math.exp(-(ref - t) / (span / bins))
        return out
    for x, y, t, p in inside:
        value, ch = (float(p), 0) if polarity == "signed" else (1.0, 0 if p > 0 else 1)
        if rep == "voxel" and bins > 1:
            tn = Fraction((bins - 1) * (t - t0), span)
            b = math.floor(tn)
            taps_t = [(b, float(1 - (tn - b))), (b + 1, float(tn - b))]
        else:
            taps_t = [((bins * (t - t0)) // span, 1.0)]
        taps_s = ([((y, x), 1.0)] if size is None else
                  [((r, c), wr * wc) for r, wr in _axis(y, height, oh) for c, wc in _axis(x, width, ow)])
        for b, wt in taps_t:
            for (r, c), ws in taps_s:
                out[b, ch, r, c] += value * wt * ws
    return out[:, 0] if polarity == "signed" else out


@st.composite
def _cases(draw):
    width, height = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    # also far from 0 (ns clocks, 2**62) and spans beyond 2**31 us, where the kernels shift the time offsets
    # before their float32 step; at most (2**63 - 1) // 41 us, the int64 limit for the largest bin count
    t0 = draw(st.one_of(st.integers(-10**9, 10**9), st.sampled_from([-(2**62), 2**62, 2**62 + 12_345]),
                        st.integers(-(2**62), 2**62)))
    span = draw(st.one_of(st.integers(1, 10**6), st.sampled_from([2**34 + 7, 2**45 + 1, (2**63 - 1) // 41]),
                          st.integers(2**36, 2**57)))
    n = draw(st.integers(0, 30))
    special = st.sampled_from([t0, t0 + span - 1, t0 + span, t0 - 1, t0 + span // 2, t0 + span // 3,
                               t0 + span - span // 5])
    times = sorted(draw(st.lists(st.one_of(special, st.integers(t0 - 5, t0 + span + 5)), min_size=n, max_size=n)))
    xs = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    ps = draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n))
    return (width, height, t0, span, list(zip(xs, ys, times, ps)), draw(st.sampled_from([1, 2, 3, 7, 40])),
            draw(st.sampled_from([None, (1, 1), (2, 3), (height * 3, width * 2)])),
            draw(st.sampled_from(["signed", "split"])), draw(st.sampled_from(["voxel", "frames", "moments",
                                                                              "timesurface"])))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(_cases())
def test_every_representation_follows_the_documented_definition(case):
    width, height, t0, span, events, bins, size, polarity, rep = case
    cols = [np.array(c, dtype=np.int64) for c in zip(*events)] if events else [np.zeros(0, np.int64)] * 4
    s = EventStream(cols[0].astype(np.uint16), cols[1].astype(np.uint16), cols[2], cols[3].astype(np.int8),
                    width, height)
    if rep in ("moments", "timesurface"):
        polarity = "split"
    edges = np.array([t0, t0 + span // 2, t0 + span] if span > 1 else [t0, t0 + span])
    hw = size or (None, None)
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        got = represent_batch(s, rep, bins, edges, *hw, polarity=polarity, threads=threads)
        for k in range(len(edges) - 1):
            want = _doc_tensor(rep, events, width, height, bins, int(edges[k]), int(edges[k + 1]), size, polarity)
            np.testing.assert_allclose(got[k], want, rtol=1e-4, atol=1e-4)
