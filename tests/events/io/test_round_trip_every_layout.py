"""Every layout, end to end: events written by each layout's independent writer (test_layouts), read back,
converted to our layout (the one layout we write) and read again, and described by `info`, equal the events
written and a numpy reference of `info`'s numbers. Streams are drawn around the edges: no event, one event,
equal timestamps, t = 0, times at and across each format's counter limits (EVT3 2^24, DAT 2^32, EVT2 2^34,
DSEC's uint32 after t_offset, our int64 up to 2^63 - 1), late events across a wrap, coordinates at the
sensor's edge, both polarities.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.events.io import convert, read_events
from egvsr.events.io.info import summarize
from tests._reliability import fuzz_settings
from tests.events.io.test_windows_every_layout import H, LAYOUTS, W, write

#: (first time, largest time) each layout's writer can hold, and the counter a wrap crosses (None: no wrap)
LIMITS = {
    "egvsr": (2**63 - 1, None), "aedat4": (2**63 - 1, None), "dsec": (2**62, None),
    "e2vid": (2**40, None),  # float64 seconds hold whole µs exactly far beyond this
    "ced": (2**40, None),  # float64 ns likewise
    "evt3": (2**24 - 1, 24), "dat": (2**32 - 1, 32), "evt2": (2**34 - 1, 34),
}


@st.composite
def streams(draw, layout: str):
    top, bits = LIMITS[layout]
    n = draw(st.integers(0 if layout not in ("dsec",) else 1, 12))
    near = [0, 1, top - 1, top] + ([(1 << bits) - 2, (1 << bits) - 1] if bits else [])
    start = draw(st.sampled_from(near) | st.integers(0, top))
    if bits:  # steps shorter than half the counter: the wraps can be undone (late events across them too)
        half = 1 << (bits - 1)
        step = st.sampled_from([0, 1, 2, -1, -3]) | st.integers(-(half // 2), half // 2)
    else:
        step = st.sampled_from([0, 1, 999, 1000]) | st.integers(0, 2**40)
    t = [start][:n]
    if bits and n >= 3 and draw(st.booleans()):  # a late event straddling the wrap: a few µs back, not a loop on
        t = [(1 << bits) - 2, (1 << bits) + 5, (1 << bits) - 3]
    for _ in range(n - len(t)):
        t.append(t[-1] + draw(step))
    t = np.array(t, dtype=object)
    if layout == "dsec" and n:  # uint32 after t_offset = t[0]
        t = t[0] + np.sort((t - t[0]).clip(0, 2**32 - 1))
    if not bits:
        t = np.sort(np.clip(t, 0, top))
    elif n:
        t = np.maximum(t, 0)
        if layout == "evt3":  # no step of half the loop less one TIME_HIGH step (4096 µs): ambiguous
            t = np.concatenate([[t[0]], t[0] + np.cumsum(np.clip(np.diff(t), -(2**22), 2**22))]).clip(0)
    t = t.astype(np.int64)
    edge_x = draw(st.lists(st.sampled_from([0, W - 1]) | st.integers(0, W - 1), min_size=n, max_size=n))
    edge_y = draw(st.lists(st.sampled_from([0, H - 1]) | st.integers(0, H - 1), min_size=n, max_size=n))
    on = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(edge_x, np.int64), np.array(edge_y, np.int64), t, np.array(on, bool)


def _same(stream, x, y, t, on, size) -> None:
    assert (stream.width, stream.height) == size
    assert stream.t.tolist() == t.tolist()
    assert stream.x.tolist() == x.tolist() and stream.y.tolist() == y.tolist()
    assert stream.p.tolist() == np.where(on, 1, -1).tolist()


@pytest.mark.parametrize("layout", LAYOUTS)
@fuzz_settings(10, deadline_s=30)
@given(data=st.data())
def test_written_read_converted_and_described_alike(tmp_path_factory, layout, data):
    x, y, t, on = data.draw(streams(layout))
    folder = tmp_path_factory.mktemp(layout)
    path = write(layout, folder, x, y, t, on)
    unsorted = bool(len(t) > 1 and np.any(np.diff(t) < 0))
    facts = summarize(path)
    n = len(t)
    size = (640, 480) if layout == "dsec" else (W, H)  # DSEC files do not say theirs: the DSEC camera's
    assert (facts["width"], facts["height"], facts["num_events"]) == (*size, n)
    assert (facts["on"], facts["off"], facts["outside"]) == (int(on.sum()), n - int(on.sum()), 0)
    if n:
        lo, hi = int(t.min()), int(t.max())
        assert (facts["t_min_us"], facts["t_max_us"]) == (lo, hi)
        assert facts["duration_s"] == (hi - lo) / 1e6
        assert facts["event_rate"] == (n / ((hi - lo) / 1e6) if hi > lo else None)
    want_drop = int(np.argmax(np.diff(t) < 0)) + 1 if unsorted else None
    assert facts["first_decrease"] == want_drop
    if unsorted:
        sort = np.argsort(t, kind="stable")
        out = convert(path, folder / "sorted.h5", sort=True, progress=False)
        _same(read_events(out), x[sort], y[sort], t[sort], on[sort], size)
        return
    _same(read_events(path), x, y, t, on, size)
    out = convert(path, folder / "converted.h5", progress=False)
    _same(read_events(out), x, y, t, on, size)
    again = summarize(out)
    for key in ("num_events", "t_min_us", "t_max_us", "duration_s", "event_rate", "on", "off", "width", "height"):
        assert again[key] == facts[key], key
