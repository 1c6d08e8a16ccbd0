"""Stacked event frames (SBT) and time surfaces.

Stacked frames cut a window [t_start, t_end) into `bins` equal sub-windows; an event falls in bin
floor(bins * (t - t_start) / (t_end - t_start)) (exact integers) and adds its polarity ("signed") or
1 to its polarity's channel ("split"). Time surfaces are defined in `surface.py`.
"""

from __future__ import annotations

import numpy as np

from egvsr.events.represent import args
from egvsr.events.represent.windows import represent_windows
from egvsr.events.stream import EventStream


def event_frames_batch(
    stream: EventStream, bins: int, boundaries: np.ndarray, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Stacked event frames of K windows: (K, bins, H, W) polarity sums, or (K, bins, 2, H, W) ON/OFF
    counts for "split". Arguments as in `voxel_grids`."""
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    starts, ends = args.check_boundaries(boundaries)
    size = args.check_size(stream, height, width)
    return represent_windows(stream, "frames", bins, starts, ends, size, polarity, normalize, threads)


def event_frames(
    stream: EventStream, bins: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Stacked event frames of [t_start, t_end): (bins, H, W) or (bins, 2, H, W) for "split"."""
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    t0, t1 = args.check_window(t_start, t_end)
    size = args.check_size(stream, height, width)
    starts, ends = np.array([t0], np.int64), np.array([t1], np.int64)
    return represent_windows(stream, "frames", bins, starts, ends, size, polarity, normalize,
                             threads)[0]


def time_surfaces(
    stream: EventStream, bins: int, boundaries: np.ndarray, tau_us: float | None = None,
    height: int | None = None, width: int | None = None, threads: int | None = None,
) -> np.ndarray:
    """Time surfaces of K windows: (K, bins, 2, H, W) in [0, 1]; tau_us defaults to span / bins."""
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    starts, ends = args.check_boundaries(boundaries)
    size = args.check_size(stream, height, width)
    return represent_windows(stream, "timesurface", bins, starts, ends, size, "split", "none",
                             threads, tau_us)


def time_surface(
    stream: EventStream, bins: int, t_start: int, t_end: int, tau_us: float | None = None,
    height: int | None = None, width: int | None = None, threads: int | None = None,
) -> np.ndarray:
    """Time surfaces of [t_start, t_end) at the ends of `bins` equal sub-windows: (bins, 2, H, W)."""
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    t0, t1 = args.check_window(t_start, t_end)
    size = args.check_size(stream, height, width)
    starts, ends = np.array([t0], np.int64), np.array([t1], np.int64)
    return represent_windows(stream, "timesurface", bins, starts, ends, size, "split", "none",
                             threads, tau_us)[0]
