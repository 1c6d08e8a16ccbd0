"""Per-window normalisation (none / standard / percentile) against the numpy reference."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import ConfigError
from egvsr.events.represent import normalize, normalize_windows, voxel_grids
from egvsr.events.represent.reference import normalize_ref


@pytest.mark.parametrize("mode", ["none", "standard", "percentile"])
def test_windows_match_reference(random_stream, mode):
    s = random_stream(30_000, width=30, height=20, seed=1)
    edges = np.array([0, 250_000, 500_000, 1_000_000])
    raw = voxel_grids(s, 5, edges)
    got = voxel_grids(s, 5, edges, normalize=mode, threads=min(2, numba.config.NUMBA_NUM_THREADS))
    for k in range(3):
        np.testing.assert_allclose(got[k], normalize_ref(raw[k], mode), rtol=1e-5, atol=1e-5)


def test_standard_has_zero_mean_unit_std_over_nonzero_and_keeps_zeros():
    v = np.zeros((2, 4, 4), np.float32)
    v[0, 1, 1], v[1, 2, 3], v[0, 0, 0] = 3.0, -1.0, 0.5
    out = normalize(v, "standard")
    nz = v != 0
    assert (out[~nz] == 0).all()
    assert out[nz].mean() == pytest.approx(0.0, abs=1e-6) and out[nz].std() == pytest.approx(1.0)


def test_percentile_scales_by_q98_and_clips():
    v = np.arange(1, 101, dtype=np.float32).reshape(1, 10, 10) * np.where(np.arange(100) % 2, 1, -1).reshape(1, 10, 10)
    out = normalize(v, "percentile")
    q = np.percentile(np.abs(v), 98)
    np.testing.assert_allclose(out, np.clip(v / q, -1, 1), rtol=1e-6)
    assert out.max() == 1.0 and out.min() == -1.0


@pytest.mark.parametrize("mode", ["standard", "percentile"])
def test_all_zero_and_single_value_windows(mode):
    z = np.zeros((3, 5, 5), np.float32)
    assert not normalize(z, mode).any()
    one = z.copy()
    one[1, 2, 2] = 4.0
    out = normalize(one, mode)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, normalize_ref(one, mode), atol=1e-6)


def test_normalize_windows_is_in_place_and_rejects_unknown_modes():
    t = np.ones((2, 3), np.float32) * np.array([[1], [2]], np.float32)
    t[:, 0] = 0
    assert normalize_windows(t, "percentile") is t and (t[:, 1:] == 1).all()
    with pytest.raises(ConfigError, match="normalize: expected one of none, standard, percentile"):
        normalize_windows(t, "max")


@settings(max_examples=30, deadline=None)
@given(
    vals=st.lists(st.floats(-50, 50, allow_nan=False, width=32), min_size=1, max_size=60),
    zeros=st.integers(0, 30), mode=st.sampled_from(["standard", "percentile"]),
)
def test_property_matches_reference(vals, zeros, mode):
    v = np.array(vals + [0.0] * zeros, np.float32)
    np.testing.assert_allclose(normalize(v, mode), normalize_ref(v, mode), rtol=2e-5, atol=2e-5)


@settings(max_examples=40, deadline=None)
@given(vals=st.lists(st.integers(0, 6), min_size=1, max_size=80), data=st.data())
def test_quickselect_places_the_kth_smallest(vals, data):
    from egvsr.events.represent.normalization import _select

    a = np.array(vals, np.float64)
    k = data.draw(st.integers(0, len(vals) - 1))
    v = _select(a, k)
    assert v == sorted(vals)[k] and (a[:k] <= v).all() and (a[k + 1:] >= v).all()


@pytest.mark.parametrize("mode", ["standard", "percentile"])
def test_float32_left_overs_of_cancelled_sums_stay_zero(mode):
    """A cell whose exact value is 0 came out -3.7e-9 (six resampling taps cancelling in float32);
    "standard" turned it into a fake event of -0.2. Below ZERO_FRACTION of the window's max it is 0."""
    from egvsr.events.represent.normalization import ZERO_FRACTION

    v = np.zeros((2, 3, 4), np.float32)
    v[0, 0, :3] = [10.0, 3.0, -1.5]
    v[0, 1, 1] = -3.7e-9  # a left-over: 0 after normalizing
    v[0, 2, 2] = np.float32(10.0 * ZERO_FRACTION * 1.001)  # just above the threshold: a value
    v[1, 0, 0] = np.float32(10.0 * ZERO_FRACTION * 0.999)  # just below it: 0
    out = normalize(v, mode)
    assert out[0, 1, 1] == 0 and out[1, 0, 0] == 0 and out[0, 2, 2] != 0
    assert (out[v == 0] == 0).all()
    np.testing.assert_allclose(out, normalize_ref(v, mode), rtol=1e-6, atol=1e-7)
    batch = np.stack([v, 2 * v])
    normalize_windows(batch, mode, parallel=True)  # the parallel kernel agrees with the serial one
    np.testing.assert_array_equal(batch[0], out)


