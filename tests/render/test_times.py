"""Output-time planning: frame-rate factors, explicit times with units, windows per time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.datasets.items import window_for
from egvsr.render.times import (
    group_by_window, output_fps, parse_time, plan_times, times_from_factor,
)
from egvsr.errors import ConfigError


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(100, 50_000), min_size=1, max_size=12), st.integers(1, 7), st.integers(0, 10**6))
def test_factor_gives_frames_plus_evenly_spaced_times(steps, factor, t0):
    ft = t0 + np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    out = times_from_factor(ft, factor)
    assert len(out) == (len(ft) - 1) * factor + 1
    assert np.all(np.diff(out) > 0)
    assert np.array_equal(out[::factor], ft)  # every input frame is an output frame
    for k in range(len(ft) - 1):  # the in-betweens split each interval evenly (to the µs)
        seg = out[k * factor:(k + 1) * factor + 1]
        expect = ft[k] + (ft[k + 1] - ft[k]) * np.arange(factor + 1) / factor
        assert np.all(np.abs(seg - expect) <= 0.5)


def _old_sample_gt(t: np.ndarray, per: int) -> np.ndarray:
    """make-sample's ground-truth times before `interval_points`: rounded in float, absolute."""
    j = np.arange(1, per + 1) / (per + 1)
    return np.round(t[:-1, None] + np.diff(t)[:, None] * j[None, :]).astype(np.int64).reshape(-1)


def _between(out: np.ndarray, factor: int) -> np.ndarray:
    return out.reshape(-1)[:-1].reshape(-1, factor)[:, 1:].reshape(-1)


# 30 fps: odd intervals put 1/4 points on a half µs; 13 per interval at 13 fps: float error moved a tie
@pytest.mark.parametrize("fps, per", [(30.0, 3), (29.97, 3), (13.0, 13), (45.64082136836919, 27), (25.0, 3),
                                      (7.0, 1), (1000.0, 9), (23.976, 5)])
def test_factor_times_meet_the_ground_truth_of_make_sample_old_and_new(fps, per):
    """`render --fps-factor 4` on a 30 fps sample with 3 GT per interval scored 24 of 36 in-between times:
    12 were 1 µs off (np.round of the offset vs of the absolute time, halves to even)."""
    from egvsr.events.simulate import sample_times

    t, gt = sample_times(2.0, fps, per)
    assert np.array_equal(_between(times_from_factor(t, per + 1), per + 1), gt)  # one rule: no help needed
    old = _old_sample_gt(t, per)  # a file written before: met by taking its time, the point rounded the other way
    got = plan_times(t, per + 1, gt_times=old)
    assert np.array_equal(_between(got, per + 1), old) and np.all(np.diff(got) > 0)
    assert np.array_equal(plan_times(t, per + 1, gt_times=gt), times_from_factor(t, per + 1))


def test_a_stored_time_is_taken_only_as_the_other_rounding_of_the_point():
    ft = np.array([0, 7, 14], np.int64)  # 1/5 points 1.4, 2.8, 4.2, 5.6: nearest 1, 3, 4, 6
    assert times_from_factor(ft, 5)[:5].tolist() == [0, 1, 3, 4, 6]
    assert plan_times(ft, 5, gt_times=np.array([2, 5]))[:5].tolist() == [0, 2, 3, 5, 6]  # 1.4 -> 2, 4.2 -> 5
    # 2 is the other rounding of both 1.4 and 2.8: one time takes it; 9 is no rounding of any point
    assert plan_times(ft, 5, gt_times=np.array([2, 9]))[:5].tolist() == [0, 2, 3, 4, 6]
    assert plan_times(ft, 5, gt_times=np.array([7]))[:6].tolist() == [0, 1, 3, 4, 6, 7]  # a frame time stays


def test_frame_range_limits_the_output():
    ft = np.arange(10, dtype=np.int64) * 40_000
    out = plan_times(ft, factor=2, first=3, last=5)
    assert out.tolist() == [120_000, 140_000, 160_000, 180_000, 200_000]
    with pytest.raises(ConfigError, match="`last_frame` 10"):
        plan_times(ft, factor=2, last=10)
    with pytest.raises(ConfigError, match="first <= last"):
        plan_times(ft, factor=2, first=5, last=4)


def test_an_inclusive_frame_range_of_one_frame_renders_that_frame():
    """`first_frame` == `last_frame` is the range [i, i]: one output at that frame (it was refused as
    'expected first < last', and so was `first_frame` alone at the last frame, naming a `last_frame`
    the user never gave)."""
    ft = np.arange(10, dtype=np.int64) * 40_000
    assert plan_times(ft, factor=2, first=4, last=4).tolist() == [160_000]
    assert plan_times(ft, factor=3, first=9).tolist() == [360_000]
    assert plan_times(ft, first=0, last=0).tolist() == [0]
    with pytest.raises(ConfigError, match="`fps_factor` 0"):
        plan_times(ft, factor=0)


@pytest.mark.parametrize("text, us", [("0.04", 40_000), ("0.04s", 40_000), ("40ms", 40_000),
                                      ("40000us", 40_000), ("2.5e-2", 25_000), (0.01, 10_000),
                                      ("40000\u00b5s", 40_000), ("40000 \u03bcs", 40_000)])  # micro sign, Greek mu
def test_time_units(text, us):
    assert parse_time(text) == pytest.approx(us)


