"""Event simulation: an ESIM-style event camera (numba), video upsampling, and the sample recording.

`simulate_frames` (in memory), `simulate_video` (`egvsr simulate`), `make_sample`
(`egvsr make-sample`), and the parts: `EventSimulator`, `SimulatorConfig`, `SampleScene`,
`Upsampler`, `open_video`. Names load lazily; no torch anywhere here.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "simulate_frames": "egvsr.events.simulate.api",
    "simulate_video": "egvsr.events.simulate.api",
    "make_sample": "egvsr.events.simulate.sample",
    "sample_times": "egvsr.events.simulate.sample",
    "sample_seeds": "egvsr.events.simulate.sample",
    "EventSimulator": "egvsr.events.simulate.simulator",
    "to_luminance": "egvsr.events.simulate.luminance",
    "SimulatorConfig": "egvsr.events.simulate.thresholds",
    "Thresholds": "egvsr.events.simulate.thresholds",
    "draw_thresholds": "egvsr.events.simulate.thresholds",
    "SampleScene": "egvsr.events.simulate.scene",
    "Upsampler": "egvsr.events.simulate.upsample",
    "open_video": "egvsr.events.simulate.video_input",
    "VideoInput": "egvsr.events.simulate.video_input",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