@pytest.mark.parametrize("mode", ["standard", "percentile"])
@pytest.mark.parametrize("layout", ["slice", "fortran", "transposed"])
def test_normalize_windows_works_in_place_on_any_layout(mode, layout):
    """A view that is not C-contiguous was normalised through a temporary copy and returned unchanged."""
    base = np.random.default_rng(3).normal(size=(3, 8, 6)).astype(np.float32)
    base[base < 0.2] = 0
    view = {"slice": lambda a: a[:, ::2], "fortran": np.asfortranarray,
            "transposed": lambda a: a.transpose(0, 2, 1)}[layout](base.copy())
    want = np.stack([normalize_ref(w, mode) for w in view])
    out = normalize_windows(view, mode)
    assert out is view
    np.testing.assert_allclose(view, want, rtol=1e-5, atol=1e-6)


def test_normalize_windows_refuses_arrays_it_cannot_normalise_in_place():
    with pytest.raises(TypeError, match=r"^tensors: expected a float32 \(or float64\) array"):
        normalize_windows(np.arange(12).reshape(3, 4), "standard")  # integer windows would be truncated
    ro = np.ones((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^tensors: the array is read-only"):
        normalize_windows(ro, "standard")
    assert normalize(np.arange(4).reshape(2, 2), "standard").dtype == np.float32  # the copy takes any numbers


@pytest.mark.parametrize("mode", ["standard", "percentile"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_and_the_windows_left_unchanged(mode, bad):
    """A NaN or infinity has no mean, std or percentile: it made every value NaN, or -1 everywhere
    ("percentile" of a NaN window), or zeroed every finite entry (an infinity is the window's max)."""
    t = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    t[1, 2, 3] = bad
    before = t.copy()
    with pytest.raises(ValueError, match=r"^tensors: expected finite values, found .* in window 1 \(entry 13 of 20\)"):
        normalize_windows(t, mode, parallel=False)
    np.testing.assert_array_equal(t, before)
    with pytest.raises(ValueError, match="^tensor: expected finite values"):
        normalize(before[1], mode)
    with pytest.raises(ValueError, match=r"^tensor: expected finite values.* found 1e\+39"):
        normalize(np.array([1e39, 1.0]), mode)  # float64 beyond float32: the float32 copy would hold inf
    assert np.isnan(normalize(np.array([np.nan, 1.0]), "none")[0])  # "none" normalises nothing


@pytest.mark.parametrize("tensor", ["abc", [None, 1.0], [[1.0, 2.0], [3.0]], np.array([1 + 2j, 3])])
def test_normalize_refuses_what_is_not_real_numbers(tensor):
    """Strings and ragged lists raised numpy's own message; None became NaN and complex values lost
    their imaginary part, silently."""
    with pytest.raises(TypeError, match="^tensor: expected an array of real numbers"):
        normalize(tensor, "standard")


@pytest.mark.parametrize("mode", ["standard", "percentile"])
def test_float64_windows_are_normalised_at_float64_precision(mode):
    """The kernels rounded every result to float32 even in a float64 array."""
    t = np.random.default_rng(1).normal(size=(2, 50))
    t[t < 0.3] = 0
    want = np.stack([normalize_ref(w, mode) for w in t])
    np.testing.assert_allclose(normalize_windows(t.copy(), mode), want, rtol=1e-12, atol=1e-12)
