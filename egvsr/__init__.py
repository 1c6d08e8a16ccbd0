"""egvsr: event-camera guided video super-resolution.

Read any event recording, voxelize it with Numba kernels, build training samples, train EGVSR and
VideoINR, and render super-resolved video at any scale and time. Public names load lazily.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "EventStream": "egvsr.events.stream",
    "Frames": "egvsr.events.frames",
    "EgvsrError": "egvsr.errors",
    "read_events": "egvsr.events.io",
    "write_events": "egvsr.events.io",
    "open_events": "egvsr.events.io",
    "voxel_grid": "egvsr.events.represent",
    "event_moments": "egvsr.events.represent",
    "simulate_video": "egvsr.events.simulate",
    "make_sample": "egvsr.events.simulate",
    "Recording": "egvsr.datasets",
    "EventVSRDataset": "egvsr.datasets",
    "build_model": "egvsr.models",
    "list_models": "egvsr.models",
    "train": "egvsr.engine.train",
    "evaluate_checkpoint": "egvsr.engine.evaluation",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
