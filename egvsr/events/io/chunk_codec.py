"""HDF5's shuffle + deflate filters, applied by us on worker threads, both ways.

HDF5 runs the filters of a dataset's chunks one after another on the calling thread, so gzip, most of
a conversion's or a full read's time, uses one core. Here the same two filters run chunk by chunk on a
thread pool (zlib and numpy's copies release the GIL):
- writing, `ChunkEncoder` encodes whole chunks and stores them as they are (`write_direct_chunk`);
  the dataset declares the usual filters, so any HDF5 reader decodes them;
- reading, `read_range_into` fetches the stored chunks (`read_direct_chunk`) and decodes them.
Anything else (other filters, skipped filters, unallocated chunks) is left to h5py. A chunk is decoded to
one byte past its size, never further (HDF5's own filter inflates a stream as long as it goes on).
The values are those h5py writes and reads (tests/events/io/test_chunk_codec.py).

- shuffle: the bytes of each element are regrouped by significance (all first bytes, then all
  second bytes, ...), for element sizes above one byte;
- deflate: zlib's format at the dataset's level, as HDF5's gzip filter writes it.
"""

from __future__ import annotations

import os
import sys
import itertools
import threading
import weakref
import zlib
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from typing import Any, Mapping

import h5py
import numba
import numpy as np

