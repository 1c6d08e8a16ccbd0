"""Argument checks shared by the representation functions: each failure is one clear toolkit error.

Also the one list of polarity and normalization options (`POLARITIES`, `NORMALIZATIONS`).

Bad counts, windows, sizes and options raise `ConfigError`; an input that is not an `EventStream`
with a known sensor size raises `EventValidationError`. Messages name the argument and what was
expected, so nothing reaches numba with a value it would mis-handle.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from egvsr.errors import ConfigError, EventValidationError

if TYPE_CHECKING:  # the stream module loads numba; listing options should not
    from egvsr.events.stream import EventStream

#: Polarity options: "signed" (value +-1, one channel) or "split" (channel 0 ON, 1 OFF).
POLARITIES = ("signed", "split")
#: Per-window normalization options (see `normalization.py`).
NORMALIZATIONS = ("none", "standard", "percentile")


def check_stream(stream: object, name: str = "stream") -> EventStream:
    """Return `stream` if it is an EventStream with a positive sensor size, else raise."""
    from egvsr.events.stream import EventStream

    if isinstance(stream, np.ndarray) and stream.dtype.names:
        raise EventValidationError(
            f"{name}: got a structured array (fields {', '.join(stream.dtype.names)}) whose sensor "
            "size is unknown; expected an EventStream: EventStream(x, y, t, p, width, height) "
            "(the size is never guessed from max(x))"
        )
    if not isinstance(stream, EventStream):
        raise EventValidationError(
            f"{name}: expected an egvsr EventStream (x, y, t, p plus the sensor width and height), "
            f"got {type(stream).__name__}"
        )
    for side in ("width", "height"):
        v = getattr(stream, side, None)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise EventValidationError(
                f"{name}: sensor {side} is unknown ({v!r}); expected a positive integer "
                "(the sensor size must be known; it is never guessed from max(x))"
            )
    _check_arrays(stream, name)
    return stream


def _check_arrays(stream: EventStream, name: str) -> None:
    """Refuse, in O(1), arrays of a stream built without validation that the kernels would misread:
    polarity that cannot be negative (bool or unsigned 0/1: every event would count as ON, or as 0 in
    a signed tensor), a byte order other than this machine's, or values that are not numbers."""
    for field in ("x", "y", "t", "p"):
        a = getattr(stream, field)
        kinds = "if" if field == "p" else "iuf"
        if a.dtype.kind not in kinds or not a.dtype.isnative:
            want = ("signed polarity -1/+1 (convert 0/1 or bool with egvsr.events.polarity_to_signed)"
                    if field == "p" else "integer values")
            got = f"dtype {a.dtype}" if a.dtype.isnative else f"dtype {a.dtype.str}, not this machine's byte order"
            raise EventValidationError(
                f"{name}: events.{field}: expected {want}, got {got}; the stream was built without "
                "validation (EventStream(..., validate=True) checks and converts it)"
            )


