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

from egvsr.plugins import import_declaring

# every module here that starts a line with `@register_model(` (or `register_model(`) declares a family
# and its presets on import: the built-ins in this order, then any other by name, so a new model is one file
import_declaring(__name__, r"@?register_model\(", ("egvsr", "egvsr_official", "videoinr", "bicubic"))

__all__ = ["SRModel", "FAMILIES", "PRESETS", "build_model", "count_parameters", "list_models", "models_table",
           "register", "register_model", "unregister"]
