"""Reader for our own HDF5 layout ("egvsr", version 1; see docs/CONTRACTS.md and docs/io.md).

Seeking uses the millisecond index `events/ms_to_idx` (attr `t0_us`): a window start is bracketed
to the events of one millisecond, then found in that slice, so a window read touches only the
chunks that hold it. Files without the index (allowed) fall back to bisection over `events/t`.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from egvsr.errors import FormatError, InputFileError
from egvsr.events.checks import first_not_increasing
from egvsr.events.frames import Frames
from egvsr.events.io import h5util
from egvsr.events.io.declaration import Layout
from egvsr.events.io.source import EventSource

FORMAT = "egvsr"
VERSION = 1
KEYS = {"x": "events/x", "y": "events/y", "t": "events/t", "p": "events/p"}
INDEX_KEY = "events/ms_to_idx"
#: the root attributes the layout itself defines (set by the writer, never copied from elsewhere)
OWN_ATTRS = ("format", "version", "width", "height", "num_events")
#: Use the file's bytes directly where the event datasets are stored uncompressed (see `_raw`);
#: switch off to force every read through h5py (tests, benchmarks).
RAW_READS = True
_UNSET = object()


def matches(f: h5py.File) -> bool:
    """Content test used by layout detection: the root attribute format == "egvsr"."""
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    return fmt == FORMAT


def _plain(value):
    """An HDF5 attribute as a plain Python value (numpy scalars unwrapped, so messages read `7`)."""
    return value.item() if isinstance(value, np.generic) else value


class EgvsrH5Source(EventSource):
    """An open file of our layout."""

    layout = "egvsr"
    keys = KEYS
    # `_read_views` / `_read_arrays_into` return p as stored ("signed"), unchecked: `read_index`
    # checks it together with x and y
    _raw_signed_p = True

    def __init__(self, path: Path, f: h5py.File, sensor_size: tuple[int, int] | None = None) -> None:
        self._f = f
        version = _plain(f.attrs.get("version"))
        if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
            raise FormatError(
                f"{path}: root attribute 'version' "
                f"{'is missing' if version is None else f'= {version!r}'}, expected an integer layout version 1..{VERSION} "
                "(the file is damaged or was not written by egvsr)"
            )
        if version > VERSION:
            raise FormatError(
                f"{path}: egvsr layout version {version!r} is not supported; expected version "
                f"<= {VERSION} (written by a newer egvsr? upgrade the toolkit)"
            )
        if sensor_size is None:
            for key in ("width", "height"):
                value = _plain(f.attrs.get(key))
                if value is None:
                    raise FormatError(f"{path}: missing root attribute '{key}' (egvsr layout)")
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise FormatError(f"{path}: root attribute '{key}' = {value!r}, expected an integer")
            sensor_size = (int(f.attrs["height"]), int(f.attrs["width"]))
        if h5util.events_absent(f) and h5util.get(f, "frames", path) is not None:
            # frames only (no `events` key, or an empty `events` group): a recording of no events, as a
            # frames-only E2VID or AEDAT4 file reads
            ds, n = dict.fromkeys(KEYS), 0
        else:
            ds = {k: h5util.dataset(f, key, path, "egvsr") for k, key in KEYS.items()}
            for k in ("x", "y", "p"):
                h5util.require_1d(ds[k], path, "iu", "integers")
            h5util.require_1d(ds["t"], path, "iu", "integer microseconds (int64)")
            n = h5util.equal_lengths(path, {KEYS[k]: d for k, d in ds.items()})
        declared = _plain(f.attrs.get("num_events"))
        if declared is not None and (isinstance(declared, bool) or not isinstance(declared, (int, np.integer))):
            raise FormatError(f"{path}: root attribute 'num_events' = {declared!r}, expected an integer")
        if declared is not None and int(declared) != n:
            raise FormatError(
                f"{path}: attribute num_events = {int(declared)} but the event arrays hold {n} "
                "events; the file is incomplete or was edited"
            )
        self._x, self._y, self._t, self._p = ds["x"], ds["y"], ds["t"], ds["p"]
        idx = h5util.get(f, INDEX_KEY, path)
        self._index = idx if isinstance(idx, h5py.Dataset) and idx.ndim == 1 else None
        if self._index is not None and not h5util.stored_here(idx, INDEX_KEY, path):
            self._index = None  # an index not stored as its data (or in absurd chunks): bisect over t instead
        if self._index is not None and idx.dtype.kind not in "iu":
            raise FormatError(
                f"{path}: '{INDEX_KEY}' has dtype {idx.dtype}, expected integer event indices (int64)"
            )
        self._index_t0 = self._index_origin(path) if self._index is not None else 0
        self._raw_plan = _UNSET
        # frame groups and their checked times, worked out once per open file (see `_frame_group`)
        self._groups: dict[str, tuple[h5py.Dataset, h5py.Dataset] | None] = {}
        self._group_times: dict[str, np.ndarray | None] = {}
        super().__init__(path, sensor_size[1], sensor_size[0], n)

    def close(self) -> None:
        self._f.close()

    def _index_origin(self, path: Path) -> int:
        """The index's attribute `t0_us` (0 when absent), an integer within int64."""
        t0 = _plain(self._index.attrs.get("t0_us", 0))
        if isinstance(t0, bool) or not isinstance(t0, (int, np.integer)) or not -(1 << 63) <= int(t0) < (1 << 63):
            raise FormatError(
                f"{path}: '{INDEX_KEY}' attribute 't0_us' = {t0!r}, expected integer microseconds (int64)"
            )
        return int(t0)

    def attributes(self) -> dict:
        """The root attributes other than the layout's own (`OWN_ATTRS`); one HDF5 cannot read is left out."""
        kept = {}
        for key in self._f.attrs:
            if key in OWN_ATTRS:
                continue
            try:
                kept[key] = self._f.attrs[key]
            except (OSError, TypeError, ValueError):  # a type h5py cannot read back
                continue
        return kept

    # ---- events -------------------------------------------------------------------------------
    def _read_arrays(self, i0, i1):
        if self._x is None:  # frames only: no events (i0 == i1 == 0)
            return (np.zeros(0, np.uint16), np.zeros(0, np.uint16), np.zeros(0, np.int64), np.zeros(0, np.int8))
        path = self.path
        x = h5util.read_slice(self._x, i0, i1, path)
        y = h5util.read_slice(self._y, i0, i1, path)
        t = h5util.int64_times(h5util.read_slice(self._t, i0, i1, path), path, KEYS["t"], i0)
        p = self._signed_polarity(h5util.read_slice(self._p, i0, i1, path), "signed", i0)
        return x, y, t, p

    def _raw(self):
        """(fd, RawColumn per field x, y, t, p) when all four datasets can be used as stored, else None.

        Worked out once, on first use (a walk over the chunk index); any unusual storage (filters,
        unallocated chunks, byte order, external files, a user block, another driver) gives None.
        """
        if self._raw_plan is _UNSET:
            self._raw_plan = None
            if self._x is None:  # frames only: no event datasets
                return None
            # only the layout's own dtypes: the stored bytes are then the arrays the kernels take
            fd = h5util.raw_file(self._f) if RAW_READS and self._canonical_dtypes() else None
            if fd is not None:
                size = os.fstat(fd).st_size
                cols = [h5util.raw_column(ds, size) for ds in (self._x, self._y, self._t, self._p)]
                if all(c is not None for c in cols):
                    self._raw_plan = (fd, cols)
        return self._raw_plan

    def _canonical_dtypes(self) -> bool:
        return all(np.dtype(ds.dtype) == np.dtype(want).newbyteorder("=") for ds, want in
                   ((self._x, np.uint16), (self._y, np.uint16), (self._t, np.int64), (self._p, np.int8)))

    @property
    def reads_in_place(self) -> bool:
        return self._raw() is not None

    def _contiguous_end(self, i0, i1):
        raw = self._raw() if i1 > i0 else None
        if raw is None:
            return i0
        return min([i1] + [col.run_end(i0) for col in raw[1]])

    def _read_views(self, i0, i1):
        raw = self._raw()
        if raw is None or i1 <= i0 or self._contiguous_end(i0, i1) < i1:
            return None
        fd, cols = raw
        offsets = [next(col.pieces(i0, i1))[2] for col in cols]
        end = max(off + (i1 - i0) * col.dtype.itemsize for off, col in zip(offsets, cols))
        if os.fstat(fd).st_size < end:  # mapped pages past the end would kill the process (SIGBUS)
            raise InputFileError(
                f"{self.path}: the file is shorter than its events need ({os.fstat(fd).st_size:,} bytes, events "
                f"[{i0}, {i1}) end at byte {end:,}); it was truncated while being read, or is damaged"
            )
        return tuple(h5util.map_view(fd, off, col.dtype, i1 - i0) for off, col in zip(offsets, cols))

    def _read_arrays_into(self, i0, i1, buffers):
        n = i1 - i0
        if self._x is None:
            return None
        columns = ((self._x, buffers.x), (self._y, buffers.y), (self._t, buffers.t), (self._p, buffers.p))
        if n > len(buffers.t) or any(ds.dtype != buf.dtype for ds, buf in columns):
            return None
        raw = self._raw() if n else None
        out = []
        for k, (ds, buf) in enumerate(columns):
            view = buf[:n]
            if raw is not None:  # plain reads of the stored bytes: no HDF5 layer in between
                fd, cols = raw
                for a, b, offset in cols[k].pieces(i0, i1):
                    if not h5util.pread_into(fd, view[a - i0:b - i0], offset):
                        raise InputFileError(
                            f"{self.path}: read failed while reading '{ds.name.lstrip('/')}' (the "
                            "file ends early); the file is probably truncated or corrupted"
                        )
            elif n:
                h5util.read_into(ds, view, i0, self.path)
            out.append(view)
        return tuple(out)

    def _read_t(self, i0, i1):
        if self._t is None:
            return np.zeros(0, np.int64)
        return h5util.int64_times(h5util.read_slice(self._t, i0, i1, self.path), self.path, KEYS["t"], i0)

    def _read_p(self, i0, i1):
        if self._p is None:
            return np.zeros(0, np.int8)
        return h5util.read_slice(self._p, i0, i1, self.path)

    def _bracket(self, t_us: int) -> tuple[int, int]:
        return h5util.ms_bracket(self._index, self._index_t0, t_us, self.num_events, self.path)

    # ---- frames -------------------------------------------------------------------------------
    def _frame_group(self, name: str):
        """(images, t) of group `name` checked, or None without it. Looked up and checked once per open file:
        the storage check (`h5util.check_stored`) walks the whole chunk index, so repeating it made every
        `read_frame` cost O(frames). A check that fails is not kept: it fails again on the next call."""
        if name not in self._groups:
            self._groups[name] = self._check_frame_group(name)
        return self._groups[name]

    def _check_frame_group(self, name: str):
        if h5util.get(self._f, name, self.path) is None:
            return None
        images = h5util.dataset(self._f, f"{name}/images", self.path, "egvsr")
        times = h5util.dataset(self._f, f"{name}/t", self.path, "egvsr")
        if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
            raise FormatError(
                f"{self.path}: '{name}/images' has shape {images.shape} dtype {images.dtype}, "
                "expected uint8 (N, H, W, C) with C 1 or 3"
            )
        if times.dtype.kind not in "iu":
            raise FormatError(
                f"{self.path}: '{name}/t' has dtype {times.dtype}, expected integer microseconds (int64)"
            )
        if times.shape != (images.shape[0],):
            raise FormatError(
                f"{self.path}: '{name}/t' has shape {times.shape}, expected ({images.shape[0]},) "
                f"to match '{name}/images'"
            )
        return images, times

    def _times(self, name: str) -> np.ndarray | None:
        """The checked times of group `name` (a copy: callers may change theirs), None without it."""
        t = self._checked_times(name)
        return None if t is None else t.copy()

    def _checked_times(self, name: str) -> np.ndarray | None:
        """The times of group `name`, read and checked once per open file (the array kept, not a copy)."""
        if name not in self._group_times:
            g = self._frame_group(name)
            t = None
            if g is not None:
                t = h5util.int64_times(h5util.read_slice(g[1], 0, g[1].shape[0], self.path), self.path, f"{name}/t")
                i = first_not_increasing(t)
                if i >= 0:
                    raise FormatError(f"{self.path}: '{name}/t' must strictly increase; fails at index {i} "
                                      f"({int(t[i - 1])} -> {int(t[i])} µs)")
            self._group_times[name] = t
        return self._group_times[name]

    def _image(self, name: str, i: int) -> np.ndarray:
        g = self._frame_group(name)
        n = 0 if g is None else g[0].shape[0]
        i = self._check_frame_index(i, n, "frame" if name == "frames" else "ground-truth frame")
        with h5util.translate_read_errors(self.path, g[0]):
            return h5util.read_whole(g[0], i)

    @property
    def num_frames(self) -> int:
        times = self._checked_times("frames")  # (the base class copies every time for its length)
        return 0 if times is None else int(times.shape[0])

    def frame_times(self) -> np.ndarray | None:
        return self._times("frames")

    def read_frame(self, i: int) -> np.ndarray:
        return self._image("frames", i)

    def read_frames(self, i0: int = 0, i1: int | None = None) -> Frames | None:
        return self._frames_range(self._checked_times("frames"), self.read_frame, i0, i1, "frame")

    def _shape(self, name: str) -> tuple[int, int, int] | None:
        """(H, W, C) of the images of group `name` as declared (nothing decoded), None without any."""
        g = self._frame_group(name)
        return None if g is None or not g[0].shape[0] else tuple(int(v) for v in g[0].shape[1:])

    def frame_shape(self) -> tuple[int, int, int] | None:
        return self._shape("frames")

    def gt_times(self) -> np.ndarray | None:
        return self._times("gt")

    def gt_shape(self) -> tuple[int, int, int] | None:
        return self._shape("gt")

    def read_gt(self, i: int) -> np.ndarray:
        return self._image("gt", i)

    def read_gt_frames(self, i0: int = 0, i1: int | None = None) -> Frames | None:
        return self._frames_range(self._checked_times("gt"), self.read_gt, i0, i1, "ground-truth frame")


def open_source(path: Path, sensor_size: tuple[int, int] | None = None) -> EgvsrH5Source:
    """Open a egvsr file (`sensor_size=(H, W)` overrides the file's)."""
    return h5util.open_source(path, "egvsr", EgvsrH5Source, sensor_size)


LAYOUT = Layout(
    "egvsr", "our HDF5 layout (root attribute format='egvsr', events/{x,y,t,p})",
    sniff=matches, open=open_source, looks_at="hdf5",
)