def check_count(value: object, name: str) -> int:
    """An integer >= 1 (bins, moments)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name}: expected an integer >= 1, got {int(value)}")
    return int(value)


def _time(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: expected a time in integer microseconds, got {value!r}")
    # any Real that is not an integer type (float, numpy float, Fraction) must hold a whole number
    if not isinstance(value, numbers.Integral) and (not math.isfinite(value) or value != int(value)):
        raise ConfigError(f"{name}: expected a time in integer microseconds, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise ConfigError(f"{name}: {int(value)} us is outside the int64 microsecond range")
    return int(value)


def check_window(t_start: object, t_end: object) -> tuple[int, int]:
    """(t_start, t_end) as ints with t_end > t_start (the window is [t_start, t_end))."""
    a = _time(t_start, "t_start")
    b = _time(t_end, "t_end")
    if b <= a:
        raise ConfigError(
            f"window [t_start, t_end) = [{a}, {b}) us: expected t_end > t_start "
            "(windows are given explicitly, e.g. two frame timestamps)"
        )
    return a, b


def check_boundaries(boundaries: object) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and ends (int64) from (K + 1,) edges or (K, 2) [start, end) rows."""
    try:
        b = np.asarray(boundaries)
    except (TypeError, ValueError):  # a ragged list
        raise ConfigError("boundaries: expected shape (K + 1,) edges or (K, 2) [start, end) rows of integer "
                          f"microseconds, got a ragged {type(boundaries).__name__}") from None
    if b.dtype.kind == "f":
        b = b.astype(np.float64)  # (compared with 2**63 below: a float16 would overflow)
        if not np.all(np.isfinite(b)) or np.any(b != np.round(b)):
            raise ConfigError("boundaries: expected integer microseconds, got non-integer values")
    elif b.dtype.kind not in "iu":
        raise ConfigError(f"boundaries: expected integer microseconds, got dtype {b.dtype}")
    if b.size and ((b.dtype.kind == "u" and b.max() >= 2**63)
                   or (b.dtype.kind == "f" and not (np.abs(b) < 2.0**63).all())):
        raise ConfigError("boundaries: values outside the int64 microsecond range")
    b = b.astype(np.int64)
    if b.ndim == 1:
        if b.shape[0] < 1:
            raise ConfigError("boundaries: expected K + 1 >= 1 window edges, got an empty array")
        starts, ends = b[:-1], b[1:]
    elif b.ndim == 2 and b.shape[1] == 2:
        starts, ends = b[:, 0], b[:, 1]
    else:
        raise ConfigError(
            f"boundaries: expected shape (K + 1,) edges or (K, 2) [start, end) rows, got {b.shape}"
        )
    bad = np.flatnonzero(ends <= starts)
    if bad.size:
        i = int(bad[0])
        raise ConfigError(
            f"boundaries: window {i} is [{int(starts[i])}, {int(ends[i])}) us; expected end > start "
            "(edges must strictly increase)"
        )
    return np.ascontiguousarray(starts), np.ascontiguousarray(ends)


def check_size(sensor: EventStream | tuple[int, int], height: object, width: object,
               what: str = "target") -> tuple[int, int] | None:
    """Target (height, width), or None when it is absent or equals the sensor size.

    `sensor` is the stream, or its (height, width); `what` names the size in messages."""
    from egvsr.events.stream import EventStream

    if height is None and width is None:
        return None
    if height is None or width is None:
        raise ConfigError(
            f"{what} size: give both height and width (got height={height!r}, width={width!r})"
        )
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"{what} {name}: expected an integer number of pixels, got {v!r}")
        if v < 1:
            raise ConfigError(f"{what} {name}: expected at least 1 pixel, got {int(v)}")
        if v > 65535:
            raise ConfigError(f"{what} {name}: expected at most 65535 pixels, got {int(v)}")
    size = (int(height), int(width))
    native = (sensor.height, sensor.width) if isinstance(sensor, EventStream) else tuple(sensor)
    return None if size == native else size


def check_size_pair(size: object, name: str = "size") -> tuple[object, object]:
    """`size` as its (height, width), refused in one line unless it is a pair (tuple, list or
    array of two); the sides themselves are `check_size`'s to judge. None stays (None, None)."""
    if size is None:
        return None, None
    sides = tuple(size) if isinstance(size, (tuple, list, np.ndarray)) else ()
    if len(sides) != 2:
        raise ConfigError(f"{name}: expected (height, width), two integers >= 1, got {size!r}")
    return sides[0], sides[1]


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """`value` when it is one of the strings `choices`, else one `ConfigError` naming `name` (an array is
    refused as such, not compared by element)."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def check_threads(threads: object, name: str = "`threads`") -> int:
    """Numba threads to use: None -> the current setting; else 1..NUMBA_NUM_THREADS."""
    import numba  # here, so that listing options does not load numba

    if threads is None:
        return numba.get_num_threads()
    top = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= top:
        where = ("the cores available to this process" if top == numba.config.NUMBA_DEFAULT_NUM_THREADS
                 else f"the environment variable NUMBA_NUM_THREADS={top}")
        raise ConfigError(f"{name}: expected an integer in 1..{top} ({where}), got {threads!r}")
    return int(threads)


def check_unit(unit: object, what: str) -> float:
    """A representation's `unit` (one event's largest contribution): a finite number >= 0."""
    if isinstance(unit, (bool, np.bool_)) or not isinstance(unit, (int, float, np.integer, np.floating)) \
            or not 0 <= float(unit) < float("inf"):
        raise ConfigError(f"{what} {unit!r}: expected a finite number >= 0 (what one event contributes at most; "
                          "0 when unknown)")
    return float(unit)
