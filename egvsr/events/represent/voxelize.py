"""`egvsr voxelize`: event tensors for every window of a recording of any size, streamed from disk.

Events are read in bounded chunks (read, compute and write overlap on threads). Additive
representations finish a window that straddles a chunk boundary by adding the next chunk's part; for
the others the open window's events are carried into the next chunk. Output (HDF5, atomic): `tensors`
(K, ...), `t_start` / `t_end` (K,) µs and attributes naming the representation (`read_tensors`).
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from egvsr.errors import ConfigError, InputFileError, OutputError
from egvsr.events.frames import events_outside_frames, source_event_span
from egvsr.events.io import h5util
from egvsr.events.io.arguments import check_exists, check_not_special, check_path, printable
from egvsr.events.io.source import warn_damage
from egvsr.events.represent import validation
from egvsr.events.represent.normalization import normalize_windows
from egvsr.events.represent.registry import Representation, get_representation
from egvsr.events.represent.windows import numba_threads, represent_windows
from egvsr.events.stream import EventStream
from egvsr.fsutil import (atomic_output, check_flag, check_output_path, check_writable, fmt_size, free_bytes,
                          refuse_inputs_as_outputs, shown)
from egvsr.process import PLANNED_MEMORY_SHARE, is_out_of_memory, physical_memory, warn
from egvsr.progress import bar as progress_bar

FORMAT = "egvsr-tensors"
VERSION = 1
CHUNK_EVENTS = 1 << 22
PREFETCH = 2  # chunks read ahead by the reader thread
# Largest block of output tensors computed at once (bounds memory when windows are short); one
# block may be in the writer thread while the next is computed, so output memory stays under 2x this.
OUTPUT_BATCH_BYTES = 128 << 20
# ... and at most this many windows: HDF5 needs several KB for every chunk one write touches, so a
# block of 300k tiny windows took 2 GB inside h5py whatever its bytes.
OUTPUT_BATCH_WINDOWS = 8192
# HDF5 chunks of `tensors` hold whole windows, as many as fit this size (one window when larger, at
# most one block): tiny windows are not one chunk each (a chunk costs HDF5 memory and file space).
CHUNK_BYTES = 256 << 10
INT64_MAX = int(np.iinfo(np.int64).max)
#: Default cap of `max_output_gb` (`--max-output-gb`), the uncompressed size of the output.
MAX_OUTPUT_GB = 16.0
TIME_CONVENTION = (
    "windows are half-open [t_start, t_end) in integer microseconds; voxel: tn = (bins-1)*(t-t_start)"
    "/(t_end-t_start), bilinear between floor(tn) and floor(tn)+1; frames/moments/timesurface: "
    "bin = floor(bins*(t-t_start)/(t_end-t_start))"
)


def _windows(source, between_frames: bool, window_ms: float | None,
             budget=lambda count: None) -> tuple[np.ndarray, np.ndarray, str]:
    """(starts, ends, mode) of the windows; `budget(count)` may refuse their number before any allocation."""
    if bool(between_frames) == (window_ms is not None):
        raise ConfigError("voxelize: give exactly one of between_frames=True (--between-frames) "
                          "or window_ms (--window-ms W)")
    if between_frames:
        times = source.frame_times()
        if times is None or len(times) < 2:
            have = "no frames" if times is None else f"{len(times)} frame"
            raise InputFileError(
                f"{source.path}: --between-frames needs at least 2 frame timestamps, the file has "
                f"{have}; use --window-ms W instead"
            )
        budget(len(times) - 1)
        times = np.asarray(times, np.int64)
        return times[:-1].copy(), times[1:].copy(), "between_frames"
    if isinstance(window_ms, bool) or not isinstance(window_ms, (int, float, np.number)) \
            or not np.isfinite(window_ms) or window_ms <= 0:
        raise ConfigError(f"`window_ms`: expected a positive number of milliseconds, got {window_ms!r}")
    if isinstance(window_ms, np.floating) and np.finfo(window_ms.dtype).bits < 64:
        window_ms = float(str(window_ms))  # the decimal it stands for: float32 0.1 is 0.1 ms, not 0.10000000149
    step_us = float(window_ms) * 1000.0
    if not step_us < 2.0 ** 63:  # the int64 range (inf when window_ms * 1000 overflows a float)
        raise ConfigError(f"`window_ms`: {float(window_ms):.3g} ms is longer than the int64 microsecond "
                          f"range (at most {INT64_MAX / 1000:.3g} ms)")
    step = int(round(step_us))
    if step < 1:
        raise ConfigError(f"`window_ms`: {window_ms!r} ms is shorter than 1 µs, the time resolution")
    # W * 1000 carries the rounding of the decimal W (1.1 ms -> 1100.0000000000002 µs): a few ulps pass
    if abs(step_us - step) > max(1e-6, 4 * float(np.spacing(step_us))):
        raise ConfigError(f"`window_ms`: {window_ms!r} ms is {step_us:.6g} µs, not a whole number of microseconds "
                          f"(the time resolution is 1 µs); expected a multiple of 0.001 ms")
    if source.num_events == 0:
        raise InputFileError(f"{source.path}: the recording has no events to place --window-ms windows on")
    t0, t1 = int(source.t_first), int(source.t_last)
    n = (t1 - t0) // step + 1
    budget(n)
    # the last window's end must be an int64 too: an end of 2**63 wrapped to -2**63, and the empty read
    # range [starts[0], -2**63) silently dropped every event of the recording (all-zero tensors)
    if t0 + n * step > INT64_MAX:
        raise ConfigError(
            f"{source.path}: `window_ms` {float(window_ms):.3g} ms windows from {t0} µs to {t1} µs end at "
            f"{float(t0 + n * step):.3g} µs, beyond the int64 microsecond range; the recording's times are damaged "
            "or span too much"
        )
    starts = t0 + step * np.arange(n, dtype=np.int64)
    return starts, starts + step, "window_ms"


def output_bytes(count: int, shape: tuple[int, ...]) -> int:
    """Bytes of a voxelize output: float32 tensors of `shape` and two int64 times per window, plus
    about 1 MB of HDF5 structure (the tensors are stored uncompressed)."""
    return int(count) * (4 * int(np.prod(shape, dtype=object)) + 16) + (1 << 20)


def check_output_size(dst: Path, count: int, shape: tuple[int, ...], max_output_gb: float) -> int:
    """Refuse, before any work, an output larger than `max_output_gb` or than the free disk space."""
    need = output_bytes(count, shape)
    what = f"{count:,} windows of {'x'.join(str(s) for s in shape)} float32 = {fmt_size(need)}"
    if need > max_output_gb * 1e9:
        raise ConfigError(
            f"{dst}: voxelize would write {what}, above --max-output-gb {max_output_gb:g}; choose longer "
            "windows (--window-ms), fewer --bins or a smaller --size, or raise --max-output-gb"
        )
    free = free_bytes(dst.parent)
    if free is not None and need > free:
        raise OutputError(
            f"{dst}: voxelize would write {what}, more than the {fmt_size(free)} free in {dst.parent}; free "
            "some space, write elsewhere, or choose longer windows (--window-ms)"
        )
    return need


def _prefetch(it: Iterator[EventStream], depth: int = 2) -> Iterator[EventStream]:
    """Iterate `it` in a background thread, `depth` items ahead; its errors re-raise here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    th = threading.Thread(target=work, name="egvsr-voxelize-reader", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        th.join(timeout=5)


class _Writer:
    """Writes blocks of output in a background thread, one at a time, while the next is computed.

    h5py holds the GIL while it writes, but the kernels release it, so the write of one block
    overlaps the computation of the next. `put` waits for the previous block to be written (at most
    one block in flight); `close` waits for the last one. A write error re-raises in the caller.
    """

    def __init__(self, dset, check=None) -> None:
        self.dset, self.check = dset, check  # check(): raises once a write has failed (full disk)
        self.q: queue.Queue = queue.Queue(maxsize=1)
        self.idle = threading.Event()
        self.idle.set()
        self.error: BaseException | None = None
        self.cancelled = False
        self.th = threading.Thread(target=self._work, name="egvsr-voxelize-writer", daemon=True)
        self.th.start()

    def _work(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            k0, tensors = item
            try:
                if self.error is None and not self.cancelled:
                    self.dset[k0: k0 + len(tensors)] = tensors
                    if self.check is not None:
                        self.check()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                # HDF5's allocation failure (h5py's OSError) is memory, not the file system
                self.error = MemoryError(str(exc)) if isinstance(exc, OSError) and is_out_of_memory(exc) else exc
            finally:
                self.idle.set()

    def _wait(self) -> None:
        self.idle.wait()
        if self.error is not None:
            raise self.error

    def put(self, k0: int, tensors: np.ndarray) -> None:
        self._wait()
        self.idle.clear()
        self.q.put((k0, tensors))

    def close(self, flush: bool = True) -> None:
        """Stop the thread: with `flush` after the last block is written (its error re-raised),
        else at once, dropping a block not yet started (the output is being abandoned)."""
        if not self.th.is_alive():
            return
        self.cancelled = not flush
        try:
            if flush:
                self._wait()
        finally:
            self.q.put(None)
            self.th.join()


def voxelize_file(
    src: str | os.PathLike, dst: str | os.PathLike, representation: str = "voxel", bins: int = 5,
    between_frames: bool = False, window_ms: float | None = None,
    size: tuple[int, int] | None = None, polarity: str | None = None, normalize: str = "none",
    threads: int | None = None, overwrite: bool = False, progress: bool = True,
    tau_ms: float | None = None, chunk_events: int = CHUNK_EVENTS, max_output_gb: float = MAX_OUTPUT_GB,
) -> Path:
    """Write the tensors of every window of recording `src` to `dst` (HDF5); return `dst`.

    representation: a registered name (`representation_names()`): "voxel", "moments" (ON/OFF counts),
    "frames" (stacked event frames), "timesurface" (ON/OFF, tau_ms default: window / bins), or one
    registered from outside. polarity: None for the representation's default ("signed" for voxel and
    frames, "split" for moments and time surfaces). A polarity or tau_ms the representation does not
    take (as its declaration says) is refused, never silently ignored.
    Windows: every inter-frame interval (`between_frames`) or consecutive `window_ms` windows from the first event.
    size: target (height, width), built directly by mass-conserving splatting.
    max_output_gb: refuse, before any work, an output above this size (or above the free disk space).
    """
    from egvsr.events.io import open_events

    src, dst = check_path(src, "voxelize src"), check_path(dst, "voxelize dst")
    decl = get_representation(representation)
    between_frames, progress = check_flag(between_frames, "between_frames"), check_flag(progress, "progress")
    bins = validation.check_count(bins, "`bins`")
    if polarity is not None:  # (a plain str from here on: HDF5 cannot store a NumPy str_ attribute)
        polarity = validation.check_choice(polarity, "polarity", validation.POLARITIES)
    normalize = validation.check_choice(normalize, "normalize", validation.NORMALIZATIONS)
    nthreads = validation.check_threads(threads, "`threads`")
    if isinstance(chunk_events, bool) or not isinstance(chunk_events, (int, np.integer)) \
            or chunk_events < 1:
        raise ConfigError(f"chunk_events: expected an integer >= 1, got {chunk_events!r}")
    if tau_ms is not None and (isinstance(tau_ms, bool) or not isinstance(tau_ms, (int, float, np.number))
                               or not np.isfinite(tau_ms) or tau_ms <= 0):
        raise ConfigError(f"`tau_ms`: expected a positive number of milliseconds, got {tau_ms!r}")
    if tau_ms is not None and not np.isfinite(float(tau_ms) * 1000.0):
        raise ConfigError(f"`tau_ms`: {float(tau_ms):.3g} ms is too long to count in microseconds "
                          "(expected at most about 1.8e305 ms)")
    if isinstance(max_output_gb, bool) or not isinstance(max_output_gb, (int, float, np.number)) \
            or not max_output_gb > 0:
        raise ConfigError(f"max_output_gb: expected a positive number of GB, got {max_output_gb!r}")
    height, width = validation.check_size_pair(size, "`size`")
    polarity = decl.check_options(polarity, {"tau_us": "`tau_ms`", "polarity": "`polarity`"}, tau_us=tau_ms)
    dst = check_output_path(dst, overwrite)
    check_writable(dst)  # before the free space: a read-only or virtual file system is said as such
    from egvsr.events.io.ced_folder import input_members  # what a CED folder input reads

    refuse_inputs_as_outputs([src], [dst], members=input_members)
    with open_events(src) as source:
        sensor = (source.height, source.width)
        target = validation.check_size(sensor, height, width, "`size`")
        oh, ow = target if target is not None else sensor
        shape = decl.window_shape(bins, polarity, oh, ow)
        starts, ends, mode = _windows(source, between_frames, window_ms,
                                      lambda count: check_output_size(dst, count, shape, float(max_output_gb)))
        check_stream_memory(len(starts), shape)
        warn_damage(source.path, source.damage())  # a file cut short (as convert)
        if mode == "between_frames":
            _warn_events_outside(source, starts, ends)
        tau = None if tau_ms is None else float(tau_ms) * 1000.0
        attrs: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "representation": decl.name, "bins": bins,
            "polarity": polarity, "normalize": normalize, "height": oh, "width": ow,
            "sensor_height": sensor[0], "sensor_width": sensor[1], "windows": mode,
            "window_us": 0 if window_ms is None else int(ends[0] - starts[0]),
            "tau_us": -1.0 if tau is None else tau, "source": shown(src),
            "time_convention": TIME_CONVENTION,
        }
        with numba_threads(nthreads), atomic_output(dst, overwrite) as tmp:
            with h5util.h5_output(tmp, dst) as f:
                with h5util.signals_deferred():  # (HDF5 calls back into Python: see h5util)
                    f.attrs.update(attrs)
                    f.create_dataset("t_start", data=starts)
                    f.create_dataset("t_end", data=ends)
                    dset = f.create_dataset("tensors", shape=(len(starts), *shape), dtype=np.float32,
                                            chunks=(chunk_windows(len(starts), shape), *shape)
                                            if len(starts) else None)
                _stream(source, dset, decl, bins, starts, ends, target, polarity, normalize,
                        nthreads, tau, int(chunk_events), progress, lambda: h5util.check_written(f, dst))
    return dst


def check_stream_memory(count: int, shape: tuple[int, ...]) -> None:
    """Refuse, before the output is made, windows too large to stream in half of this machine's memory.

    While a block of windows is computed, the block before it may still be in the writer thread and
    the window open across chunks keeps its partial tensor: up to 2 blocks and 1 window at once (one
    window per block once a window exceeds OUTPUT_BATCH_BYTES). The kernels check their own block again."""
    held = min(int(count), 2 * batch_windows(shape) + 1)
    need = 4.0 * held * float(np.prod(shape, dtype=np.float64))
    total = physical_memory()
    if total and need > total / 2:
        raise ConfigError(
            f"`bins`: voxelize would hold {held} windows of {'x'.join(str(v) for v in shape)} float32 at once "
            f"(one being written, one computed, one open across chunks) = {fmt_size(int(need))}, more than half "
            f"of this machine's {fmt_size(total)}; use fewer `bins` or a smaller `size`"
        )


def batch_windows(shape: tuple[int, ...]) -> int:
    """Windows per block of output computed and written at once: under OUTPUT_BATCH_BYTES and
    OUTPUT_BATCH_WINDOWS, at least 1."""
    per = OUTPUT_BATCH_BYTES // (4 * int(np.prod(shape, dtype=object)))
    return int(max(1, min(per, OUTPUT_BATCH_WINDOWS)))


def chunk_windows(count: int, shape: tuple[int, ...]) -> int:
    """Windows per HDF5 chunk of `tensors`: as many as fit CHUNK_BYTES, at least 1, at most a block
    (`batch_windows`) and `count` (the number of windows)."""
    per = CHUNK_BYTES // (4 * int(np.prod(shape, dtype=object)))
    return int(max(1, min(per, batch_windows(shape), count)))


def _warn_events_outside(source, starts: np.ndarray, ends: np.ndarray) -> None:
    """Warn (as render and eval do) when no event falls within the frames' span: every tensor would be zero."""
    notice = events_outside_frames(source.path, source_event_span(source), (int(starts[0]), int(ends[-1])))
    if notice:
        warn(notice)


def _stream(source, dset, decl: Representation, bins, starts, ends, size, polarity, normalize, threads,
            tau, chunk_events, progress, check=None) -> None:
    """Fill `dset` window by window from the recording's chunks (see the module docstring)."""
    nwin = len(starts)
    if nwin == 0:
        return
    additive = decl.additive
    params = {"tau_us": tau} if tau is not None else {}  # (refused by `check_options` where not declared)
    # Decoding and copying events keeps the reader thread busy, so the kernels get the other cores;
    # a source that hands out views of the file (uncompressed egvsr) leaves the reader only the checks
    # (~2 ns/event), and then the kernels take every core (2 cores: 10% faster, see the docs)
    if not getattr(source, "reads_in_place", False):
        threads = max(1, threads - 1)
    per_batch = batch_windows(dset.shape[1:])
    i0, i1 = source.index_range(int(starts[0]), int(ends[-1]))
    bar = progress_bar(i1 - i0, "voxelize", progress, unit="ev", leave=True, unit_scale=True)
    next_k = 0  # first window not yet written
    pending: np.ndarray | None = None  # partial tensor of window next_k (additive kinds)
    # events of window next_k read so far (time surfaces), as copies of each chunk's part: joined only
    # when the window is complete, so a window spanning many chunks is copied and computed once, not
    # once per chunk (that was quadratic in its number of chunks)
    carry: list[EventStream] = []

    writer = _Writer(dset, check)

    def emit(tensors: np.ndarray, k0: int) -> None:
        normalize_windows(tensors, normalize, parallel=threads > 1, unit=decl.unit)
        writer.put(k0, tensors)

    def compute(ev: EventStream, k0: int, k1: int) -> np.ndarray:
        return represent_windows(ev, decl.name, bins, starts[k0:k1], ends[k0:k1], size, polarity,
                                 "none", threads, **params)

    try:
        # chunks are read into a ring of PREFETCH + 2 reused buffer sets: the one in use, the queued
        # ones and the one being read (a chunk is never kept past its turn; `carry` is a copy)
        chunks = source.iter_chunks(chunk_events, int(starts[0]), int(ends[-1]), reuse=PREFETCH + 2)
        for chunk in _prefetch(chunks, PREFETCH):
            n = len(chunk)
            if n == 0:
                continue
            t_hi = int(chunk.t[-1])
            k_end = int(np.searchsorted(starts, t_hi, side="right"))  # windows starting <= t_hi
            k_done = int(np.searchsorted(ends, t_hi, side="right"))  # windows ending <= t_hi
            k_done = min(max(k_done, next_k), k_end)
            if k_end > next_k and not additive and k_done == next_k:  # the open window goes on
                carry.append(EventStream.concatenate([chunk.slice(int(starts[next_k]), None)]))
            elif k_end > next_k:
                ev = chunk
                if not additive and carry:
                    ev = EventStream.concatenate([*carry, chunk])
                # windows [next_k, k_end) see events of this chunk (only the finished ones are
                # computed for a non-additive kind: the open one is computed once complete); bounded batches
                for a in range(next_k, k_end if additive else k_done, per_batch):
                    b = min(k_end if additive else k_done, a + per_batch)
                    out = compute(ev, a, b)
                    if a == next_k and additive and pending is not None:
                        out[0] += pending
                    done = min(b, k_done)
                    if done > a:
                        emit(out[: done - a], a)
                    if b > k_done and additive:  # the one window still open: keep its partial sum
                        pending = out[k_done - a].copy()  # (a view would keep the whole block alive)
                if k_end == k_done:
                    pending, carry = None, []
                elif not additive:
                    carry = [EventStream.concatenate([ev.slice(int(starts[k_done]), None)])]
                next_k = k_done
            bar.update(n)
        if next_k < nwin:  # the open window and any window after the last event
            for a in range(next_k, nwin, per_batch):
                rest = np.zeros((min(nwin, a + per_batch) - a, *dset.shape[1:]), np.float32)
                if a == next_k:
                    if additive and pending is not None:
                        rest[0] = pending
                    elif carry:
                        rest[0] = compute(EventStream.concatenate(carry), next_k, next_k + 1)[0]
                emit(rest, a)
        writer.close()
    finally:
        writer.close(flush=False)  # no-op after the close above; on an error, stop without writing
        bar.close()


def _check_read_memory(path: Path, data: dict) -> None:
    """Refuse, before reading, a tensor file whose datasets read whole need more than `PLANNED_MEMORY_SHARE`
    of this machine's memory (a crash, or the OOM killer, otherwise): the three datasets, and for float
    tensors the finiteness mask of them (a byte a value, whatever the float's width)."""
    total = physical_memory()
    need = sum(float(d.size) * d.dtype.itemsize for d in data.values())
    if data["tensors"].dtype.kind == "f":
        need += float(data["tensors"].size)
    if total and need > PLANNED_MEMORY_SHARE * total:
        t = data["tensors"]
        raise InputFileError(
            f"{path}: 'tensors' {t.shape} {t.dtype} needs about {fmt_size(int(need))} of memory to read whole, "
            f"more than {PLANNED_MEMORY_SHARE:.0%} of this machine's {fmt_size(total)}; read it in slices with "
            "h5py (its windows are HDF5 chunks)"
        )


def read_tensors(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Read a file written by `voxelize_file`: (tensors, t_start, t_end, attrs)."""
    path = check_path(path)
    check_exists(path)
    if path.is_dir():
        raise InputFileError(f"{printable(path)}: is a folder; expected a tensor file (HDF5) written by "
                             "`egvsr voxelize`")
    check_not_special(path, "a tensor file (HDF5) written by `egvsr voxelize`")
    with h5util.open_h5(path) as f, h5util.corrupted_h5(path):  # a file still being written said so, once
        if f.attrs.get("format") != FORMAT:
            raise InputFileError(
                f"{path}: not an egvsr tensor file (attribute format={f.attrs.get('format')!r}, "
                f"expected {FORMAT!r})"
            )
        # each one present (a dangling link named as such), a dataset, and stored in this file, not declared only
        data = {key: h5util.dataset(f, key, path, "egvsr tensors") for key in ("tensors", "t_start", "t_end")}
        _check_read_memory(path, data)
        tensors = data["tensors"][()]
        result = (tensors, data["t_start"][()], data["t_end"][()],
                  {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()})
    if tensors.dtype.kind == "f":
        finite = np.isfinite(tensors)
        if not finite.all():
            where = tuple(int(j) for j in np.argwhere(~finite)[0])
            raise InputFileError(
                f"{path}: 'tensors'{list(where)} (window, ...) is {float(tensors[where])}; expected finite "
                "values (the file is damaged)"
            )
    return result
