"""Pictures (matplotlib, no pyplot state): event frames, voxel slices, comparison grids, curves,
and `show_recording` for `egvsr show`. Names load lazily."""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".events": ("event_image", "plot_events"),
    ".voxels": ("plot_voxels",),
    ".compare": ("comparison_grid", "crop_rows", "pick_crop"),
    ".curves": ("plot_metric_vs_scale",),
    ".show": ("show_recording",),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
