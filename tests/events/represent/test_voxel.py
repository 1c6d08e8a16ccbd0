"""Voxel grids: numba kernels against the numpy reference, edge cases, mass, batched and parallel."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.represent import batched, voxel_grid, voxel_grids
from egvsr.events.represent.reference import voxel_grid_ref

TOL = dict(rtol=1e-5, atol=2e-5)


def _ref(s: EventStream, bins, t0, t1, size=None, polarity="signed"):
    return voxel_grid_ref(s.x, s.y, s.t, s.p, s.width, s.height, bins, t0, t1, size, polarity)


def _stream(x, y, t, p, w=8, h=6) -> EventStream:
    return EventStream(np.asarray(x, np.uint16), np.asarray(y, np.uint16), np.asarray(t, np.int64),
                       np.asarray(p, np.int8), w, h)


@pytest.mark.parametrize("bins", [1, 2, 5, 9])
@pytest.mark.parametrize("polarity", ["signed", "split"])
def test_random_stream_matches_reference(random_stream, bins, polarity):
    s = random_stream(20_000, width=40, height=30, t_span=1_000_000, seed=bins)
    got = voxel_grid(s, bins, 123_457, 876_543, polarity=polarity)
    want = _ref(s, bins, 123_457, 876_543, polarity=polarity)
    assert got.dtype == np.float32
    assert got.shape == ((bins, 30, 40) if polarity == "signed" else (bins, 2, 30, 40))
    np.testing.assert_allclose(got, want, **TOL)


def test_dense_window_uses_pair_scratch_and_matches(random_stream, monkeypatch):
    s = random_stream(60_000, width=20, height=10, seed=3)  # far more events than cells
    for density in (0.0, 1e12):  # pair scratch, then direct scatter
        monkeypatch.setattr(batched, "PAIR_DENSITY", density)
        np.testing.assert_allclose(voxel_grid(s, 5, 0, 1_000_000), _ref(s, 5, 0, 1_000_000), **TOL)


def test_empty_window_gives_zeros(random_stream):
    s = random_stream(1000, width=16, height=12, t_span=1000)
    v = voxel_grid(s, 4, 5000, 6000)
    assert v.shape == (4, 12, 16) and not v.any()
    e = EventStream.empty(16, 12)
    assert not voxel_grid(e, 3, 0, 10).any()


def test_one_event_splits_its_unit_mass_between_two_bins():
    # tn = (5 - 1) * (30 - 0) / 100 = 1.2: 0.8 into bin 1, 0.2 into bin 2
    s = _stream([3], [2], [30], [-1])
    v = voxel_grid(s, 5, 0, 100)
    assert v[1, 2, 3] == pytest.approx(-0.8) and v[2, 2, 3] == pytest.approx(-0.2)
    assert np.count_nonzero(v) == 2 and v.sum() == pytest.approx(-1.0)


def test_event_at_t_end_is_outside_and_window_start_is_inside():
    s = _stream([1, 2, 3], [1, 1, 1], [0, 50, 100], [1, 1, 1])
    v = voxel_grid(s, 3, 0, 100)  # [0, 100): the event at t = 100 belongs to the next window
    assert v.sum() == pytest.approx(2.0)
    assert v[0, 1, 1] == 1.0  # at t_start: fully in bin 0
    assert v[1, 1, 2] == 1.0  # tn = 1 exactly: fully in bin 1
    assert v[:, 1, 3].sum() == 0
    nxt = voxel_grid(s, 3, 100, 200)
    assert nxt[0, 1, 3] == 1.0


def test_event_just_before_t_end_lands_almost_fully_in_last_bin():
    s = _stream([4], [3], [99_999], [1])
    v = voxel_grid(s, 5, 0, 100_000)
    assert v[4, 3, 4] == pytest.approx(1.0, abs=1e-4) and v.sum() == pytest.approx(1.0)


def test_all_events_at_one_timestamp(random_stream):
    base = random_stream(5000, width=16, height=12, seed=9)
    s = EventStream(base.x, base.y, np.full(len(base), 40, np.int64), base.p, 16, 12)
    got = voxel_grid(s, 5, 0, 100)
    np.testing.assert_allclose(got, _ref(s, 5, 0, 100), **TOL)
    assert got.sum() == pytest.approx(float(base.p.sum()), abs=1e-3)


def test_events_outside_the_window_are_ignored(random_stream):
    s = random_stream(10_000, width=16, height=12, t_span=1000)
    inside = s.slice(250, 750)
    np.testing.assert_allclose(voxel_grid(s, 4, 250, 750), voxel_grid(inside, 4, 250, 750), **TOL)


def test_mass_is_conserved(random_stream):
    s = random_stream(30_000, width=32, height=24, seed=5)
    inside = s.slice(100_000, 900_000)
    signed = voxel_grid(s, 7, 100_000, 900_000)
    split = voxel_grid(s, 7, 100_000, 900_000, polarity="split")
    assert signed.sum() == pytest.approx(float(inside.p.sum()), abs=0.05)
    assert split[:, 0].sum() == pytest.approx(float((inside.p > 0).sum()), rel=1e-6)
    assert split[:, 1].sum() == pytest.approx(float((inside.p < 0).sum()), rel=1e-6)
    np.testing.assert_allclose(split[:, 0] - split[:, 1], signed, **TOL)


def test_very_long_window_keeps_precision():
    # segments longer than 2**31 us are shifted before the int32 conversion
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(0, 9_000_000_000, 3000))
    s = _stream(rng.integers(0, 8, 3000), rng.integers(0, 6, 3000), t, rng.choice([-1, 1], 3000))
    for bins in (2, 3):
        np.testing.assert_allclose(voxel_grid(s, bins, 0, 9_000_000_000),
                                   _ref(s, bins, 0, 9_000_000_000), **TOL)


def test_inputs_are_not_mutated_and_output_does_not_alias(random_stream):
    s = random_stream(5000, width=16, height=12)
    before = [a.copy() for a in (s.x, s.y, s.t, s.p)]
    v = voxel_grid(s, 5, 0, 1_000_000, normalize="percentile")
    for a, b in zip((s.x, s.y, s.t, s.p), before):
        np.testing.assert_array_equal(a, b)
    assert not any(np.shares_memory(v, a) for a in (s.x, s.y, s.t, s.p))


def test_batched_equals_one_window_at_a_time(random_stream):
    s = random_stream(40_000, width=24, height=18, seed=11)
    edges = np.array([0, 1000, 1000 + 333_333, 500_000, 999_999, 1_200_000])
    got = voxel_grids(s, 5, edges)
    assert got.shape == (5, 5, 18, 24)
    for k in range(5):
        np.testing.assert_allclose(got[k], _ref(s, 5, edges[k], edges[k + 1]), **TOL)
    rows = np.array([[0, 600_000], [300_000, 900_000]])  # overlapping windows as (K, 2)
    got = voxel_grids(s, 3, rows, polarity="split")
    for k, (a, b) in enumerate(rows):
        np.testing.assert_allclose(got[k], _ref(s, 3, a, b, polarity="split"), **TOL)
    assert voxel_grids(s, 3, np.array([5])).shape == (0, 3, 18, 24)


@pytest.mark.parametrize("bins", [2, 5, 12])
def test_parallel_split_windows_match_reference(random_stream, monkeypatch, bins):
    """Force the planner to cut windows across threads (carried boundary planes) and compare."""
    monkeypatch.setattr(batched, "MIN_PARALLEL_WORK", 1000)
    s = random_stream(50_000, width=20, height=16, seed=bins)
    edges = np.array([0, 50_000, 900_000, 1_000_000])
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        got = voxel_grids(s, bins, edges, threads=threads)
        for k in range(3):
            np.testing.assert_allclose(got[k], _ref(s, bins, edges[k], edges[k + 1]), **TOL)


def test_planner_cuts_a_heavy_window_into_disjoint_segment_runs():
    edges = np.array([[0, 100, 200, 300, 400, 500]], np.int64)  # 1 window, 5 segments, 500 events
    items, groups, n_carry = batched.plan_items(edges, 4, 4, True, False, 2, 0.0, 0.5)
    assert len(groups) == 3 and n_carry == len(items) - 1 >= 1
    runs = [(int(a), int(b)) for a, b in items[:, 1:3]]
    assert runs[0][0] == 0 and runs[-1][1] == 5
    assert all(r[1] == q[0] for r, q in zip(runs, runs[1:]))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 300),
    bins=st.integers(1, 6),
    w=st.integers(1, 9),
    h=st.integers(1, 7),
    t0=st.integers(-50, 50),
    span=st.integers(1, 400),
    polarity=st.sampled_from(["signed", "split"]),
    seed=st.integers(0, 2**31),
)
def test_property_matches_reference_and_conserves_mass(n, bins, w, h, t0, span, polarity, seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(-100, 500, n))
    s = _stream(rng.integers(0, w, n), rng.integers(0, h, n), t, rng.choice([-1, 1], n), w, h)
    got = voxel_grid(s, bins, t0, t0 + span, polarity=polarity)
    np.testing.assert_allclose(got, _ref(s, bins, t0, t0 + span, polarity=polarity), **TOL)
    inside = s.slice(t0, t0 + span)
    mass = float(inside.p.sum()) if polarity == "signed" else float(len(inside))
    assert got.sum() == pytest.approx(mass, abs=1e-3)
