"""Event representations built by numba kernels: voxel grids, EGVSR moments, stacked event frames,
time surfaces; single windows or every window of a sequence in one parallel pass; optionally
directly at a target (e.g. LR) resolution by mass-conserving bilinear splatting. No torch here.

Names load lazily so that importing the package does not import numba kernels until used.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "voxel_grid": "egvsr.events.represent.voxel",
    "voxel_grids": "egvsr.events.represent.voxel",
    "event_moments": "egvsr.events.represent.moments",
    "event_moments_batch": "egvsr.events.represent.moments",
    "event_frames": "egvsr.events.represent.frames_surface",
    "event_frames_batch": "egvsr.events.represent.frames_surface",
    "time_surface": "egvsr.events.represent.frames_surface",
    "time_surfaces": "egvsr.events.represent.frames_surface",
    "normalize": "egvsr.events.represent.normalization",
    "normalize_windows": "egvsr.events.represent.normalization",
    "voxelize_file": "egvsr.events.represent.voxelize",
    "read_tensors": "egvsr.events.represent.voxelize",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
