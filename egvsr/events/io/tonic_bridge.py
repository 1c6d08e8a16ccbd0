"""The one bridge to tonic's readers: AEDAT4 (`aedat`) and Prophesee EVT2 `.raw` / `.dat`
(`expelliarmus`), plus tonic's in-memory event arrays both ways (`from_tonic`, `to_tonic`).
EVT3 `.raw` is decoded by our own `evt3` module (expelliarmus mis-times it; see there).

tonic's `io.read_aedat4` and its Prophesee datasets sit on these two decoders; we call them
directly, imported lazily here only, so tonic itself is optional (the `[tonic]` extra) and its 0.6 s
import is avoided; the decoders are our own dependencies. These formats have no index: every pass
decodes from the start. A recording of at most `CACHE_EVENTS` events is kept in memory after the
first pass; larger ones are streamed on each pass with bounded memory (convert them to our layout
for fast seeking).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.errors import (
    ConfigError,
    EgvsrError,
    EventValidationError,
    FormatError,
    InputFileError,
    MissingDependencyError,
)
from egvsr.events.checks import first_decrease
from egvsr.events.io import prophesee_header
from egvsr.events.io.source import DEFAULT_CHUNK_EVENTS, EventSource, _as_time
from egvsr.events.stream import EventStream

CACHE_EVENTS = 1 << 23
_WIZARD_CHUNK = 1 << 20
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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


def _header_size(path: Path, layout: str, size: tuple[int, int]) -> tuple[int, int]:
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


def header_runs_to_eof(path: Path) -> bool:
    """True when the file's leading '%' lines run into the end of the file without a newline.

    expelliarmus 1.1.12 skips every leading line that starts with '%' (also past '% end') and loops
    forever when the file ends inside one, so such a file must never reach it.
    """
    with open(path, "rb") as fh:
        while fh.read(1) == b"%":
            while True:
                part = fh.readline(1 << 16)
                if part.endswith(b"\n"):
                    break
                if len(part) < 1 << 16:  # end of file inside the line
                    return True
    return False


def open_tonic(path: Path, layout: str, sensor_size: tuple[int, int] | None) -> EventSource:
    """Open an AEDAT4 / EVT2 / EVT3 / DAT recording (layout as detected)."""
    if layout == "aedat4":
        return Aedat4Source(path, sensor_size)
    return PropheseeSource(path, layout, sensor_size)


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
        with decoder_errors(f"{self.path}: {self.layout} decoding failed",
                            "; the file is probably truncated or corrupted"):
            yield from self._packets()

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

    def read(self, t0=None, t1=None) -> EventStream:
        if self._cache is not None:
            return super().read(t0, t1)
        t0 = None if t0 is None else _as_time("t0", t0)
        t1 = None if t1 is None else _as_time("t1", t1)
        parts = list(self._stream_chunks(max(self.num_events, 1), t0, t1))  # one decoding pass
        if not parts:
            return EventStream.empty(self.width, self.height)
        return parts[0]

    def polarity_counts(self, max_events: int = DEFAULT_CHUNK_EVENTS) -> tuple[int, int]:
        return self._on, self.num_events - self._on

    def iter_chunks(self, max_events=DEFAULT_CHUNK_EVENTS, t0=None, t1=None, reuse=0):
        if self._cache is not None:  # decoded chunks are fresh arrays: `reuse` has nothing to do
            yield from super().iter_chunks(max_events, t0, t1)
            return
        if int(max_events) < 1:
            raise ConfigError(f"iter_chunks: max_events must be at least 1, got {max_events!r}")
        t0 = None if t0 is None else _as_time("t0", t0)
        t1 = None if t1 is None else _as_time("t1", t1)
        yield from self._stream_chunks(int(max_events), t0, t1)

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


class Aedat4Source(StreamedSource):
    """An AEDAT4 recording (iniVation DV): the first events stream; size from the file header."""

    layout = "aedat4"

    def __init__(self, path: Path, sensor_size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        decoder = self._decoder()
        with decoder_errors(f"{path}: unreadable AEDAT4 header"):
            streams = decoder.id_to_stream()
        ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        if not ids:
            kinds = sorted({s.get("type") for s in streams.values()})
            raise FormatError(f"{path}: AEDAT4 file has no events stream (streams: {kinds})")
        self._stream_id = ids[0]
        if sensor_size is None:
            info = streams[self._stream_id]
            if not info.get("width") or not info.get("height"):
                raise FormatError(
                    f"{path}: AEDAT4 events stream declares no size; pass --sensor-size HxW (sensor_size=(H, W) in Python)"
                )
            sensor_size = _header_size(path, "aedat4", (info["height"], info["width"]))
        super().__init__(path, sensor_size[1], sensor_size[0])

    def _decoder(self):
        try:
            import aedat
        except ImportError:
            raise MissingDependencyError(
                f"{self.path}: reading AEDAT4 needs the 'aedat' package (the decoder tonic uses): "
                "pip install aedat"
            ) from None
        with decoder_errors(f"{self.path}: not a readable AEDAT4 file"):
            return aedat.Decoder(str(self.path))

    def _packets(self):
        for packet in self._decoder():
            if packet.get("stream_id") != self._stream_id or "events" not in packet:
                continue
            ev = packet["events"]
            p = ev["on"] if "on" in ev.dtype.names else ev["p"]
            yield ev["x"], ev["y"], ev["t"].astype(np.int64), self._signed_polarity(p, "bool", 0)


class PropheseeSource(StreamedSource):
    """A Prophesee `.raw` (EVT2 via expelliarmus, EVT3 via our `evt3` decoder) or `.dat` file."""

    def __init__(self, path: Path, layout: str, sensor_size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        self.layout = layout
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
        if sensor_size is None:
            sensor_size = prophesee_header.sensor_size(head)
            if sensor_size is None:
                raise FormatError(
                    f"{path}: the {layout} header names no sensor size (no 'format ...;height=;width=', "
                    "'geometry WxH' or Height/Width lines); pass --sensor-size HxW (sensor_size=(H, W) in Python)"
                )
            sensor_size = _header_size(self.path, layout, sensor_size)
        if layout != "evt3" and header_runs_to_eof(self.path):
            raise FormatError(
                f"{path}: the {layout} file ends inside a '%' header line (no newline after it, no event "
                "data); the file is truncated or not a Prophesee recording"
            )
        self._tmp: str | None = None
        self._data_offset = prophesee_header.data_offset(head)
        self._decode_path = (
            Path(path) if layout == "evt3"
            else self._with_extension(Path(path), ".dat" if layout == "dat" else ".raw")
        )
        super().__init__(path, sensor_size[1], sensor_size[0])

    def _with_extension(self, path: Path, ext: str) -> Path:
        """expelliarmus insists on the extension: give it a hard link (or copy) that has one."""
        if path.suffix.lower() == ext and path.suffix == ext:
            return path
        self._tmp = tempfile.mkdtemp(prefix="egvsr-bridge-")
        alias = Path(self._tmp) / f"recording{ext}"
        try:
            os.link(path, alias)
        except OSError:
            shutil.copyfile(path, alias)
        return alias

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _packets(self):
        if self.layout == "evt3":  # our decoder: expelliarmus mis-times EVT3 (see evt3.py)
            from egvsr.events.io import evt3

            yield from evt3.decode_file(self.path, self._data_offset)
            return
        try:
            from expelliarmus import Wizard
        except ImportError:
            raise MissingDependencyError(
                f"{self.path}: reading {self.layout} needs 'expelliarmus' (an egvsr dependency): "
                "pip install expelliarmus"
            ) from None
        wizard = Wizard(encoding=self.layout, fpath=self._decode_path, chunk_size=_WIZARD_CHUNK)
        for ev in wizard.read_chunk():
            yield ev["x"], ev["y"], ev["t"].astype(np.int64), self._signed_polarity(ev["p"], "01", 0)
