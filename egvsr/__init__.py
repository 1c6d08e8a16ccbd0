"""egvsr: event-camera guided video super-resolution.

Read any event recording, voxelize it with Numba kernels, build training samples, train EGVSR and
VideoINR, and render super-resolved video at any scale and time. Public names load lazily.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    ".events.stream": ("EventStream",),
    ".events.frames": ("Frames",),
    ".errors": ("EgvsrError",),
    ".events.io": ("read_events", "write_events", "open_events"),
    ".events.represent": ("voxel_grid", "event_moments"),
    ".events.simulate": ("simulate_video", "make_sample"),
    ".datasets": ("Recording", "EventVSRDataset"),
    ".models": ("build_model", "list_models"),
    ".engine.train": ("train",),
    ".engine.evaluation": ("evaluate_checkpoint",),
}

__all__ = export_names(_EXPORTS)  # `from egvsr... import *` takes these (loading them)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
