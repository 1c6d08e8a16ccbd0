"""`convert(src, dst)`: any supported recording to our HDF5 layout, streaming, with a progress bar.

Without `sort`, events flow chunk by chunk from the reader into `EventWriter`, so memory stays bounded
whatever the recording's size; with `sort`, all events are loaded and stably sorted in memory first
(docs/io.md, "Memory").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.io.detect import open_events
from egvsr.events.io.source import EventSource
from egvsr.events.io.writer import EventWriter
from egvsr.fsutil import check_output_path

CONVERT_CHUNK_EVENTS = 1 << 21
_FRAME_BATCH = 16


def convert(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    sort: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    sensor_size: tuple[int, int] | None = None,
    chunk_events: int = CONVERT_CHUNK_EVENTS,
) -> Path:
    """Write `src` (any layout, frames included) to `dst` in our layout; returns `dst`."""
    if isinstance(chunk_events, bool) or not isinstance(chunk_events, (int, np.integer)) or chunk_events < 1:
        raise ConfigError(f"convert chunk_events: expected an integer >= 1, got {chunk_events!r}")
    if not isinstance(dst, (str, os.PathLike)):
        raise ConfigError(f"convert dst: expected a file path (str or os.PathLike), got {type(dst).__name__}")
    out = check_output_path(dst, overwrite)  # fail before any reading
    if Path(src).exists() and out.exists() and Path(src).resolve() == out.resolve():
        raise ConfigError(f"{out}: output is the input file; choose another output path")
    with open_events(src, sensor_size=sensor_size) as source:
        attrs = {"source_layout": source.layout, "source_file": Path(src).name}
        with EventWriter(out, source.width, source.height, overwrite=overwrite, attrs=attrs) as w:
            with _progress(source, progress) as bar:
                if sort:
                    stream = source.read_all_sorted()
                    for a in range(0, len(stream), chunk_events):
                        part = stream.take(a, min(a + chunk_events, len(stream)))
                        w.append(part)
                        bar.update(len(part))
                    del stream
                else:
                    for part in source.iter_chunks(max_events=chunk_events):
                        w.append(part)
                        bar.update(len(part))
            _copy_frames(source, w)
    return out


def _copy_frames(source: EventSource, w: EventWriter) -> None:
    for times, read, write in (
        (source.frame_times(), source.read_frames, w.write_frames),
        (source.gt_times(), source.read_gt_frames, w.write_gt),
    ):
        if times is None:
            continue
        for a in range(0, len(times), _FRAME_BATCH):
            write(read(a, min(a + _FRAME_BATCH, len(times))))


def _progress(source: EventSource, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=source.num_events, unit="ev", unit_scale=True, disable=not enabled,
        desc=f"convert {source.path.name}", dynamic_ncols=True, leave=True,
    )
