"""Metamorphic properties of every representation: mirroring or transposing a recording mirrors or
transposes its tensors (at the sensor size and at any target size, raw and normalized), shifting every time
(events and windows) by a constant changes nothing, and events of equal timestamps may come in any order.
The bilinear splat is symmetric (docs/representations.md, "Target resolution"), so mirrored inputs give the
mirrored tensor up to float32 rounding; time surfaces at a target size take the output pixel holding an
event's scaled centre, where a centre on a pixel edge goes one way, so they are checked at the sensor size.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.represent import normalize, represent_batch
from tests._reliability import fuzz_settings

REPRS = ["voxel", "moments", "frames", "timesurface"]
TOL = dict(rtol=1e-5, atol=2e-5)


@st.composite
def recordings(draw):
    w, h = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    n = draw(st.integers(0, 60))
    ints = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=n, max_size=n)  # noqa: E731
    t = np.sort(np.array(draw(ints(0, 100)), np.int64))
    x, y = np.array(draw(ints(0, w - 1)), np.uint16), np.array(draw(ints(0, h - 1)), np.uint16)
    p = np.array(draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n)), np.int8)
    return x, y, t, p, w, h


def _tensors(x, y, t, p, w, h, rep, bins, size, norm, windows):
    kw = {} if size is None else {"height": size[0], "width": size[1]}
    return represent_batch(EventStream(x, y, t, p, w, h), rep, bins, windows, normalize=norm, threads=1, **kw)


@fuzz_settings(150, deadline_s=60)
@given(rec=recordings(), rep=st.sampled_from(REPRS), bins=st.integers(1, 4), data=st.data(),
       norm=st.sampled_from(["none", "standard", "percentile"]))
def test_mirrored_or_transposed_recording_gives_the_mirrored_or_transposed_tensors(rec, rep, bins, norm, data):
    x, y, t, p, w, h = rec
    size = None if rep == "timesurface" else data.draw(st.none() | st.tuples(st.integers(1, 12), st.integers(1, 12)))
    windows = np.array([[0, 50], [0, 101], [37, 90]])
    a = _tensors(x, y, t, p, w, h, rep, bins, size, norm, windows)
    mx = _tensors((w - 1 - x).astype(np.uint16), y, t, p, w, h, rep, bins, size, norm, windows)
    my = _tensors(x, (h - 1 - y).astype(np.uint16), t, p, w, h, rep, bins, size, norm, windows)
    tr = _tensors(y, x, t, p, h, w, rep, bins, None if size is None else size[::-1], norm, windows)
    np.testing.assert_allclose(mx, a[..., ::-1], **TOL)
    np.testing.assert_allclose(my, a[..., ::-1, :], **TOL)
    np.testing.assert_allclose(tr, np.swapaxes(a, -1, -2), **TOL)


@fuzz_settings(60, deadline_s=60)
@given(rec=recordings(), rep=st.sampled_from(REPRS), bins=st.integers(1, 4),
       shift=st.sampled_from([-(2**40), 1_700_000_000_000_000, 1_700_000_000_123_457_000, 2**62 + 12_345]),
       norm=st.sampled_from(["none", "standard"]), seed=st.integers(0, 2**32 - 1))
def test_shifted_clock_and_shuffled_ties_change_nothing(rec, rep, bins, shift, norm, seed):
    x, y, t, p, w, h = rec
    windows = np.array([[0, 50], [0, 101], [37, 90], [100, 101]])
    a = _tensors(x, y, t, p, w, h, rep, bins, (3, 4), norm, windows)
    b = _tensors(x, y, t + shift, p, w, h, rep, bins, (3, 4), norm, windows + shift)
    np.testing.assert_array_equal(b, a)
    order = np.lexsort((np.random.default_rng(seed).random(len(t)), t))  # ties in a random order
    c = _tensors(x[order], y[order], t[order], p[order], w, h, rep, bins, (3, 4), norm, windows)
    np.testing.assert_allclose(c, a, **TOL)


def test_standardizing_values_equal_but_for_rounding_gives_zeros_not_unit_contrast():
    # one output pixel: the column's events fold into it from either end of the sensor, and the mass summed
    # at one end is 1 - 2**-24 (float32 rounding of the splat's taps), at the other exactly 1: two bins of
    # equal exact value, which standardizing turned into +1 and -1 (their std is the rounding's 3e-8)
    t, p = np.array([0, 0, 0, 25], np.int64), np.array([-1, -1, 1, -1], np.int8)
    for row in (0, 5):
        s = EventStream(np.zeros(4, np.uint16), np.full(4, row, np.uint16), t, p, 1, 6)
        out = represent_batch(s, "frames", 2, np.array([[0, 50]]), height=1, width=1, normalize="standard",
                              threads=1)
        np.testing.assert_allclose(out.ravel(), [0.0, 0.0], atol=1e-6)
    v = np.float32([0, 3.0, np.nextafter(np.float32(3.0), np.float32(4.0)), 0, 3.0])
    np.testing.assert_allclose(normalize(v, "standard"), np.zeros(5), atol=1e-6)
    # a real difference, however small beside the values, still standardizes to unit contrast
    big = np.float32([2**23, 2**23, 2**23 + 8, 0])
    assert normalize(big, "standard")[2] == pytest.approx(np.sqrt(2.0), rel=1e-5)


@pytest.mark.parametrize("norm", ["standard", "percentile"])
def test_a_window_whose_events_cancel_normalizes_to_zeros(norm):
    # window 0 holds two ON and two OFF events at one pixel and time: 0 exactly. Splatted from row 4 of 5 into
    # one row, each event adds its two folded taps (0.6, 0.4), and the sum leaves 3e-8, which was the window's
    # largest value, so not a left-over to drop: "percentile" made it +1 (row 0, unmirrored, gives 0)
    t = np.array([0, 0, 0, 0] + [50] * 8, np.int64)
    p = np.array([-1, -1, 1, 1] + [-1] * 8, np.int8)
    windows = np.array([[0, 50], [0, 101], [37, 90]])
    out = [represent_batch(EventStream(np.zeros(12, np.uint16), np.full(12, row, np.uint16), t, p, 1, 5), "voxel",
                           1, windows, height=1, width=1, normalize=norm, threads=1).ravel() for row in (0, 4)]
    assert out[0][0] == out[1][0] == 0.0
    np.testing.assert_allclose(out[1], out[0], atol=1e-6)


def test_unit_sets_the_least_scale_of_the_left_overs_and_is_checked():
    from egvsr.errors import ConfigError
    from egvsr.events.represent import normalize, normalize_windows
    from egvsr.events.represent.registry import Representation, get_representation

    v = np.float32([[3e-8, 0, -2e-8]])
    assert (normalize_windows(v.copy(), "percentile", unit=1.0) == 0).all()
    np.testing.assert_allclose(normalize_windows(v.copy(), "percentile"), [[1, 0, -2 / 2.98]], rtol=1e-6)  # scale free
    for mode in ("standard", "percentile"):  # the one-window copy takes the unit as the in-place windows do
        assert (normalize(v[0], mode, unit=1.0) == 0).all()
        np.testing.assert_array_equal(normalize(v[0], mode), normalize_windows(v.copy(), mode)[0])
    assert [get_representation(n).unit for n in ("voxel", "moments", "frames", "timesurface")] == [1, 1, 1, 0]
    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ConfigError, match="unit"):
            normalize_windows(v.copy(), "standard", unit=bad)
        with pytest.raises(ConfigError, match="unit"):
            normalize(v[0], "none", unit=bad)
        with pytest.raises(ConfigError, match="representation 'x': unit"):
            Representation("x", lambda *a: None, unit=bad)


@fuzz_settings(25, deadline_s=60)
@given(rec=recordings(), rep=st.sampled_from(REPRS), bins=st.integers(1, 3), chunk=st.integers(1, 7),
       norm=st.sampled_from(["none", "standard", "percentile"]), base=st.sampled_from([0, 1_700_000_000_000_000, 2**62]),
       window_ms=st.sampled_from([0.003, 0.04, 1]), compress=st.booleans())
def test_voxelize_in_chunks_of_any_size_equals_the_whole_recording(tmp_path_factory, rec, rep, bins, chunk, norm,
                                                                   base, window_ms, compress):
    """Chunk boundaries fall anywhere, inside runs of equal timestamps too (the drawn times repeat), on any clock;
    the windows, normalized or not, are those of the recording read whole."""
    from egvsr.events.io import EventWriter
    from egvsr.events.represent.voxelize import read_tensors, voxelize_file

    x, y, t, p, w, h = rec
    if not len(t):
        return
    folder = tmp_path_factory.mktemp("chunks")
    with EventWriter(folder / "r.h5", w, h, **({} if compress else {"compression": {}})) as writer:
        for a in range(0, len(t), 5):  # appends of 5: the file's own chunks split runs too
            writer.append(EventStream(x[a:a + 5], y[a:a + 5], t[a:a + 5] + base, p[a:a + 5], w, h))
    out = voxelize_file(folder / "r.h5", folder / "v.h5", rep, bins, window_ms=window_ms, size=(3, 2),
                        normalize=norm, chunk_events=chunk, progress=False, threads=1)
    got, starts, ends, _ = read_tensors(out)
    step = round(window_ms * 1000)
    np.testing.assert_array_equal(starts, base + t[0] + step * np.arange((t[-1] - t[0]) // step + 1))
    want = _tensors(x, y, t + base, p, w, h, rep, bins, (3, 2), norm, np.stack([starts, ends], 1))
    np.testing.assert_allclose(got, want, **TOL)
