"""Event representations built by numba kernels: voxel grids, EGVSR moments, stacked event frames,
time surfaces; single windows or every window of a sequence in one parallel pass; optionally
directly at a target (e.g. LR) resolution by mass-conserving bilinear splatting. No torch here.

Each representation is one declaration in the registry (`register_representation`); option objects
(`VoxelGrid(bins=5)`, `Moments(...)`, ...) and functions all call `represent` / `represent_batch`.

Names load lazily so that importing the package does not import numba kernels until used.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".voxel": ("voxel_grid", "voxel_grids", "VoxelGrid"),
    ".moments": ("event_moments", "event_moments_batch", "Moments"),
    ".stacked_frames": ("event_frames", "event_frames_batch", "EventFrames"),
    ".timesurface": ("time_surface", "time_surfaces", "TimeSurface"),
    ".functional": ("represent", "represent_batch", "RepresentationOptions"),
    ".registry": ("Representation", "register_representation", "unregister_representation", "get_representation",
        "representation_names"),
    ".validation": ("POLARITIES", "NORMALIZATIONS"),
    ".normalization": ("normalize", "normalize_windows"),
    ".voxelize": ("voxelize_file", "read_tensors"),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
