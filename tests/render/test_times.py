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


def test_frame_range_limits_the_output():
    ft = np.arange(10, dtype=np.int64) * 40_000
    out = plan_times(ft, factor=2, first=3, last=5)
    assert out.tolist() == [120_000, 140_000, 160_000, 180_000, 200_000]
    with pytest.raises(ConfigError, match="`last_frame` 10"):
        plan_times(ft, factor=2, last=10)
    with pytest.raises(ConfigError, match="first < last"):
        plan_times(ft, factor=2, first=4, last=4)
    with pytest.raises(ConfigError, match="`fps_factor` 0"):
        plan_times(ft, factor=0)


@pytest.mark.parametrize("text, us", [("0.04", 40_000), ("0.04s", 40_000), ("40ms", 40_000),
                                      ("40000us", 40_000), ("2.5e-2", 25_000), (0.01, 10_000)])
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
