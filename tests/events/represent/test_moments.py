"""EGVSR moments and stacked event frames (hard time bins) against the numpy reference."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.represent import (
    batched, event_frames, event_frames_batch, event_moments, event_moments_batch,
)
from egvsr.events.represent.reference import event_frames_ref, event_moments_ref


def _stream(x, y, t, p, w=8, h=6) -> EventStream:
    return EventStream(np.asarray(x, np.uint16), np.asarray(y, np.uint16), np.asarray(t, np.int64),
                       np.asarray(p, np.int8), w, h)


@pytest.mark.parametrize("moments", [1, 3, 32])
def test_moments_match_reference_exactly(random_stream, moments):
    s = random_stream(20_000, width=40, height=30, seed=moments)
    got = event_moments(s, moments, 10_001, 990_001)
    want = event_moments_ref(s.x, s.y, s.t, s.p, 40, 30, moments, 10_001, 990_001)
    assert got.shape == (moments, 2, 30, 40) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # integer counts: exact


@pytest.mark.parametrize("polarity", ["signed", "split"])
def test_frames_match_reference_exactly(random_stream, polarity):
    s = random_stream(20_000, width=40, height=30, seed=4)
    got = event_frames(s, 7, 0, 700_001, polarity=polarity)
    want = event_frames_ref(s.x, s.y, s.t, s.p, 40, 30, 7, 0, 700_001, polarity=polarity)
    np.testing.assert_array_equal(got, want)


def test_bin_edges_are_exact_integers():
    # span 30, 3 bins: [0, 10) [10, 20) [20, 30); t = 9 -> 0, 10 -> 1, 29 -> 2, 30 -> outside
    s = _stream([0, 1, 2, 3], [0, 0, 0, 0], [9, 10, 29, 30], [1, 1, -1, 1])
    m = event_moments(s, 3, 0, 30)
    assert m[0, 0, 0, 0] == 1 and m[1, 0, 0, 1] == 1 and m[2, 1, 0, 2] == 1
    assert m.sum() == 3
    # span 10, 3 bins: bin = floor(3 dt / 10): dt 3 -> 0, 4 -> 1, 6 -> 1, 7 -> 2
    s = _stream([0, 1, 2, 3], [0, 0, 0, 0], [3, 4, 6, 7], [1, 1, 1, 1])
    f = event_frames(s, 3, 0, 10)
    assert f[0, 0, 0] == 1 and f[1, 0, 1] == 1 and f[1, 0, 2] == 1 and f[2, 0, 3] == 1


def test_edge_cases_empty_one_event_same_timestamp_outside():
    assert not event_moments(EventStream.empty(5, 4), 4, 0, 100).any()
    one = _stream([2], [3], [50], [-1])
    m = event_moments(one, 4, 0, 100)
    assert m[2, 1, 3, 2] == 1 and m.sum() == 1
    same = _stream([1, 2, 2, 5], [0, 1, 1, 5], [7, 7, 7, 7], [1, -1, -1, 1])
    m = event_moments(same, 5, 0, 10)
    assert m[3].sum() == 4 and m[3, 1, 1, 2] == 2
    assert not event_moments(same, 5, 7 + 1, 20).any()
    assert not event_moments(same, 5, 0, 7).any()  # all exactly at t_end


def test_batched_and_parallel_match(random_stream, monkeypatch):
    monkeypatch.setattr(batched, "MIN_PARALLEL_WORK", 1000)
    s = random_stream(40_000, width=24, height=18, seed=12)
    edges = np.array([0, 20_000, 950_000, 1_000_000])
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        got = event_moments_batch(s, 8, edges, threads=threads)
        fr = event_frames_batch(s, 8, edges, threads=threads)
        for k in range(3):
            want = event_moments_ref(s.x, s.y, s.t, s.p, 24, 18, 8, edges[k], edges[k + 1])
            np.testing.assert_array_equal(got[k], want)
            np.testing.assert_array_equal(fr[k], want[:, 0] - want[:, 1])


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 300), bins=st.integers(1, 8), w=st.integers(1, 9), h=st.integers(1, 7),
    t0=st.integers(-50, 50), span=st.integers(1, 400), seed=st.integers(0, 2**31),
)
def test_property_counts_match_reference(n, bins, w, h, t0, span, seed):
    rng = np.random.default_rng(seed)
    s = _stream(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(-100, 500, n)),
                rng.choice([-1, 1], n), w, h)
    got = event_moments(s, bins, t0, t0 + span)
    np.testing.assert_array_equal(got, event_moments_ref(s.x, s.y, s.t, s.p, w, h, bins, t0, t0 + span))
    assert got.sum() == len(s.slice(t0, t0 + span))
