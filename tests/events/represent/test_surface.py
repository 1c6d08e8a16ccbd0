"""Time surfaces against the numpy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from egvsr.events import EventStream
from egvsr.events.represent import time_surface, time_surfaces
from egvsr.events.represent.reference import time_surface_ref


@pytest.mark.parametrize("size", [None, (11, 17)])
def test_matches_reference(random_stream, size):
    s = random_stream(20_000, width=40, height=30, seed=2)
    hw = size or (None, None)
    got = time_surface(s, 4, 100_000, 900_000, tau_us=50_000.0, height=hw[0], width=hw[1])
    want = time_surface_ref(s.x, s.y, s.t, s.p, 40, 30, 4, 100_000, 900_000, 50_000.0, size)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_batched_default_tau_and_values():
    s = EventStream(np.array([1, 1, 2], np.uint16), np.array([0, 0, 0], np.uint16),
                    np.array([10, 30, 60], np.int64), np.array([1, 1, -1], np.int8), 4, 2)
    ts = time_surfaces(s, 2, np.array([0, 100]))[0]  # refs 50 and 100, tau = 50
    assert ts[0, 0, 0, 1] == pytest.approx(np.exp(-(50 - 30) / 50))
    assert ts[0, 1, 0, 2] == 0.0  # the OFF event at 60 comes after ref 50
    assert ts[1, 1, 0, 2] == pytest.approx(np.exp(-(100 - 60) / 50))
    assert ts[1, 0, 0, 1] == pytest.approx(np.exp(-(100 - 30) / 50))
    assert np.count_nonzero(ts) == 3


def test_negative_timestamps_match_the_reference():
    """Times before 0 are ordinary µs (a clock that started later); the reference once took them for "no event"."""
    s = EventStream(np.array([1, 2, 1], np.uint16), np.array([0, 1, 1], np.uint16),
                    np.array([-900, -500, -20], np.int64), np.array([1, -1, 1], np.int8), 3, 2)
    got = time_surface(s, 2, -1000, 0)  # refs -500 and 0, tau 500
    want = time_surface_ref(s.x, s.y, s.t, s.p, 3, 2, 2, -1000, 0, 500.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[0, 0, 0, 1] == pytest.approx(np.exp(-400 / 500)) and got[1, 1, 1, 2] == pytest.approx(np.exp(-1.0))
    assert np.count_nonzero(got) == 4


def test_a_tau_below_the_float_range_gives_zeros_without_a_warning():
    s = EventStream(np.array([1], np.uint16), np.array([0], np.uint16), np.array([10], np.int64),
                    np.array([1], np.int8), 3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = time_surface(s, 2, 0, 100, tau_us=1e-320)
    assert np.isfinite(out).all() and not out.any()
