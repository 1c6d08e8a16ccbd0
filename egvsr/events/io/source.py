"""`EventSource`: one open recording of any layout, read by time window or in bounded chunks.

A layout subclass supplies raw access by event index (`_read_arrays`, `_read_t`) and, when it has
one, an index for seeking (`_first_index_at`). This base class does the rest once for all layouts:
window look-up by bisection over the time column, validation that names the file, key and *global*
index of the first bad event, chunked iteration with order checks across chunk boundaries, the
frame accessors' defaults (no frames), and the refusal of every reading method once the source is
closed (`SourceClosedError`, whatever the layout and whichever of those methods it overrides).
"""

from __future__ import annotations

import functools
import operator
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from egvsr.errors import (
    ConfigError, EventValidationError, FormatError, IndexRangeError, IndexTypeError, InputFileError,
    SourceClosedError,
)
from egvsr.events.checks import first_decrease, first_not_unit, first_outside, maybe_invalid
from egvsr.events.frames import Frames
from egvsr.events.stream import EventStream, window_index
from egvsr.fsutil import fmt_size, printable
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory, warn

DEFAULT_CHUNK_EVENTS = 1 << 21
# Bisection narrows the search to this many events, then reads them in one go.
_SCAN_EVENTS = 1 << 16
# Shortest chunk handed out as views of the file rather than copied (per-chunk costs dominate below).
_MIN_VIEW_EVENTS = 1 << 16
#: Peak bytes per event of `read_all_sorted`: the events as read, the order and the sorted copy (measured 34 on
#: our layout and E2VID's).
SORT_BYTES_PER_EVENT = 40


class ChunkBuffers:
    """One set of event arrays (x, y uint16, t int64, p int8) that chunks are read into and reused."""

    def __init__(self, capacity: int) -> None:
        self.x = np.empty(capacity, np.uint16)
        self.y = np.empty(capacity, np.uint16)
        self.t = np.empty(capacity, np.int64)
        self.p = np.empty(capacity, np.int8)


#: The public methods (and properties) that read the recording: on a closed source they raise
#: `SourceClosedError`, in this class and in every override of them (see `EventSource.__init_subclass__`).
READING = (
    "t_first", "t_last", "first_index_at", "index_range", "read", "read_index", "read_all_sorted",
    "iter_chunks", "polarity_counts", "num_frames", "frame_times", "frame_shape", "read_frame", "read_frames",
    "gt_times", "gt_shape", "read_gt", "read_gt_frames", "check_frame_sizes",
)


def _refuse_when_closed(member: Any) -> Any:
    """`member` (a method or property) made to raise `SourceClosedError` when called on a closed source.

    Checked when called: a generator method (`iter_chunks`) is refused before its first chunk, and
    one iterated past `close()` stops at its next read (`read_index` refuses it)."""
    if isinstance(member, property):
        return property(_refuse_when_closed(member.fget), member.fset, member.fdel, member.__doc__)
    if not callable(member) or getattr(member, "_refuses_closed", False):
        return member

    @functools.wraps(member)
    def guarded(self: "EventSource", *args: Any, **kwargs: Any) -> Any:
        self._require_open()
        return member(self, *args, **kwargs)

    guarded._refuses_closed = True  # type: ignore[attr-defined]
    return guarded


def _closing(close: Callable[["EventSource"], None]) -> Callable[["EventSource"], None]:
    """A layout's `close` that also marks the source closed (even when releasing fails)."""
    @functools.wraps(close)
    def wrapped(self: "EventSource") -> None:
        try:
            close(self)
        finally:
            self.closed = True

    return wrapped


