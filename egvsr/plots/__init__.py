"""Pictures (matplotlib, no pyplot state): event frames, voxel slices, comparison grids, curves,
and `show_recording` for `egvsr show`. Names load lazily."""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'egvsr.plots' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
