"""Voxel grids (Zhu et al. 2019 event volume, as used by E2VID and EvTexture) over explicit windows.

Time convention: a window is the half-open [t_start, t_end) (frame timestamps); events outside it,
including events exactly at t_end, are ignored (they belong to the next window). Each event at
tn = (bins - 1) * (t - t_start) / (t_end - t_start), in [0, bins - 1), adds (1 - frac) to bin
floor(tn) and frac to floor(tn) + 1, so every event keeps its full mass and an event just before
t_end lands (almost) entirely in the last bin. With bins == 1 every event counts fully in bin 0.
"""

from __future__ import annotations

import numpy as np

from egvsr.events.represent import args
from egvsr.events.represent.windows import represent_windows
from egvsr.events.stream import EventStream


def voxel_grids(
    stream: EventStream, bins: int, boundaries: np.ndarray, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Voxel grids of K windows in one pass: (K, bins, H, W), or (K, bins, 2, H, W) for "split".

    boundaries: int64 (K + 1,) window edges (consecutive windows, e.g. frame times) or (K, 2) rows
    [start, end) (windows may overlap). height/width: build directly at that size by bilinear
    splatting (mass conserving). polarity: "signed" (value ±1) or "split" (channel 0 ON, 1 OFF, each
    a positive weight). normalize: "none", "standard" or "percentile" per window. threads: numba
    threads for this call (default: numba's current setting).
    """
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    starts, ends = args.check_boundaries(boundaries)
    size = args.check_size(stream, height, width)
    return represent_windows(stream, "voxel", bins, starts, ends, size, polarity, normalize, threads)


def voxel_grid(
    stream: EventStream, bins: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Voxel grid of the window [t_start, t_end) µs: (bins, H, W), or (bins, 2, H, W) for "split".

    Options as in `voxel_grids`. The result is float32 and never aliases the stream's arrays.
    """
    stream = args.check_stream(stream)
    bins = args.check_count(bins, "bins")
    t0, t1 = args.check_window(t_start, t_end)
    size = args.check_size(stream, height, width)
    starts, ends = np.array([t0], np.int64), np.array([t1], np.int64)
    return represent_windows(stream, "voxel", bins, starts, ends, size, polarity, normalize,
                             threads)[0]
