"""Event representations built by numba kernels: voxel grids, EGVSR moments, stacked event frames,
time surfaces; single windows or every window of a sequence in one parallel pass; optionally
directly at a target (e.g. LR) resolution by mass-conserving bilinear splatting. No torch here.

Each representation is one declaration in the registry (`register_representation`); option objects
(`VoxelGrid(bins=5)`, `Moments(...)`, ...) and functions all call `represent` / `represent_batch`.

Names load lazily so that importing the package does not import numba kernels until used.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "voxel_grid": "egvsr.events.represent.voxel",
    "voxel_grids": "egvsr.events.represent.voxel",
    "event_moments": "egvsr.events.represent.moments",
    "event_moments_batch": "egvsr.events.represent.moments",
    "event_frames": "egvsr.events.represent.stacked_frames",
    "event_frames_batch": "egvsr.events.represent.stacked_frames",
    "time_surface": "egvsr.events.represent.timesurface",
    "time_surfaces": "egvsr.events.represent.timesurface",
    "VoxelGrid": "egvsr.events.represent.voxel",
    "Moments": "egvsr.events.represent.moments",
    "EventFrames": "egvsr.events.represent.stacked_frames",
    "TimeSurface": "egvsr.events.represent.timesurface",
    "represent": "egvsr.events.represent.functional",
    "represent_batch": "egvsr.events.represent.functional",
    "RepresentationOptions": "egvsr.events.represent.functional",
    "Representation": "egvsr.events.represent.registry",
    "register_representation": "egvsr.events.represent.registry",
    "unregister_representation": "egvsr.events.represent.registry",
    "get_representation": "egvsr.events.represent.registry",
    "representation_names": "egvsr.events.represent.registry",
    "POLARITIES": "egvsr.events.represent.validation",
    "NORMALIZATIONS": "egvsr.events.represent.validation",
    "normalize": "egvsr.events.represent.normalization",
    "normalize_windows": "egvsr.events.represent.normalization",
    "voxelize_file": "egvsr.events.represent.voxelize",
    "read_tensors": "egvsr.events.represent.voxelize",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
