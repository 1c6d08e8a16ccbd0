"""Frames to luminance (the fused numba pass) and the simulator's two luminance buffers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.simulate import EventSimulator, SimulatorConfig
from egvsr.events.simulate.luminance import FLOAT_TOLERANCE, LUMA, to_luminance


def _expected(a: np.ndarray) -> np.ndarray:
    """The conversion in plain numpy: RGB weighted, uint8 scaled, then clipped to [0, 1] in float32."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3:
        a = a.astype(np.float32) @ (LUMA / 255.0 if a.dtype == np.uint8 else LUMA)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) * np.float32(1.0 / 255.0)
    return np.clip(a, 0.0, 1.0, dtype=np.float32).reshape(-1)


floats = st.floats(-2**-11, 1 + 2**-11, width=32)  # [0, 1] and overshoots within FLOAT_TOLERANCE (clipped)


@settings(max_examples=60, deadline=None)
@given(
    a=st.one_of(
        hnp.arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=floats),
        hnp.arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 9)),
                   elements=st.floats(-2**-11, 1 + 2**-11)),
        hnp.arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9))),
        hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3]))),
        hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3)), elements=floats),
    ),
    transpose=st.booleans(), reuse=st.booleans(),
)
def test_luminance_matches_numpy(a, transpose, reuse):
    if transpose and a.ndim == 2:  # a non-contiguous view
        a = a.T
    h, w = a.shape[:2]
    out = np.full(h * w, np.float32(7.0)) if reuse else None
    got = to_luminance(a, h, w, out=out)
    assert got.dtype == np.float32 and got.shape == (h * w,)
    assert np.array_equal(got, _expected(a))
    if reuse:
        assert got is out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_named_by_position(bad):
    a = np.full((4, 5), 0.5)
    a[2, 3] = bad
    with pytest.raises(EventValidationError, match=r"row 2, column 3; expected finite"):
        to_luminance(a, 4, 5)


def test_wrong_shape_and_dtype_are_refused():
    with pytest.raises(EventValidationError, match=r"expected shape \(4, 5\)"):
        to_luminance(np.zeros((5, 4), np.float32), 4, 5)
    with pytest.raises(EventValidationError, match="expected uint8 or float"):
        to_luminance(np.zeros((4, 5), np.int16), 4, 5)


def test_a_rejected_frame_leaves_the_simulator_as_it_was():
    """Frames go into the buffer the model does not hold, so a frame refused half-way (a NaN at the
    end) must not touch the previous frame the next interval starts from."""
    rng = np.random.default_rng(1)
    frames = [rng.random((12, 16), dtype=np.float32) for _ in range(4)]
    bad = frames[2].copy()
    bad[-1, -1] = np.nan
    times = [0.0, 1000.0, 2000.0, 3000.0]
    clean = EventSimulator(16, 12, SimulatorConfig(cp=0.1), 4, threads=1)
    want = [clean.feed(f, t) for f, t in zip(frames, times)]
    assert sum(len(e) for e in want) > 100
    for threads in (1, 2):  # the serial and the chunked kernel
        sim = EventSimulator(16, 12, SimulatorConfig(cp=0.1), 4, threads=1)
        sim._model.threads = threads
        got = [sim.feed(frames[0], times[0]), sim.feed(frames[1], times[1])]
        with pytest.raises(EventValidationError, match="row 11, column 15"):
            sim.feed(bad, times[2])
        got += [sim.feed(frames[2], times[2]), sim.feed(frames[3], times[3])]
        for a, b in zip(got, want):
            for k in "xytp":
                assert np.array_equal(getattr(a, k), getattr(b, k))


@pytest.mark.parametrize("threads", [0, -1, 2.5, "2", True, 10**6])
def test_simulator_threads_are_checked(threads):
    with pytest.raises(ConfigError, match="`threads`: expected an integer in 1.."):
        EventSimulator(8, 8, threads=threads)


@pytest.mark.parametrize("dtype", [">f4", ">f8", "<f2", ">f2", np.longdouble])
@pytest.mark.parametrize("rgb", [False, True])
def test_float_frames_of_any_width_and_byte_order_are_read_by_value(dtype, rgb):
    """numba takes native float32/float64 only: a big-endian frame gave a raw TypingError, float16 a raw
    NotImplementedError."""
    rng = np.random.default_rng(0)
    native = rng.uniform(-5e-4, 1 + 5e-4, (4, 5, 3) if rgb else (4, 5)).astype(np.float16).astype(np.float32)
    got = to_luminance(native.astype(dtype), 4, 5)
    assert np.allclose(got, _expected(native), atol=1e-6)
    sim = EventSimulator(5, 4, threads=1)
    sim.feed(native.astype(dtype), 0)
    sim.feed(np.ones_like(native).astype(dtype), 10)
    bad = native.astype(dtype)
    bad[1, 2] = np.inf
    with pytest.raises(EventValidationError, match=r"row 1, column 2; expected finite"):
        to_luminance(bad, 4, 5)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.bool_, np.int8, np.complex64])
