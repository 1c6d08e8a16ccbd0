"""Stacked event frames (SBT).

Stacked frames cut a window [t_start, t_end) into `bins` equal sub-windows; an event falls in bin
floor(bins * (t - t_start) / (t_end - t_start)) (exact integers) and adds its polarity ("signed") or
1 to its polarity's channel ("split").
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


FRAMES = register_representation(Representation(
    "frames", kernel_build("binned_tensors", linear=False, representation="frames"),
    "stacked event frames (SBT): polarity sums or ON/OFF counts per time bin", unit=1.0))


@dataclass(frozen=True)
class EventFrames(RepresentationOptions):
    """Stacked frame options: `EventFrames(bins=5)(stream, t_start, t_end)` as `event_frames`."""

    name = "frames"
    bins: int = 5
    polarity: str = "signed"
    normalization: str = "none"


def event_frames_batch(
    stream: EventStream, bins: int, boundaries: np.ndarray, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Stacked event frames of K windows: (K, bins, H, W) polarity sums, or (K, bins, 2, H, W) ON/OFF
    counts for "split". Arguments as in `voxel_grids`."""
    return represent_batch(stream, "frames", bins, boundaries, height, width, polarity=polarity,
                           normalize=normalize, threads=threads)


def event_frames(
    stream: EventStream, bins: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Stacked event frames of [t_start, t_end): (bins, H, W) or (bins, 2, H, W) for "split"."""
    return represent(stream, "frames", bins, t_start, t_end, height, width, polarity=polarity,
                     normalize=normalize, threads=threads)
