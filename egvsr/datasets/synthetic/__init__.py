"""The synthetic data engine: sensor-realistic event/frame clips from bundled photographs (docs/datasets.md).

Public names load lazily, so a config check reads the clip limits without importing the renderer.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".cache": ("ensure_clips", "parse_entry"),
    ".clip": ("render_clip",),
    ".sensor": ("SensorSettings", "draw_sensor"),
    ".sources": ("VAL_IMAGES", "image_names", "load_image"),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
