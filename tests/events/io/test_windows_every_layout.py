"""`read(t0, t1)`, `index_range` and `iter_chunks(t0=, t1=)` give, on every layout, exactly the numpy
filter t0 <= t < t1 of the events written (docs/io.md: windows are half-open [t0, t1), a bound None is
unbounded, t0 >= t1 is empty, windows beyond the recording are empty), whole-file cached and streamed.

Random sorted streams (repeated timestamps included) are written by each layout's writer (ours by
`EventWriter`, the others by the tests' independent writers of test_layouts), read back, and every
window compared with the filter; bounds are drawn around the stream's own timestamps (on, just
before and after an event), far outside it, reversed, None, and as floats (rounded up).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.io import EventWriter, open_events, prophesee, read_events, streamed
from tests._reliability import fuzz_settings
from tests.events.io.test_layouts import write_aedat4, write_ced, write_dat, write_dsec, write_e2vid, write_evt2, write_evt3

W, H = 40, 30
LAYOUTS = ["egvsr", "e2vid", "dsec", "ced", "aedat4", "evt2", "evt3", "dat"]


def write(layout: str, folder: Path, x, y, t, on) -> Path:
    """`layout`'s file holding the events (x, y, t µs sorted, on bool)."""
    if layout == "egvsr":
        path = folder / "ours.h5"
        with EventWriter(path, W, H) as w:
            for a in range(0, len(t), 7):  # several appends: the ms index spans them
                w.append(EventStream(x[a:a + 7].astype(np.uint16), y[a:a + 7].astype(np.uint16), t[a:a + 7],
                                     np.where(on[a:a + 7], 1, -1).astype(np.int8), W, H))
        return path
    if layout == "e2vid":
        write_e2vid(folder / "e2vid.h5", x, y, t, on, sensor_resolution=(H, W))
        return folder / "e2vid.h5"
    if layout == "dsec":
        write_dsec(folder / "events.h5", x, y, t, on, t_offset=int(t[0]) if len(t) else 0, blosc=False)
        return folder / "events.h5"
    if layout == "ced":  # packets of [t_ns, x, y, p]; a PNG gives the size
        import cv2

        rows = np.stack([t * 1000.0, x, y, on], axis=1).astype(np.float64)
        cuts = [0, len(t) // 2, len(t)]
        # packets named by their first event's ns (+ their number: names are unique, in time order)
        write_ced(folder / "ced", [(1000 * int(t[a]) + k, rows[a:b]) for k, (a, b) in enumerate(zip(cuts, cuts[1:]))
                                   if b > a], [])
        cv2.imwrite(str(folder / "ced" / "0.png"), np.zeros((H, W, 3), np.uint8))
        return folder / "ced"
    if layout == "aedat4":
        write_aedat4(folder / "rec.aedat4", [(t[a:a + 9], x[a:a + 9], y[a:a + 9], on[a:a + 9])
                                             for a in range(0, len(t), 9)], W, H)
        return folder / "rec.aedat4"
    writer, name = {"evt2": (write_evt2, "r.raw"), "evt3": (write_evt3, "r.raw"), "dat": (write_dat, "r.dat")}[layout]
    writer(folder / name, x, y, t, on, W, H)
    return folder / name


@st.composite
def streams(draw):
    n = draw(st.integers(1, 60))
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 999, 1000, 1001, 25_000]), min_size=n, max_size=n))
    t = draw(st.integers(0, 3_000_000)) + np.cumsum(steps).astype(np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n).astype(bool)


def bounds(t: np.ndarray, rng: np.random.Generator) -> list:
    """Window bounds near and far from the events: each event's time and its neighbours, far outside,
    None, and float bounds (rounded up: t >= 1.5 means t >= 2)."""
    near = [int(v) + d for v in rng.choice(t, 6) for d in (-1, 0, 1)]
    far = [int(t[0]) - 10**9, int(t[-1]) + 10**9, -(2**63), 2**63 - 1, 2**70, 0]
    return near + far + [None, float(t[0]) + 0.5, float(t[-1]) - 0.25]


def expected(t: np.ndarray, t0, t1) -> np.ndarray:
    lo = -math.inf if t0 is None else (math.ceil(t0) if isinstance(t0, float) else t0)
    hi = math.inf if t1 is None else (math.ceil(t1) if isinstance(t1, float) else t1)
    return np.flatnonzero((t >= lo) & (t < hi))


@pytest.mark.parametrize("layout,cached", [(name, True) for name in LAYOUTS] + [
    pytest.param(name, False, id=f"{name}-streamed") for name in ("aedat4", "evt2", "evt3", "dat")])
@fuzz_settings(8, deadline_s=30)
@given(data=streams(), seed=st.integers(0, 2**32 - 1))
def test_every_window_is_the_numpy_filter(tmp_path_factory, monkeypatch, layout, cached, data, seed):
    if not cached:  # the decoders of layouts without an index: no cache, small decoding blocks
        monkeypatch.setattr(streamed, "CACHE_EVENTS", 3)
        monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 5)
    x, y, t, on = data
    path = write(layout, tmp_path_factory.mktemp(layout), x, y, t, on)
    rng = np.random.default_rng(seed)
    edges = bounds(t, rng)
    with open_events(path) as src:
        assert src.num_events == len(t)
        for _ in range(12):
            t0, t1 = (edges[int(k)] for k in rng.integers(0, len(edges), 2))
            want = expected(t, t0, t1)
            got = src.read(t0, t1)
            assert got.t.tolist() == t[want].tolist(), (t0, t1)
            assert got.x.tolist() == x[want].tolist() and got.y.tolist() == y[want].tolist()
            assert got.p.tolist() == np.where(on[want], 1, -1).tolist()
            chunks = list(src.iter_chunks(max_events=int(rng.integers(1, 8)), t0=t0, t1=t1))
            assert [int(v) for c in chunks for v in c.t] == t[want].tolist(), (t0, t1)
            if src.__class__.index_range is not streamed.StreamedSource.index_range or cached:
                i0, i1 = src.index_range(t0, t1)
                assert (i1 - i0) == len(want) and (not len(want) or i0 == want[0])
    t0, t1 = (edges[int(k)] for k in rng.integers(0, len(edges), 2))
    assert read_events(path, t0, t1).t.tolist() == t[expected(t, t0, t1)].tolist()
