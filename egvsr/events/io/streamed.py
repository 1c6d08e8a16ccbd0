"""`StreamedSource`: the base of layouts without an index, decoded front to back on every pass
(AEDAT4, Prophesee RAW/DAT), and `decoder_errors`, which names the file when a decoder fails.

A recording of at most `CACHE_EVENTS` events is kept in memory after the first pass; larger ones
are streamed on each pass with bounded memory (convert them to our layout for fast seeking).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.errors import EgvsrError, FormatError, InputFileError
from egvsr.events.checks import first_decrease
from egvsr.events.io.source import DEFAULT_CHUNK_EVENTS, EventSource, chunk_size
from egvsr.events.stream import EventStream, window_limits

CACHE_EVENTS = 1 << 23
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
        parts = [] if window is None else list(self._stream_chunks(max(self.num_events, 1), *window))  # one pass
        if not parts:
            return EventStream.empty(self.width, self.height)
        return parts[0]

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

    def _stream_chunks(self, max_events: int, t0, t1) -> Iterator[EventStream]:
        """One decoding pass, re-cut into chunks of `max_events`, order checked globally."""
        buf: list[_Arrays] = []
        count, last, pos = 0, None, 0
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
            a = 0 if t0 is None else int(np.searchsorted(t, t0, side="left"))
            b = len(t) if t1 is None else int(np.searchsorted(t, t1, side="left"))
            if b <= a:
                if t1 is not None and t[0] >= t1:
                    break
                continue
            xc, yc = self._checked_coords(x[a:b], y[a:b], start + a)
            buf.append((xc, yc, t[a:b], p[a:b]))
            count += b - a
            while count >= max_events:
                head, buf, count = _split(buf, max_events)
                yield EventStream(*head, self.width, self.height, validate=False)
        if count:
            yield EventStream(*_split(buf, count)[0], self.width, self.height, validate=False)


def _split(buf: list[_Arrays], n: int) -> tuple[_Arrays, list[_Arrays], int]:
    """First `n` events of the buffered pieces, the rest, and the rest's size."""
    joined = tuple(np.concatenate([b[i] for b in buf]) for i in range(4))
    rest = tuple(a[n:] for a in joined)
    return tuple(a[:n] for a in joined), ([rest] if len(rest[2]) else []), len(rest[2])
