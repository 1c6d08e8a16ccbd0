"""Voxel grids (Zhu et al. 2019 event volume, as used by E2VID and EvTexture) over explicit windows.

Time convention: a window is the half-open [t_start, t_end) (frame timestamps); events outside it,
including events exactly at t_end, are ignored (they belong to the next window). Each event at
tn = (bins - 1) * (t - t_start) / (t_end - t_start), in [0, bins - 1), adds (1 - frac) to bin
floor(tn) and frac to floor(tn) + 1, so every event keeps its full mass and an event just before
t_end lands (almost) entirely in the last bin. With bins == 1 every event counts fully in bin 0.
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


VOXEL = register_representation(Representation(
    "voxel", kernel_build("binned_tensors", linear=True, representation="voxel"),
    "voxel grid (Zhu et al. / E2VID event volume), bilinear in time", unit=1.0))


@dataclass(frozen=True)
class VoxelGrid(RepresentationOptions):
    """Voxel grid options: `VoxelGrid(bins=5)(stream, t_start, t_end)` as `voxel_grid`."""

    name = "voxel"
    bins: int = 5
    polarity: str = "signed"
    normalization: str = "none"


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
    return represent_batch(stream, "voxel", bins, boundaries, height, width, polarity=polarity,
                           normalize=normalize, threads=threads)


def voxel_grid(
    stream: EventStream, bins: int, t_start: int, t_end: int, height: int | None = None,
    width: int | None = None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None,
) -> np.ndarray:
    """Voxel grid of the window [t_start, t_end) µs: (bins, H, W), or (bins, 2, H, W) for "split".

    Options as in `voxel_grids`. The result is float32 and never aliases the stream's arrays.
    """
    return represent(stream, "voxel", bins, t_start, t_end, height, width, polarity=polarity,
                     normalize=normalize, threads=threads)
