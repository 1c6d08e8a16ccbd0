"""`from_tonic` / `to_tonic` on the arrays tonic users hold (no tonic needed): any byte order, sizes that
are integers, timestamps that fit int64, and one clear line for anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.io.tonic_arrays import from_tonic, to_tonic
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


@pytest.mark.parametrize("size", [(8.5, 6, 2), (8.0, 6), (8, 6.2, 2), (True, 6), ("8", 6), (8,), (0, 6), 8])
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