class EventSource:
    """An open recording. Use as a context manager; see docs/CONTRACTS.md for the interface.

    After `close()` the attributes known at opening (`path`, `layout`, `width`, `height`,
    `num_events`) stay readable; every method in `READING` raises `SourceClosedError`."""

    #: True once `close()` has run (set by every layout's `close`, see `__init_subclass__`)
    closed: bool = False

    layout: str = "?"
    #: dataset / column names used in messages, per field
    keys: dict[str, str] = {"x": "x", "y": "y", "t": "t", "p": "p"}
    #: True when `_read_views` / `_read_arrays_into` return p as stored in the "signed" encoding,
    #: unchecked (`read_index` then checks it with x and y in one pass); False: already int8 ±1
    _raw_signed_p: bool = False

    def __init__(self, path: Path, width: int, height: int, num_events: int) -> None:
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self.num_events = int(num_events)
        self._bounds: tuple[int | None, int | None] | None = None
        self._index_trusted = True  # False once the layout's index failed a check (`_verified_bracket`)

    # ---- to implement per layout ------------------------------------------------------------
    def _read_arrays(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Events [i0, i1) as (x, y, t int64 µs, p int8 ±1); x/y any integer dtype, unchecked."""
        raise NotImplementedError

    def _read_arrays_into(self, i0: int, i1: int, buffers: "ChunkBuffers") -> tuple | None:
        """`_read_arrays` into preallocated buffers (views of them), or None when the layout cannot.

        Reading into reused memory avoids the page faults of a fresh ~30 MB allocation per chunk,
        which cost as much as the copy itself. Override where the file's dtypes allow a direct read.
        """
        return None

    def _contiguous_end(self, i0: int, i1: int) -> int:
        """Largest e <= i1 such that `_read_views(i0, e)` can serve events [i0, e); i0 when none."""
        return i0

    def _read_views(self, i0: int, i1: int) -> tuple | None:
        """Events [i0, i1) as arrays that share the file's storage (no copy), or None.

        Override where the layout stores events uncompressed; see `_contiguous_end`.
        """
        return None

    @property
    def reads_in_place(self) -> bool:
        """True when `iter_chunks(..., reuse=N)` serves chunks from the file's storage as it lies
        (views or plain reads, no decoding): reading then costs little besides the checks."""
        return False

    def _read_raw(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Events [i0, i1) with x and y as stored, unchecked, as integers (a layout whose coordinates
        can be non-integral gives those as -1): `info` counts the bad ones rather than stopping at the
        first. By default `_read_arrays`, which leaves coordinates unchecked."""
        return self._read_arrays(i0, i1)

    def _read_t(self, i0: int, i1: int) -> np.ndarray:
        """Timestamps [i0, i1) as int64 µs (override to avoid reading the other columns)."""
        return self._read_arrays(i0, i1)[2]

    def _read_p(self, i0: int, i1: int) -> np.ndarray:
        """Polarities [i0, i1) as int8 ±1 (override to avoid reading the other columns)."""
        return self._read_arrays(i0, i1)[3]

    def _bracket(self, t_us: int) -> tuple[int, int]:
        """Index range [lo, hi] known to contain the first event with t >= t_us (index-less: all)."""
        return 0, self.num_events

    def close(self) -> None:
        """Release the file handles (a layout overrides this); afterwards reading raises `SourceClosedError`."""
        self.closed = True

    def _require_open(self) -> None:
        """Raise `SourceClosedError` once `close()` has run (one line naming the file)."""
        if self.closed:
            raise SourceClosedError(
                f"{self.path}: the event source is closed; open it again with open_events() "
                "(or read inside its `with` block)"
            )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give a layout's own versions of the reading methods, and its `close`, the closed-source
        behaviour of this class: one mechanism for every layout, built in or registered."""
        super().__init_subclass__(**kwargs)
        for name in READING:
            if name in cls.__dict__:
                setattr(cls, name, _refuse_when_closed(cls.__dict__[name]))
        if "close" in cls.__dict__:
            cls.close = _closing(cls.__dict__["close"])  # type: ignore[method-assign]

    # ---- context manager --------------------------------------------------------------------
    def __enter__(self) -> "EventSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, layout={self.layout!r}, "
            f"{self.width}x{self.height}, {self.num_events} events)"
        )

    # ---- time bounds ------------------------------------------------------------------------
    @property
    def t_first(self) -> int | None:
        """Time of the first event in µs, or None for an empty recording."""
        return self._time_bounds()[0]

    @property
    def t_last(self) -> int | None:
        """Time of the last event in µs, or None for an empty recording."""
        return self._time_bounds()[1]

    def _time_bounds(self) -> tuple[int | None, int | None]:
        if self._bounds is None:
            n = self.num_events
            self._bounds = (None, None) if n == 0 else (
                int(self._read_t(0, 1)[0]), int(self._read_t(n - 1, n)[0])
            )
        return self._bounds

    # ---- seeking ----------------------------------------------------------------------------
    def first_index_at(self, t_us: int) -> int:
        """Index of the first event with t >= t_us (bisection inside the layout's bracket)."""
        lo, hi = self._verified_bracket(int(t_us))
        while hi - lo > _SCAN_EVENTS:
            mid = (lo + hi) // 2
            if int(self._read_t(mid, mid + 1)[0]) < t_us:
                lo = mid + 1
            else:
                hi = mid
        seg = self._read_t(lo, hi)
        return lo + int(np.searchsorted(seg, np.int64(t_us), side="left"))

    def _verified_bracket(self, t_us: int) -> tuple[int, int]:
        """The layout's bracket, checked against the timestamps just outside it (two reads).

        A damaged index (`ms_to_idx`) or a wrong origin (`t0_us`) would otherwise give wrong windows
        silently; a bracket that fails the check falls back to the whole recording (bisection), and
        the index is not used again for this source."""
        n = self.num_events
        if not self._index_trusted:
            return 0, n
        lo, hi = self._bracket(t_us)
        if (lo, hi) == (0, n):
            return lo, hi
        ok = 0 <= lo <= hi <= n and (lo == 0 or int(self._read_t(lo - 1, lo)[0]) < t_us) \
            and (hi == n or int(self._read_t(hi, hi + 1)[0]) >= t_us)
        if not ok:
            self._index_trusted = False
            return 0, n
        return lo, hi

    def index_range(self, t0: int | None = None, t1: int | None = None) -> tuple[int, int]:
        """Event indices [i0, i1) of the window t0 <= t < t1 (None = unbounded)."""
        n, at = self.num_events, self.first_index_at
        i0 = 0 if t0 is None else window_index("t0", t0, n, at)
        i1 = n if t1 is None else window_index("t1", t1, n, at)
        return i0, max(i0, i1)

    # ---- reading ----------------------------------------------------------------------------
    def read(self, t0: int | None = None, t1: int | None = None) -> EventStream:
        """Events of the window [t0, t1) in µs; only that window is read from disk."""
        i0, i1 = self.index_range(t0, t1)
        return self.read_index(i0, i1)

    def read_index(self, i0: int, i1: int, check_order: bool = True,
                   buffers: "ChunkBuffers | None" = None, views: bool = False) -> EventStream:
        """Events [i0, i1) by index, validated; errors name the file and the global index.

        buffers: read into this buffer set when the layout can (the stream is then a view of it).
        views: share the file's storage when the layout can (`_read_views`): no copy at all.
        """
        try:
            arrays = self._read_views(i0, i1) if views else None
            if arrays is None and buffers is not None:
                arrays = self._read_arrays_into(i0, i1, buffers)
            raw_p = arrays is not None and self._raw_signed_p
            x, y, t, p = arrays if arrays is not None else self._read_arrays(i0, i1)
        except MemoryError:
            raise InputFileError(
                f"{self.path}: events [{i0}, {i1}) need about {(i1 - i0) * 13 / 2**30:.1f} GiB in memory, "
                "more than can be allocated; read a time window (read(t0, t1)) or in chunks (iter_chunks)"
            ) from None
        if raw_p:
            # one fused pass over x, y and p (the common dtypes); only when it finds something are
            # the exact checks run, in the usual order, for the message naming the first bad index
            if not (x.dtype == np.uint16 and y.dtype == np.uint16 and p.dtype == np.int8) or maybe_invalid(
                    x, y, p.view(np.uint8), np.uint16(min(self.width, 0xFFFF)),
                    np.uint16(min(self.height, 0xFFFF))):
                p = self._signed_polarity(p, "signed", i0)
                x, y = self._checked_coords(x, y, i0)
        else:
            x, y = self._checked_coords(x, y, i0)
        if check_order:
            bad = first_decrease(t) if t.size else -1
            if bad >= 0:
                self._raise_unsorted(i0 + bad, int(t[bad - 1]), int(t[bad]))
        return EventStream(x, y, t, p, self.width, self.height, validate=False)

    def check_sort_memory(self) -> None:
        """Refuse, in one line naming the file and before anything is read, a sort in memory
        (`read_all_sorted`, `SORT_BYTES_PER_EVENT`) beyond `PLANNED_MEMORY_SHARE` of this machine's memory."""
        total = physical_memory()
        need = SORT_BYTES_PER_EVENT * self.num_events
        if total and need > total * PLANNED_MEMORY_SHARE:
            raise InputFileError(f"{self.path}: sorting its {self.num_events:,} events in memory needs "
                                 f"{fmt_size(need)}, above {PLANNED_MEMORY_SHARE:.0%} of this machine's "
                                 f"{fmt_size(total)}; split the recording by time first, or convert it without --sort")

    def read_all_sorted(self) -> EventStream:
        """All events, stably sorted by time in memory (`SORT_BYTES_PER_EVENT` each, checked first)."""
        self.check_sort_memory()
        return self.read_index(0, self.num_events, check_order=False).sorted()

    def iter_chunks(
        self, max_events: int = DEFAULT_CHUNK_EVENTS, t0: int | None = None, t1: int | None = None,
        reuse: int = 0,
    ) -> Iterator[EventStream]:
        """Consecutive streams of at most `max_events` covering [t0, t1), order checked throughout.

        reuse: when > 0, chunks may be views of a ring of `reuse` buffer sets, so a chunk stays valid
        only until `reuse - 1` more chunks have been taken; copy what must live longer. Where the
        layout allows (uncompressed storage), chunks are then instead copy-on-write views of the
        file's pages, which stay valid as long as they are referenced; such a chunk may hold fewer
        than `max_events` events (it ends where the file's storage of a field is interrupted).
        """
        step = chunk_size("iter_chunks max_events", max_events)
        if isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer)) or reuse < 0:
            raise ConfigError(f"iter_chunks: reuse must be an integer >= 0, got {reuse!r}")
        i0, i1 = self.index_range(t0, t1)
        last = None
        ring = [ChunkBuffers(min(step, i1 - i0)) for _ in range(int(reuse))] if i1 > i0 else []
        k, a = 0, i0
        while a < i1:
            b = min(a + step, i1)
            # with `reuse`, a chunk that the file stores in one piece per field is handed out as views
            # of the file's pages (no copy); one ends early, at a storage boundary, when at least
            # _MIN_VIEW_EVENTS lie before it; otherwise it is read into the next buffer set
            e = self._contiguous_end(a, b) if ring else a
            if e >= b or e - a >= min(step, _MIN_VIEW_EVENTS):
                b, buffers, views = e, None, True
            else:
                buffers, views, k = (ring[k % len(ring)] if ring else None), False, k + 1
            chunk = self.read_index(a, b, buffers=buffers, views=views)
            if last is not None and len(chunk) and int(chunk.t[0]) < last:
                self._raise_unsorted(a, last, int(chunk.t[0]))
            if len(chunk):
                last = int(chunk.t[-1])
            yield chunk
            a = b

    def polarity_counts(self, max_events: int = DEFAULT_CHUNK_EVENTS) -> tuple[int, int]:
        """(ON, OFF) event counts, reading only the polarity column where the layout allows."""
        on, max_events = 0, chunk_size("polarity_counts max_events", max_events)
        for a in range(0, self.num_events, max_events):
            p = self._read_p(a, min(a + max_events, self.num_events))
            on += int(np.count_nonzero(p > 0))
        return on, self.num_events - on

    # ---- frames (default: none) ---------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        """How many frames the file holds (0 without frames)."""
        times = self.frame_times()
        return 0 if times is None else int(times.shape[0])

    def frame_times(self) -> np.ndarray | None:
        """Frame timestamps, int64 µs strictly increasing, or None when the recording has none."""
        return None

    def read_frame(self, i: int) -> np.ndarray:
        """Frame `i` as uint8 (H, W, C), RGB or gray; every frame of a recording has one channel count
        (gray frames of a recording that also has colour ones come as 3 equal channels)."""
        self._check_frame_index(i, self.num_frames, "frame")
        raise NotImplementedError

    def frame_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of frame 0 as `read_frame` gives it, or None without frames. Layouts that store the
        shape answer without decoding (a declared frame can be far larger than memory); this default
        decodes frame 0."""
        return tuple(self.read_frame(0).shape) if self.num_frames else None

    def read_frames(self, i0: int = 0, i1: int | None = None) -> Frames | None:
        """Frames [i0, i1) with their times, or None when the recording has none."""
        return self._frames_range(self.frame_times(), self.read_frame, i0, i1, "frame")

    def gt_times(self) -> np.ndarray | None:
        """Ground-truth frame timestamps (int64 µs) or None."""
        return None

    def read_gt(self, i: int) -> np.ndarray:
        """Ground-truth frame `i` as uint8 (H, W, C)."""
        times = self.gt_times()
        self._check_frame_index(i, 0 if times is None else len(times), "ground-truth frame")
        raise NotImplementedError

    def read_gt_frames(self, i0: int = 0, i1: int | None = None) -> Frames | None:
        """Ground-truth frames [i0, i1) with their times, or None."""
        return self._frames_range(self.gt_times(), self.read_gt, i0, i1, "ground-truth frame")

    def gt_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of ground-truth frame 0, or None without; like `frame_shape`, this default decodes it."""
        times = self.gt_times()
        return tuple(self.read_gt(0).shape) if times is not None and len(times) else None

    def check_frame_sizes(self, which: tuple[str, ...] = ("frames", "gt")) -> None:
        """Refuse frames (or ground-truth frames) of another size than the events' sensor, with one line
        naming the file. Reads the sizes from `frame_shape` / `gt_shape`: a layout that stores them
        answers before any frame is decoded, so a frame too large for memory is never read for this.
        `which` picks "frames" and/or "gt" (a command that never reads ground truth checks only frames)."""
        kinds = {"frames": ("frames", self.frame_shape), "gt": ("ground-truth frames", self.gt_shape)}
        for what, shape in ((kinds[k][0], kinds[k][1]()) for k in which):
            if shape is not None and tuple(shape[:2]) != (self.height, self.width):
                raise FormatError(
                    f"{self.path}: {what} are {shape[1]}x{shape[0]} (WxH) but the events' sensor is "
                    f"{self.width}x{self.height}; frames and events must share the sensor size"
                )

    # ---- helpers for subclasses ---------------------------------------------------------------
    def _frames_range(self, times, read_one, i0: int, i1: int | None, what: str = "frame") -> Frames | None:
        """Frames [i0, i1) read one by one (their times copied: `times` may be the layout's own, kept array);
        a gray one among colour ones is given 3 equal channels
        (the built-in layouts already do so recording-wide, this also covers a registered one).
        A bound that is no integer is an `IndexTypeError` naming it (`what`: the kind of frame)."""
        i0 = self._as_index(i0, f"first {what}")
        i1 = None if i1 is None else self._as_index(i1, f"end {what}")
        if times is None:
            return None
        i1 = len(times) if i1 is None else i1
        if i1 <= i0:
            shape = read_one(0).shape if len(times) else (self.height, self.width, 1)
            return Frames(np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64))
        images = [np.asarray(read_one(i)) for i in range(i0, i1)]
        channels = max(1 if img.ndim == 2 else img.shape[-1] for img in images)
        return Frames(np.stack([with_channels(img, channels) for img in images]), times[i0:i1].copy())

    def _check_frame_index(self, i: int, n: int, what: str) -> int:
        """`i` as a frame number 0 <= i < n: a non-integer (bool, float, str, None) is an
        `IndexTypeError`, one outside the range an `IndexRangeError` (docs/CONTRACTS.md)."""
        index = self._as_index(i, what)
        if not 0 <= index < n:
            raise IndexRangeError(
                f"{self.path}: {what} index {index} out of range: the file has {n} {what}s "
                f"({f'valid indices 0..{n - 1}' if n else 'none to read'})"
            )
        return index

    def _as_index(self, i: object, what: str) -> int:
        """`i` as an integer index; a bool, float, str, list or None is an `IndexTypeError` naming `what`."""
        try:
            index = None if isinstance(i, (bool, np.bool_)) else operator.index(i)
        except TypeError:
            index = None
        if index is None:
            raise IndexTypeError(
                f"{self.path}: {what} index {i!r}: expected an integer, got {type(i).__name__}"
            )
        return index

    def _checked_coords(self, x: np.ndarray, y: np.ndarray, i0: int) -> tuple[np.ndarray, np.ndarray]:
        for name, a, limit in (("x", x, self.width), ("y", y, self.height)):
            if not a.dtype.isnative:  # (big-endian storage) the checks are compiled for native order
                a = a.astype(a.dtype.newbyteorder("="))
                x, y = (a, y) if name == "x" else (x, a)
            bad = first_outside(a, 0, limit) if a.size else -1
            if bad >= 0:
                raise EventValidationError(
                    f"{self.path}: {self.keys[name]}[{i0 + bad}] = {a[bad].item()} is outside the "
                    f"{self.width}x{self.height} sensor (expected 0 <= {name} < {limit})"
                )
        return _as_uint16(x), _as_uint16(y)

    def _raise_unsorted(self, index: int, before: int, after: int) -> None:
        hint = self.unsorted_hint(before, after)
        raise EventValidationError(
            f"{self.path}: timestamps in {self.keys['t']} decrease at index {index} "
            f"({before} -> {after} µs); events must be sorted by time: "
            + (hint or "convert with `egvsr convert --sort` (or use read_all_sorted())")
        )

    def damage(self) -> str | None:
        """What is wrong with the file that reading passes over, or None (the default): a layout of fixed-size
        words says here that the file ends inside one (it was cut short; the events before it are read).
        `info` reports it as a problem and `convert` warns of it."""
        return None

    def attributes(self) -> dict:
        """The recording's own attributes (provenance: a simulation's thresholds and seed, ...) that `convert`
        carries into its output, the layout's own (format, size, event count) left out; {} (the default) for
        layouts whose attributes mean something else than ours."""
        return {}

    def unsorted_hint(self, before: int, after: int) -> str | None:
        """Why sorting would not repair a decrease from `before` to `after` µs (a time wrap the layout could
        not undo), said instead of advising `--sort`; None (the default): sorting repairs it."""
        return None

    def _signed_polarity(self, p: np.ndarray, encoding: str, i0: int) -> np.ndarray:
        """p from the file's encoding ("bool", "01", "signed", "ternary") to int8 ±1, never mutating `p`."""
        if encoding == "bool":
            return (p.astype(np.int8) * 2 - 1).astype(np.int8, copy=False)
        if encoding == "ternary":  # integer storage of unknown convention: -1/0 = OFF, 1 = ON
            bad = first_outside(p, -1, 2) if p.size else -1
            if bad >= 0:
                raise EventValidationError(
                    f"{self.path}: {self.keys['p']}[{i0 + bad}] = {p[bad].item()!r}, "
                    "expected 0/1 or -1/+1"
                )
            return np.where(p > 0, np.int8(1), np.int8(-1))
        if encoding == "01":
            bad = first_outside(p, 0, 2) if p.size else -1
            if bad >= 0:
                raise EventValidationError(
                    f"{self.path}: {self.keys['p']}[{i0 + bad}] = {p[bad].item()!r}, expected 0 or 1"
                )
            return (p.astype(np.int8) * 2 - 1).astype(np.int8, copy=False)
        bad = first_not_unit(p) if p.size else -1
        if bad >= 0:
            raise EventValidationError(
                f"{self.path}: {self.keys['p']}[{i0 + bad}] = {p[bad].item()!r}, expected -1 or +1"
            )
        return p.astype(np.int8, copy=False)


