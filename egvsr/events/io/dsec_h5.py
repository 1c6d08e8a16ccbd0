"""Reader for DSEC `events.h5` (docs/io.md, Supported layouts).

`events/x, y` uint16, `events/t` uint32 µs **relative to** the scalar `t_offset` (int64 µs),
`events/p` uint8 0/1, and `ms_to_idx[k]` = first event with t_rel >= 1000 k. The event arrays are
Blosc/ZSTD compressed (HDF5 filter 32001): `hdf5plugin` must be importable, else a
`MissingDependencyError` names it. DSEC event cameras are 640x480 and the file does not store the
size, so that is the default unless `sensor_size` says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from egvsr.errors import FormatError
from egvsr.events.io import h5util
from egvsr.events.io.declaration import Layout
from egvsr.events.io.source import EventSource

KEYS = {"x": "events/x", "y": "events/y", "t": "events/t", "p": "events/p"}
DSEC_SENSOR_SIZE = (480, 640)  # (H, W) of the DSEC event cameras


def matches(f: h5py.File) -> bool:
    """`events/{x,y,t,p}` plus DSEC's `t_offset` or `ms_to_idx` at the root."""
    g = f.get("events")
    return (
        isinstance(g, h5py.Group)
        and all(k in g for k in ("x", "y", "t", "p"))
        and ("t_offset" in f or "ms_to_idx" in f)
    )


class DsecH5Source(EventSource):
    """An open DSEC events.h5."""

    layout = "dsec"
    keys = KEYS

    def __init__(self, path: Path, f: h5py.File, sensor_size: tuple[int, int] | None = None) -> None:
        self._f = f
        ds = {k: h5util.dataset(f, key, path, "dsec") for k, key in KEYS.items()}
        expected = {"x": "uint16 columns", "y": "uint16 rows", "t": "uint32 µs", "p": "uint8 0/1"}
        for k, what in expected.items():
            h5util.require_1d(ds[k], path, "iub" if k == "p" else "iu", what)
        n = h5util.equal_lengths(path, {KEYS[k]: d for k, d in ds.items()})
        off = h5util.dataset(f, "t_offset", path, "dsec")
        if off.size != 1 or off.dtype.kind not in "iu":
            raise FormatError(f"{path}: 't_offset' is {off.dtype} {off.shape}, expected an int64 scalar")
        with h5util.translate_read_errors(path, off):
            self._offset = int(np.asarray(off[()]).ravel()[0])
        if ds["t"].dtype.itemsize < 8:  # checked once here; 64-bit times are checked per read
            h5util.check_offset(self._offset, ds["t"].dtype, path, "t_offset")
        self._x, self._y, self._t, self._p = ds["x"], ds["y"], ds["t"], ds["p"]
        idx = h5util.get(f, "ms_to_idx", path)
        self._index = idx if isinstance(idx, h5py.Dataset) and idx.ndim == 1 else None
        if self._index is not None and not h5util.stored_here(idx, "ms_to_idx", path):
            self._index = None  # an index not stored as its data (or in absurd chunks): bisect over t instead
        if self._index is not None and idx.dtype.kind not in "iu":
            raise FormatError(
                f"{path}: 'ms_to_idx' has dtype {idx.dtype}, expected integer event indices (uint64)"
            )
        h, w = sensor_size if sensor_size is not None else DSEC_SENSOR_SIZE
        super().__init__(path, w, h, n)

    def close(self) -> None:
        self._f.close()

    def _read_t(self, i0, i1):
        return h5util.offset_times(h5util.read_slice(self._t, i0, i1, self.path), self._offset, self.path,
                                   KEYS["t"], "t_offset", i0)

    def _read_p(self, i0, i1):
        p = h5util.read_slice(self._p, i0, i1, self.path)
        return self._signed_polarity(p, "bool" if p.dtype == np.bool_ else "01", i0)

    def _read_arrays(self, i0, i1):
        x = h5util.read_slice(self._x, i0, i1, self.path)
        y = h5util.read_slice(self._y, i0, i1, self.path)
        return x, y, self._read_t(i0, i1), self._read_p(i0, i1)

    def _bracket(self, t_us: int) -> tuple[int, int]:
        return h5util.ms_bracket(self._index, self._offset, t_us, self.num_events, self.path)


def open_source(path: Path, sensor_size: tuple[int, int] | None = None) -> DsecH5Source:
    """Open a dsec file (`sensor_size=(H, W)` overrides the file's)."""
    h5util.load_plugins()
    return h5util.open_source(path, "dsec", DsecH5Source, sensor_size)


LAYOUT = Layout(
    "dsec", "DSEC events.h5 (events/{x,y,t,p}, t_offset, ms_to_idx)",
    sniff=matches, open=open_source, looks_at="hdf5",
)
