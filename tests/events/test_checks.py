"""The single-pass numba checks equal their numpy definitions on random arrays (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events.checks import BLOCK, first_decrease, first_not_unit, first_outside

sizes = st.integers(0, 3 * BLOCK + 5)


def _first(mask: np.ndarray) -> int:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else -1


@settings(max_examples=60, deadline=None)
@given(n=sizes, seed=st.integers(0, 2**32 - 1), bad=st.lists(st.integers(0, 10**6), max_size=3),
       dtype=st.sampled_from([np.uint16, np.int16, np.int32, np.int64, np.float32, np.float64]))
def test_first_outside_matches_numpy(n, seed, bad, dtype):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 346, n).astype(dtype)
    for b in bad:
        if n:
            a[b % n] = 346 + b % 7
    assert first_outside(a, 0, 346) == _first(~((a >= 0) & (a < 346)))


def test_first_outside_flags_nan_and_negative():
    a = np.zeros(5000, np.float64)
    a[4097] = np.nan
    assert first_outside(a, 0, 10) == 4097
    b = np.zeros(10, np.int64)
    b[3] = -1
    assert first_outside(b, 0, 10) == 3


@settings(max_examples=60, deadline=None)
@given(n=sizes, seed=st.integers(0, 2**32 - 1), drops=st.lists(st.integers(1, 10**6), max_size=3))
def test_first_decrease_matches_numpy(n, seed, drops):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(-(2**62), 2**62, n))
    for d in drops:
        if n > 1:
            i = 1 + d % (n - 1)
            t[i] = t[i - 1] - 1
    assert first_decrease(t) == (_first(np.diff(t) < 0) + 1 if n > 1 and (np.diff(t) < 0).any() else -1)


@settings(max_examples=60, deadline=None)
@given(n=sizes, seed=st.integers(0, 2**32 - 1), bad=st.lists(st.integers(0, 10**6), max_size=3),
       value=st.sampled_from([0, 2, -2, 127, -128]))
def test_first_not_unit_matches_numpy(n, seed, bad, value):
    rng = np.random.default_rng(seed)
    p = (rng.integers(0, 2, n) * 2 - 1).astype(np.int8)
    for b in bad:
        if n:
            p[b % n] = value
    assert first_not_unit(p) == _first((p != 1) & (p != -1))


def test_first_not_increasing_compares_neighbours_without_wrapping():
    from egvsr.events.checks import first_not_increasing

    i64 = np.iinfo(np.int64)
    assert first_not_increasing(np.array([i64.max - 1000, i64.min + 1000])) == 1  # np.diff says +2001
    assert first_not_increasing(np.array([i64.min, 0, i64.max])) == -1
    assert first_not_increasing(np.array([3, 3])) == 1 and first_not_increasing(np.array([5])) == -1
