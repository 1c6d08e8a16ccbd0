"""Events in and out, and the kernels that turn them into tensors. No torch in this package.

Public names are loaded lazily so that `import egvsr.events` stays cheap.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".stream": ("EventStream", "polarity_to_signed"),
    ".frames": ("Frames",),
    ".io": ("read_events", "open_events", "write_events", "EventWriter", "EventSource", "detect_layout", "LAYOUTS",
        "describe", "summarize", "convert"),
    ".represent": ("voxel_grid", "voxel_grids", "event_moments", "event_moments_batch", "event_frames",
        "event_frames_batch", "time_surface", "time_surfaces", "normalize", "voxelize_file", "read_tensors"),
    ".simulate": ("simulate_frames", "simulate_video", "make_sample"),
}

__all__ = export_names(_EXPORTS)  # `from egvsr... import *` takes these (loading them)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
