"""EGVSR's event input: ON/OFF count images ("moments") in equal time bins of a window.

A window [t_start, t_end) is cut into `moments` equal sub-windows; an event falls in moment
floor(moments * (t - t_start) / (t_end - t_start)) (exact integer arithmetic) and adds 1 to its
polarity's channel (0 = ON, 1 = OFF). Events at or after t_end, or before t_start, are ignored.
These are the "split" stacked event frames of `frames_surface.event_frames`.
"""

from __future__ import annotations

import numpy as np

from egvsr.events.represent import args
from egvsr.events.represent.windows import represent_windows
from egvsr.events.stream import EventStream


def event_moments_batch(
    stream: EventStream, moments: int, boundaries: np.ndarray, height: int | None = None,
    width: int | None = None, normalize: str = "none", threads: int | None = None,
) -> np.ndarray:
    """EGVSR moments of K windows: (K, moments, 2, H, W) ON/OFF counts (channel 0 ON, 1 OFF)."""
    stream = args.check_stream(stream)
    moments = args.check_count(moments, "moments")
    starts, ends = args.check_boundaries(boundaries)
    size = args.check_size(stream, height, width)
    return represent_windows(stream, "frames", moments, starts, ends, size, "split", normalize,
                             threads)


def event_moments(
    stream: EventStream, moments: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, normalize: str = "none", threads: int | None = None,
) -> np.ndarray:
    """EGVSR's event input for [t_start, t_end): (moments, 2, H, W) ON/OFF count images in equal
    time bins (32 in EGVSR's CED config). At a target size counts are splatted, not resized."""
    stream = args.check_stream(stream)
    moments = args.check_count(moments, "moments")
    t0, t1 = args.check_window(t_start, t_end)
    size = args.check_size(stream, height, width)
    starts, ends = np.array([t0], np.int64), np.array([t1], np.int64)
    return represent_windows(stream, "frames", moments, starts, ends, size, "split", normalize,
                             threads)[0]
