"""egvsr.models: EGVSR, VideoINR and a bicubic baseline behind one interface (torch, no file I/O).

`build_model(name_or_config, **overrides)` builds a registered model; `list_models()` lists them.
Every model has `forward(lr, times, out_size, events=None, frame_times=None) -> (B, T, 3, H, W)` and
`render(..., chunk_size=None)` (no grad, decoded by chunks of output pixels), `uses_events` and `config`.
A new family subclasses `SRModel` and declares itself with `@register_model` (docs/models.md).
"""

from egvsr.models.base import SRModel
from egvsr.models.registry import (
    FAMILIES, PRESETS, build_model, count_parameters, list_models, models_table, register, register_model, unregister,
)

# the built-in families register themselves (and their presets) on import, in this order
from egvsr.models import egvsr, egvsr_official, videoinr, bicubic  # noqa: E402,F401  isort: skip

__all__ = ["SRModel", "FAMILIES", "PRESETS", "build_model", "count_parameters", "list_models", "models_table",
           "register", "register_model", "unregister"]
