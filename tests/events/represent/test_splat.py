"""Building at a target resolution: bilinear splat of scaled coordinates that conserves mass."""

from __future__ import annotations

import cv2
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.represent import (
    batched, event_moments, event_moments_batch, voxel_grid, voxel_grids,
)
from egvsr.events.represent.reference import event_moments_ref, voxel_grid_ref
from egvsr.events.represent.splat import axis_taps

TOL = dict(rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("size,out", [(346, 86), (260, 65), (10, 3), (7, 7), (5, 12), (1, 1), (9, 1)])
def test_axis_taps_sum_to_one_inside_the_output(size, out):
    i0, i1, w0, w1 = axis_taps(size, out)
    assert i0.min() >= 0 and i1.max() <= out - 1
    np.testing.assert_allclose(w0 + w1, 1.0, atol=1e-7)
    assert (w0 >= 0).all() and (w1 >= 0).all()


def test_axis_taps_follow_pixel_centres():
    i0, i1, w0, w1 = axis_taps(8, 4)  # factor 2: centre of pixel c at (c + 0.5) / 2 - 0.5
    assert (i0[2], i1[2]) == (0, 1) and w1[2] == pytest.approx(0.75)  # u = 0.75
    assert (i0[0], i1[0], w0[0] + w1[0]) == (0, 0, pytest.approx(1.0))  # u = -0.25: folded


@pytest.mark.parametrize("size", [(65, 86), (130, 173), (26, 35), (400, 500), (1, 1)])
def test_voxel_at_target_size_matches_reference_and_keeps_mass(random_stream, size):
    s = random_stream(20_000, seed=7)  # 346 x 260 sensor
    v = voxel_grid(s, 5, 0, 1_000_000, *size, polarity="split")
    assert v.shape == (5, 2, *size)
    np.testing.assert_allclose(
        v, voxel_grid_ref(s.x, s.y, s.t, s.p, 346, 260, 5, 0, 1_000_000, size, "split"), **TOL)
    assert v.sum() == pytest.approx(len(s), rel=1e-5)
    m = event_moments(s, 4, 0, 1_000_000, *size)
    np.testing.assert_allclose(
        m, event_moments_ref(s.x, s.y, s.t, s.p, 346, 260, 4, 0, 1_000_000, size), **TOL)
    assert m.sum() == pytest.approx(len(s), rel=1e-5)


@pytest.mark.parametrize("density", [0.0, 1e12])  # sensor scratch + cell splat, per-event splat
def test_both_splat_paths_and_parallel_split_match_reference(random_stream, monkeypatch, density):
    monkeypatch.setattr(batched, "SPLAT_DENSITY", density)
    monkeypatch.setattr(batched, "HARD_SPLAT_DENSITY", density)
    monkeypatch.setattr(batched, "MIN_PARALLEL_WORK", 1000)
    s = random_stream(30_000, width=50, height=40, seed=8)
    edges = np.array([0, 40_000, 950_000, 1_000_000])
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        for pol in ("signed", "split"):
            v = voxel_grids(s, 5, edges, 13, 17, polarity=pol, threads=threads)
            for k in range(3):
                np.testing.assert_allclose(v[k], voxel_grid_ref(
                    s.x, s.y, s.t, s.p, 50, 40, 5, edges[k], edges[k + 1], (13, 17), pol), **TOL)
        m = event_moments_batch(s, 6, edges, 13, 17, threads=threads)
        for k in range(3):
            np.testing.assert_allclose(m[k], event_moments_ref(
                s.x, s.y, s.t, s.p, 50, 40, 6, edges[k], edges[k + 1], (13, 17)), **TOL)


def test_dense_grid_then_resize_loses_events_but_splat_keeps_them():
    # one event at sensor pixel (0, 0), x4 down: a bilinear resize samples output pixel 0 between
    # sensor pixels 1 and 2 and never looks at pixel 0; the splat folds it into output pixel 0.
    s = EventStream(np.array([0], np.uint16), np.array([0], np.uint16), np.array([5], np.int64),
                    np.array([1], np.int8), 16, 16)
    dense = event_moments(s, 1, 0, 10)[0, 0]
    resized = cv2.resize(dense, (4, 4), interpolation=cv2.INTER_LINEAR) * 16  # x16: keep the sum
    assert resized.sum() == 0.0
    splat = event_moments(s, 1, 0, 10, 4, 4)[0, 0]
    assert splat.sum() == pytest.approx(1.0) and splat[0, 0] == pytest.approx(1.0)


def test_dense_then_resize_drops_whole_pixels_on_random_events(random_stream):
    # 344 x 260 -> 86 x 65 is exactly x4: a bilinear resize reads only sensor rows/columns 4k+1 and
    # 4k+2, so events on the other three quarters of the pixels vanish (the total is right only on
    # average, because the sampled pixels are over-weighted); the splat keeps every event.
    rng = np.random.default_rng(3)
    n = 50_000
    x = rng.integers(0, 344, n)
    y = rng.integers(0, 260, n)
    skipped = ~np.isin(x % 4, (1, 2)) | ~np.isin(y % 4, (1, 2))
    s = EventStream(x[skipped].astype(np.uint16), y[skipped].astype(np.uint16),
                    np.sort(rng.integers(0, 1_000_000, skipped.sum())), np.ones(skipped.sum(), np.int8),
                    344, 260)
    dense = voxel_grid(s, 5, 0, 1_000_000, polarity="split")
    resized = np.stack([cv2.resize(dense[b, 0], (86, 65), interpolation=cv2.INTER_LINEAR)
                        for b in range(5)]) * 16
    assert len(s) > 0.7 * n and resized.sum() == 0.0
    splat = voxel_grid(s, 5, 0, 1_000_000, 65, 86, polarity="split")
    assert splat.sum() == pytest.approx(len(s), rel=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(1, 40), h=st.integers(1, 30), ow=st.integers(1, 50), oh=st.integers(1, 50),
    n=st.integers(0, 200), seed=st.integers(0, 2**31),
)
def test_property_any_target_size_conserves_mass(w, h, ow, oh, n, seed):
    rng = np.random.default_rng(seed)
    s = EventStream(rng.integers(0, w, n).astype(np.uint16), rng.integers(0, h, n).astype(np.uint16),
                    np.sort(rng.integers(0, 1000, n)), rng.choice([-1, 1], n).astype(np.int8), w, h)
    v = voxel_grid(s, 3, 0, 1000, oh, ow, polarity="split")
    assert v.shape == (3, 2, oh, ow)
    assert v.sum() == pytest.approx(n, abs=1e-3)
    assert v.min() >= -1e-6
    np.testing.assert_allclose(
        v, voxel_grid_ref(s.x, s.y, s.t, s.p, w, h, 3, 0, 1000, (oh, ow), "split"), **TOL)
