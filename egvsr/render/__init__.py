"""egvsr.render: super-resolved video from a checkpoint and a recording (`egvsr render`, `egvsr demo`).

One job per module: `plan` checks everything and builds a `RenderJob` from `RenderOptions`, `run`
executes it; `model` loads the checkpoint's model and input options, `inputs` opens the input and
builds each window, `times` plans the output times, `tiles` encodes large inputs in tiles, `video`
writes PNG folders and MP4s, `demo` runs the whole job on the embedded sample. Public names load lazily.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".plan": ("RenderOptions", "RenderJob", "plan_render"),
    ".run": ("run_render", "render", "RenderReport"),
    ".model": ("load_render_model",),
    ".demo": ("run_demo",),
}

__all__ = export_names(_EXPORTS)  # `from egvsr... import *` takes these (loading them)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
