"""Fuzzing the numba kernels and the simulator with extreme streams and frames.

Streams are drawn at the edges of what an `EventStream` allows: coordinates at 0 and 65534 on a
65535-pixel-wide sensor, timestamps at the int64 limits, every event at one timestamp, windows
from 1 µs to the whole int64 range, unvalidated streams whose coordinates lie outside the sensor.
Every representation (voxel grids signed/split, EGVSR moments, stacked frames, time surfaces, their
batched forms, at the sensor size and at a target size, each normalization) must either return
finite float32 tensors of the documented shape that keep every event's mass, or raise an
`EgvsrError` with a one-line message: never a raw numba/numpy error, a wrong result or a hang.
The simulator gets NaN/Inf frames and times at the int64 limits the same way. Example counts are
small and derandomized; EGVSR_FUZZ_EXAMPLES=N runs N random examples instead.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.errors import ConfigError, EgvsrError, EventValidationError
from egvsr.events import EventStream
from egvsr.events.frames import Frames
from egvsr.events.represent import (
    event_frames, event_frames_batch, event_moments, event_moments_batch, time_surface, time_surfaces,
    voxel_grid, voxel_grids,
)
from tests._reliability import check_message, fuzz_settings, watchdog

I64 = np.iinfo(np.int64)
SENSORS = [(1, 1), (7, 5), (65535, 2), (2, 65535), (16, 12)]  # (width, height): memory stays small
BASES = [0, -1_000_000, I64.min, I64.max - 2_000_000, 2**53, 2**62]
SPANS = [1, 2, 3, 999, 1_000_000, 2**31 + 7, 2**40, 2**61, 2**62 + 1, 2**63 - 1]


@st.composite
def extreme_streams(draw) -> tuple[EventStream, int, int]:
    """(stream, base time, max offset): a sorted stream at the edges of the allowed values."""
    width, height = draw(st.sampled_from(SENSORS))
    n = draw(st.integers(0, 60))
    coord = (lambda hi: st.sampled_from([0, hi - 1]) | st.integers(0, hi - 1))
    x = np.asarray(draw(st.lists(coord(width), min_size=n, max_size=n)), np.uint16)
    y = np.asarray(draw(st.lists(coord(height), min_size=n, max_size=n)), np.uint16)
    base = draw(st.sampled_from(BASES))
    reach = min(draw(st.sampled_from([0, 1, 5, 1000, 2_000_000])), I64.max - base)
    t = base + np.sort(np.asarray(draw(st.lists(st.integers(0, reach), min_size=n, max_size=n)), np.int64))
    p = np.asarray(draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n)), np.int8)
    return EventStream(x, y, t, p, width, height), base, reach


@st.composite
def windows(draw, base: int, reach: int) -> tuple[int, int]:
    """A window [t0, t1) near the events (or anywhere), clipped to valid int64."""
    t0 = draw(st.sampled_from([base, base - 1, base + reach // 2, base + reach + 1, I64.min, -(2**62)]))
    t0 = int(min(max(t0, I64.min), I64.max - 1))
    span = draw(st.sampled_from(SPANS))
    return t0, int(min(t0 + span, I64.max))


def _expected_shape(kind: str, bins: int, size: tuple[int, int], polarity: str) -> tuple:
    planes = (bins, 2) if kind in ("moments", "surface") or polarity == "split" else (bins,)
    return (*planes, *size)


def _check_tensor(out: np.ndarray, kind: str, bins: int, size, polarity: str, normalize: str,
                  stream: EventStream, t0: int, t1: int, native: bool = True) -> None:
    assert out.dtype == np.float32
    assert out.shape == _expected_shape(kind, bins, size, polarity), out.shape
    assert np.isfinite(out).all(), "non-finite values in a kernel's output"
    inside = int(np.count_nonzero((stream.t >= t0) & (stream.t < t1)))
    if kind == "surface":
        assert out.min() >= 0 and out.max() <= 1
        return
    if normalize != "none":
        return
    counts = kind == "moments" or (kind == "frames" and polarity == "split")
    if counts and native:  # hard-binned counts at the sensor size are exact
        assert out.sum() == inside, "counts must equal the events in the window"
    elif counts or polarity == "split":  # voxel weights, or counts splatted to a target size: float32
        np.testing.assert_allclose(out.sum(), inside, rtol=1e-4, atol=1e-3)
    else:
        signed = int(stream.p[(stream.t >= t0) & (stream.t < t1)].sum())
        np.testing.assert_allclose(out.sum(), signed, rtol=1e-4, atol=1e-3)


KINDS = ["voxel", "moments", "frames", "surface"]


def _run(kind: str, stream, bins, t0, t1, size, polarity, normalize, batched: bool) -> np.ndarray:
    hw = {} if size is None else {"height": size[0], "width": size[1]}
    if batched:
        edges = np.array([t0, t1], np.int64)
        call = {"voxel": lambda: voxel_grids(stream, bins, edges, polarity=polarity, normalize=normalize, **hw),
                "moments": lambda: event_moments_batch(stream, bins, edges, normalize=normalize, **hw),
                "frames": lambda: event_frames_batch(stream, bins, edges, polarity=polarity, normalize=normalize,
                                                     **hw),
                "surface": lambda: time_surfaces(stream, bins, edges, **hw)}[kind]
        out = call()
        assert out.shape[0] == 1
        return out[0]
    call = {"voxel": lambda: voxel_grid(stream, bins, t0, t1, polarity=polarity, normalize=normalize, **hw),
            "moments": lambda: event_moments(stream, bins, t0, t1, normalize=normalize, **hw),
            "frames": lambda: event_frames(stream, bins, t0, t1, polarity=polarity, normalize=normalize, **hw),
            "surface": lambda: time_surface(stream, bins, t0, t1, **hw)}[kind]
    return call()


@fuzz_settings(120)
@given(data=st.data(), drawn=extreme_streams(), kind=st.sampled_from(KINDS), bins=st.integers(1, 5),
       polarity=st.sampled_from(["signed", "split"]), normalize=st.sampled_from(["none", "none", "standard",
                                                                                   "percentile"]),
       batched=st.booleans(), target=st.sampled_from([None, (1, 1), (3, 2)]))
def test_extreme_streams_give_finite_tensors_or_toolkit_errors(data, drawn, kind, bins, polarity, normalize,
                                                               batched, target):
    stream, base, reach = drawn
    t0, t1 = data.draw(windows(base, reach))
    size = target or (stream.height, stream.width)
    try:
        with watchdog():
            out = _run(kind, stream, bins, t0, t1, target, polarity, normalize, batched)
    except EgvsrError as exc:
        msg = check_message(exc)
        # the only refusal these valid streams and windows can earn: a window too long for int64
        assert isinstance(exc, ConfigError) and "int64 microseconds" in msg, msg
        assert (t1 - t0) * (bins + 1) >= 2**63
        return
    _check_tensor(out, kind, bins, size, polarity, normalize, stream, t0, t1,
                  native=target is None or target == (stream.height, stream.width))


@fuzz_settings(60)
@given(width=st.sampled_from([1, 5, 300]), height=st.sampled_from([1, 4]), n=st.integers(1, 40),
       data=st.data(), kind=st.sampled_from(KINDS), target=st.sampled_from([None, (2, 2)]))
def test_unvalidated_streams_outside_the_sensor_are_reported(width, height, n, data, kind, target):
    """Arrays built with validate=False (trusted paths) whose coordinates exceed the sensor."""
    x = np.asarray(data.draw(st.lists(st.integers(0, 65535), min_size=n, max_size=n)), np.uint16)
    y = np.asarray(data.draw(st.lists(st.integers(0, 65535), min_size=n, max_size=n)), np.uint16)
    t = np.sort(np.asarray(data.draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)), np.int64))
    p = np.ones(n, np.int8)
    stream = EventStream(x, y, t, p, width, height, validate=False)
    outside = bool(((x >= width) | (y >= height)).any())
    try:
        with watchdog():
            _run(kind, stream, 3, 0, 101, target, "split", "none", data.draw(st.booleans()))
    except EventValidationError as exc:
        check_message(exc, "outside the", "sensor")
        assert outside
        return
    assert not outside, "events outside the sensor went unreported"


@pytest.mark.parametrize("kind", KINDS)
def test_millions_of_events_in_one_pixel_at_one_timestamp(kind):
    n = 2_000_000
    z = np.zeros(n, np.uint16)
    stream = EventStream(z + 65534, z + 1, np.full(n, 7, np.int64), np.ones(n, np.int8), 65535, 2)
    with watchdog():
        out = _run(kind, stream, 3, 7, 8, None, "split", "none", False)
    assert np.isfinite(out).all()
    if kind == "surface":
        # every sub-window's surface is taken at t = 8 with tau = span / bins = 1/3 µs
        np.testing.assert_allclose(out[:, 0, 1, 65534], np.exp(-3.0), rtol=1e-6)
        assert np.count_nonzero(out) == 3
    else:  # one timestamp at the window start: all mass in bin 0 at that pixel, exactly
        assert out[0, 0, 1, 65534] == n and out.sum() == n


@pytest.mark.xfail(strict=True, reason="voxel bins accumulate in float32: millions of fractional weights "
                   "in one cell drift by about 2% (counts are exact up to 2**24); see docs/representations.md")
def test_voxel_weights_of_millions_of_events_in_one_pixel_sum_exactly():
    n = 3_000_000
    z = np.zeros(n, np.uint16)
    stream = EventStream(z, z, np.full(n, 7, np.int64), np.ones(n, np.int8), 4, 3)
    out = voxel_grid(stream, 4, 0, 100)
    np.testing.assert_allclose(out.sum(), n, rtol=1e-3)


def test_windows_beyond_int64_are_refused_clearly(random_stream):
    s = random_stream(10, width=4, height=3)
    cases = [
        (lambda: voxel_grid(s, 5, I64.min, I64.max), "a span of 18446744073709551615 us"),
        (lambda: voxel_grids(s, 5, [-(2**62), 2**62]), "window 0 is"),
        (lambda: time_surface(s, 2, 0, 2**63), "t_end: 9223372036854775808 us is outside the int64"),
        (lambda: event_moments_batch(s, 2, np.array([0, 2**64 - 1], np.uint64)), "outside the int64"),
    ]
    for call, needle in cases:
        with pytest.raises(ConfigError) as err:
            call()
        check_message(err.value, needle)


def test_time_surface_of_negative_timestamps():
    """Times before 0 are valid int64 µs: the surface must not mistake them for "no event"."""
    z = np.zeros(2, np.uint16)
    before = EventStream(z, z, np.array([-50, -10], np.int64), np.ones(2, np.int8), 1, 1)
    after = EventStream(z, z, np.array([50, 90], np.int64), np.ones(2, np.int8), 1, 1)
    a = time_surface(before, 1, -100, 0, tau_us=100.0)
    b = time_surface(after, 1, 0, 100, tau_us=100.0)
    assert a[0, 0, 0, 0] == b[0, 0, 0, 0] == pytest.approx(np.exp(-0.1))


# ---- the simulator -------------------------------------------------------------------------------
@fuzz_settings(40)
@given(values=st.lists(st.sampled_from([0.0, 1.0, 0.5, -3.0, 7.0, np.nan, np.inf, -np.inf, 1e38]),
                       min_size=3, max_size=3),
       times=st.sampled_from([[0, 1000, 2000], [0, 0, 10], [5, 4, 3], [I64.max - 2, I64.max - 1, I64.max],
                              [I64.min, 0, 1], [-(2**53), 0, 2**53], [0, 1, 2]]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_simulator_feed_rejects_nonfinite_or_out_of_range_frames_and_inexact_times(values, times, dtype):
    from egvsr.events.simulate import EventSimulator

    sim = EventSimulator(6, 4, seed=1)
    try:
        with watchdog():
            for v, t in zip(values, times):
                frame = np.full((4, 6), v, dtype)
                frame[1, 2] = 0.25
                chunk = sim.feed(frame, t)
                assert np.isfinite(chunk.t.astype(np.float64)).all()
                if len(chunk):
                    assert chunk.t.min() >= times[0] and chunk.t.max() <= t
    except EventValidationError as exc:
        msg = check_message(exc)
        bad_value = not all(np.isfinite(values)) or any(not 0 <= v <= 1 for v in values)  # [0, 1] or refused
        bad_time = any(abs(t) > 2**53 for t in times) or any(b <= a for a, b in zip(times, times[1:]))
        assert bad_value or bad_time, msg
        if ": value" in msg:
            assert re.match(r"frame \d: value .* at row 0, column 0", msg), msg


@pytest.mark.parametrize("times,needle", [
    ([I64.max - 2000, I64.max - 1000, I64.max], "beyond +-2**53 µs"),
    ([0, 10, 10], "frames.t: timestamps must strictly increase"),
])
def test_simulate_frames_refuses_times_it_cannot_represent(times, needle):
    from egvsr.events.simulate import simulate_frames

    imgs = np.random.default_rng(0).integers(0, 256, (3, 6, 8, 3), dtype=np.uint8)
    with pytest.raises(EventValidationError) as err:
        simulate_frames(Frames(imgs, np.array(times, np.int64)), interpolation="linear", cp=0.1)
    check_message(err.value, needle)


def test_simulate_frames_near_the_exact_time_limit_stays_in_range():
    from egvsr.events.simulate import simulate_frames

    imgs = np.random.default_rng(0).integers(0, 256, (3, 6, 8, 3), dtype=np.uint8)
    t = np.array([2**53 - 2000, 2**53 - 1000, 2**53], np.int64)
    s = simulate_frames(Frames(imgs, t), interpolation="linear", cp=0.1)
    assert len(s) and s.t.min() >= t[0] and s.t.max() <= t[-1]
