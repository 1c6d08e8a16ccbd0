"""Events in and out, and the kernels that turn them into tensors. No torch in this package.

Public names are loaded lazily so that `import egvsr.events` stays cheap.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "EventStream": "egvsr.events.stream",
    "polarity_to_signed": "egvsr.events.stream",
    "Frames": "egvsr.events.frames",
    "read_events": "egvsr.events.io",
    "open_events": "egvsr.events.io",
    "write_events": "egvsr.events.io",
    "EventWriter": "egvsr.events.io",
    "EventSource": "egvsr.events.io",
    "detect_layout": "egvsr.events.io",
    "LAYOUTS": "egvsr.events.io",
    "describe": "egvsr.events.io",
    "summarize": "egvsr.events.io",
    "convert": "egvsr.events.io",
    "voxel_grid": "egvsr.events.represent",
    "voxel_grids": "egvsr.events.represent",
    "event_moments": "egvsr.events.represent",
    "event_moments_batch": "egvsr.events.represent",
    "event_frames": "egvsr.events.represent",
    "event_frames_batch": "egvsr.events.represent",
    "time_surface": "egvsr.events.represent",
    "time_surfaces": "egvsr.events.represent",
    "normalize": "egvsr.events.represent",
    "voxelize_file": "egvsr.events.represent",
    "read_tensors": "egvsr.events.represent",
    "simulate_frames": "egvsr.events.simulate",
    "simulate_video": "egvsr.events.simulate",
    "make_sample": "egvsr.events.simulate",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
