"""Time surfaces against the numpy reference."""

from __future__ import annotations

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
