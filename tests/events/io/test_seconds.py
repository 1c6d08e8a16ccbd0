"""Float seconds -> int64 µs (seconds.py): the numpy formula's values, and the first bad index."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events.io.seconds import seconds_to_us

SPECIAL = [np.nan, np.inf, -np.inf, 2.0**63 / 1e6 * 1.01, -1e300, 1e300]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False) | st.sampled_from([0.0, 1.5e-6, 2.5e-6, 1.6e9 + 0.1234565]),
                    max_size=5000),
    bad_at=st.lists(st.tuples(st.integers(0, 4999), st.sampled_from(SPECIAL)), max_size=3),
    as_float32=st.booleans(),
)
def test_matches_numpy_and_finds_the_first_bad_value(values, bad_at, as_float32):
    ts = np.array(values, np.float64)
    for i, v in bad_at:
        if i < len(ts):
            ts[i] = v
    if as_float32:
        with np.errstate(over="ignore"):
            ts = ts.astype(np.float32)
    us, bad = seconds_to_us(ts)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = ts.astype(np.float64) * 1e6
        wrong = np.flatnonzero(~(np.abs(scaled) < 2.0**63))
    assert bad == (int(wrong[0]) if wrong.size else -1)
    if bad < 0:
        assert us.dtype == np.int64
        np.testing.assert_array_equal(us, np.rint(scaled).astype(np.int64))


def test_big_endian_and_strided_input():
    ts = np.arange(10, dtype=">f8")[::2] * 0.5
    us, bad = seconds_to_us(ts)
    assert bad == -1 and us.tolist() == [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]
