"""tonic's in-memory event arrays both ways: `from_tonic`, `to_tonic`, `stream_from_structured`.

tonic keeps events as numpy structured arrays (fields x, y, t µs, p); these functions convert them
without importing tonic, so tonic stays an optional extra. Neither direction modifies its input.
"""

from __future__ import annotations

import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.checks import first_beyond_int64, is_integer
from egvsr.events.stream import EventStream


def stream_from_structured(events: np.ndarray, width: int, height: int) -> EventStream:
    """A tonic-style structured array (fields x, y, t µs, p bool/0-1/±1) as a validated stream.

    The input is never modified (tonic's own voxel code writes -1 into bool/uint8 p in place).
    """
    names = set(events.dtype.names or ())
    if not {"x", "y", "t", "p"} <= names:
        raise EventValidationError(
            f"structured events: expected fields x, y, t, p, got {sorted(names)}"
        )
    from egvsr.events.stream import polarity_to_signed

    x, y, t, p = (_native(events[k]) for k in ("x", "y", "t", "p"))
    return EventStream(x, y, _int64_times(t), polarity_to_signed(p), width, height)


def _native(a: np.ndarray) -> np.ndarray:
    """Field `a` contiguous and in this machine's byte order (a '>i2' field read with np.fromfile, say):
    the checks are compiled for native order."""
    return np.ascontiguousarray(a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("=")))


def _int64_times(t: np.ndarray) -> np.ndarray:
    """`t` as int64 µs, refusing uint64 values at or above 2**63: a plain cast wraps them negative."""
    k = first_beyond_int64(t)
    if k >= 0:
        raise EventValidationError(f"tonic events: t[{k}] = {int(t[k])} is beyond the int64 microsecond "
                                   "range (>= 2**63); expected µs timestamps below 2**63")
    return t.astype(np.int64, copy=False)


#: tonic's default event dtype (`tonic.io.events_struct`): what `to_tonic` writes
TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def _tonic_size(sensor_size: object) -> tuple[int, int]:
    """tonic's `sensor_size` (W, H) or (W, H, P) -> (W, H), checked."""
    try:
        sides = tuple(sensor_size)  # type: ignore[arg-type]
    except TypeError:
        sides = ()
    if len(sides) not in (2, 3) or not all(is_integer(v) for v in sides) or not all(v >= 1 for v in sides[:2]):
        raise ConfigError(f"sensor_size {sensor_size!r}: expected tonic's (width, height, polarities), "
                          "integers, e.g. (346, 260, 2)")
    return int(sides[0]), int(sides[1])


def from_tonic(events: np.ndarray, sensor_size: tuple[int, ...]) -> EventStream:
    """An `EventStream` from a tonic structured event array (fields x, y, t in µs, p; any of tonic's
    dtypes and field orders) and tonic's `sensor_size` (W, H, P). Float timestamps are floored to
    whole µs; polarity may be bool, 0/1 or ±1. The array is never modified."""
    w, h = _tonic_size(sensor_size)
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    if not {"x", "y", "t", "p"} <= set(names):
        raise EventValidationError(f"tonic events: expected a structured array with fields x, y, t, p, got "
                                   f"{sorted(names) if names else type(events).__name__}")
    if events.dtype["t"].kind == "f":
        t = events["t"]
        inside = np.isfinite(t) & (t >= -(2.0 ** 63)) & (t < 2.0 ** 63)
        if events.size and not inside.all():
            k = int(np.flatnonzero(~inside)[0])
            raise EventValidationError(f"tonic events: t[{k}] = {float(t[k])!r} is NaN, infinite or beyond the "
                                       "int64 microsecond range; expected µs timestamps")
        events = _with_int_time(events)
    return stream_from_structured(events, w, h)


def _with_int_time(events: np.ndarray) -> np.ndarray:
    """A copy of `events` whose float `t` field is floored into int64."""
    fields = [(n, np.int64 if n == "t" else events.dtype[n]) for n in events.dtype.names]
    out = np.empty(events.shape, dtype=fields)
    for n in events.dtype.names:
        out[n] = np.floor(events[n]) if n == "t" else events[n]
    return out


def to_tonic(stream: EventStream, dtype: np.dtype = TONIC_DTYPE) -> np.ndarray:
    """`stream` as a tonic structured array (default `tonic.io.events_struct`: x, y int16, t int64 µs,
    p bool with True = ON). With an integer p field, ON is 1 and OFF 0 (tonic's convention)."""
    if not isinstance(stream, EventStream):
        raise ConfigError(f"to_tonic: expected an EventStream, got {type(stream).__name__} "
                          "(from_tonic makes one from a tonic array)")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"to_tonic dtype {dtype!r}: expected a structured dtype with the fields x, y, t, p, "
                          "e.g. tonic.io.events_struct") from None
    if not {"x", "y", "t", "p"} <= set(dtype.names or ()):
        raise ConfigError(f"dtype {dtype}: expected the fields x, y, t, p")
    out = np.empty(len(stream), dtype=dtype)
    out["x"], out["y"], out["t"] = stream.x, stream.y, stream.t
    out["p"] = stream.p > 0
    return out
