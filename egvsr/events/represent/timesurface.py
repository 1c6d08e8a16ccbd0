"""Time surfaces as a representation: declaration, options and public functions.

The definition and the numba kernels are in `surface_kernels.py`: per pixel and polarity, exp(-(t_ref -
t_last) / tau) of the latest event at the end of each of `bins` equal sub-windows; tau defaults to
the sub-window length. Not additive, so `voxelize` carries the open window's events between chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from egvsr.events.represent.functional import (
    RepresentationOptions, kernel_build, represent, represent_batch,
)
from egvsr.events.represent.registry import Representation, register_representation

if TYPE_CHECKING:  # loads numba; listing representations should not
    from egvsr.events.stream import EventStream


TIME_SURFACE = register_representation(Representation(
    "timesurface", kernel_build("surface_tensors"),
    "time surfaces (ON/OFF exponential decay of the latest event)",
    polarities=("split",), additive=False, params=("tau_us",)))


@dataclass(frozen=True)
class TimeSurface(RepresentationOptions):
    """Time-surface options: `TimeSurface(bins=5)(stream, t_start, t_end)` as `time_surface`."""

    name = "timesurface"
    bins: int = 5
    tau_us: float | None = None

    def _options(self) -> dict[str, Any]:
        return {"tau_us": self.tau_us}


def time_surfaces(
    stream: EventStream, bins: int, boundaries: np.ndarray, tau_us: float | None = None,
    height: int | None = None, width: int | None = None, threads: int | None = None,
) -> np.ndarray:
    """Time surfaces of K windows: (K, bins, 2, H, W) in [0, 1]; tau_us defaults to span / bins."""
    return represent_batch(stream, "timesurface", bins, boundaries, height, width, threads=threads,
                           tau_us=tau_us)


def time_surface(
    stream: EventStream, bins: int, t_start: int, t_end: int, tau_us: float | None = None,
    height: int | None = None, width: int | None = None, threads: int | None = None,
) -> np.ndarray:
    """Time surfaces of [t_start, t_end) at the ends of `bins` equal sub-windows: (bins, 2, H, W)."""
    return represent(stream, "timesurface", bins, t_start, t_end, height, width, threads=threads,
                     tau_us=tau_us)
