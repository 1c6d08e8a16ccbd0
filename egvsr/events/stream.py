"""`EventStream`: events of one sensor as four aligned arrays plus the sensor size.

Invariants (checked on construction, each failure names the check and the first offending index):
equal lengths; `t` int64 microseconds, non-decreasing; `0 <= x < width`, `0 <= y < height`;
`p` int8 in {-1, +1}. Slicing by time is a binary search that returns views, never copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.checks import INT64_MAX, INT64_MIN, as_array, first_decrease, first_not_unit, first_outside, int64_times
from egvsr.fsutil import check_flag

COORD_DTYPE = np.uint16
#: The polarity storages `polarity_to_signed` reads.
POLARITY_ENCODINGS = ("auto", "bool", "01", "signed")


def _as_coords(name: str, a: np.ndarray) -> np.ndarray:
    a = as_array(a, f"events.{name}")
    if a.ndim != 1:
        raise EventValidationError(f"events.{name}: expected a 1-D array, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise EventValidationError(
            f"events.{name}: expected integer pixel coordinates, got dtype {a.dtype}"
        )
    return native_order(a)


def native_order(a: np.ndarray) -> np.ndarray:
    """`a` itself, or a copy in this machine's byte order when it is stored the other way (`>u2` from a
    big-endian file): the numba checks and kernels take native arrays only."""
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _check_aligned(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> None:
    """Refuse arrays that are not 1-D arrays of one length, in O(1): even an unvalidated stream
    (`validate=False`) passes this, since the kernels index all four arrays by the same event index."""
    nd = np.ndarray
    if (type(x) is nd and type(y) is nd and type(t) is nd and type(p) is nd and x.ndim == 1 and y.ndim == 1
            and t.ndim == 1 and p.ndim == 1 and len(x) == len(y) == len(t) == len(p)):
        return  # the common case, in well under a microsecond (`take` builds a stream per window)
    for name, a in (("x", x), ("y", y), ("t", t), ("p", p)):
        if not isinstance(a, np.ndarray) or a.ndim != 1:
            got = f"shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise EventValidationError(f"events.{name}: expected a 1-D array, got {got}")
    n = x.shape[0]
    for name, a in (("y", y), ("t", t), ("p", p)):
        if a.shape[0] != n:
            raise EventValidationError(
                f"events.{name}: length {a.shape[0]} does not match events.x length {n} (check 'equal lengths')"
            )


def polarity_to_signed(p: np.ndarray, encoding: str = "auto") -> np.ndarray:
    """Return polarity as int8 ±1 from bool, 0/1 or ±1 storage (never mutates the input).

    `encoding` is "bool", "01", "signed" or "auto" (bool dtype → bool; any negative value → signed;
    otherwise 0/1); another value is a `ConfigError`. Integer and float storage follow the same rules:
    the values must be exactly those of the encoding ("bool" stored as numbers is 0/1; 1.0 is 1; -1 under
    "bool", 0.5, NaN or 257 raise `EventValidationError`, never rounded, wrapped or taken by their truth).
    """
    if not isinstance(encoding, str) or encoding not in POLARITY_ENCODINGS:
        raise ConfigError(f"`encoding` {encoding!r}: expected one of {', '.join(POLARITY_ENCODINGS)}")
    p = as_array(p, "events.p")
    if p.ndim != 1:  # a scalar (a bare 1 or True) is no list of events; its index would name no event
        raise EventValidationError(f"events.p: expected a 1-D array of polarities, got shape {p.shape}")
    if p.dtype.kind not in "biuf":
        raise EventValidationError(f"events.p: expected bool, 0/1 or -1/+1 polarity, got dtype {p.dtype}")
    if encoding == "auto":
        if p.dtype == np.bool_:
            encoding = "bool"
        elif p.size and p.dtype.kind in "if" and p.min() < 0:
            encoding = "signed"
        else:
            encoding = "01"
    if encoding == "bool" and p.dtype == np.bool_:
        return (p.astype(np.int8) * 2 - 1).astype(np.int8, copy=False)
    if encoding in ("bool", "01"):
        bad = _first_not_in(p, 0, 1)
        if bad >= 0:
            raise EventValidationError(
                f"events.p: expected polarity 0/1{' (bool)' if encoding == 'bool' else ''}, "
                f"found {p[bad].item()!r} at index {bad}"
            )
        return (p.astype(np.int8) * 2 - 1).astype(np.int8, copy=False)
    bad = first_not_unit(p) if p.dtype == np.int8 else _first_not_in(p, -1, 1)
    if bad >= 0:
        raise EventValidationError(
            f"events.p: expected polarity -1/+1, found {p[bad].item()!r} at index {bad}"
        )
    return p.astype(np.int8, copy=False)


def _first_not_in(p: np.ndarray, a: int, b: int) -> int:
    """Index of the first value of `p` that is neither `a` nor `b`, compared as given (never cast
    first: 1.5 or 257 is no 1), or -1."""
    bad = np.flatnonzero((p != a) & (p != b)) if p.size else ()
    return int(bad[0]) if len(bad) else -1


@dataclass(frozen=True, eq=False)
class EventStream:
    """Events of one sensor: x, y (uint16 pixels), t (int64 µs), p (int8 ±1), width, height."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    width: int
    height: int

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        t: np.ndarray,
        p: np.ndarray,
        width: int,
        height: int,
        validate: bool = True,
    ) -> None:
        if check_flag(validate, "validate"):
            x, y, t, p = self._checked(x, y, t, p, width, height)
        else:  # the caller vouches for the values; the shapes are checked still (O(1))
            _check_aligned(x, y, t, p)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "width", int(width))
        object.__setattr__(self, "height", int(height))

    @staticmethod
    def _checked(x, y, t, p, width, height):
        for name, v in (("width", width), ("height", height)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise EventValidationError(
                    f"sensor {name}: expected a positive integer, got {v!r} "
                    "(the sensor size must be known; it is never guessed from max(x))"
                )
        if width > 65535 or height > 65535:
            raise EventValidationError(
                f"sensor size {width}x{height}: expected at most 65535 pixels per side"
            )
        x = _as_coords("x", x)
        y = _as_coords("y", y)
        t = as_array(t, "events.t")
        p = as_array(p, "events.p")
        _check_aligned(x, y, t, p)
        if t.dtype.kind not in "iu":
            raise EventValidationError(
                f"events.t: expected integer microseconds (int64), got dtype {t.dtype}"
            )
        if p.dtype.kind not in "iu":
            raise EventValidationError(
                f"events.p: expected signed integer polarity ±1, got dtype {p.dtype}; "
                "convert with egvsr.events.polarity_to_signed"
            )
        t = int64_times(t, "events.t")
        bad = first_outside(x, 0, int(width))
        if bad >= 0:
            raise EventValidationError(
                f"events.x: coordinate {int(x[bad])} at index {bad} is outside the sensor "
                f"(check 'coordinates inside the sensor', expected 0 <= x < {width})"
            )
        bad = first_outside(y, 0, int(height))
        if bad >= 0:
            raise EventValidationError(
                f"events.y: coordinate {int(y[bad])} at index {bad} is outside the sensor "
                f"(check 'coordinates inside the sensor', expected 0 <= y < {height})"
            )
        bad = first_decrease(t)
        if bad >= 0:
            raise EventValidationError(
                f"events.t: timestamps decrease at index {bad} ({int(t[bad - 1])} -> {int(t[bad])} µs) "
                "(check 'non-decreasing t'; sort the events, e.g. `egvsr convert --sort`)"
            )
        p = polarity_to_signed(p, "signed")
        x = x.astype(COORD_DTYPE, copy=False)
        y = y.astype(COORD_DTYPE, copy=False)
        return x, y, t, p

    # ---- construction helpers -------------------------------------------------------------
    @classmethod
    def empty(cls, width: int, height: int) -> "EventStream":
        """A valid stream with no events."""
        z = np.zeros(0, COORD_DTYPE)
        return cls(z, z.copy(), np.zeros(0, np.int64), np.zeros(0, np.int8), width, height)

    @classmethod
    def concatenate(cls, parts: "list[EventStream]") -> "EventStream":
        """Join consecutive streams of one sensor (validated: time must stay non-decreasing)."""
        try:
            parts = list(parts)
        except TypeError:
            raise EventValidationError(
                f"concatenate: expected a list of EventStreams, got {type(parts).__name__}") from None
        if not parts:
            raise EventValidationError("concatenate: expected at least one stream")
        for i, s in enumerate(parts):
            if not isinstance(s, EventStream):
                raise EventValidationError(f"concatenate: part {i} is a {type(s).__name__}, expected an EventStream")
        w, h = parts[0].width, parts[0].height
        for i, s in enumerate(parts):
            if (s.width, s.height) != (w, h):
                raise EventValidationError(
                    f"concatenate: stream {i} is {s.width}x{s.height}, expected {w}x{h}"
                )
        return cls(
            np.concatenate([s.x for s in parts]),
            np.concatenate([s.y for s in parts]),
            np.concatenate([s.t for s in parts]),
            np.concatenate([s.p for s in parts]),
            w,
            h,
        )

    # ---- queries ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __repr__(self) -> str:
        span = f"{int(self.t[0])}..{int(self.t[-1])} µs" if len(self) else "empty"
        return f"EventStream({len(self)} events, {self.width}x{self.height}, {span})"

    @property
    def sensor_size(self) -> tuple[int, int]:
        """(height, width), the order of image arrays."""
        return (self.height, self.width)

    @property
    def duration_us(self) -> int:
        """Time from the first to the last event in µs (0 for fewer than two events)."""
        return int(self.t[-1] - self.t[0]) if len(self) > 1 else 0

    def index_range(self, t0: int | None, t1: int | None) -> tuple[int, int]:
        """Indices [i0, i1) of the events with t0 <= t < t1 (None = unbounded)."""
        def first_at(b: np.int64) -> int:
            return int(np.searchsorted(self.t, b, side="left"))

        i0 = 0 if t0 is None else window_index("t0", t0, len(self), first_at)
        i1 = len(self) if t1 is None else window_index("t1", t1, len(self), first_at)
        return i0, max(i0, i1)

    def slice(self, t0: int | None, t1: int | None) -> "EventStream":
        """Events in the half-open window [t0, t1), as views of this stream's arrays."""
        i0, i1 = self.index_range(t0, t1)
        return self.take(i0, i1)

    def take(self, i0: int, i1: int) -> "EventStream":
        """Events [i0, i1) by index, as views."""
        for name, v in (("i0", i0), ("i1", i1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"take: {name} must be an event index (int), got {v!r}")
        return EventStream(
            self.x[i0:i1], self.y[i0:i1], self.t[i0:i1], self.p[i0:i1],
            self.width, self.height, validate=False,
        )

    def sorted(self) -> "EventStream":
        """A copy stably sorted by time (events with equal t keep their order)."""
        order = np.argsort(self.t, kind="stable")
        return EventStream(
            self.x[order], self.y[order], self.t[order], self.p[order],
            self.width, self.height, validate=False,
        )


def window_time(name: str, v: object) -> int:
    """A window bound in µs as a Python int, floats rounded up (t >= 1.5 means t >= 2), not clamped (a bound
    beyond int64 keeps its meaning: `window_index`, `window_limits`); NaN, str or bool is a `ConfigError`
    naming `name`."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float, np.floating)):
        raise ConfigError(f"{name}: expected a time in microseconds (int), got {v!r}")
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            raise ConfigError(f"{name}: expected a finite time in microseconds, got {v!r}")
        v = np.ceil(v)
    return int(v)


def window_limits(t0: object, t1: object) -> tuple[np.int64 | None, np.int64 | None] | None:
    """The window [t0, t1) (bounds checked and rounded as by `window_time`) as int64 bounds for
    `np.searchsorted` over sorted times, None where unbounded: a bound beyond int64 on its own side bounds
    nothing (t1 = 2**63 keeps an event at 2**63 - 1). None when no int64 time lies in the window
    (t0 > 2**63 - 1 or t1 <= -2**63)."""
    a = None if t0 is None else window_time("t0", t0)
    b = None if t1 is None else window_time("t1", t1)
    if (a is not None and a > INT64_MAX) or (b is not None and b <= INT64_MIN):
        return None
    return (None if a is None or a <= INT64_MIN else np.int64(a),
            None if b is None or b > INT64_MAX else np.int64(b))


def window_index(name: str, v: object, n: int, first_index_at: Callable[[int], int]) -> int:
    """Index of the first of `n` time-sorted events at or after the window bound `v` (checked and rounded
    as by `window_time`); `first_index_at(b)` finds it for an int64 `b`. A bound above the int64 range
    is after every event (index `n`), so t1 = 2**63 keeps an event at 2**63 - 1 and t0 = 2**63 takes none."""
    b = window_time(name, v)
    return int(n) if b > INT64_MAX else first_index_at(np.int64(max(b, INT64_MIN)))
