"""Hot pixels: sensor pixels that fire far more than their neighbours, whatever the scene does.

A pixel is hot when its event count over the recording is above `factor` times the mean count of its
(up to 8) neighbours plus `min_events`: a moving edge lights its neighbours too, a hot pixel fires alone.
Counting streams the recording once, so memory is the count image (8 bytes per sensor pixel) and a
few float copies of it, checked before counting (docs/io.md, "Hot pixels", has what it finds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from egvsr.errors import ConfigError, InputFileError
from egvsr.events.io.source import EventSource
from egvsr.events.stream import EventStream
from egvsr.fsutil import fmt_size
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory
from egvsr.progress import bar as progress_bar

DEFAULT_FACTOR = 5.0
DEFAULT_MIN_EVENTS = 50
#: Bytes per sensor pixel of finding the hot pixels: the int64 counts, the padded float copies of the
#: counts and of the neighbour map, their sums, and the mask.
BYTES_PER_PIXEL = 48


def check_factor(factor: float, what: str = "hot-pixel factor") -> float:
    """`factor` as a float > 1 (a hot pixel fires more than `factor` times its neighbours); else one line."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)) \
            or not math.isfinite(factor) or factor <= 1:
        raise ConfigError(f"{what} {factor!r}: expected a finite number > 1 (a hot pixel fires that many "
                          "times more than its neighbours' mean)")
    return float(factor)


def neighbour_mean(counts: np.ndarray) -> np.ndarray:
    """Mean of each pixel's existing 8-neighbours (fewer at the border; inf where it has none)."""
    h, w = counts.shape
    c = np.pad(counts.astype(np.float64), 1)
    inside = np.pad(np.ones((h, w)), 1)
    total, n = np.zeros((h, w)), np.zeros((h, w))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                total += c[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                n += inside[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    del c, inside  # in place from here on: the search stays within BYTES_PER_PIXEL
    alone = n == 0
    np.divide(total, np.maximum(n, 1, out=n), out=total)
    total[alone] = np.inf
    return total


def hot_pixel_mask(counts: np.ndarray, factor: float = DEFAULT_FACTOR,
                   min_events: int = DEFAULT_MIN_EVENTS) -> np.ndarray:
    """(H, W) bool: pixels whose count exceeds `factor` x their neighbours' mean + `min_events`."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts: expected an (H, W) count image, got shape {counts.shape}")
    factor = check_factor(factor)
    bound = neighbour_mean(counts)
    with np.errstate(over="ignore"):  # a huge factor: the bound is inf, rightly (no count exceeds it)
        bound *= factor
    bound += min_events
    return counts > bound


def check_memory(source: EventSource) -> None:
    """Refuse, in one line naming the input, a sensor whose hot-pixel search would not fit in memory."""
    w, h = source.width, source.height
    total = physical_memory()
    need = BYTES_PER_PIXEL * w * h
    if total and need > total * PLANNED_MEMORY_SHARE:
        raise InputFileError(f"{source.path}: finding hot pixels on a {w}x{h} sensor needs {fmt_size(need)}, "
                            f"above {PLANNED_MEMORY_SHARE:.0%} of this machine's {fmt_size(total)}")


def find_hot_pixels(source: EventSource, factor: float, chunk_events: int,
                    progress: bool = False, events: EventStream | None = None) -> tuple[np.ndarray, int]:
    """(mask, events of the masked pixels) of `source`'s hot pixels by `hot_pixel_mask`: the memory checked,
    then one pass over the events in chunks of `chunk_events` (with a progress bar when `progress`), or
    over `events`, all of `source`'s events already read (sorted: an unsorted file cannot be read in chunks)."""
    check_memory(source)
    if events is not None:
        counts = pixel_counts([events], source.width, source.height)
        mask = hot_pixel_mask(counts, factor)
        return mask, int(counts[mask].sum())
    with progress_bar(source.num_events, f"count {source.path.name}", progress, unit="ev", unit_scale=True) as bar:
        counts = pixel_counts(_counted(source.iter_chunks(max_events=chunk_events), bar), source.width, source.height)
    mask = hot_pixel_mask(counts, factor)
    return mask, int(counts[mask].sum())


def _counted(parts: Iterable[EventStream], bar: Any) -> Iterator[EventStream]:
    """`parts`, each counted on the progress `bar` once it has been used."""
    for part in parts:
        yield part
        bar.update(len(part))


def pixel_counts(parts: Iterable[EventStream], width: int, height: int) -> np.ndarray:
    """(H, W) int64 events per pixel of the event chunks `parts`."""
    counts = np.zeros(width * height, np.int64)
    for part in parts:
        counts += np.bincount(part.y.astype(np.int64) * width + part.x, minlength=width * height)
    return counts.reshape(height, width)


def drop_pixels(stream: EventStream, mask: np.ndarray) -> EventStream:
    """`stream` without the events of the pixels `mask` (H, W) marks."""
    keep = ~mask[stream.y, stream.x]
    if keep.all():
        return stream
    return EventStream(stream.x[keep], stream.y[keep], stream.t[keep], stream.p[keep],
                       stream.width, stream.height, validate=False)
