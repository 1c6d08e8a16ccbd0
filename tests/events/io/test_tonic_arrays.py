"""`from_tonic` / `to_tonic` on the arrays tonic users hold (no tonic needed): any byte order, sizes that
are integers, timestamps that fit int64, and one clear line for anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.io.tonic_arrays import from_tonic, stream_from_structured, to_tonic
from tests._reliability import check_message, fuzz_settings


def _events(n=50, dtype=None):
    dtype = dtype or [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")]
    ev = np.zeros(n, dtype)
    ev["x"], ev["y"], ev["t"], ev["p"] = np.arange(n) % 8, np.arange(n) % 6, np.arange(n) * 10, np.arange(n) % 2
    return ev


@given(order=st.tuples(*[st.sampled_from("<>")] * 3), kinds=st.sampled_from([("i2", "i8"), ("u2", "u8"), ("i4", "f8")]))
@fuzz_settings(20)
def test_fields_in_either_byte_order_read_alike(order, kinds):
    xy, t = kinds
    dtype = [("x", order[0] + xy), ("y", order[1] + xy), ("t", order[2] + t), ("p", "?")]
    s = from_tonic(_events(dtype=dtype), (8, 6, 2))
    ref = from_tonic(_events(), (8, 6, 2))
    for k in "xytp":
        np.testing.assert_array_equal(getattr(s, k), getattr(ref, k))


def test_uint64_times_beyond_int64_are_refused_not_wrapped():
    ev = _events(dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<u8"), ("p", "?")])
    ev["t"][-1] = 2**63 + 5
    with pytest.raises(EventValidationError) as err:
        from_tonic(ev, (8, 6, 2))
    check_message(err.value, f"t[49] = {2**63 + 5} is beyond the int64 microsecond range")


@pytest.mark.parametrize("value", [1e30, -1e30, float("nan"), float("inf")])
def test_float_times_beyond_int64_are_refused(value):
    ev = _events(dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<f8"), ("p", "?")])
    ev["t"][-1] = value
    with pytest.raises(EventValidationError) as err:
        from_tonic(ev, (8, 6, 2))
    check_message(err.value, "t[49]", "NaN, infinite or beyond the int64 microsecond range")


@pytest.mark.parametrize("size", [(8.5, 6, 2), (8.0, 6), (8, 6.2, 2), (True, 6), ("8", 6), (8,), (0, 6), (8, 6, 0), 8])
def test_a_sensor_size_that_is_not_integers_is_refused(size):
    with pytest.raises(ConfigError) as err:
        from_tonic(_events(), size)
    check_message(err.value, "sensor_size", "expected tonic's (width, height, polarities), integers")


def test_numpy_integers_are_a_sensor_size():
    assert from_tonic(_events(), np.array([8, 6, 2])).width == 8


@pytest.mark.parametrize("value", [np.zeros(3), _events(), None, [1, 2]])
def test_to_tonic_takes_an_event_stream_only(value):
    with pytest.raises(ConfigError) as err:
        to_tonic(value)
    check_message(err.value, "to_tonic: expected an EventStream")


def test_to_tonic_refuses_a_dtype_numpy_does_not_know():
    with pytest.raises(ConfigError, match="to_tonic dtype 'foo'"):
        to_tonic(from_tonic(_events(), (8, 6, 2)), "foo")


# ---- time fields of another kind, and dtypes to_tonic would store values in wrongly ------------------
def _with_t(values, t_dtype):
    ev = np.zeros(len(values), [("x", "<i2"), ("y", "<i2"), ("t", t_dtype), ("p", "?")])
    ev["t"] = values
    return ev


@pytest.mark.parametrize("convert", [lambda ev: from_tonic(ev, (8, 6, 2)), lambda ev: stream_from_structured(ev, 8, 6)],
                         ids=["from_tonic", "stream_from_structured"])
def test_float_times_are_floored_and_nan_refused_by_both_readers(convert):
    """stream_from_structured cast float t as numpy does: toward 0 (-0.5 -> 0, where from_tonic floors to
    -1) and NaN to -2**63, in silence."""
    assert convert(_with_t([-0.5, 1.7, 2.0], "<f8")).t.tolist() == [-1, 1, 2]
    assert convert(_with_t([1.0, 2.5, 3000.0], "<f2")).t.tolist() == [1, 2, 3000]
    with pytest.raises(EventValidationError) as err:
        convert(_with_t([0.0, float("nan")], "<f8"))
    check_message(err.value, "t[1] = nan is NaN, infinite or beyond the int64 microsecond range")


@pytest.mark.parametrize("t_dtype", ["?", "S4", "O", "M8[us]", "m8[ns]", "c8"])
@pytest.mark.parametrize("convert", [lambda ev: from_tonic(ev, (8, 6, 2)), lambda ev: stream_from_structured(ev, 8, 6)],
                         ids=["from_tonic", "stream_from_structured"])
def test_times_that_are_no_numbers_are_refused(convert, t_dtype):
    """A timedelta64[ns] t was taken as µs (1000x too late), bytes '12' as 12, bools as 0/1 µs."""
    ev = _with_t(np.array([1000, 2000]).astype(t_dtype) if t_dtype not in ("?", "S4") else [1, 2], t_dtype)
    with pytest.raises(EventValidationError) as err:
        convert(ev)
    check_message(err.value, f"t has dtype {np.dtype(t_dtype)}; expected integer (or float) microseconds")


@pytest.mark.parametrize("field,dtype,value,index", [
    ("t", [("x", "<i2"), ("y", "<i2"), ("t", "<i4"), ("p", "?")], 2**31, 1),
    ("t", [("x", "<i2"), ("y", "<i2"), ("t", "<f4"), ("p", "?")], 2**24 + 1, 1),
    ("t", [("x", "<i2"), ("y", "<i2"), ("t", "<u8"), ("p", "?")], -5, 0),
    ("t", [("x", "<i2"), ("y", "<i2"), ("t", "<f2"), ("p", "?")], 70_000, 1),
    ("x", [("x", "u1"), ("y", "<i2"), ("t", "<i8"), ("p", "?")], 300, 1),
])
def test_to_tonic_refuses_a_dtype_that_cannot_hold_the_values(field, dtype, value, index):
    """The values were cast in silence: an int32 t wrapped, a float32 t rounded, a uint8 x wrapped."""
    from egvsr.events import EventStream

    x, t = np.array([1, 2], np.uint16), np.array([-10, 0], np.int64)
    if field == "x":
        x[1] = value
    else:
        t[index] = value
        t.sort()
    s = EventStream(x, np.zeros(2, np.uint16), t, np.ones(2, np.int8), 400, 6)
    with pytest.raises(ConfigError) as err:
        to_tonic(s, dtype)
    check_message(err.value, f"field {field!r}", f"cannot hold {field}[{index}] = {value}")


@pytest.mark.parametrize("dtype", [[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "S1")],
                                   [("x", "<i2"), ("y", "<i2"), ("t", "M8[us]"), ("p", "?")]])
def test_to_tonic_refuses_fields_that_are_no_numbers(dtype):
    from egvsr.events import EventStream

    with pytest.raises(ConfigError) as err:
        to_tonic(EventStream.empty(8, 6), dtype)
    check_message(err.value, "expected")


@given(t=st.lists(st.integers(0, 2**40), min_size=1, max_size=30), field=st.sampled_from(["<i8", "<u8", "<f8", ">i8"]))
@fuzz_settings(30)
def test_to_tonic_and_back_is_exact_for_dtypes_that_hold_the_values(t, field):
    from egvsr.events import EventStream

    t = np.sort(np.array(t, np.int64))
    n = len(t)
    s = EventStream(np.arange(n, dtype=np.uint16) % 8, np.zeros(n, np.uint16), t, np.where(t % 2, 1, -1).astype(np.int8),
                    8, 6)
    back = from_tonic(to_tonic(s, [("x", "<i2"), ("y", "<i2"), ("t", field), ("p", "?")]), (8, 6, 2))
    for k in "xytp":
        assert getattr(back, k).tolist() == getattr(s, k).tolist()
