"""Windows and frame intervals at the ends of the int64 µs range: a bound beyond int64 and frame times more
than 2**63 µs apart (the in-memory core's half-open windows and `interval_points`)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream, Frames
from egvsr.events.frames import interval_bounds, interval_points

MAX, MIN = 2**63 - 1, -(2**63)


def _stream(t) -> EventStream:
    t = np.asarray(t, np.int64)
    n = len(t)
    return EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, np.ones(n, np.int8), 1, 1)


@pytest.mark.parametrize("t0, t1, expected", [
    (0, 2**63, [MAX - 1, MAX]),              # t1 beyond int64: every event is before it, the last one too
    (None, 2.0**63, [MIN, MAX - 1, MAX]),
    (None, 10**30, [MIN, MAX - 1, MAX]),
    (MAX, MAX + 5, [MAX]),
    (2**63, None, []),                       # t0 beyond int64: no event is at or after it
    (np.float64(2.0**63), None, []),
    (np.uint64(2**64 - 1), None, []),
    (MAX, None, [MAX]),
    (None, MAX, [MIN, MAX - 1]),
    (-(2**70), MIN + 1, [MIN]),
    (MIN, MIN, []),
])
def test_window_bounds_beyond_int64_keep_the_half_open_rule(t0, t1, expected):
    """[t0, t1) holds exactly the events with t0 <= t < t1 for any bound, also past int64's ends: clamping
    a bound to 2**63 - 1 put t1 = 2**63 *at* an event at 2**63 - 1 (dropping it) and t0 = 2**63 on it."""
    s = _stream([MIN, MAX - 1, MAX])
    assert s.slice(t0, t1).t.tolist() == expected


def test_an_egvsr_file_reads_windows_beyond_int64_alike(tmp_path):
    from egvsr.events.io import open_events, write_events

    path = write_events(tmp_path / "e.h5", _stream([MIN, 0, MAX - 1, MAX]))
    with open_events(path) as src:
        assert src.read(0, 2**63).t.tolist() == [0, MAX - 1, MAX]
        assert len(src.read(2**63, None)) == 0 and src.index_range(2.0**63, None) == (4, 4)


def test_a_source_recording_reads_windows_beyond_int64_as_its_source(tmp_path):
    """`Recording.read_events` (SourceRecording, TonicRecording) takes bounds as `EventSource.read` does: its
    bounds were clamped to int64 first, so t1 = 2**63 landed *on* an event at 2**63 - 1 and dropped it."""
    from egvsr.datasets.adapters.event_source import SourceRecording
    from egvsr.events.io import write_events
    from egvsr.tonic_data import TonicRecording

    path = write_events(tmp_path / "e.h5", _stream([MIN, 0, MAX - 1, MAX]))
    with SourceRecording(path) as rec:
        assert rec.read_events(MAX - 5, 2**63).t.tolist() == [MAX - 1, MAX]
        assert rec.read_events(None, 10**30).t.tolist() == [MIN, 0, MAX - 1, MAX]
        assert len(rec.read_events(2**63, None)) == 0
    events = np.zeros(3, [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    events["t"], events["p"] = [0, MAX - 1, MAX], 1
    rec = TonicRecording(events, np.zeros((1, 1, 1), np.uint8), [0], (1, 1, 2))
    assert rec.read_events(MAX - 5, 2.0**63).t.tolist() == [MAX - 1, MAX]
    assert len(rec.read_events(2**63, None)) == 0


@pytest.mark.parametrize("cached", [True, False])
def test_a_streamed_layout_reads_windows_beyond_int64_alike(tmp_path, monkeypatch, cached):
    """A layout decoded front to back (AEDAT4 stores int64 µs) clamped its bounds too: t1 = 2**63 dropped
    an event at 2**63 - 1, and t0 = 2**63 took it."""
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    from egvsr.events.io import open_events, streamed
    from tests.events.io.test_layouts import write_aedat4

    if not cached:
        monkeypatch.setattr(streamed, "CACHE_EVENTS", 1)
    t = np.array([0, MAX - 1, MAX], np.int64)
    write_aedat4(tmp_path / "r.aedat4", [(t, np.zeros(3, int), np.zeros(3, int), np.ones(3, bool))], 2, 2)
    with open_events(tmp_path / "r.aedat4") as src:
        assert src.read(MAX - 5, 2**63).t.tolist() == [MAX - 1, MAX]
        assert [int(v) for c in src.iter_chunks(1, t0=1, t1=2.0**63) for v in c.t] == [MAX - 1, MAX]
        assert len(src.read(2**63, None)) == 0 and not list(src.iter_chunks(1, t0=2**63))
        assert src.read(-(2**70), -(2**63) + 1).t.tolist() == []

@settings(max_examples=150, deadline=None)
@given(ts=st.lists(st.integers(MIN, MAX), max_size=12),
       t0=st.one_of(st.none(), st.integers(-(2**64), 2**64)),
       t1=st.one_of(st.none(), st.integers(-(2**64), 2**64)))
def test_slice_matches_the_comparison_on_the_whole_int64_range(ts, t0, t1):
    t = sorted(ts)
    got = _stream(t).slice(t0, t1).t.tolist()
    assert got == [v for v in t if (t0 is None or v >= t0) and (t1 is None or v < t1)]


def _nearest_even(q: Fraction) -> int:
    f = math.floor(q)
    return f + (q - f > Fraction(1, 2) or (q - f == Fraction(1, 2) and f % 2 == 1))


@settings(max_examples=200, deadline=None)
@given(ts=st.lists(st.integers(MIN, MAX), max_size=5, unique=True), n=st.integers(1, 30))
def test_interval_points_are_exact_on_the_whole_int64_range(ts, n):
    """t_k + i (t_{k+1} - t_k) / n rounded to the nearest µs (ties to even), from exact fractions: frames more
    than 2**63 µs apart wrapped `np.diff` negative (a midpoint of -2**62 .. 2**62 + 10 came out near -2**63)."""
    t = np.array(sorted(ts), np.int64)
    points = interval_points(t, n)
    lo, hi = interval_bounds(t, n)
    assert points.dtype == np.int64 and points.shape == (max(len(t) - 1, 0), max(n - 1, 0))
    for k in range(len(t) - 1):
        for i in range(1, n):
            exact = int(t[k]) + Fraction(i * (int(t[k + 1]) - int(t[k])), n)
            assert points[k, i - 1] == _nearest_even(exact)
            assert (lo[k, i - 1], hi[k, i - 1]) == (math.floor(exact), math.ceil(exact))


def test_interval_points_across_the_whole_range():
    assert interval_points(np.array([-(2**62), 2**62 + 10]), 2).tolist() == [[5]]
    assert interval_points(np.array([MIN + 1, MAX]), 2).tolist() == [[0]]
    assert interval_points(np.array([MIN, 0, MAX]), 2).tolist() == [[-(2**62)], [2**62]]


@pytest.mark.parametrize("make, what", [
    (lambda: EventStream([0, [1]], [0, 0], [0, 1], [1, 1], 4, 4), "events.x"),
    (lambda: EventStream([0, 1], [0, 0], [0, [1, 2]], [1, 1], 4, 4), "events.t"),
    (lambda: EventStream([0, 1], [0, 0], [0, 1], [1, [1]], 4, 4), "events.p"),
    (lambda: Frames([np.zeros((2, 3), np.uint8), np.zeros((3, 3), np.uint8)], [0, 1]), "frames.images"),
    (lambda: Frames(np.zeros((2, 2, 3), np.uint8), [0, [1]]), "frames.t"),
])
def test_ragged_arrays_are_refused_naming_them(make, what):
    """numpy's bare `ValueError: setting an array element with a sequence` named no argument."""
    from egvsr.errors import EventValidationError

    with pytest.raises(EventValidationError, match=rf"^{what}: expected an array of one shape, got a ragged list"):
        make()