#: most worker threads: beyond this the disk, not gzip, is the limit
MAX_THREADS = 8
_DEFLATE, _SHUFFLE = h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def supported(compression: Mapping[str, Any]) -> bool:
    """True when `compression` (h5py create_dataset keywords) is gzip, optionally with shuffle."""
    keys = set(compression) - {"compression", "compression_opts", "shuffle"}
    level = _level(compression)
    return (not keys and compression.get("compression") == "gzip" and sys.byteorder == "little"
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


@numba.njit(cache=True, nogil=True)
def _shuffle(words: np.ndarray, planes: np.ndarray) -> None:
    """words (n,) unsigned, little-endian -> planes (size, n): byte b of every word, for each b."""
    for b in range(planes.shape[0]):
        row = planes[b]
        shift = np.uint64(8 * b)
        for i in range(words.shape[0]):
            row[i] = np.uint8((np.uint64(words[i]) >> shift) & np.uint64(0xFF))


@numba.njit(cache=True, nogil=True)
def _unshuffle(planes: np.ndarray, first: int, words: np.ndarray) -> None:
    """planes (size, chunk) of a decoded chunk -> words[i] = element first + i, little-endian."""
    size, m = planes.shape[0], words.shape[0]
    # plane by plane, through 1-D views indexed from 0 (a computed 2-D index keeps LLVM from
    # vectorizing, see egvsr/events/checks.py): each loop reads and writes contiguously
    row = planes[0, first:first + m]
    for i in range(m):
        words[i] = row[i]
    for b in range(1, size):
        row = planes[b, first:first + m]
        shift = np.uint64(8 * b)
        for i in range(m):
            words[i] |= np.uint64(row[i]) << shift


_WORDS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def pool() -> ThreadPoolExecutor:
    """The process's shared worker threads (made on first use; a forked child makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(thread_count(), thread_name_prefix="egvsr-gzip")
        return _pool


def _forget_pool_in_child() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # the parent's threads do not exist in a forked child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


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
        if self.shuffle and values.itemsize in _WORDS:
            data = np.empty((values.itemsize, len(values)), np.uint8)
            _shuffle(values.view(_WORDS[values.itemsize]), data)
        elif self.shuffle and values.itemsize > 1:
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
            wait([job for _, _, job in jobs])


def _decodable(ds: h5py.Dataset) -> tuple[int, bool] | None:
    """(chunk length, shuffled) for a 1-D dataset that `_storage` allows; None otherwise."""
    shuffled = _storage(ds) if ds.ndim == 1 else None
    return None if shuffled is None else (int(ds.chunks[0]), shuffled)


def _storage(ds: h5py.Dataset) -> bool | None:
    """`_shuffled(ds)` for a chunked dataset of a native numeric dtype (on a little-endian machine), else None."""
    if (ds.chunks is None or ds.dtype.kind not in "biuf" or not ds.dtype.isnative
            or ds.dtype.itemsize not in (1, 2, 4, 8) or sys.byteorder != "little"):
        return None
    return _shuffled(ds)


def _shuffled(ds: h5py.Dataset) -> bool | None:
    """Whether the filters of `ds` are exactly shuffle + deflate (True) or deflate (False); None otherwise."""
    try:
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    except Exception:  # noqa: BLE001 - metadata probe only: h5py reads it instead
        return None
    return {(_DEFLATE,): False, (_SHUFFLE, _DEFLATE): True}.get(tuple(filters))


def read_array(ds: h5py.Dataset, i: int | None = None) -> np.ndarray | None:
    """`ds[i]` (or `ds[()]` when `i` is None) of a chunked dataset of any shape stored with [shuffle +]
    deflate (frames, images), each chunk it touches decoded here one byte past its size at most (HDF5 would
    inflate a chunk's whole stream); None when h5py should read it (other storage, unallocated chunks, an
    index out of range, a scalar). `ds[i]` decodes the chunks of the rows around row `i`; where they hold
    several rows, they are kept for the next read (`_last_chunk`, at most `KEEP_CHUNK_BYTES`): frames read in
    order decode each chunk once, as HDF5's chunk cache does for its own reads, not once per row it holds."""
    shuffled = _storage(ds) if ds.ndim and (i is None or 0 <= i < ds.shape[0]) else None
    if shuffled is None:
        return None
    shape, chunks = tuple(int(v) for v in ds.shape), tuple(int(v) for v in ds.chunks)
    if i is None:
        return _read_rows(ds, 0, shape[0], chunks, shuffled)
    got = _chunk_rows(ds, i // chunks[0], chunks, shuffled)
    if got is None:
        return None
    rows, kept = got
    return rows[i % chunks[0]].copy() if kept else rows[i % chunks[0]]  # a kept row is shared: the caller may change it


def _read_rows(ds: h5py.Dataset, r0: int, r1: int, chunks: tuple[int, ...], shuffled: bool) -> np.ndarray | None:
    """Rows [r0, r1) of `ds` (`r0` at a chunk's start, `r1` at one's end or the dataset's), decoded chunk by
    chunk; None where a chunk is not stored as `read_array` reads it."""
    shape = tuple(int(v) for v in ds.shape)
    out = np.empty((r1 - r0,) + shape[1:], ds.dtype)
    if not out.size:
        return out
    starts = [range(r0, r1, chunks[0])] + [range(0, n, c) for n, c in zip(shape[1:], chunks[1:])]
    values = np.empty(int(np.prod(chunks)), ds.dtype)
    for at in itertools.product(*starts):
        data = _stored_chunk(ds, at)
        if data is None:
            return None
        _decode_into(data, values, 0, values.size, shuffled, at[0] // chunks[0] if len(at) == 1 else at)
        block = values.reshape(chunks)[tuple(slice(0, min(c, n - a)) for a, c, n in zip(at, chunks, shape))]
        out[(slice(at[0] - r0, at[0] - r0 + block.shape[0]),)
            + tuple(slice(a, a + m) for a, m in zip(at[1:], block.shape[1:]))] = block
    return out


def _decode_into(data: bytes, out: np.ndarray, first: int, chunk_len: int, shuffled: bool, chunk: object) -> None:
    """Decode one stored chunk and copy its elements [first, first + len(out)) into `out`. The chunk is
    decoded to one byte more than it should hold, never further: a few stored megabytes of zeros would
    otherwise decode to gigabytes before their size could be checked."""
    size = out.dtype.itemsize
    expected = chunk_len * size
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(data, expected + 1)
    except zlib.error as exc:
        raise OSError(f"compressed chunk {chunk} does not decode: {exc}") from None
    if len(raw) > expected:
        raise OSError(f"chunk {chunk} decodes to more than the {expected} bytes of a chunk")
    if not stream.eof:
        raise OSError(f"compressed chunk {chunk} does not decode: incomplete or truncated stream")
    if len(raw) != expected:
        raise OSError(f"chunk {chunk} decodes to {len(raw)} bytes, expected {expected}")
    if shuffled and size > 1:
        _unshuffle(np.frombuffer(raw, np.uint8).reshape(size, chunk_len), first, out.view(_WORDS[size]))
    else:
        out[:] = np.frombuffer(raw, out.dtype)[first:first + len(out)]


def _range_plan(ds: h5py.Dataset, i0: int, i1: int) -> tuple[int, bool] | None:
    """`_decodable(ds)` for a read of [i0, i1) inside the dataset, else None. A read within one chunk is
    decoded here too, on the calling thread: HDF5's gzip filter inflates a chunk for as long as its stream
    goes on (a 1 MiB chunk of zeros stored in 1 MiB decodes to a gigabyte, read as the chunk without a
    word), where this decoder stops one byte past the chunk's size and refuses it (`_read_in_one_chunk`)."""
    if not 0 <= i0 < i1 <= (ds.shape[0] if ds.ndim == 1 else -1):
        return None
    return _decodable(ds)


def read_range(ds: h5py.Dataset, i0: int, i1: int) -> np.ndarray | None:
    """ds[i0:i1] decoded on the worker threads, or None when h5py should read it (see `read_range_into`)."""
    plan = _range_plan(ds, i0, i1)
    if plan is None:
        return None
    out = np.empty(i1 - i0, ds.dtype)
    return out if _decode_range(ds, out, i0, *plan) else None


def read_range_into(ds: h5py.Dataset, out: np.ndarray, i0: int) -> bool:
    """Fill `out` with ds[i0:i0 + len(out)] by decoding chunks on the worker threads; False (nothing
    read, `out` unspecified) when h5py should read it instead. A chunk that does not decode raises
    OSError, as h5py's own read would."""
    plan = _range_plan(ds, i0, i0 + len(out))
    if plan is None or out.dtype != ds.dtype or not out.flags.c_contiguous:
        return False
    return _decode_range(ds, out, i0, *plan)


#: what was decoded last, per dataset: the chunk of a read within one chunk, or the rows of `read_array`'s chunks
#: (HDF5's chunk cache does this for its own reads: windows and frames read in order mostly fall in the chunk
#: read before); kept as long as the dataset object lives
_last_chunk: "weakref.WeakKeyDictionary[h5py.Dataset, tuple[int, np.ndarray]]" = weakref.WeakKeyDictionary()
#: most bytes kept so (our chunks hold 1 MiB of t); more is decoded again for each read, as HDF5 decodes a
#: chunk larger than its chunk cache (`h5util.CHUNK_CACHE_BYTES` in our readers)
KEEP_CHUNK_BYTES = 4 << 20


def _stored_chunk(ds: h5py.Dataset, at: tuple[int, ...]) -> bytes | None:
    """The stored bytes of the chunk at `at`; None where h5py should read it: an unallocated chunk (fill values:
    a dataset not written yet, say by a writer still at work) is refused as RuntimeError, OSError or, where
    HDF5 reports a size of 0, a MemoryError (h5py reads it, or says what is wrong with the file), and a
    chunk for which a filter was skipped is not stored as we decode it."""
    try:
        mask, data = ds.id.read_direct_chunk(at)
    except (RuntimeError, KeyError, ValueError, OSError, MemoryError):
        return None
    return None if mask else data


def _chunk_rows(ds: h5py.Dataset, c: int, chunks: tuple[int, ...], shuffled: bool) -> tuple[np.ndarray, bool] | None:
    """(rows, kept) of the chunks holding rows [c * chunks[0], (c + 1) * chunks[0]): taken from `_last_chunk`
    or decoded and, when they hold several rows within `KEEP_CHUNK_BYTES`, kept there (`kept`: shared with
    later reads, so copy what is changed); None where h5py should read them."""
    held = _last_chunk.get(ds)
    if held is not None and held[0] == c:
        return held[1], True
    r0 = c * chunks[0]
    rows = _read_rows(ds, r0, min(r0 + chunks[0], int(ds.shape[0])), chunks, shuffled)
    if rows is None:
        return None
    if chunks[0] > 1 and rows.nbytes <= KEEP_CHUNK_BYTES:
        _last_chunk[ds] = (c, rows)
        return rows, True
    return rows, False


def _read_in_one_chunk(ds: h5py.Dataset, out: np.ndarray, i0: int, chunk_len: int, shuffled: bool) -> bool:
    """A read within chunk c: the whole chunk decoded on this thread (or taken from `_last_chunk`), then copied."""
    c = i0 // chunk_len
    got = _chunk_rows(ds, c, (chunk_len,), shuffled)
    if got is None:
        return False
    first = i0 - c * chunk_len
    out[:] = got[0][first:first + len(out)]
    return True


def _decode_range(ds: h5py.Dataset, out: np.ndarray, i0: int, chunk_len: int, shuffled: bool) -> bool:
    """The work of `read_range_into` once the storage is known to suit it."""
    i1 = i0 + len(out)
    c0, c1 = i0 // chunk_len, (i1 + chunk_len - 1) // chunk_len
    if c1 - c0 == 1:
        return _read_in_one_chunk(ds, out, i0, chunk_len, shuffled)
    jobs = []
    workers = pool()
    try:
        for c in range(c0, c1):
            data = _stored_chunk(ds, (c * chunk_len,))
            if data is None:
                return False
            a, b = max(i0, c * chunk_len), min(i1, (c + 1) * chunk_len)
            jobs.append(workers.submit(_decode_into, data, out[a - i0:b - i0], a - c * chunk_len,
                                       chunk_len, shuffled, c))
        for job in jobs:
            job.result()
    finally:  # nothing may still write into `out` once we return or raise
        for job in jobs:
            job.cancel()
        wait(jobs)
    return True
