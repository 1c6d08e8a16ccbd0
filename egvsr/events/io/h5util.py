"""HDF5 access with the toolkit's error messages.

h5py reports a truncated file, a missing compression plugin or a wrong key as `OSError`/`KeyError`
from deep inside; these helpers turn each into an `InputFileError`/`FormatError` that names the file
and the key, so a user sees what is wrong with *their* file rather than a traceback.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import h5py
import numpy as np

from egvsr.errors import EgvsrError, FormatError, InputFileError, MissingDependencyError
from egvsr.events.checks import INT64_MAX, INT64_MIN, first_beyond_int64
from egvsr.events.io import chunk_codec
from egvsr.events.io.guarded import GuardedFile
from egvsr.fsutil import output_error, pread_at
from egvsr.process import is_out_of_memory

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A larger chunk cache than h5py's 1 MiB default keeps one decompressed chunk of every event
# dataset resident, so index look-ups and bisection probes do not decompress a chunk twice.
CHUNK_CACHE_BYTES = 32 * 1024 * 1024

#: Third-party HDF5 filters by id (all decoded by the `hdf5plugin` package).
_PLUGIN_FILTERS = {307: "BZip2", 32001: "Blosc", 32004: "LZ4", 32008: "Bitshuffle", 32013: "ZFP",
                   32015: "Zstandard", 32017: "SZ", 32018: "FCIDECOMP", 32024: "SZ3", 32026: "Blosc2",
                   32028: "SPERR"}


def is_hdf5(path: Path) -> bool:
    """True when the file carries the HDF5 signature (at offset 0 or a user-block boundary)."""
    try:
        return bool(h5py.is_hdf5(str(path)))
    except OSError:
        return False


#: what HDF5 says when another process holds the file open for writing (its file lock, HDF5 >= 1.10)
_WRITER_LOCK = "unable to lock file"
BEING_WRITTEN = ("is open for writing in another process (HDF5's file lock is held), so it may be incomplete; "
                 "wait until that process has finished writing it, then run again")


def being_written(path: str | os.PathLike, exc: BaseException) -> InputFileError | None:
    """The error to raise when `exc` (h5py's, opening `path`) says another process is writing the file:
    not a damaged file to re-create, one to wait for; None otherwise."""
    return InputFileError(f"{path}: {BEING_WRITTEN}") if _WRITER_LOCK in str(exc) else None


def open_h5(path: Path, mode: str = "r") -> h5py.File:
    """Open an HDF5 file for reading, translating h5py's OSError into `InputFileError`."""
    try:
        return h5py.File(path, mode, rdcc_nbytes=CHUNK_CACHE_BYTES)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        if (busy := being_written(path, exc)) is not None:
            raise busy from None
        text = str(exc)
        if "truncated" in text:
            raise InputFileError(
                f"{path}: the HDF5 file is truncated ({text}); it was probably cut short while "
                "being written or copied: re-create or re-download it"
            ) from None
        raise InputFileError(f"{path}: not a readable HDF5 file ({text})") from None


@contextlib.contextmanager
def corrupted_h5(path: Path, layout: str | None = None) -> Iterator[None]:
    """Turn what h5py raises on damaged metadata (RuntimeError, KeyError, OSError while walking
    groups, links and attributes) and what a malformed attribute value raises when converted
    (ValueError, TypeError, OverflowError) into an `InputFileError` naming the file."""
    try:
        yield
    except EgvsrError:
        raise
    except (RuntimeError, KeyError, OSError, ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, OSError) and (busy := being_written(path, exc)) is not None:
            raise busy from None
        text = (str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
        what = "HDF5 file" if layout is None else f"{layout} HDF5 file"
        raise InputFileError(
            f"{path}: the {what} is corrupted or malformed ({text}); its groups, links or attributes "
            "cannot be read as that layout requires: re-create or re-download it"
        ) from None


S = TypeVar("S")


def open_source(path: Path, layout: str, source_class: Callable[[Path, h5py.File, tuple[int, int] | None], S],
                sensor_size: tuple[int, int] | None) -> S:
    """`source_class(path, f, sensor_size)` over the opened file, its sensor size checked; the file is
    closed again if that fails. The `open` of every HDF5 layout."""
    f = open_h5(path)
    try:
        with corrupted_h5(path, layout):
            src = source_class(path, f, sensor_size)
        if not (1 <= src.width <= 65535 and 1 <= src.height <= 65535):
            raise FormatError(
                f"{path}: the {layout} file gives a sensor of {src.width}x{src.height} (W x H); expected 1..65535 "
                "pixels per side (pass sensor_size=(H, W) / --sensor-size HxW to override it)"
            )
        return src
    except BaseException:
        f.close()
        raise


def get(f: h5py.Group, key: str, path: Path) -> h5py.HLObject | None:
    """`f.get(key)`, refusing a key that is a dangling link: h5py answers None for it, as for an absent key,
    and reading on as if it were absent would report a missing key or silently drop the data it names."""
    obj = f.get(key)
    if obj is None:
        check_link(f, key, path)
    return obj


def check_link(f: h5py.Group, key: str, path: Path) -> None:
    """Raise `FormatError` naming the first part of `key` that is a link whose target cannot be reached."""
    g, parts = f, [part for part in key.split("/") if part]
    for i, part in enumerate(parts):
        link = g.get(part, getlink=True) if isinstance(g, h5py.Group) else None
        if link is None:
            return
        obj = g.get(part)
        if obj is None:
            raise FormatError(f"{path}: '{'/'.join(parts[:i + 1])}' is {_dangling(link, path)}; expected data "
                              "stored in this file (or a link to a file that exists)")
        g = obj


def _dangling(link, path: Path) -> str:
    """What a dangling link points to, in words (an external link's file said missing when it is)."""
    if isinstance(link, h5py.ExternalLink):
        target = Path(link.filename)
        places = [target] if target.is_absolute() else [path.parent / target, target]
        why = "which does not exist" if not any(p.exists() for p in places) else "which cannot be opened or lacks it"
        return f"an external link to '{link.path}' in {link.filename}, {why}"
    return f"a link to '{getattr(link, 'path', '?')}', which does not exist in this file"


def events_absent(f: h5py.File) -> bool:
    """Whether `f` has no `events` key at all, or an empty `events` group (a link to a missing target is a
    key: refused when read, never taken as absent). Frames-only files of layouts with frames read so as
    recordings of no events."""
    link = f.get("events", getlink=True)
    if link is None:
        return True
    g = f.get("events")
    return isinstance(link, h5py.HardLink) and isinstance(g, h5py.Group) and len(g) == 0


def dataset(f: h5py.File, key: str, path: Path, layout: str) -> h5py.Dataset:
    """`f[key]` as a dataset, or `FormatError` naming the file, key and layout."""
    obj = get(f, key, path)
    if obj is None:
        raise FormatError(f"{path}: missing key '{key}' required by the {layout} layout")
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(f"{path}: '{key}' is a group, expected a dataset ({layout} layout)")
    check_stored(obj, key, path)
    return obj


#: Largest ratio of declared to stored bytes each filter can reach (deflate's ceiling is about 1032:1);
#: a dataset with other filters (LZF, scale-offset, plugins) is checked by its count of stored chunks alone.
_MAX_RATIO = {None: 1.01, "gzip": 1100.0}
_SLACK_BYTES = 1 << 20
_KNOWN_FILTERS = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32}


def check_stored(ds: h5py.Dataset, key: str, path: Path) -> None:
    """Refuse, before any read, a dataset whose data is not in this file: virtual, external, or declared
    far larger than what is stored (never written: reading it would produce filler, or exhaust memory), or
    compressed in chunks far larger than its data (`_check_chunk_filler`)."""
    if ds.is_virtual or ds.external:
        raise FormatError(f"{path}: '{key}' is {'a virtual' if ds.is_virtual else 'an external'} dataset (its data "
                          "lives in other files); expected data stored in this file")
    try:
        plist = ds.id.get_create_plist()
        filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
        stored = ds.id.get_storage_size()
    except Exception:  # noqa: BLE001 - an unreadable header is reported by the read itself
        return
    declared = int(ds.size) * ds.dtype.itemsize
    ratio = _MAX_RATIO["gzip" if h5py.h5z.FILTER_DEFLATE in filters else None]
    if filters <= _KNOWN_FILTERS and declared > ratio * stored + _SLACK_BYTES:
        raise FormatError(
            f"{path}: '{key}' declares {declared:,} bytes (shape {ds.shape}) but the file stores only "
            f"{stored:,}; it was never written, or the file is damaged"
        )
    _check_chunks_stored(ds, key, path, declared)
    _check_chunk_filler(ds, key, path, bool(filters))


def stored_here(ds: h5py.Dataset, key: str, path: Path) -> bool:
    """`check_stored` as a yes/no, for an optional dataset (an index) that is better left unused than refused."""
    try:
        check_stored(ds, key, path)
    except FormatError:
        return False
    return True


#: Most bytes of one filtered chunk that lie beyond the dataset's data (see `_check_chunk_filler`).
MAX_CHUNK_FILLER = 256 << 20


def _check_chunk_filler(ds: h5py.Dataset, key: str, path: Path, filtered: bool) -> None:
    """Refuse a filtered (compressed) dataset whose chunks are mostly beyond its data: HDF5 decodes a whole
    chunk to read any element of it, so a few stored bytes declaring one chunk of up to 4 GiB (a 400-event
    recording in a 2 GiB chunk, zeros compressing 1000:1) would make every read allocate and decode gigabytes.
    The part of the first chunk inside the dataset is data; more than `MAX_CHUNK_FILLER` bytes beyond it is
    refused (the chunks of a large dataset, each full of data, however large, are not)."""
    if not filtered or ds.chunks is None or not ds.size:
        return
    chunk_bytes = inside = ds.dtype.itemsize
    for n, c in zip(ds.shape, ds.chunks):
        chunk_bytes *= int(c)
        inside *= min(int(n), int(c))
    if chunk_bytes - inside > MAX_CHUNK_FILLER:
        raise FormatError(
            f"{path}: '{key}' is stored in compressed chunks of {chunk_bytes:,} bytes (chunk shape {ds.chunks}) "
            f"but holds only {int(ds.size) * ds.dtype.itemsize:,} bytes (shape {ds.shape}): every read would "
            "decode a whole chunk; the file is damaged, or was written with chunks far larger than its "
            "data"
        )


def _check_chunks_stored(ds: h5py.Dataset, key: str, path: Path, declared: int) -> None:
    """Refuse a chunked dataset whose chunks are mostly not in the file, whatever its filters (LZF, scale-offset,
    a plugin: no ratio bounds them): a chunk never written reads as the fill value, so the declared data is
    filler, and reading it (or scanning it, as `info` does) takes as long and as much as the declared size."""
    if ds.chunks is None or declared <= _SLACK_BYTES:
        return
    try:
        allocated = ds.id.get_num_chunks()
    except Exception:  # noqa: BLE001 - an unreadable chunk index is reported by the read itself
        return
    needed = 1
    for n, c in zip(ds.shape, ds.chunks):
        needed *= -(-int(n) // int(c))
    chunk_bytes = int(np.prod(ds.chunks, dtype=np.int64)) * ds.dtype.itemsize
    if (needed - allocated) * chunk_bytes > _SLACK_BYTES:
        raise FormatError(
            f"{path}: '{key}' declares {declared:,} bytes (shape {ds.shape}) in {needed:,} chunks but the file "
            f"stores only {allocated:,} of them; it was never written, or the file is damaged"
        )


def require_1d(ds: h5py.Dataset, path: Path, kinds: str, what: str) -> None:
    """Raise `FormatError` unless `ds` is 1-D with a dtype kind in `kinds` (numpy kind letters)."""
    if ds.ndim != 1:
        raise FormatError(f"{path}: '{ds.name.lstrip('/')}' has shape {ds.shape}, expected 1-D ({what})")
    if ds.dtype.kind not in kinds:
        raise FormatError(
            f"{path}: '{ds.name.lstrip('/')}' has dtype {ds.dtype}, expected {what}"
        )


def equal_lengths(path: Path, datasets: dict[str, h5py.Dataset]) -> int:
    """The common length of the datasets, or `FormatError` listing every length."""
    lengths = {k: int(d.shape[0]) for k, d in datasets.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise FormatError(
            f"{path}: event arrays have mismatched lengths ({listed}); expected equal lengths"
        )
    return next(iter(lengths.values()), 0)


def int64_times(t: np.ndarray, path: Path, key: str, i0: int = 0) -> np.ndarray:
    """Timestamps as int64 µs, refusing uint64 values at or above 2**63 (a plain cast wraps them negative)."""
    k = first_beyond_int64(t)
    if k >= 0:
        raise FormatError(
            f"{path}: {key}[{i0 + k}] = {int(t[k])} is beyond the int64 microsecond range (>= 2**63); "
            "expected timestamps below 2**63 µs (the file is damaged or uses another unit)"
        )
    return t.astype(np.int64, copy=False)


def offset_times(t: np.ndarray, offset: int, path: Path, key: str, offset_key: str, i0: int = 0) -> np.ndarray:
    """`t + offset` as int64 µs, refusing sums that leave the int64 range (they would wrap)."""
    t = int64_times(t, path, key, i0)
    if t.size and offset:
        lo, hi = int(t.min()), int(t.max())
        if not (INT64_MIN <= lo + offset and hi + offset <= INT64_MAX):
            k = int(np.argmax(t) if hi + offset > INT64_MAX else np.argmin(t))
            raise FormatError(
                f"{path}: '{offset_key}' = {offset} plus {key}[{i0 + k}] = {int(t[k])} leaves the int64 "
                "microsecond range; the offset or the timestamps are damaged"
            )
        t = t + np.int64(offset)
    return t


def check_offset(offset: int, dtype: np.dtype, path: Path, offset_key: str) -> None:
    """Refuse an offset that pushes some value of `dtype` (the stored relative times) out of int64."""
    info = np.iinfo(dtype)
    if not (INT64_MIN <= offset + int(info.min) and offset + int(info.max) <= INT64_MAX):
        raise FormatError(
            f"{path}: '{offset_key}' = {offset} is too close to the int64 limit: times stored as {dtype} "
            f"after it would leave the int64 microsecond range; expected an offset within "
            f"[{INT64_MIN - int(info.min)}, {INT64_MAX - int(info.max)}]"
        )


def missing_plugin(ds: h5py.Dataset) -> str | None:
    """Name of a third-party compression filter `ds` needs that is not registered, else None."""
    try:
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    except Exception:  # noqa: BLE001 - metadata probe only
        return None
    for fid in filters:
        if not h5py.h5z.filter_avail(fid):
            return f"{_PLUGIN_FILTERS.get(fid, 'a third-party filter')} (HDF5 filter {fid})"
    return None


def read_slice(ds: h5py.Dataset, i0: int, i1: int, path: Path) -> np.ndarray:
    """`ds[i0:i1]` with OSError (truncation, missing plugin) turned into toolkit errors; gzip chunks
    are decoded on worker threads where the storage allows (`chunk_codec`)."""
    with translate_read_errors(path, ds):
        out = chunk_codec.read_range(ds, i0, i1)
        return ds[i0:i1] if out is None else out


def read_whole(ds: h5py.Dataset, i: int | None = None) -> np.ndarray:
    """`ds[()]` (`ds[i]` with `i`), gzip chunks decoded by `chunk_codec.read_array` where the storage allows (a
    chunk's stream never inflated past the chunk); read errors are the caller's to translate."""
    out = chunk_codec.read_array(ds, i)
    if out is not None:
        return out
    return ds[()] if i is None else ds[i]


def read_into(ds: h5py.Dataset, out: np.ndarray, i0: int, path: Path) -> None:
    """ds[i0:i0 + len(out)] into `out` (same dtype), as `read_slice` reads it."""
    with translate_read_errors(path, ds):
        if not chunk_codec.read_range_into(ds, out, i0):
            ds.read_direct(out, np.s_[i0:i0 + len(out)])


@contextlib.contextmanager
def translate_read_errors(path: Path, ds: h5py.Dataset | None = None) -> Iterator[None]:
    """Re-raise h5py read failures as `MissingDependencyError` or `InputFileError` naming the file."""
    try:
        yield
    except OSError as exc:
        if is_out_of_memory(exc):  # HDF5's allocation failure: not a damaged file, unless it asked for
            beyond = _stored_beyond_file(ds)  # more than the file holds (a damaged chunk size)
            if beyond is not None:
                raise InputFileError(
                    f"{path}: '{ds.name.lstrip('/')}' declares {beyond[0]:,} bytes of stored data but the file has "
                    f"only {beyond[1]:,} (reading it ran out of memory); the file is damaged"
                ) from None
            raise MemoryError(str(exc)) from None
        if ds is not None:
            plugin = missing_plugin(ds)
            if plugin is not None:
                raise MissingDependencyError(
                    f"{path}: '{ds.name.lstrip('/')}' is compressed with {plugin}, which h5py cannot "
                    "decode without the 'hdf5plugin' package: pip install hdf5plugin "
                    "(or pip install 'egvsr[dsec]')"
                ) from None
        where = f" while reading '{ds.name.lstrip('/')}'" if ds is not None else ""
        raise InputFileError(
            f"{path}: read failed{where} ({exc}); the file is probably truncated or corrupted"
        ) from None


def _stored_beyond_file(ds: h5py.Dataset | None) -> tuple[int, int] | None:
    """(bytes `ds` stores, bytes of its file) when the first exceeds the second (a chunk size in the index
    damaged: HDF5 allocates what it declares, up to 4 GiB, before finding that the file ends), else None."""
    try:
        stored, size = int(ds.id.get_storage_size()), int(ds.file.id.get_filesize())
    except Exception:  # noqa: BLE001 - no dataset, or one whose header cannot say
        return None
    return (stored, size) if stored > size else None


def load_plugins() -> bool:
    """Import `hdf5plugin` if installed (registers Blosc & co. with h5py); True when available."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        return False
    return True


def ms_bracket(
    index: h5py.Dataset | None, t0_us: int, t_us: int, n: int, path: Path
) -> tuple[int, int]:
    """[lo, hi] holding the first event with t >= t_us, from a millisecond index.

    `index[k]` is the first event with t >= t0_us + 1000 k (ours and DSEC's `ms_to_idx`), so the
    answer lies between the entries of the millisecond that contains t_us. Without an index: [0, n].
    """
    if index is None or index.shape[0] == 0 or n == 0:
        return 0, n
    k = (t_us - t0_us) // 1000
    if k < 0:
        return 0, 0
    size = index.shape[0]
    if k >= size - 1:
        return min(int(read_slice(index, size - 1, size, path)[0]), n), n
    lo, hi = (min(int(v), n) for v in read_slice(index, k, k + 2, path))
    return lo, max(lo, hi)


# ---- raw (zero-copy) access to uncompressed datasets ------------------------------------------
class RawColumn:
    """Where the events of one uncompressed 1-D dataset lie in the file: runs of adjacent storage.

    `starts[k]`..`stops[k]` (event indices) are stored contiguously from byte `offsets[k]`; runs
    are the dataset itself (contiguous layout) or chunks merged where one follows the other on disk.
    """

    def __init__(self, dtype: np.dtype, starts, stops, offsets) -> None:
        self.dtype = dtype
        self.starts = np.asarray(starts, np.int64)
        self.stops = np.asarray(stops, np.int64)
        self.offsets = np.asarray(offsets, np.int64)

    def run_end(self, i: int) -> int:
        """End (exclusive) of the run that holds event `i`."""
        return int(self.stops[int(np.searchsorted(self.starts, i, side="right")) - 1])

    def pieces(self, i0: int, i1: int) -> Iterator[tuple[int, int, int]]:
        """(a, b, byte offset of event a) for the runs covering [i0, i1), in order."""
        k = int(np.searchsorted(self.starts, i0, side="right")) - 1
        a = i0
        while a < i1:
            b = min(i1, int(self.stops[k]))
            yield a, b, int(self.offsets[k]) + (a - int(self.starts[k])) * self.dtype.itemsize
            a, k = b, k + 1


def _native(dtype: np.dtype) -> bool:
    return dtype.byteorder in ("=", "|") or dtype.byteorder == ("<" if sys.byteorder == "little" else ">")


def raw_column(ds: h5py.Dataset, file_size: int) -> RawColumn | None:
    """Storage runs of `ds` when its bytes can be used as they lie in the file, else None.

    Only a plain case qualifies: 1-D integer data in native byte order, contiguous or chunked layout,
    no filters (compression, shuffle, checksums), no external storage, every chunk allocated at full
    size (so no fill values stand in for missing data), item-aligned and inside the file. Anything
    else returns None and is read through h5py.
    """
    try:
        n = int(ds.shape[0]) if ds.ndim == 1 else -1
        dtype = np.dtype(ds.dtype)
        if n <= 0 or dtype.kind not in "iu" or not _native(dtype):
            return None
        plist = ds.id.get_create_plist()
        if plist.get_nfilters() or plist.get_external_count():
            return None
        size = dtype.itemsize
        layout = plist.get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            offset = ds.id.get_offset()
            if offset is None:  # never written: h5py returns the fill value
                return None
            starts, stops, offsets = [0], [n], [int(offset)]
        elif layout == h5py.h5d.CHUNKED:
            chunk = int(ds.chunks[0])
            need = -(-n // chunk)
            found: dict[int, int] = {}
            bad: list[object] = []

            def visit(info) -> None:
                if info.filter_mask or info.size != chunk * size or info.byte_offset is None:
                    bad.append(info)
                else:
                    found[int(info.chunk_offset[0]) // chunk] = int(info.byte_offset)

            if hasattr(ds.id, "chunk_iter"):  # one walk over the chunk index
                ds.id.chunk_iter(visit)
            else:  # h5py 3.8's wheels (HDF5 1.12.2) lack chunk_iter: one index look-up per chunk
                for k in range(need):
                    visit(ds.id.get_chunk_info_by_coord((k * chunk,)))
            if bad or any(k not in found for k in range(need)):  # an unallocated chunk reads as fill
                return None
            starts, stops, offsets = [], [], []
            for k in range(need):
                a, off = k * chunk, found[k]
                if stops and stops[-1] == a and offsets[-1] + (a - starts[-1]) * size == off:
                    stops[-1] = min(n, a + chunk)
                else:
                    starts.append(a), stops.append(min(n, a + chunk)), offsets.append(off)
        else:  # compact or virtual
            return None
    except Exception:  # noqa: BLE001 - an unusual file is simply read through h5py
        return None
    col = RawColumn(dtype, starts, stops, offsets)
    ends = col.offsets + (col.stops - col.starts) * size
    if (col.offsets % size).any() or (col.offsets < 0).any() or int(ends.max()) > file_size:
        return None
    return col


def raw_file(f: h5py.File) -> int | None:
    """The OS file descriptor of `f` when its datasets' byte offsets are file offsets, else None.

    That holds for the default (sec2) driver without a user block, on POSIX systems (elsewhere the
    handle is not a descriptor); h5py keeps the descriptor open as long as `f` is open.
    """
    try:
        if os.name != "posix" or f.driver != "sec2" or f.userblock_size:
            return None
        fd = f.id.get_vfd_handle()
        return int(fd) if isinstance(fd, (int, np.integer)) and fd >= 0 else None
    except Exception:  # noqa: BLE001
        return None


def map_view(fd: int, offset: int, dtype: np.dtype, count: int) -> np.ndarray:
    """`count` items at byte `offset` of the open file `fd`, mapped (not copied) from the page cache.

    The mapping is private (copy-on-write): the array is writable like any other, and writing to it
    never reaches the file. It lives as long as the array (and every view of it) does: numpy holds
    the mapping through the array's base, so it cannot be unmapped under a live view; the last
    reference going away unmaps it and closes the descriptor the mapping holds.
    """
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    mm = mmap.mmap(fd, offset + count * dtype.itemsize - start, access=mmap.ACCESS_COPY, offset=start)
    return np.frombuffer(mm, dtype, count, offset - start)


def pread_into(fd: int, out: np.ndarray, offset: int) -> bool:
    """Fill `out` with its bytes at `offset` of file `fd`; False when the file ends first."""
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        if hasattr(os, "preadv"):  # straight into `out`
            got = os.preadv(fd, [view[done:]], offset + done)
        else:  # macOS has no preadv: one copy more
            data = pread_at(fd, len(view) - done, offset + done)
            got = len(data)
            view[done:done + got] = data
        if got <= 0:
            return False
        done += got
    return True


# ---- writing: a full disk or a file size limit is one error line, never a crash ---------------------------


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP are held inside the block and raised when it ends.

    Why: HDF5 calls back into `GuardedFile` (Python) for every read and write of an output; a signal
    handler's exception raised there would reach HDF5 as a failed I/O and crash the process. Used around
    the output's HDF5 calls made in the main thread; the writes of a background thread need nothing."""
    from egvsr.process import HANDLED, Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in HANDLED}
    for sig in HANDLED:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            handler = previous[held[0]]
            if callable(handler):
                handler(held[0], None)  # the process's own reaction (egvsr's: raise Terminated)
            elif handler == signal.SIG_DFL:
                raise Terminated(held[0]) if held[0] != signal.SIGINT else KeyboardInterrupt


def check_written(f: h5py.File, out: Path) -> None:
    """Raise the `OutputError` of the first failed write to `f` (opened by `h5_output`), if any.

    Writers call this after each block, so a full disk stops the work at once."""
    guard = getattr(f, "egvsr_guard", None)
    if guard is not None and guard.failure is not None:
        raise output_error(out, guard.failure)


def open_output(tmp: Path, out: Path) -> h5py.File:
    """A new HDF5 file at `tmp` (the temporary of output `out`) over a `GuardedFile`."""
    try:
        guard = GuardedFile(tmp)
    except OSError as exc:
        raise output_error(out, exc) from None
    try:
        with signals_deferred():
            f = h5py.File(guard, "w")
    except BaseException:
        guard.close()
        raise
    f.egvsr_guard = guard
    return f


def close_output(f: h5py.File, out: Path, keep: bool = True) -> None:
    """Close `f` (and its file); with `keep`, raise the error of any write that failed."""
    guard = getattr(f, "egvsr_guard", None)
    try:
        with signals_deferred():
            if keep:
                f.flush()
            f.close()
    finally:
        if guard is not None:
            guard.close()
    if keep:
        check_written(f, out)


@contextlib.contextmanager
def h5_output(tmp: Path, out: Path) -> Iterator[h5py.File]:
    """A new HDF5 file at `tmp` for output `out`: closed on exit, a failed write raised as one line."""
    f = open_output(tmp, out)
    try:
        yield f
    except BaseException:
        with contextlib.suppress(Exception):
            close_output(f, out, keep=False)
        raise
    close_output(f, out)


def header_mismatch(path: str | os.PathLike, attrs: dict, lengths: dict[str, int] | None = None,
                    what: str = "file") -> str | None:
    """Why the HDF5 file at `path` is not the one its name promises, from its header alone: not a regular
    file, unreadable (truncated or damaged), an attribute of `attrs` not equal (in value and type) to the
    one given, or a dataset of `lengths` ({key: length}) of another length; None when it matches. For
    caches that reuse a file by its name (sample recordings, synthetic clips) without reading all of it."""
    if not os.path.isfile(path):
        return "not a regular file" if os.path.exists(path) else "a link to nothing"
    lengths = lengths or {}
    try:
        with h5py.File(path, "r") as f:
            found = {k: f.attrs.get(k) for k in attrs}
            found.update({k: (f[k].shape[0] if k in f and f[k].shape else None) for k in lengths})
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        if being_written(path, exc) is not None:
            return BEING_WRITTEN
        return f"unreadable, probably truncated or damaged ({str(exc) or type(exc).__name__})"
    for key, value in {**attrs, **lengths}.items():
        got = found[key]
        got = got.decode("utf-8", "replace") if isinstance(got, bytes) else got
        got = got.item() if isinstance(got, np.generic) else got
        if type(got) is not type(value) or got != value:
            name = f"{key} length" if key in lengths else key
            return f"a {what} of other settings ({name} {got!r}, expected {value!r})"
    return None
