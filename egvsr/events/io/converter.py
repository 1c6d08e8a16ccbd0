"""`convert(src, dst)`: any supported recording to our HDF5 layout, streaming, with a progress bar.

Without `sort`, events flow chunk by chunk from the reader into `EventWriter`, so memory stays bounded
whatever the recording's size; with `sort`, all events are loaded and stably sorted in memory first
(docs/io.md, "Memory"). Frames are copied after the events, a few at a time (one frame at a time when
they are large); their sizes, and the memory one copy takes, are checked before anything is converted.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from egvsr.errors import ConfigError, FormatError
from egvsr.events.frames import check_frames_memory
from egvsr.events.io.arguments import check_path
from egvsr.events.io.detect import open_events
from egvsr.events.io.hot_pixels import check_factor, drop_pixels, find_hot_pixels
from egvsr.events.io.hot_pixels import check_memory as check_hot_memory
from egvsr.events.io.source import EventSource, warn_damage
from egvsr.events.io.writer import FRAME_CHUNK_BYTES, EventWriter
from egvsr.fsutil import (check_flag, check_output_path, check_writable, fmt_size, named_path,
                          refuse_inputs_as_outputs)
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory
from egvsr.progress import bar as progress_bar

CONVERT_CHUNK_EVENTS = 1 << 21
_FRAME_BATCH = 16
#: Most bytes of frames copied at once (up to `_FRAME_BATCH` frames); a frame larger than this goes alone.
FRAME_BATCH_BYTES = 64 << 20
#: Peak bytes of copying a batch, per byte of it: the frames as read and the batch stacked from them
#: (measured: 1.9-2.0 for 8000x8000 and 20000x20000 RGB frames, whatever the input's chunks).
COPY_BYTES_PER_BYTE = 2


def convert(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    sort: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    sensor_size: tuple[int, int] | None = None,
    chunk_events: int = CONVERT_CHUNK_EVENTS,
    drop_hot_pixels: float | None = None,
) -> Path:
    """Write `src` (any layout, frames included) to `dst` in our layout; returns `dst`.

    `drop_hot_pixels` (a factor, e.g. 5): first count each pixel's events, then leave out every event of
    the pixels that fire more than that factor times their neighbours (`hot_pixels.py`); the output's
    attributes `hot_pixels_dropped` and `hot_pixel_events_dropped` say how many."""
    if drop_hot_pixels is not None:
        drop_hot_pixels = check_factor(drop_hot_pixels, "convert drop_hot_pixels")
    if isinstance(chunk_events, bool) or not isinstance(chunk_events, (int, np.integer)) or chunk_events < 1:
        raise ConfigError(f"convert chunk_events: expected an integer >= 1, got {chunk_events!r}")
    sort, progress = check_flag(sort, "sort"), check_flag(progress, "progress")
    src, dst = check_path(src, "convert src"), check_path(dst, "convert dst")
    out = check_output_path(dst, overwrite)  # fail before any reading
    check_writable(out)  # a read-only or virtual file system (/proc), said as such
    from egvsr.events.io.ced_folder import input_members  # what a CED folder input reads

    refuse_inputs_as_outputs([src], [out], members=input_members)
    with open_events(src, sensor_size=sensor_size) as source:
        check_frames(source, sensor_size)  # before any event is converted
        if sort:
            source.check_sort_memory()  # before anything is read
        warn_damage(source.path, source.damage())
        # the input's provenance (ours: a simulation's settings, ...) is kept; the two names say what was converted
        attrs = {**source.attributes(), "source_layout": source.layout, "source_file": named_path(src).name or "root"}
        hot = stream = None
        if sort:  # read before counting: an unsorted file's chunks are refused, its sorted events are not
            if drop_hot_pixels is not None:
                check_hot_memory(source)  # before the events are loaded
            stream = source.read_all_sorted()
        if drop_hot_pixels is not None:
            hot, dropped = find_hot_pixels(source, drop_hot_pixels, chunk_events, progress, events=stream)
            attrs.update(hot_pixel_factor=drop_hot_pixels, hot_pixels_dropped=int(hot.sum()),
                         hot_pixel_events_dropped=dropped)
        with EventWriter(out, source.width, source.height, overwrite=overwrite, attrs=attrs) as w:
            with progress_bar(source.num_events, f"convert {source.path.name}", progress, unit="ev", leave=True,
                              unit_scale=True) as bar:
                if stream is not None:
                    for a in range(0, len(stream), chunk_events):
                        part = stream.take(a, min(a + chunk_events, len(stream)))
                        w.append(part if hot is None else drop_pixels(part, hot))
                        bar.update(len(part))
                    del stream
                else:
                    for part in source.iter_chunks(max_events=chunk_events):
                        w.append(part if hot is None else drop_pixels(part, hot))
                        bar.update(len(part))
            _copy_frames(source, w)
    return out


def check_frames(source: EventSource, sensor_size: tuple[int, int] | None = None) -> None:
    """Refuse, before anything is converted or any frame decoded, frames (or ground-truth frames) whose
    declared size is not the sensor's (`sensor_size`: the one the caller gave, named in the message) or whose
    copy would not fit in memory, each in one line naming the input."""
    try:
        source.check_frame_sizes()
    except FormatError as exc:
        if sensor_size is None:
            raise
        h, w = sensor_size
        raise FormatError(f"{exc}; that sensor size is --sensor-size {h}x{w} (HxW): give the frames' size, "
                          "or leave the option out to take the file's") from None
    total = physical_memory()
    if not total:
        return
    budget = int(total * PLANNED_MEMORY_SHARE)
    for shape in (source.frame_shape(), source.gt_shape()):
        if shape is not None:
            check_frames_memory(source.path, shape[0], shape[1], copy_memory_bytes(shape), budget,
                                f"{PLANNED_MEMORY_SHARE:.0%} of this machine's {fmt_size(total)}",
                                "convert copies one frame at a time: downscale its frames first")


def frame_batch(shape: tuple[int, ...]) -> int:
    """Frames of `shape` (H, W, C) copied at once: up to `_FRAME_BATCH`, at most `FRAME_BATCH_BYTES` in all
    (at least one)."""
    return max(1, min(_FRAME_BATCH, FRAME_BATCH_BYTES // _frame_bytes(shape)))


def copy_memory_bytes(shape: tuple[int, ...]) -> int:
    """Peak bytes of copying one batch of frames of `shape` (H, W, C): `COPY_BYTES_PER_BYTE` per byte of
    the batch, plus the writer's compression buffers (about two chunks)."""
    size = _frame_bytes(shape)
    return COPY_BYTES_PER_BYTE * frame_batch(shape) * size + 2 * min(size, FRAME_CHUNK_BYTES)


def _frame_bytes(shape: tuple[int, ...]) -> int:
    return max(1, math.prod(int(v) for v in shape))


def _copy_frames(source: EventSource, w: EventWriter) -> None:
    for times, shape, read, write in (
        (source.frame_times(), source.frame_shape, source.read_frames, w.write_frames),
        (source.gt_times(), source.gt_shape, source.read_gt_frames, w.write_gt),
    ):
        if times is None or not len(times):
            continue
        step = frame_batch(shape())
        for a in range(0, len(times), step):
            write(read(a, min(a + step, len(times))))