for _name in READING:
    setattr(EventSource, _name, _refuse_when_closed(EventSource.__dict__[_name]))


def chunk_size(what: str, value: object) -> int:
    """`value` checked as a number of events per chunk: an integer >= 1 (not a bool, float or str),
    else one `ConfigError` line naming the argument `what`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what}: expected an integer >= 1, got {value!r}")
    return int(value)


def warn_damage(path: str | os.PathLike, damage: str | None) -> None:
    """One warning line naming `path` when a recording has `damage` (its source's `damage()`: a file cut short,
    whose whole words are read); commands that read such a file never do so in silence."""
    if damage:
        warn(f"{printable(path)}: {damage}")


def with_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Frame `img` as (H, W, `channels`): a gray one (H, W) or (H, W, 1) repeated to 3 equal channels
    when `channels` is 3; otherwise as it is (with a channel axis)."""
    if img.ndim == 2:
        img = img[..., None]
    if channels == 3 and img.shape[-1] == 1:
        return np.repeat(img, 3, axis=-1)
    return img


def _as_uint16(a: np.ndarray) -> np.ndarray:
    """Checked coordinates (0 <= a < 65536) as uint16: native 16-bit signed ones are reinterpreted
    in place (same bits for non-negative values), anything else is converted."""
    if a.dtype == np.int16 and a.dtype.isnative:
        return a.view(np.uint16)
    return a.astype(np.uint16, copy=False)

