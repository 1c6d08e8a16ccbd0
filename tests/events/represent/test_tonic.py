"""Agreement with tonic's voxel grid where it means the same thing, and its documented differences.

tonic 1.7 `to_voxel_grid_numpy` normalises time to [0, B] over the first..last event, drops the
right-hand share of bin B - 1 and the last event, keeps bool polarity as +1, and writes -1 into the
caller's polarity array. Ours uses the explicit window with [0, bins - 1] and keeps every event.
"""

from __future__ import annotations

import numpy as np
import pytest

tonic_fn = pytest.importorskip("tonic.functional")

from egvsr.events import EventStream  # noqa: E402
from egvsr.events.represent import voxel_grid  # noqa: E402


def _events(n=20_000, w=34, h=26, seed=0, p_dtype=np.int8):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", p_dtype)])
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["t"] = np.sort(rng.integers(0, 1_000_000, n))
    ev["p"] = rng.integers(0, 2, n).astype(p_dtype)
    return ev


def _ours(ev, w=34, h=26):
    p = np.where(ev["p"].astype(np.int8) > 0, 1, -1).astype(np.int8)
    return EventStream(ev["x"].astype(np.uint16), ev["y"].astype(np.uint16), ev["t"].copy(), p, w, h)


@pytest.mark.parametrize("bins", [1, 5, 10])
def test_same_thing_tonic_B_equals_our_B_plus_1_over_first_to_last_event(bins):
    ev = _events()
    s = _ours(ev)
    tonic = tonic_fn.to_voxel_grid_numpy(ev.copy(), (34, 26, 2), bins)  # (B, 1, H, W) float64
    ours = voxel_grid(s, bins + 1, int(ev["t"][0]), int(ev["t"][-1]))
    np.testing.assert_allclose(ours[:bins], tonic[:, 0], rtol=1e-5, atol=1e-5)


def test_difference_time_mapping_drops_mass_in_tonic_but_not_in_ours():
    ev = _events()
    s = _ours(ev)
    split = np.zeros(len(ev), dtype=ev.dtype)
    split[:] = ev
    split["p"] = 1  # count mass: every event +1
    tonic = tonic_fn.to_voxel_grid_numpy(split, (34, 26, 2), 5)
    ours = voxel_grid(s, 5, int(ev["t"][0]), int(ev["t"][-1]) + 1, polarity="split")
    assert ours.sum() == pytest.approx(len(ev), rel=1e-6)
    assert tonic.sum() < 0.95 * len(ev)  # the last bin's right-hand shares and the last event


def test_difference_bool_polarity_counts_every_event_as_on_in_tonic():
    ev = _events(p_dtype=np.bool_)
    tonic = tonic_fn.to_voxel_grid_numpy(ev.copy(), (34, 26, 2), 4)
    assert tonic.min() >= 0.0  # no negative (OFF) contribution survives
    s = _ours(ev)
    ours = voxel_grid(s, 5, int(ev["t"][0]), int(ev["t"][-1]))
    assert ours.min() < 0.0


def test_difference_tonic_mutates_the_callers_polarity_ours_does_not():
    ev = _events()
    before = ev["p"].copy()
    tonic_fn.to_voxel_grid_numpy(ev, (34, 26, 2), 4)
    assert (before == 0).any() and not (ev["p"] == 0).any()  # zeros became -1 in place
    s = _ours(_events())
    kept = [a.copy() for a in (s.x, s.y, s.t, s.p)]
    voxel_grid(s, 4, 0, 1_000_000)
    for a, b in zip((s.x, s.y, s.t, s.p), kept):
        np.testing.assert_array_equal(a, b)
