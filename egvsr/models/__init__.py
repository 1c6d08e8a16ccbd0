"""egvsr.models: EGVSR, VideoINR and a bicubic baseline behind one interface (torch, no file I/O).

`build_model(name_or_config, **overrides)` builds a registered model; `list_models()` lists them.
Every model has `forward(lr, times, out_size, events=None, frame_times=None) -> (B, T, 3, H, W)` and
`render(..., chunk_size=None)` (no grad, decoded by chunks of output pixels), `uses_events` and `config`.
"""

from egvsr.models.base import SRModel
from egvsr.models.registry import PRESETS, build_model, count_parameters, list_models, register

__all__ = ["SRModel", "PRESETS", "build_model", "count_parameters", "list_models", "register"]
