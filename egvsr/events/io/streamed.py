"""`StreamedSource`: the base of layouts without an index, decoded front to back on every pass
(AEDAT4, Prophesee RAW/DAT), and `decoder_errors`, which names the file when a decoder fails.

A recording of at most `CACHE_EVENTS` events is kept in memory after the first pass; larger ones
are streamed on each pass with bounded memory, and a window read leaves its pass open so that the next
window in time order goes on from it (convert them to our layout for random seeking).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.errors import EgvsrError, FormatError, InputFileError
from egvsr.events.checks import first_decrease
from egvsr.events.io.source import DEFAULT_CHUNK_EVENTS, EventSource, chunk_size
from egvsr.events.stream import EventStream, window_limits

CACHE_EVENTS = 1 << 23
#: Most events an open pass keeps between two window reads (the packets the next window may need).
KEPT_PASS_EVENTS = 1 << 23
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@contextlib.contextmanager
def decoder_errors(what: str, hint: str = "") -> Iterator[None]:
    """Turn what a third-party decoder raises on a bad file into an `InputFileError`
    "{what} (Type: message){hint}": any `Exception`, and the Rust panics of `aedat` (pyo3's
    PanicException derives from BaseException); never an interrupt, a generator's close or one of
    our own errors."""
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - third-party decoders raise (and panic) anything
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, EgvsrError)):
            raise
        raise InputFileError(f"{what} ({type(exc).__name__}: {exc}){hint}") from None


def header_size(path: Path, layout: str, size: tuple[int, int]) -> tuple[int, int]:
    """A sensor size read from a file header, refused (naming the file) unless 1..65535 per side."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        h = w = 0
    if not (1 <= h <= 65535 and 1 <= w <= 65535):
        raise FormatError(
            f"{path}: the {layout} header gives a sensor size of {size!r} (H, W); expected 1..65535 pixels per "
            "side (pass --sensor-size HxW, or sensor_size=(H, W) in Python, to override a damaged header)"
        )
    return h, w


