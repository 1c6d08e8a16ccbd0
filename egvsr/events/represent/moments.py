"""EGVSR's event input: ON/OFF count images ("moments") in equal time bins of a window.

A window [t_start, t_end) is cut into `moments` equal sub-windows; an event falls in moment
floor(moments * (t - t_start) / (t_end - t_start)) (exact integer arithmetic) and adds 1 to its
polarity's channel (0 = ON, 1 = OFF). Events at or after t_end, or before t_start, are ignored.
These are the "split" stacked event frames of `stacked_frames.event_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from egvsr.events.represent.functional import (
    RepresentationOptions, kernel_build, represent, represent_batch,
)
from egvsr.events.represent.registry import Representation, register_representation

if TYPE_CHECKING:  # loads numba; listing representations should not
    from egvsr.events.stream import EventStream


MOMENTS = register_representation(Representation(
    "moments", kernel_build("binned_tensors", linear=False, representation="moments"),
    "EGVSR moments: ON/OFF counts in equal time bins", polarities=("split",), unit=1.0))


@dataclass(frozen=True)
class Moments(RepresentationOptions):
    """EGVSR moment options: `Moments(bins=32)(stream, t_start, t_end)` as `event_moments`."""

    name = "moments"
    bins: int = 32
    normalization: str = "none"


def event_moments_batch(
    stream: EventStream, moments: int, boundaries: np.ndarray, height: int | None = None,
    width: int | None = None, normalize: str = "none", threads: int | None = None,
) -> np.ndarray:
    """EGVSR moments of K windows: (K, moments, 2, H, W) ON/OFF counts (channel 0 ON, 1 OFF)."""
    return represent_batch(stream, "moments", moments, boundaries, height, width, normalize=normalize,
                           threads=threads, bins_name="moments")


def event_moments(
    stream: EventStream, moments: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, normalize: str = "none", threads: int | None = None,
) -> np.ndarray:
    """EGVSR's event input for [t_start, t_end): (moments, 2, H, W) ON/OFF count images in equal
    time bins (32 in EGVSR's CED config). At a target size counts are splatted, not resized."""
    return represent(stream, "moments", moments, t_start, t_end, height, width, normalize=normalize,
                     threads=threads, bins_name="moments")