def test_explicit_times_are_relative_sorted_unique_and_inside():
    ft = np.array([1000, 41_000, 81_000], np.int64)
    out = plan_times(ft, times=["60ms", "0.02", "20000us", "0"])
    assert out.tolist() == [1000, 21_000, 61_000]
    with pytest.raises(ConfigError, match="outside the input frames"):
        plan_times(ft, times=["90ms"])
    with pytest.raises(ConfigError, match="unit s, ms or us"):
        plan_times(ft, times=["40 fortnights"])
    with pytest.raises(ConfigError, match="not both"):
        plan_times(ft, factor=2, times=["0"])


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.integers(1, 5), st.sampled_from([2, 3, 5]), st.integers(1, 4))
def test_groups_follow_window_for_and_cap(n, factor, k, cap):
    ft = np.arange(n, dtype=np.int64) * 33_333 + 7
    if n < k:
        return
    times = times_from_factor(ft, factor)
    groups = group_by_window(ft, times, k, cap)
    assert np.array_equal(np.concatenate([g.times for g in groups]), times)
    for g in groups:
        assert 1 <= len(g.times) <= cap
        assert all(window_for(ft, int(t), k) == g.start for t in g.times)


def test_output_fps():
    ft = np.arange(5, dtype=np.int64) * 40_000
    assert output_fps(ft, times_from_factor(ft, 3), 3) == pytest.approx(75.0)
    assert output_fps(ft, np.array([0, 10_000, 20_000]), None) == pytest.approx(100.0)


@pytest.mark.parametrize("ft", [[0, 100_000, 200_000, 250_000, 300_000, 350_000],
                                [0, 100_000, 200_000, 300_000, 350_000, 400_000]])
@pytest.mark.parametrize("first, last", [(0, 2), (2, 5), (3, 5), (0, 5), (4, 4)])
def test_output_fps_is_the_rate_of_the_frames_rendered(ft, first, last):
    """A clip whose frame rate changes (10 fps, then 20): with `fps_factor` as without it (the same times),
    the rate is that of the input frames rendered, times the factor, not the whole clip's median rate."""
    ft = np.array(ft, np.int64)
    rendered = ft[first:last + 1]
    rate = 1e6 / np.median(np.diff(rendered if len(rendered) > 1 else ft))
    default = output_fps(ft, plan_times(ft, None, None, first, last), None)
    for factor in (1, 2, 3):
        times = plan_times(ft, factor, None, first, last)
        assert output_fps(ft, times, factor) == pytest.approx(rate * factor)
    assert default == pytest.approx(rate)


@pytest.mark.parametrize("t0", [1000, 1001, 2**53 + 1, 10**18 + 1, 2**63 - 1 - 300_000])
def test_explicit_times_are_exact_on_any_clock(t0):
    """`times` on a clock beyond 2**53 µs were added in float64: `0` fell before the first frame (refused)
    and `40ms` rendered tens of µs early; the offset is now whole µs, a tie to the even µs as before."""
    ft = t0 + np.array([0, 40_000, 80_000], np.int64)
    got = plan_times(ft, times=["0", "40ms", "1us", "80000us", "0.25us", "7.75us"]) - t0
    assert got.tolist() == [0, 1, 8, 40_000, 80_000]
    for half in (0.5, 1.5, 2.5):  # a tie goes to the even µs of the clock
        (t,) = plan_times(ft, times=[f"{half}us"]).tolist()
        assert abs(t - t0 - half) == 0.5 and t % 2 == 0


@pytest.mark.parametrize("t0", [0, 1, 10**18])
@pytest.mark.parametrize("written_us", ["125.5", "126.5", "248.5", "250.5", "253.5", "490.5", "2.5", "1000000.5"])
def test_explicit_times_in_s_and_ms_are_rounded_as_written(t0, written_us):
    """`--times 0.0001255` is 125.5 µs after the first frame, a tie, which goes to the even µs as `125.5us` does;
    the float product 0.0001255 * 1e6 = 125.49999999999999 rounded it down (and 0.0001265 s, read as
    126.50000000000001, up), so the same time written in s or ms landed 1 µs off in about 3% of ties."""
    from decimal import Decimal

    ft = t0 + np.array([0, 2_000_000], np.int64)
    us = Decimal(written_us)
    expected = int((t0 + us).to_integral_value(rounding="ROUND_HALF_EVEN"))
    for text in (f"{us}us", f"{us / 1000}ms", f"{us / 1_000_000}", f"{us / 1_000_000}s"):
        assert plan_times(ft, times=[text]).tolist() == [expected], text


@given(st.integers(0, 10**9), st.sampled_from(["s", "ms", "us"]), st.integers(0, 2**62))
@settings(max_examples=200, deadline=None)
def test_explicit_times_match_exact_decimal_rounding(tenths_us, unit, t0):
    """Any time written with up to a tenth of a µs lands on the µs the exact decimal rounds to (ties to even)."""
    from decimal import Decimal

    us = Decimal(tenths_us) / 10
    text = str(us / {"s": 1_000_000, "ms": 1000, "us": 1}[unit]) + unit
    ft = t0 + np.array([0, 10**9], np.int64)
    expected = int((t0 + us).to_integral_value(rounding="ROUND_HALF_EVEN"))
    assert plan_times(ft, times=[text]).tolist() == [expected], text


def test_tiny_and_huge_explicit_times_stay_cheap():
    ft = np.array([7, 40_007], np.int64)
    assert plan_times(ft, times=["1e-999999999", "-1e-30us", "0.0"]).tolist() == [7]
    with pytest.raises(ConfigError, match="outside the input frames"):
        plan_times(ft, times=["1e300"])