@pytest.mark.parametrize("rgb", [False, True])
def test_frames_of_other_dtypes_are_refused_rgb_included(dtype, rgb):
    """The luma product made an RGB uint16, int32 or bool frame float, which was then read as 0..1 and
    clipped (no events, no error); gray ones were already refused."""
    frame = np.ones((4, 5, 3) if rgb else (4, 5), dtype)
    with pytest.raises(EventValidationError) as err:
        to_luminance(frame, 4, 5)
    assert str(err.value) == f"frame: expected uint8 or float in [0, 1], got dtype {np.dtype(dtype)}"
    sim = EventSimulator(5, 4, threads=1)
    sim.feed(np.zeros(frame.shape, np.uint8), 0)
    with pytest.raises(EventValidationError, match="expected uint8 or float"):
        sim.feed(frame, 10)


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-1e300, 1.0), hi=st.floats(0.0, 1e300), dtype=st.sampled_from([np.float32, np.float64]),
       rgb=st.booleans())
def test_float_frames_beyond_zero_to_one_are_refused_naming_their_range(lo, hi, dtype, rgb):
    """They were clipped to [0, 1] in silence: a float frame of 0..255 levels lost nearly all contrast."""
    a = np.full((3, 4, 3) if rgb else (3, 4), 0.5, np.float64)
    a[0, 0], a[2, 3] = lo, hi
    with np.errstate(over="ignore"):  # float32 of 1e300 is inf
        a = a.astype(dtype)
    lo, hi = float(a.min()), float(a.max())
    if lo >= -FLOAT_TOLERANCE and hi <= 1 + FLOAT_TOLERANCE:
        assert to_luminance(a, 3, 4).max() <= 1.0  # read, the overshoot clipped
        return
    if not (np.isfinite(lo) and np.isfinite(hi)):  # float32 of 1e300 is inf: named by position
        with pytest.raises(EventValidationError, match="expected finite intensities"):
            to_luminance(a, 3, 4)
        return
    with pytest.raises(EventValidationError) as err:
        to_luminance(a, 3, 4)
    assert str(err.value).startswith(f"frame: float values from {lo:.6g} to {hi:.6g}; expected intensities "
                                     "in [0, 1]")
    assert ("divide it by 255" in str(err.value)) == (hi > 1)


def test_the_simulator_names_the_frame_beyond_zero_to_one_and_clips_overshoots_within_the_tolerance():
    rng = np.random.default_rng(3)
    frames = [rng.random((12, 16)) for _ in range(3)]
    sim = EventSimulator(16, 12, threads=1)
    sim.feed(frames[0], 0)
    sim.feed(np.clip(frames[1] * (1 + 0.9 * FLOAT_TOLERANCE), 0, 1 + 0.9 * FLOAT_TOLERANCE), 1000)  # read
    with pytest.raises(EventValidationError, match=r"^frame 2: float values from 0\.\d+ to 2\d\d\.\d+; expected "
                       r"intensities in \[0, 1\] \(uint8 frames hold 0\.\.255\); divide it by 255"):
        sim.feed(frames[2] * 255, 2000)  # 0..255 levels in a float frame: were clipped, 1/255 of the events
    rgb = np.full((12, 16, 3), 0.5)
    rgb[4, 5] = (1.5, 0.2, 0.2)  # a luma of 0.62 inside [0, 1] hides the red channel's 1.5
    with pytest.raises(EventValidationError, match=r"^frame 2: float values from 0\.2 to 1\.5;"):
        sim.feed(rgb, 2000)
    sim.feed(frames[2], 2000)  # the refused frames changed nothing


def test_a_bad_frame_is_named_by_its_index_in_the_simulator():
    sim = EventSimulator(5, 4, threads=1)
    sim.feed(np.zeros((4, 5)), 0)
    sim.feed(np.zeros((4, 5)), 10)
    with pytest.raises(EventValidationError, match=r"^frame 2: value nan at row 1, column 2"):
        bad = np.zeros((4, 5))
        bad[1, 2] = np.nan
        sim.feed(bad, 20)
    with pytest.raises(EventValidationError, match=r"^frame 2: expected shape \(4, 5\)"):
        sim.feed(np.zeros((5, 4)), 20)