class StreamedSource(EventSource):
    """A recording decoded front to back; subclasses yield raw packets from `_packets()`."""

    keys = {"x": "x", "y": "y", "t": "t", "p": "p"}

    def __init__(self, path: Path, width: int, height: int) -> None:
        super().__init__(path, width, height, 0)
        self._cache: _Arrays | None = None
        self._pass: _OpenPass | None = None
        self._pass_lock = threading.Lock()
        self._scan()

    def _packets(self) -> Iterator[_Arrays]:
        """Decoded packets in file order as (x, y, t int64 µs, p int8 ±1)."""
        raise NotImplementedError

    def _decode(self) -> Iterator[_Arrays]:
        """`_packets()` with decoder failures named; a pass begun before `close()` stops at its next packet."""
        with decoder_errors(f"{self.path}: {self.layout} decoding failed",
                            "; the file is probably truncated or corrupted"):
            for packet in self._packets():
                self._require_open()
                yield packet

    def _scan(self) -> None:
        """One pass: count, first/last time, polarity balance; keeps small files in memory."""
        n = on = 0
        first = last = None
        kept: list[_Arrays] | None = []
        for x, y, t, p in self._decode():
            if not len(t):
                continue
            first = int(t[0]) if first is None else first
            last = int(t[-1])
            n += len(t)
            on += int(np.count_nonzero(p > 0))
            if kept is not None:
                kept.append((x, y, t, p))
                if n > CACHE_EVENTS:
                    kept = None
        self.num_events, self._on = n, on
        self._bounds = (first, last) if n else (None, None)
        if kept is not None:
            self._cache = tuple(
                np.concatenate([k[i] for k in kept]) if kept else np.zeros(0, dt)
                for i, dt in enumerate((np.uint16, np.uint16, np.int64, np.int8))
            )

    def _blocks(self, i0: int, i1: int) -> Iterator[tuple[int, _Arrays]]:
        """(global offset, arrays) pieces covering events [i0, i1)."""
        if self._cache is not None:
            yield i0, tuple(a[i0:i1] for a in self._cache)
            return
        pos = 0
        for arrays in self._decode():
            n = len(arrays[2])
            a, b = max(i0 - pos, 0), min(i1 - pos, n)
            if b > a:
                yield pos + a, tuple(v[a:b] for v in arrays)
            pos += n
            if pos >= i1:
                return

    def _read_arrays(self, i0, i1):
        parts = [arrs for _, arrs in self._blocks(i0, i1)]
        if not parts:
            return tuple(np.zeros(0, dt) for dt in (np.uint16, np.uint16, np.int64, np.int8))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))

    def first_index_at(self, t_us: int) -> int:
        if self._cache is not None:
            t = self._cache[2]
            return int(np.searchsorted(t, np.int64(t_us), side="left"))
        for offset, (_, _, t, _) in self._blocks(0, self.num_events):
            if len(t) and t[-1] >= t_us:
                return offset + int(np.searchsorted(t, np.int64(t_us), side="left"))
        return self.num_events

    def read(self, t0: int | None = None, t1: int | None = None) -> EventStream:
        if self._cache is not None:
            return super().read(t0, t1)
        window = window_limits(t0, t1)  # None: no event can lie in it
        if window is None:
            return EventStream.empty(self.width, self.height)
        if window[0] is not None and window[1] is not None:
            return self._resumed_window(*window)
        parts = list(self._stream_chunks(max(self.num_events, 1), *window))  # one pass
        return parts[0] if parts else EventStream.empty(self.width, self.height)

    def _resumed_window(self, t0: int, t1: int) -> EventStream:
        """Events in [t0, t1), from the pass the previous window left open when it can serve this one (windows
        read in time order, as eval and render read them, decode the file once instead of once per window)."""
        with self._pass_lock:
            run = self._pass
            if run is None or t0 < run.floor:
                run = self._pass = _OpenPass(self._ordered())
            try:
                parts = [part for start, arrays in run.covering(t0, t1)
                         if (part := self._window_part(start, arrays, t0, t1)) is not None]
            except BaseException:
                self._pass = None  # a failed pass serves nothing more: the next window starts a new one
                raise
            if run.kept_events > KEPT_PASS_EVENTS:  # a pass is kept for a window's worth of packets, not a file's
                self._pass = None
        if not parts:
            return EventStream.empty(self.width, self.height)
        return EventStream(*(np.concatenate([part[i] for part in parts]) for i in range(4)),
                           self.width, self.height, validate=False)

    def close(self) -> None:
        self._pass = None  # its decoder, and the file it holds open, go with it

    def __getstate__(self) -> dict:
        """A copy holds no open pass (a decoder cannot be copied) and gets a lock of its own."""
        state = self.__dict__.copy()
        state.pop("_pass_lock", None)
        state["_pass"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pass_lock = threading.Lock()

    def polarity_counts(self, max_events: int = DEFAULT_CHUNK_EVENTS) -> tuple[int, int]:
        chunk_size("polarity_counts max_events", max_events)  # counted in the first pass; checked alike
        return self._on, self.num_events - self._on

    def iter_chunks(self, max_events: int = DEFAULT_CHUNK_EVENTS, t0: int | None = None, t1: int | None = None,
                    reuse: int = 0) -> Iterator[EventStream]:
        if self._cache is not None:  # decoded chunks are fresh arrays: `reuse` has nothing to do
            yield from super().iter_chunks(max_events, t0, t1)
            return
        max_events = chunk_size("iter_chunks max_events", max_events)
        window = window_limits(t0, t1)
        if window is not None:
            yield from self._stream_chunks(max_events, *window)

    def _ordered(self) -> Iterator[tuple[int, _Arrays]]:
        """One decoding pass as (global offset, arrays) of non-empty packets, time order checked globally."""
        last, pos = None, 0
        for x, y, t, p in self._decode():
            start = pos
            pos += len(t)
            if not len(t):
                continue
            bad = first_decrease(t)
            if bad >= 0:
                self._raise_unsorted(start + bad, int(t[bad - 1]), int(t[bad]))
            if last is not None and t[0] < last:
                self._raise_unsorted(start, last, int(t[0]))
            last = int(t[-1])
            yield start, (x, y, t, p)

    def _window_part(self, start: int, arrays: _Arrays, t0, t1) -> _Arrays | None:
        """The events of one packet in [t0, t1) (None: open end), coordinates checked; None when none."""
        x, y, t, p = arrays
        a = 0 if t0 is None else int(np.searchsorted(t, t0, side="left"))
        b = len(t) if t1 is None else int(np.searchsorted(t, t1, side="left"))
        if b <= a:
            return None
        xc, yc = self._checked_coords(x[a:b], y[a:b], start + a)
        return xc, yc, t[a:b], p[a:b]

    def _stream_chunks(self, max_events: int, t0, t1) -> Iterator[EventStream]:
        """One decoding pass, re-cut into chunks of `max_events`, order checked globally."""
        buf: list[_Arrays] = []
        count = 0
        for start, arrays in self._ordered():
            part = self._window_part(start, arrays, t0, t1)
            if part is None:
                if t1 is not None and arrays[2][0] >= t1:
                    break
                continue
            buf.append(part)
            count += len(part[2])
            while count >= max_events:
                head, buf, count = _split(buf, max_events)
                yield EventStream(*head, self.width, self.height, validate=False)
        if count:
            yield EventStream(*_split(buf, count)[0], self.width, self.height, validate=False)


class _OpenPass:
    """A decoding pass left open between window reads, with the packets that may hold events of the next window.

    `floor`: every event decoded so far at or after this time is in `kept`."""

    def __init__(self, packets: Iterator[tuple[int, _Arrays]]) -> None:
        self.packets = packets
        self.kept: list[tuple[int, _Arrays]] = []
        self.floor = -(1 << 63)
        self.done = False

    @property
    def kept_events(self) -> int:
        return sum(len(arrays[2]) for _, arrays in self.kept)

    def covering(self, t0: int, t1: int) -> list[tuple[int, _Arrays]]:
        """The packets that hold every event in [t0, t1) (t0 >= floor), decoding on as far as t1."""
        self.kept = [(start, arrays) for start, arrays in self.kept if arrays[2][-1] >= t0]
        self.floor = t0
        while not self.done and (not self.kept or self.kept[-1][1][2][-1] < t1):
            packet = next(self.packets, None)
            if packet is None:
                self.done = True
            elif packet[1][2][-1] >= t0:
                self.kept.append(packet)
        return [(start, arrays) for start, arrays in self.kept if arrays[2][0] < t1]


def _split(buf: list[_Arrays], n: int) -> tuple[_Arrays, list[_Arrays], int]:
    """First `n` events of the buffered pieces, the rest, and the rest's size."""
    joined = tuple(np.concatenate([b[i] for b in buf]) for i in range(4))
    rest = tuple(a[n:] for a in joined)
    return tuple(a[:n] for a in joined), ([rest] if len(rest[2]) else []), len(rest[2])
