"""EventStream and Frames: validation messages, time slicing by binary search, views not copies."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import EventValidationError
from egvsr.events import EventStream, Frames, polarity_to_signed


def _arrays():
    return dict(
        x=np.array([1, 2, 3], np.int16), y=np.array([0, 1, 2], np.int16),
        t=np.array([10, 20, 20], np.int64), p=np.array([1, -1, 1], np.int8), width=4, height=3,
    )


def test_valid_stream_normalises_dtypes():
    s = EventStream(**_arrays())
    assert len(s) == 3
    assert s.x.dtype == np.uint16 and s.y.dtype == np.uint16
    assert s.t.dtype == np.int64 and s.p.dtype == np.int8
    assert s.sensor_size == (3, 4)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(t=np.array([10, 5, 20])), "decrease at index 1"),
        (dict(x=np.array([1, 2, 9])), "x: coordinate 9 at index 2 is outside the sensor"),
        (dict(y=np.array([0, 3, 1])), "y: coordinate 3 at index 1 is outside the sensor"),
        (dict(x=np.array([-1, 2, 3])), "at index 0 is outside the sensor"),
        (dict(y=np.array([0, 1])), "does not match events.x length 3"),
        (dict(p=np.array([1, 0, 1], np.int8)), "expected polarity -1/+1, found 0 at index 1"),
        (dict(t=np.array([1.0, 2.0, 3.0])), "expected integer microseconds"),
        (dict(x=np.array([1.0, 2.0, 3.0])), "expected integer pixel coordinates"),
        (dict(width=0), "sensor width"),
        (dict(height=None), "sensor height"),
    ],
)
def test_validation_names_the_check_and_index(change, message):
    kw = _arrays()
    kw.update(change)
    with pytest.raises(EventValidationError, match=re.escape(message)):
        EventStream(**kw)


def test_empty_stream_is_valid():
    s = EventStream.empty(346, 260)
    assert len(s) == 0 and s.duration_us == 0
    assert len(s.slice(0, 100)) == 0


def test_slice_is_half_open_and_returns_views():
    s = EventStream(**_arrays())
    w = s.slice(10, 20)
    assert w.t.tolist() == [10]
    w = s.slice(11, 21)
    assert w.t.tolist() == [20, 20]
    assert np.shares_memory(w.x, s.x) and np.shares_memory(w.t, s.t)
    assert len(s.slice(30, 10)) == 0


@settings(max_examples=60, deadline=None)
@given(
    ts=st.lists(st.integers(-10**12, 10**12), min_size=0, max_size=60),
    t0=st.integers(-10**12, 10**12),
    dt=st.integers(0, 10**12),
)
def test_slice_matches_mask(ts, t0, dt):
    t = np.sort(np.array(ts, np.int64))
    n = t.size
    s = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, np.ones(n, np.int8), 1, 1)
    w = s.slice(t0, t0 + dt)
    np.testing.assert_array_equal(w.t, t[(t >= t0) & (t < t0 + dt)])


def test_polarity_encodings_do_not_mutate():
    p = np.array([True, False, True])
    assert polarity_to_signed(p).tolist() == [1, -1, 1]
    assert p.tolist() == [True, False, True]
    q = np.array([0, 1, 1], np.uint8)
    assert polarity_to_signed(q).tolist() == [-1, 1, 1] and q.tolist() == [0, 1, 1]
    assert polarity_to_signed(np.array([-1, 1], np.int16)).tolist() == [-1, 1]
    with pytest.raises(EventValidationError, match="0/1"):
        polarity_to_signed(np.array([0, 2]), "01")


@pytest.mark.parametrize("p, signed", [
    ([0.0, 1.0, 1.0, 0.0], [-1, 1, 1, -1]),    # float 0/1, as integer 0/1
    ([1.0, -1.0, 1.0, -1.0], [1, -1, 1, -1]),  # float ±1, as integer ±1
    (np.array([1, -1, 1, -1], np.int16), [1, -1, 1, -1]),
])
def test_float_polarity_follows_the_integer_rules(p, signed):
    assert polarity_to_signed(np.asarray(p)).tolist() == signed


@pytest.mark.parametrize("p, encoding, message", [
    ([0.5, 1.0, 1.0, 0.0], "auto", "expected polarity 0/1, found 0.5 at index 0"),
    ([0.0, np.nan], "auto", "expected polarity 0/1, found nan at index 1"),
    ([-1.0, 1.5], "auto", "expected polarity -1/+1, found 1.5 at index 1"),
    (np.array([1, 257], np.int16), "signed", "expected polarity -1/+1, found 257 at index 1"),  # no int8 wrap
    (np.array(["1", "0"]), "auto", "expected bool, 0/1 or -1/+1 polarity, got dtype <U1"),
])
def test_polarity_values_outside_the_encoding_are_refused_never_rounded(p, encoding, message):
    with pytest.raises(EventValidationError) as err:
        polarity_to_signed(np.asarray(p), encoding)
    assert str(err.value) == f"events.p: {message}"


def test_from_tonic_refuses_a_fractional_polarity_and_takes_float_plus_minus_one():
    from egvsr.events.io.tonic_arrays import from_tonic

    ev = np.zeros(4, [("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "f8")])
    ev["t"], ev["p"] = [1, 2, 3, 4], [1.0, -1.0, 1.0, -1.0]
    assert from_tonic(ev, (4, 4, 2)).p.tolist() == [1, -1, 1, -1]
    ev["p"] = [0.5, 1, 1, 0]
    with pytest.raises(EventValidationError, match=r"^events.p: expected polarity 0/1, found 0.5 at index 0$"):
        from_tonic(ev, (4, 4, 2))


def test_sorted_is_stable():
    s = EventStream(np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([5, 5, 5]),
                    np.array([1, -1, 1]), 3, 1)
    unsorted = EventStream(np.array([2, 0, 1]), np.zeros(3, int), np.array([7, 5, 5]),
                           np.array([1, 1, -1]), 3, 1, validate=False)
    out = unsorted.sorted()
    assert out.t.tolist() == [5, 5, 7] and out.x.tolist() == [0, 1, 2]
    assert len(s) == 3


def test_frames_validation():
    img = np.zeros((3, 4, 5, 3), np.uint8)
    f = Frames(img, np.array([0, 10, 20]))
    assert (f.height, f.width, f.channels) == (4, 5, 3)
    with pytest.raises(EventValidationError, match="duplicated at index 2"):
        Frames(img, np.array([0, 10, 10]))
    with pytest.raises(EventValidationError, match="decreasing at index 1"):
        Frames(img, np.array([5, 0, 10]))
    with pytest.raises(EventValidationError, match="uint8"):
        Frames(img.astype(np.float32), np.array([0, 1, 2]))


def test_window_bounds_beyond_int64_and_odd_types(random_stream, tmp_path):
    from egvsr.errors import ConfigError
    from egvsr.events.io import read_events, write_events

    s = random_stream(200)
    assert len(s.slice(-10**30, 10**30)) == 200 and len(s.slice(10**30, None)) == 0
    for bad, needle in ((float("nan"), "expected a finite time"), ("a", "expected a time in microseconds")):
        with pytest.raises(ConfigError, match=needle):
            s.slice(bad, None)
    with pytest.raises(ConfigError, match="take: i0 must be an event index"):
        s.take(0.5, 2)
    path = write_events(tmp_path / "r.h5", s)
    assert len(read_events(path, 10**30)) == 0 and len(read_events(path, -10**30)) == 200
    with pytest.raises(ConfigError, match="path: expected a file path"):
        read_events(5)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(["u2", "i2", "u4", "i4", "u8", "i8"]), order=st.sampled_from("<>="),
       xs=st.lists(st.integers(0, 9), min_size=0, max_size=30))
def test_coordinates_in_either_byte_order_are_taken(dtype, order, xs):
    """Big-endian coordinates (from a file of another machine) are read by value; they reached numba's
    checks as they were and failed there with a raw TypingError."""
    x = np.array(xs, order + dtype)
    n = x.size
    s = EventStream(x, x[::-1].copy(), np.arange(n), np.ones(n, np.int8), 10, 10)
    assert s.x.tolist() == xs and s.y.tolist() == xs[::-1] and s.x.dtype == np.uint16


@pytest.mark.parametrize("dtype", [">i8", ">u8", ">u4", ">i2"])
def test_big_endian_times_and_polarity_are_taken(dtype):
    s = EventStream(np.array([0, 1, 2], ">u2"), np.array([0, 1, 2], ">u2"), np.array([1, 2, 3], dtype),
                    np.array([1, -1, 1], ">i2"), 4, 4)
    assert s.t.tolist() == [1, 2, 3] and s.p.tolist() == [1, -1, 1]


@pytest.mark.parametrize("t, index", [([1, 2, 2**63], 2), ([2**63, 2**63 + 1], 0), ([0, 2**64 - 1], 1)])
def test_uint64_times_beyond_int64_are_refused_naming_the_value(t, index):
    """A plain cast wrapped them negative: silently wrong times, or a misleading "timestamps decrease"."""
    n = len(t)
    with pytest.raises(EventValidationError) as err:
        EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.array(t, np.uint64), np.ones(n, np.int8), 1, 1)
    assert str(err.value) == (f"events.t: {t[index]} at index {index} is beyond the int64 microsecond range "
                              "(>= 2**63); expected timestamps below 2**63 µs")
    with pytest.raises(EventValidationError, match=rf"^frames.t: {t[index]} at index {index} is beyond the int64"):
        Frames(np.zeros((n, 2, 2, 1), np.uint8), np.array(t, np.uint64))
    ok = np.array([0, 2**63 - 1], np.uint64)  # the largest int64 is fine
    assert Frames(np.zeros((2, 2, 2, 1), np.uint8), ok).t.tolist() == [0, 2**63 - 1]


@pytest.mark.parametrize("p, message", [
    (np.array([-1, 1], np.int8), "expected polarity 0/1 (bool), found -1 at index 0"),  # was ON
    (np.array([np.nan, 1.0]), "expected polarity 0/1 (bool), found nan at index 0"),  # was ON
    (np.array([0, 2], np.uint8), "expected polarity 0/1 (bool), found 2 at index 1"),
])
def test_bool_encoding_of_numbers_reads_zero_and_one_only(p, message):
    with pytest.raises(EventValidationError) as err:
        polarity_to_signed(p, "bool")
    assert str(err.value) == f"events.p: {message}"
    assert polarity_to_signed(np.array([0, 1, 1], np.uint8), "bool").tolist() == [-1, 1, 1]
    assert polarity_to_signed(np.array([0.0, 1.0]), "bool").tolist() == [-1, 1]


@pytest.mark.parametrize("encoding", ["foo", None, 1, "Bool"])
def test_unknown_polarity_encoding_is_a_config_error(encoding):
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        polarity_to_signed(np.array([0, 1]), encoding)
    assert str(err.value) == f"`encoding` {encoding!r}: expected one of auto, bool, 01, signed"


@pytest.mark.parametrize("parts, message", [
    (lambda s: [s, "a"], "concatenate: part 1 is a str, expected an EventStream"),
    (lambda s: [None], "concatenate: part 0 is a NoneType, expected an EventStream"),
    (lambda s: s, "concatenate: expected a list of EventStreams, got EventStream"),
    (lambda s: 5, "concatenate: expected a list of EventStreams, got int"),
])
def test_concatenate_refuses_what_is_no_stream(parts, message):
    s = EventStream(**_arrays())
    with pytest.raises(EventValidationError) as err:
        EventStream.concatenate(parts(s))
    assert str(err.value) == message
    assert len(EventStream.concatenate(iter([s, s.slice(20, None)]))) == 5  # any iterable of streams


@pytest.mark.parametrize("change, message", [
    (dict(y=np.array([0, 1])), "events.y: length 2 does not match events.x length 3 (check 'equal lengths')"),
    (dict(t=np.arange(5)), "events.t: length 5 does not match events.x length 3 (check 'equal lengths')"),
    (dict(p=np.ones((3, 1), np.int8)), "events.p: expected a 1-D array, got shape (3, 1)"),
    (dict(x=[1, 2, 3]), "events.x: expected a 1-D array, got list"),
])
def test_unvalidated_streams_still_need_aligned_arrays(change, message):
    """validate=False skips the O(N) value checks only: the kernels index all four arrays by one index,
    so arrays of other lengths would be read out of bounds."""
    kw = _arrays()
    kw.update(change)
    with pytest.raises(EventValidationError) as err:
        EventStream(**kw, validate=False)
    assert str(err.value) == message
