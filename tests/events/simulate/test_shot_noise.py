"""Shot noise lists (`noise.shot_events`): Poisson counts, uniform pixels and times, fair
polarity, sorted output, bounds, dtypes and determinism in (key, interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egvsr.events.simulate import noise
from egvsr.events.simulate.noise import shot_events


def _check_list(pix, t, p, n_pix, ta, dt):
    assert pix.dtype == np.int64 and t.dtype == np.float64 and p.dtype == np.int8
    assert pix.ndim == t.ndim == p.ndim == 1 and len(pix) == len(t) == len(p)
    if len(pix) == 0:
        return
    assert pix.min() >= 0 and pix.max() < n_pix
    assert t.min() >= ta and t.max() < ta + dt
    assert np.all((p == 1) | (p == -1))
    dp = np.diff(pix)
    assert np.all(dp >= 0), "not sorted by pixel"
    assert np.all(np.diff(t)[dp == 0] >= 0), "not sorted by time within a pixel"


@pytest.mark.parametrize("n_pix, rate, ta, dt", [
    (89960, 5e-6, 0.0, 16667.0),      # 346x260 at 5 Hz, 60 fps
    (1, 3e-3, -5000.0, 1000.0),       # one pixel, negative start
    (2, 0.7, 12.5, 3.0),
    (10, 1e-2, 1e5, 1e5),             # ~1000 events per pixel
    (2**32, 1e-12, -1e9, 250.0),      # huge sensor, tiny rate
    (1000, 1e-15, 0.0, 1.0),          # almost surely nothing
    (7, 4e9, 1e6, 3e-10),             # 3 float64 values wide: times must be clamped
])
def test_lists_are_sorted_bounded_and_typed(n_pix, rate, ta, dt):
    for interval in range(5):
        _check_list(*shot_events(21, interval, n_pix, rate, ta, dt), n_pix, ta, dt)


def test_rounding_at_the_interval_end_is_clamped():
    ta, dt = 1e6, 3e-10  # [ta, ta + dt) holds 3 float64 values
    pix, t, _ = shot_events(2, 0, 5, 4e12, ta, dt)  # ~6000 events
    assert len(pix) > 5000
    assert t.min() >= ta and t.max() < ta + dt and t.max() == np.nextafter(ta + dt, -np.inf)


@pytest.mark.parametrize("n_pix, rate, dt, intervals", [
    (5000, 40e-6, 2000.0, 400),      # lam 400
    (3, 0.05, 2.0, 2000),            # lam 0.3: many empty lists
    (10, 1e-2, 1e5, 60),             # lam 1e4 (1000 per pixel)
])
def test_counts_are_poisson(n_pix, rate, dt, intervals):
    lam = n_pix * rate * dt
    counts = np.array([len(shot_events(5, k, n_pix, rate, 100.0, dt)[0]) for k in range(intervals)])
    assert abs(counts.mean() - lam) < 5 * math.sqrt(lam / intervals)
    # variance of the sample variance of Poisson(lam) counts: (lam + 2 lam^2 (n/(n-1))) / n
    sd_var = math.sqrt((lam + 2 * lam**2) / intervals)
    assert abs(counts.var(ddof=1) - lam) < 5 * sd_var
    if lam < 1:
        assert abs(np.mean(counts == 0) - math.exp(-lam)) < 5 * math.sqrt(math.exp(-lam) / intervals)


def test_pixels_are_independent_poisson():
    n_pix, m, reps = 64, 0.5, 3000  # m expected events per pixel and interval
    cnt = np.stack([np.bincount(shot_events(8, k, n_pix, m / 100.0, 0.0, 100.0)[0], minlength=n_pix)
                    for k in range(reps)])
    n = cnt.size
    assert abs(cnt.mean() - m) < 5 * math.sqrt(m / n)
    assert abs(np.mean(cnt == 0) - math.exp(-m)) < 5 * math.sqrt(0.25 / n)
    assert abs(np.mean(cnt == 1) - m * math.exp(-m)) < 5 * math.sqrt(0.25 / n)
    assert abs(cnt.var() / m - 1) < 0.05
    # neighbours (also across the line's restarts) are uncorrelated
    c = np.corrcoef(cnt[:, :-1].ravel(), cnt[:, 1:].ravel())[0, 1]
    assert abs(c) < 5 / math.sqrt(n)


def _pooled(key, n_pix, rate, ta, dt, intervals):
    out = [shot_events(key, k, n_pix, rate, ta, dt) for k in range(intervals)]
    return tuple(np.concatenate([o[i] for o in out]) for i in range(3))


def _chi2_ok(observed, expected):
    """Chi-square against a loose bound: df + 6 sd."""
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    df = len(observed) - 1
    return chi2 < df + 6 * math.sqrt(2 * df), chi2


@pytest.mark.parametrize("n_pix, rate, dt", [(1000, 1e-4, 1000.0), (3, 2.0, 500.0)])
def test_pixels_times_and_polarities_are_uniform(n_pix, rate, dt):
    ta = -250.0
    pix, t, p = _pooled(3, n_pix, rate, ta, dt, 1000 if n_pix == 1000 else 100)
    n = len(pix)
    assert n > 90_000
    ok, chi2 = _chi2_ok(np.bincount(pix, minlength=n_pix), n / n_pix)
    assert ok, f"pixels: chi2 {chi2}"
    frac = (t - ta) / dt
    ok, chi2 = _chi2_ok(np.bincount((frac * 50).astype(int), minlength=50), n / 50)
    assert ok, f"times: chi2 {chi2}"
    assert abs(np.mean(frac < 0.5) - 0.5) < 5 * 0.5 / math.sqrt(n)
    assert abs(np.mean(frac) - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(np.mean(p == 1) - 0.5) < 5 * 0.5 / math.sqrt(n)
    # polarity does not depend on where the event is
    first = frac < 0.5
    assert abs(np.mean(p[first] == 1) - np.mean(p[~first] == 1)) < 5 * math.sqrt(0.5 / n)


def test_gaps_within_a_pixel_are_exponential():
    """Times of one busy pixel: exponential gaps, including the far tail."""
    rate, dt = 1.0, 100_000.0  # 1e5 events per interval
    gaps, pols = [], []
    for k in range(10):
        pix, t, p = shot_events(4, k, 1, rate, 0.0, dt)
        gaps.append(np.diff(t) * rate)
        pols.append(p[1:])
    g, p = np.concatenate(gaps), np.concatenate(pols)
    n = len(g)
    assert abs(g.mean() - 1) < 5 / math.sqrt(n)
    for x in (0.1, 1.0, 3.0, 7.0, 9.0):  # 7.7 is the ziggurat's tail start
        q = math.exp(-x)
        assert abs(np.mean(g > x) - q) < 5 * math.sqrt(q * (1 - q) / n) + 1e-6, x
    # an event's polarity is independent of the gap before it and of the previous polarity
    assert abs(np.corrcoef(g, p)[0, 1]) < 5 / math.sqrt(n)
    assert abs(np.corrcoef(p[1:], p[:-1])[0, 1]) < 5 / math.sqrt(n)
    short = g < np.median(g)
    assert abs(np.mean(p[short] == 1) - np.mean(p[~short] == 1)) < 5 * math.sqrt(0.5 / n)


def test_deterministic_in_key_and_interval_only():
    args = (89960, 5e-6, 1000.0, 16667.0)
    a = shot_events(9, 3, *args)
    b = shot_events(9, 3, *args)
    assert len(a[0]) > 1000
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    for other in (shot_events(10, 3, *args), shot_events(9, 4, *args), shot_events(2**63 + 9, 3, *args)):
        assert len(other[0]) != len(a[0]) or not np.array_equal(other[1], a[1])
    # the same draws for another start time: same pixels and polarities, times shifted
    c = shot_events(9, 3, 89960, 5e-6, -7.0, 16667.0)
    assert np.array_equal(a[0], c[0]) and np.array_equal(a[2], c[2])
    assert np.allclose(a[1] - 1000.0, c[1] + 7.0, rtol=0, atol=1e-8)
    # keys and intervals are taken modulo 2**64
    assert all(np.array_equal(u, v) for u, v in zip(shot_events(-1, 3, *args),
                                                    shot_events(2**64 - 1, 3, *args)))


def test_growing_the_output_gives_the_same_list():
    args = noise._kernel_args(6, 1, 5000, 40e-6, 0.0, 2000.0)
    want = noise._shots(*args)
    for cap in (1, 7, 399):
        got = noise._shots(*args[:-1], cap)
        assert all(np.array_equal(u, v) for u, v in zip(want, got))


@pytest.mark.parametrize("n_pix, rate, ta, dt", [
    (100, 0.0, 0.0, 10.0), (100, -1e-3, 0.0, 10.0), (100, 1e-3, 0.0, 0.0), (100, 1e-3, 0.0, -5.0),
    (0, 1e-3, 0.0, 10.0), (100, 1e-3, 1e20, 1.0),  # ta + dt == ta: no float64 time in the interval
    (10**6, 1e-3, 1e20, 1.0),  # the same with 1000 events expected: still none (none could lie in it)
])
def test_empty_lists(n_pix, rate, ta, dt):
    pix, t, p = shot_events(1, 2, n_pix, rate, ta, dt)
    assert len(pix) == len(t) == len(p) == 0
    assert pix.dtype == np.int64 and t.dtype == np.float64 and p.dtype == np.int8


@pytest.mark.parametrize("rate, ta, dt", [(math.nan, 0.0, 1.0), (math.inf, 0.0, 1.0),
                                          (1e-3, math.nan, 1.0), (1e-3, 0.0, math.inf),
                                          (1e-3, -math.inf, 1.0), (1e-3, math.inf, 1.0)])
def test_non_finite_arguments_are_refused(rate, ta, dt):
    with pytest.raises(ValueError):
        shot_events(1, 2, 10, rate, ta, dt)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_pix=st.one_of(st.integers(1, 300_000), st.sampled_from([1, 2, 2**32, 2**40])),
    log_m=st.floats(-14.0, 3.5),  # log10 of the expected events per pixel
    ta=st.floats(-1e12, 1e12),
    log_dt=st.floats(-6.0, 7.0),
    key=st.integers(0, 2**64 - 1),
    interval=st.integers(0, 2**40),
)
def test_bounds_and_order_hold_for_any_arguments(n_pix, log_m, ta, log_dt, key, interval):
    dt = 10.0**log_dt
    m = 10.0**log_m
    if m * n_pix > 3e4:  # keep each list small
        m = 3e4 / n_pix
    rate = m / dt
    a = shot_events(key, interval, n_pix, rate, ta, dt)
    _check_list(*a, n_pix, ta, dt)
    assert all(np.array_equal(u, v) for u, v in zip(a, shot_events(key, interval, n_pix, rate, ta, dt)))


def test_times_keep_their_resolution_on_a_huge_sparse_sensor():
    # ~1760 events over 2**44 pixels at 1e-10 events per pixel: the line is walked in stretches short
    # enough that a position keeps >= 33 bits within its pixel (docs/simulator.md), so the times within
    # the interval are not rounded to a coarse grid (a stretch of 4096 / m pixels would leave ~7 bits)
    n_pix, ta, dt = 2**44, 0.0, 1000.0
    pix, t, p = shot_events(8, 3, n_pix, 1e-13, ta, dt)
    assert 1000 < len(t) < 3000
    _check_list(pix, t, p, n_pix, ta, dt)
    frac = (t - ta) / dt
    assert len(np.unique(frac)) == len(frac)
