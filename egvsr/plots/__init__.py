"""Pictures (matplotlib, no pyplot state): event frames, voxel slices, comparison grids, curves,
and `show_recording` for `egvsr show`. Names load lazily."""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "event_image": "egvsr.plots.events",
    "plot_events": "egvsr.plots.events",
    "plot_voxels": "egvsr.plots.voxels",
    "comparison_grid": "egvsr.plots.compare",
    "crop_rows": "egvsr.plots.compare",
    "pick_crop": "egvsr.plots.compare",
    "plot_metric_vs_scale": "egvsr.plots.curves",
    "show_recording": "egvsr.plots.show",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
