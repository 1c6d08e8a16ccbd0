"""Event simulation: an ESIM-style event camera (numba), video upsampling, and the sample recording.

`simulate_frames` (in memory), `simulate_video` (`egvsr simulate`), `make_sample`
(`egvsr make-sample`), and the parts: `EventSimulator`, `SimulatorConfig`, `SampleScene`,
`Upsampler`, `open_video`. Names load lazily; no torch anywhere here.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".api": ("simulate_frames", "simulate_video"),
    ".sample": ("make_sample", "sample_times", "sample_seeds"),
    ".simulator": ("EventSimulator",),
    ".luminance": ("to_luminance",),
    ".thresholds": ("SimulatorConfig", "Thresholds", "draw_thresholds"),
    ".scene": ("SampleScene",),
    ".upsample": ("Upsampler",),
    ".video_input": ("open_video", "VideoInput", "states_frame_times"),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
