"""tonic's in-memory event arrays both ways: `from_tonic`, `to_tonic`, `stream_from_structured`.

tonic keeps events as numpy structured arrays (fields x, y, t µs, p); these functions convert them
without importing tonic, so tonic stays an optional extra. Neither direction modifies its input.
"""

from __future__ import annotations

import numpy as np

from egvsr.errors import ConfigError, EventValidationError
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

    return EventStream(
        np.ascontiguousarray(events["x"]), np.ascontiguousarray(events["y"]),
        np.ascontiguousarray(events["t"]).astype(np.int64, copy=False),
        polarity_to_signed(np.ascontiguousarray(events["p"])), width, height,
    )


#: tonic's default event dtype (`tonic.io.events_struct`): what `to_tonic` writes
TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def _tonic_size(sensor_size: object) -> tuple[int, int]:
    """tonic's `sensor_size` (W, H) or (W, H, P) -> (W, H), checked."""
    try:
        w, h = (int(v) for v in tuple(sensor_size)[:2])  # type: ignore[arg-type]
        ok = len(tuple(sensor_size)) in (2, 3) and w >= 1 and h >= 1  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"sensor_size {sensor_size!r}: expected tonic's (width, height, polarities), "
                          "e.g. (346, 260, 2)")
    return w, h


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
        if events.size and not np.isfinite(events["t"]).all():
            raise EventValidationError("tonic events: t holds NaN or infinite values; expected µs timestamps")
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
    dtype = np.dtype(dtype)
    if not {"x", "y", "t", "p"} <= set(dtype.names or ()):
        raise ConfigError(f"dtype {dtype}: expected the fields x, y, t, p")
    out = np.empty(len(stream), dtype=dtype)
    out["x"], out["y"], out["t"] = stream.x, stream.y, stream.t
    out["p"] = stream.p > 0
    return out
