"""HDF5's shuffle + deflate filters, applied by us on worker threads (writing whole chunks).

HDF5 compresses the chunks of a dataset one after another on the calling thread, so gzip, most of a
conversion's time, uses one core. `ChunkEncoder` does the same two filters itself, chunk by chunk on
a thread pool (zlib and numpy's copies release the GIL), and the encoded chunks are written as they
are with `write_direct_chunk`. The file is the one h5py would write: the dataset declares the same
filters, and any HDF5 reader decodes the chunks with them (tests/io/test_chunk_codec.py).

- shuffle: the bytes of each element are regrouped by significance (all first bytes, then all
  second bytes, ...), for element sizes above one byte;
- deflate: zlib's format at the dataset's level, as HDF5's gzip filter writes it.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import Executor
from typing import Any, Mapping

import h5py
import numpy as np

#: most threads a writer uses: beyond this the disk, not gzip, is the limit
MAX_THREADS = 8


def supported(compression: Mapping[str, Any]) -> bool:
    """True when `compression` (h5py create_dataset keywords) is gzip, optionally with shuffle."""
    keys = set(compression) - {"compression", "compression_opts", "shuffle"}
    level = _level(compression)
    return (not keys and compression.get("compression") == "gzip"
            and isinstance(level, (int, np.integer)) and 0 <= int(level) <= 9)


def _level(compression: Mapping[str, Any]):
    """The gzip level as h5py reads it: 4 when not given."""
    level = compression.get("compression_opts")
    return 4 if level is None else level


def thread_count() -> int:
    """Worker threads for encoding: the cores this process may run on, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


class ChunkEncoder:
    """Encodes whole chunks of 1-D datasets as HDF5's gzip (+ shuffle) filters would."""

    def __init__(self, compression: Mapping[str, Any], chunk_len: int) -> None:
        self.level = int(_level(compression))
        self.shuffle = bool(compression.get("shuffle", False))
        self.chunk_len = int(chunk_len)

    def encode(self, values: np.ndarray) -> bytes:
        """One chunk's stored bytes; a short (last) chunk is padded with zeros to the chunk length,
        as HDF5 stores edge chunks whole."""
        if len(values) < self.chunk_len:
            full = np.zeros(self.chunk_len, values.dtype)
            full[:len(values)] = values
            values = full
        values = np.ascontiguousarray(values)
        if self.shuffle and values.itemsize > 1:
            data = np.ascontiguousarray(values.view(np.uint8).reshape(-1, values.itemsize).T)
        else:
            data = values.view(np.uint8)
        return zlib.compress(data, self.level)

    def write(self, pool: Executor, columns: list[tuple[h5py.Dataset, np.ndarray]], start: int) -> None:
        """Write `columns` (dataset, values) from element `start` (a chunk boundary), encoding on
        `pool`; the datasets must already extend past the values. Returns when all are written."""
        if start % self.chunk_len:
            raise ValueError(f"chunk writes start on a chunk boundary, not at {start}")
        jobs = []
        for ds, values in columns:
            values = np.asarray(values, dtype=ds.dtype)  # the stored bytes must be the dataset's type
            for a in range(0, len(values), self.chunk_len):
                part = values[a:a + self.chunk_len]
                jobs.append((ds, start + a, pool.submit(self.encode, part)))
        try:
            for ds, offset, job in jobs:  # in order, on this thread: HDF5 calls are not concurrent
                ds.id.write_direct_chunk((offset,), job.result())
        finally:
            for _, _, job in jobs:
                job.cancel()
