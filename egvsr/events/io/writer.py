"""Writers of our HDF5 layout: `EventWriter` (streaming, bounded memory) and `write_events`.

Events are buffered only up to one HDF5 chunk and written as whole chunks, so a recording larger
than memory converts with a fixed footprint; the millisecond index is built on the fly from each
written block; gzip chunks are encoded on worker threads (`chunk_codec`). The file is built under a temporary name and renamed into place on a clean exit
(`egvsr.fsutil.atomic_output`): an error or Ctrl-C leaves nothing under the final name.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.frames import Frames
from egvsr.events.io import h5util
from egvsr.events.io import chunk_codec
from egvsr.events.checks import is_integer
from egvsr.events.io.arguments import check_path
from egvsr.events.io.chunk_codec import ChunkEncoder, supported
from egvsr.events.io.egvsr_h5 import FORMAT, INDEX_KEY, OWN_ATTRS, VERSION
from egvsr.events.stream import EventStream
from egvsr.fsutil import atomic_output, check_output_path, fmt_size, refuse_package_data, shown
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory

#: Events per HDF5 chunk; chosen by measurement (docs/io.md, benchmarks/io.py).
CHUNK_EVENTS = 1 << 17
#: Compression of our layout: needs no plugin (see docs/io.md for the measured alternatives).
COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
#: The h5py keywords `compression=` may hold (filters only: the writer sets shapes, chunks and dtypes).
_FILTER_KEYWORDS = ("compression", "compression_opts", "shuffle", "fletcher32", "scaleoffset")
#: Most events per chunk: HDF5 stores a chunk of at most 4 GiB, and `t` takes 8 bytes an event.
MAX_CHUNK_EVENTS = (2**32 - 1) // 8
#: Whole chunks of a large `append` written (and encoded) at once.
_BLOCK_CHUNKS = 16
#: Bytes of memory per event of a chunk while writing, about: the chunk buffered (13), a block of
#: encoded chunks waiting their turn (13 each, for data that does not compress), and each encoding
#: thread's shuffled copy and output of the 8-byte `t` column.
WRITE_BYTES_PER_EVENT = 13 + _BLOCK_CHUNKS * 13 + chunk_codec.MAX_THREADS * 16
_DTYPES = {"x": np.uint16, "y": np.uint16, "t": np.int64, "p": np.int8}
# The index is skipped (readers then bisect) when long gaps would make it larger than this.
_INDEX_ENTRIES_PER_EVENT = 8
_INDEX_MIN_ENTRIES = 1 << 22
#: Most bytes in one HDF5 chunk of frames: a larger frame is stored in chunks of whole rows, so compressing
#: it takes buffers of this size rather than of the frame, and no chunk passes HDF5's 4 GiB limit.
FRAME_CHUNK_BYTES = 16 << 20


class EventWriter:
    """Stream events (and frames) into a new file of our layout; use as a context manager.

    `append(stream)` takes chunks in time order; `write_frames(Frames)` / `write_gt(Frames)` may be
    called any number of times, each call continuing the previous one's timeline.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        overwrite: bool = False,
        attrs: Mapping[str, Any] | None = None,
        *,
        chunk_events: int = CHUNK_EVENTS,
        compression: Mapping[str, Any] | None = None,
    ) -> None:
        path = check_path(path, "EventWriter path")
        for name, v in (("width", width), ("height", height)):
            if not is_integer(v) or not 1 <= v <= 65535:
                raise ConfigError(f"EventWriter {name}: expected an integer in 1..65535, got {v!r}")
        self._chunk = check_chunk_events(chunk_events)
        if attrs is not None and not isinstance(attrs, Mapping):
            raise ConfigError(f"EventWriter attrs: expected a mapping of names to values, got {type(attrs).__name__}")
        # text always encodes: a file name's bytes that are not UTF-8 are stored as `\xNN` (fsutil.shown)
        self._attrs = {k: shown(v) if isinstance(v, str) else v for k, v in (attrs or {}).items()}
        self._compression = _check_compression(COMPRESSION if compression is None else compression, self._chunk)
        _check_attrs(self._attrs)
        self.path = check_output_path(path, overwrite)
        refuse_package_data([self.path])  # the shipped weights: the default input of render, eval and demo
        self.width, self.height = int(width), int(height)
        self._overwrite = overwrite
        # gzip (+ shuffle) is encoded on worker threads and written as whole chunks (chunk_codec)
        self._encoder = ChunkEncoder(self._compression, self._chunk) if supported(self._compression) else None
        self._f: h5py.File | None = None
        self._ctx = None
        self._pending: list[EventStream] = []
        self._pending_n = 0
        self._written = 0
        self._last_t: int | None = None
        self._t0: int | None = None
        self._next_k = 0
        self._index_ok = True
        self._frame_last: dict[str, int] = {}

    # ---- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "EventWriter":
        self._ctx = atomic_output(self.path, self._overwrite)
        tmp = self._ctx.__enter__()
        try:
            self._f = h5util.open_output(tmp, self.path)
            with h5util.signals_deferred():  # (see h5util.signals_deferred: HDF5 calls back into Python)
                ev = self._f.create_group("events")
                for k, dtype in _DTYPES.items():
                    ev.create_dataset(
                        k, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(self._chunk,),
                        **self._compression,
                    )
                ev.create_dataset(
                    "ms_to_idx", shape=(0,), maxshape=(None,), dtype=np.uint64, chunks=(1 << 14,)
                )
        except BaseException as exc:
            self._abort(exc)
            raise
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if et is not None:
            self._abort(ev)
            return False
        try:
            with h5util.signals_deferred():
                self._finalize()
            h5util.close_output(self._f, self.path)  # a failed write (full disk): one OutputError
        except BaseException as exc:
            self._abort(exc)
            raise
        self._ctx.__exit__(None, None, None)
        return False

    def _abort(self, exc: BaseException | None) -> None:
        if self._f is not None:
            try:
                h5util.close_output(self._f, self.path, keep=False)
            except Exception:  # noqa: BLE001 - already failing; the temp file is removed next
                pass
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            try:
                ctx.__exit__(type(exc) if exc else RuntimeError, exc or RuntimeError(), None)
            except BaseException:  # noqa: BLE001 - the original error is the one to report
                pass

    def _require_open(self) -> h5py.File:
        if self._f is None or not self._f.id.valid:
            raise ConfigError(f"{self.path}: EventWriter is not open; use it in a `with` block")
        return self._f

    # ---- events -------------------------------------------------------------------------------
    @property
    def num_events(self) -> int:
        """Events accepted so far (written or buffered)."""
        return self._written + self._pending_n

    def append(self, stream: EventStream) -> None:
        """Add the next events; they must not start before the previous chunk's last event."""
        self._require_open()
        if not isinstance(stream, EventStream):
            raise ConfigError(f"{self.path}: append expects an EventStream, got {type(stream).__name__}")
        if (stream.width, stream.height) != (self.width, self.height):
            raise EventValidationError(
                f"{self.path}: appended stream is {stream.width}x{stream.height}, expected the "
                f"writer's sensor size {self.width}x{self.height}"
            )
        if len(stream) == 0:
            return
        if self._last_t is not None and int(stream.t[0]) < self._last_t:
            raise EventValidationError(
                f"{self.path}: appended events start at {int(stream.t[0])} µs, before the previous "
                f"event at {self._last_t} µs (event index {self.num_events}); append in time order"
            )
        self._last_t = int(stream.t[-1])
        if self._t0 is None:
            self._t0 = int(stream.t[0])
        s = stream
        if self._pending_n:  # top the buffer up to one whole chunk first
            need = self._chunk - self._pending_n
            self._pending.append(s.take(0, min(need, len(s))))
            self._pending_n += min(need, len(s))
            s = s.take(min(need, len(s)), len(s))
            if self._pending_n < self._chunk:
                self._pending[-1] = _copy(self._pending[-1])
                return
            self._write(_join(self._pending))
            self._pending, self._pending_n = [], 0
        whole = (len(s) // self._chunk) * self._chunk
        block = self._chunk * _BLOCK_CHUNKS
        for a in range(0, whole, block):
            self._write(s.take(a, min(a + block, whole)))
        if whole < len(s):
            self._pending = [_copy(s.take(whole, len(s)))]
            self._pending_n = len(s) - whole

    def _write(self, s: EventStream) -> None:
        with h5util.signals_deferred():
            self._write_block(s)
        h5util.check_written(self._f, self.path)  # a full disk stops the conversion here

    def _write_block(self, s: EventStream) -> None:
        ev = self._f["events"]
        n0, n1 = self._written, self._written + len(s)
        for k in _DTYPES:
            ev[k].resize((n1,))
        if self._encoder is not None and n0 % self._chunk == 0:
            self._encoder.write(chunk_codec.pool(), [(ev[k], getattr(s, k)) for k in _DTYPES], n0)
        else:
            for k in _DTYPES:
                ev[k][n0:n1] = getattr(s, k)
        self._index_block(s.t, n0)
        self._written = n1

    def _index_block(self, t: np.ndarray, offset: int) -> None:
        """Append ms_to_idx entries for every millisecond boundary up to this block's last event."""
        if not self._index_ok:
            return
        k_max = (int(t[-1]) - self._t0) // 1000
        count = k_max - self._next_k + 1
        if count <= 0:
            return
        limit = max(_INDEX_MIN_ENTRIES, _INDEX_ENTRIES_PER_EVENT * (offset + len(t)))
        if self._next_k + count > limit:
            self._index_ok = False  # pathological gaps: readers bisect instead
            return
        bounds = self._t0 + 1000 * np.arange(self._next_k, k_max + 1, dtype=np.int64)
        entries = (offset + np.searchsorted(t, bounds, side="left")).astype(np.uint64)
        self._append_index(entries)
        self._next_k = k_max + 1

    def _append_index(self, entries: np.ndarray) -> None:
        idx = self._f[INDEX_KEY]
        n = idx.shape[0]
        idx.resize((n + len(entries),))
        idx[n:] = entries

    def _finalize(self) -> None:
        if self._pending_n:
            self._write(_join(self._pending))
            self._pending, self._pending_n = [], 0
        f = self._f
        if self._index_ok and self._written:
            self._append_index(np.array([self._written], np.uint64))  # sentinel: k_last + 1 -> N
            f[INDEX_KEY].attrs["t0_us"] = np.int64(self._t0)
        elif not self._index_ok:
            del f[INDEX_KEY]
        else:
            f[INDEX_KEY].attrs["t0_us"] = np.int64(0)
        _store_attrs(f, self._attrs, str(self.path))
        f.attrs["format"] = FORMAT
        f.attrs["version"] = np.int64(VERSION)
        f.attrs["width"] = np.int64(self.width)
        f.attrs["height"] = np.int64(self.height)
        f.attrs["num_events"] = np.int64(self._written)

    # ---- frames -------------------------------------------------------------------------------
    def write_frames(self, frames: Frames) -> None:
        """Append intensity frames (their times continue any frames written before)."""
        self._frames("frames", frames)

    def write_gt(self, frames: Frames) -> None:
        """Append ground-truth frames (space-time SR targets) to the `gt` group."""
        self._frames("gt", frames)

    def _frames(self, group: str, frames: Frames) -> None:
        with h5util.signals_deferred():
            self._frames_block(group, frames)
        h5util.check_written(self._f, self.path)

    def _frames_block(self, group: str, frames: Frames) -> None:
        f = self._require_open()
        if not isinstance(frames, Frames):
            raise ConfigError(f"{self.path}: {group} expects a Frames object, got {type(frames).__name__}")
        if (frames.width, frames.height) != (self.width, self.height):
            raise EventValidationError(
                f"{self.path}: {group} are {frames.width}x{frames.height}, expected the sensor size "
                f"{self.width}x{self.height} (frames and events share one sensor)"
            )
        if len(frames) == 0:
            return
        if group not in f:
            g = f.create_group(group)
            shape = (self.height, self.width, frames.channels)
            g.create_dataset(
                "images", shape=(0, *shape), maxshape=(None, *shape), dtype=np.uint8,
                chunks=frame_chunks(shape), **self._compression,
            )
            g.create_dataset("t", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
        images, times = f[group]["images"], f[group]["t"]
        if images.shape[-1] != frames.channels:
            raise EventValidationError(
                f"{self.path}: {group} have {frames.channels} channels, expected {images.shape[-1]} "
                "like the frames written before"
            )
        last = self._frame_last.get(group)
        if last is not None and int(frames.t[0]) <= last:
            raise EventValidationError(
                f"{self.path}: {group} timestamps must strictly increase; {int(frames.t[0])} µs "
                f"follows {last} µs"
            )
        n0, n1 = images.shape[0], images.shape[0] + len(frames)
        images.resize((n1, *images.shape[1:]))
        images[n0:n1] = frames.images
        times.resize((n1,))
        times[n0:n1] = frames.t
        self._frame_last[group] = int(frames.t[-1])


def write_events(
    path: str | os.PathLike,
    stream: EventStream,
    frames: Frames | None = None,
    gt_frames: Frames | None = None,
    overwrite: bool = False,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write `stream` (and optional frames) to a new file of our layout, atomically; return its path."""
    path = check_path(path, "write_events path")
    if not isinstance(stream, EventStream):
        raise ConfigError(f"{path}: write_events expects an EventStream, got {type(stream).__name__}")
    with EventWriter(path, stream.width, stream.height, overwrite=overwrite, attrs=attrs) as w:
        w.append(stream)
        if frames is not None:
            w.write_frames(frames)
        if gt_frames is not None:
            w.write_gt(gt_frames)
    return Path(path)


def check_chunk_events(value: object) -> int:
    """`chunk_events` checked, before anything is allocated: an integer from 1 to what one HDF5 chunk
    holds (`MAX_CHUNK_EVENTS`) and what writing a chunk of it needs in memory (`WRITE_BYTES_PER_EVENT`
    per event) fits within `PLANNED_MEMORY_SHARE` of this machine's memory."""
    limit, why = MAX_CHUNK_EVENTS, "an HDF5 chunk holds at most 4 GiB, and t takes 8 bytes an event"
    total = physical_memory()
    budget = int(total * PLANNED_MEMORY_SHARE) // WRITE_BYTES_PER_EVENT
    if total and budget < limit:
        limit = max(1, budget)
        why = (f"writing a chunk takes about {WRITE_BYTES_PER_EVENT} bytes of memory an event, and at most "
               f"{PLANNED_MEMORY_SHARE:.0%} of this machine's {fmt_size(total)} is planned")
    if not is_integer(value) or not 1 <= value <= limit:
        raise ConfigError(f"EventWriter chunk_events: expected an integer in 1..{limit} ({why}; default "
                          f"{CHUNK_EVENTS}), got {value!r}")
    return int(value)


def _check_compression(compression: object, chunk: int) -> dict[str, Any]:
    """`compression` (h5py's filter keywords) as a dict, tried on an HDF5 file in memory with every dtype
    the writer stores: an unknown keyword, an unavailable filter or a bad level is one `ConfigError`
    before any file is made."""
    if not isinstance(compression, Mapping):
        raise ConfigError(f"EventWriter compression: expected a mapping of h5py filter keywords, e.g. "
                          f"{COMPRESSION}, got {type(compression).__name__}")
    options = dict(compression)
    unknown = sorted(str(k) for k in options if k not in _FILTER_KEYWORDS)
    if unknown:
        raise ConfigError(f"EventWriter compression: unknown keyword(s) {', '.join(unknown)}; expected some of "
                          f"{', '.join(_FILTER_KEYWORDS)} (h5py's filter keywords), e.g. {COMPRESSION}")
    with h5py.File(io.BytesIO(), "w") as f:
        try:
            for k, dtype in _DTYPES.items():
                f.create_dataset(k, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,), **options)
            f.create_dataset("images", shape=(0, 1, 1, 3), maxshape=(None, 1, 1, 3), dtype=np.uint8,
                             chunks=(1, 1, 1, 3), **options)
        except (TypeError, ValueError, OSError, RuntimeError, KeyError) as exc:
            raise ConfigError(f"EventWriter compression {options!r}: HDF5 refuses it ({_one_line(exc)}); "
                              f"expected h5py's filter keywords, e.g. {COMPRESSION}") from None
    return options


def _check_attrs(attrs: Mapping[str, Any]) -> None:
    """Refuse, before any file is made, attributes HDF5 cannot store (a name that is empty or not text, a
    value too large for the file's header or of no HDF5 type), and the root attributes the writer sets itself
    (`OWN_ATTRS`, docs/io.md): tried on an HDF5 file in memory."""
    for key in attrs:
        if not isinstance(key, str) or not key:
            raise ConfigError(f"EventWriter attrs: attribute name {key!r}: expected a non-empty str")
        if key in OWN_ATTRS:
            raise ConfigError(f"EventWriter attrs: attribute name {key!r} is the layout's own (it would be replaced "
                              f"by the writer's value); expected a name other than {', '.join(OWN_ATTRS)}")
    with h5py.File(io.BytesIO(), "w") as f:
        _store_attrs(f, attrs, "EventWriter attrs")


def _store_attrs(f: h5py.File, attrs: Mapping[str, Any], where: str) -> None:
    """Store `attrs` on `f`'s root; a failure is one `ConfigError` naming the attribute (`where`: the file)."""
    for key, value in attrs.items():
        try:
            f.attrs[key] = value
        except (TypeError, ValueError, OSError, RuntimeError, KeyError) as exc:
            shown_value = repr(value)
            if len(shown_value) > 80:
                shown_value = f"{type(value).__name__} {shown_value[:60]}..."
            raise ConfigError(
                f"{where}: attribute {key!r} = {shown_value} cannot be stored in HDF5 ({_one_line(exc)})"
            ) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def frame_chunks(shape: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """HDF5 chunk of frames of `shape` (H, W, C): one whole frame, or whole rows of one frame adding up to
    at most `FRAME_CHUNK_BYTES` when the frame is larger."""
    h, w, c = (int(v) for v in shape)
    return (1, max(1, min(h, FRAME_CHUNK_BYTES // (w * c))), w, c)


def _copy(s: EventStream) -> EventStream:
    return EventStream(s.x.copy(), s.y.copy(), s.t.copy(), s.p.copy(), s.width, s.height, validate=False)


def _join(parts: list[EventStream]) -> EventStream:
    if len(parts) == 1:
        return parts[0]
    return EventStream(
        *(np.concatenate([getattr(s, k) for s in parts]) for k in ("x", "y", "t", "p")),
        parts[0].width, parts[0].height, validate=False,
    )
