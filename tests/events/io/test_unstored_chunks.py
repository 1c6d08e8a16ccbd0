"""A chunked dataset whose chunks are mostly not in the file is refused at open, whatever its filters.

Chunks never written read as the fill value: the declared data is filler. The ratio check of declared to stored
bytes covers gzip and uncompressed data only; LZF and scale-offset (built into h5py / HDF5) were not checked, so
`info` went on to scan 10^12 filler events (hours), and a dataset with one real gzip chunk among hundreds of
missing ones passed the ratio check.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.errors import FormatError
from egvsr.events import EventStream
from egvsr.events.io import describe, open_events, write_events


def _declare(path, n: int, **kw) -> None:
    write_events(path, EventStream(np.array([1, 2], np.uint16), np.array([1, 2], np.uint16),
                                   np.array([10, 20], np.int64), np.array([1, -1], np.int8), 8, 8))
    with h5py.File(path, "r+") as h:
        for k in ("x", "y", "t", "p"):
            dt = h["events"][k].dtype
            del h["events"][k]
            h["events"].create_dataset(k, shape=(n,), dtype=dt, chunks=(1 << 20,), maxshape=(None,), **kw)
        h.attrs["num_events"] = n


@pytest.mark.parametrize("kw", [{"compression": "lzf"}, {"scaleoffset": 0}, {"compression": "lzf", "fillvalue": 1}],
                         ids=["lzf", "scaleoffset", "lzf-fillvalue"])
def test_never_written_dataset_with_any_filter_is_refused(tmp_path, kw):
    path = tmp_path / "claims.h5"
    _declare(path, 10**12, **kw)
    for call in (open_events, describe):
        with pytest.raises(FormatError, match=r"'events/\w' declares [\d,]+ bytes .* in 953,675 chunks but the file "
                                              r"stores only 0 of them"):
            src = call(path)
            getattr(src, "close", lambda: None)()


def test_one_real_gzip_chunk_among_missing_ones_is_refused(tmp_path):
    """400 M events declared, one chunk of random data written: within gzip's ratio of what is stored."""
    path = tmp_path / "partial.h5"
    _declare(path, 400_000_000, compression="gzip")
    rng = np.random.default_rng(0)
    with h5py.File(path, "r+") as h:
        for k in ("x", "y", "t", "p"):
            ds = h["events"][k]
            ds[: 1 << 20] = rng.integers(0, 100, 1 << 20).astype(ds.dtype)
    with pytest.raises(FormatError, match=r"in 382 chunks but the file stores only 1 of them"):
        open_events(path).close()


def test_a_fully_written_lzf_dataset_is_read(tmp_path):
    path = tmp_path / "lzf.h5"
    n = 3 << 20
    _declare(path, n, compression="lzf")
    with h5py.File(path, "r+") as h:
        h["events/x"][:] = 1
        h["events/y"][:] = 2
        h["events/t"][:] = np.arange(n)
        h["events/p"][:] = 1
        del h["events/ms_to_idx"]
    with open_events(path) as src:
        assert src.num_events == n
        s = src.read(0, 5)
        assert s.t.tolist() == [0, 1, 2, 3, 4]
