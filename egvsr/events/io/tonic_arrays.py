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

    t is integer µs, or float µs floored to whole µs (NaN, infinite or beyond int64 refused); any other
    kind of t (bool, text, objects, datetime64/timedelta64, whose unit numpy would drop) is refused.
    The input is never modified (tonic's own voxel code writes -1 into bool/uint8 p in place).
    """
    names = set(getattr(getattr(events, "dtype", None), "names", None) or ())
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
    """`t` (µs) as int64: integers as they are, refusing uint64 values at or above 2**63 (a plain cast wraps
    them negative); floats floored, refusing NaN, infinities and values beyond int64 (a plain cast makes them
    -2**63 and truncates toward 0); any other dtype refused."""
    if t.dtype.kind == "f":
        wide = t.astype(np.float64, copy=False)  # float16's range ends at 65504: compare in float64
        inside = np.isfinite(wide) & (wide >= -(2.0 ** 63)) & (wide < 2.0 ** 63)
        if not inside.all():
            k = int(np.flatnonzero(~inside)[0])
            raise EventValidationError(f"tonic events: t[{k}] = {float(t[k])!r} is NaN, infinite or beyond the "
                                       "int64 microsecond range; expected µs timestamps")
        return np.floor(wide).astype(np.int64)
    if t.dtype.kind not in "iu":
        raise EventValidationError(f"tonic events: t has dtype {t.dtype}; expected integer (or float) "
                                   "microseconds")
    k = first_beyond_int64(t)
    if k >= 0:
        raise EventValidationError(f"tonic events: t[{k}] = {int(t[k])} is beyond the int64 microsecond "
                                   "range (>= 2**63); expected µs timestamps below 2**63")
    return t.astype(np.int64, copy=False)


#: tonic's default event dtype (`tonic.io.events_struct`): what `to_tonic` writes
TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def tonic_size(sensor_size: object) -> tuple[int, int]:
    """tonic's `sensor_size` (W, H) or (W, H, P) -> (W, H), checked (every entry an integer >= 1)."""
    try:
        sides = tuple(sensor_size)  # type: ignore[arg-type]
    except TypeError:
        sides = ()
    if len(sides) not in (2, 3) or not all(is_integer(v) for v in sides) or not all(v >= 1 for v in sides):
        raise ConfigError(f"sensor_size {sensor_size!r}: expected tonic's (width, height, polarities), "
                          "integers, e.g. (346, 260, 2)")
    return int(sides[0]), int(sides[1])


def from_tonic(events: np.ndarray, sensor_size: tuple[int, ...]) -> EventStream:
    """An `EventStream` from a tonic structured event array (fields x, y, t in µs, p; any of tonic's
    dtypes and field orders) and tonic's `sensor_size` (W, H, P). Float timestamps are floored to
    whole µs; polarity may be bool, 0/1 or ±1. The array is never modified."""
    w, h = tonic_size(sensor_size)
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    if not {"x", "y", "t", "p"} <= set(names):
        raise EventValidationError(f"tonic events: expected a structured array with fields x, y, t, p, got "
                                   f"{sorted(names) if names else type(events).__name__}")
    return stream_from_structured(events, w, h)


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
    out = np.zeros(len(stream), dtype=dtype)  # fields beyond x, y, t, p are 0, never left as garbage
    for name in ("x", "y", "t"):
        _store_exactly(out, name, getattr(stream, name), dtype)
    if dtype["p"].kind not in "biuf":
        raise ConfigError(f"to_tonic dtype {dtype}: field 'p' is {dtype['p']}, expected bool or a number")
    out["p"] = stream.p > 0
    return out


def _store_exactly(out: np.ndarray, name: str, values: np.ndarray, dtype: np.dtype) -> None:
    """`out[name] = values`, refused (naming the field and the first value lost) unless every value is stored
    exactly: an int16 t wraps µs beyond 32767, a uint8 x wraps 346, a float32 t rounds beyond 2**24 µs."""
    field = dtype[name]
    if field.kind not in "iuf":
        raise ConfigError(f"to_tonic dtype {dtype}: field {name!r} is {field}, expected integers or floats")
    with np.errstate(over="ignore", invalid="ignore"):
        out[name] = values
        stored = out[name]
        lost = ~np.isfinite(stored) if field.kind == "f" else np.zeros(len(values), bool)
        lost |= stored.astype(np.int64) != values
        if field.kind == "u":  # a negative value wraps to one that casts back to it
            lost |= values < 0
    if lost.any():
        k = int(np.argmax(lost))
        raise ConfigError(
            f"to_tonic dtype {dtype}: field {name!r} ({field}) cannot hold {name}[{k}] = {int(values[k])} "
            f"(stored as {stored[k].item()!r}); use a wider type, e.g. tonic.io.events_struct"
        )
