"""The model side of rendering: a checkpoint's model, the input options it was trained with, its cap.

The event tensor a model sees (representation, bins, polarity, normalization) and its window of K
frames come from the checkpoint's training config (`input_options`); options the config does not
state are derived from the model itself (M bins x P polarities of `event_shape`). A config that
contradicts the model is refused, since the model would get tensors it was not built for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from egvsr.datasets.geometry import fmt_scale
from egvsr.engine.checkpoint_model import derive_inputs, input_options, model_from_checkpoint
from egvsr.errors import ConfigError
from egvsr.events.checks import is_real
from egvsr.events.io.arguments import check_path


@dataclass
class RenderModel:
    """A model ready to render, with the window size and event-tensor options it expects."""

    model: nn.Module
    name: str
    path: Path
    num_frames: int
    repr: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_events(self) -> bool:
        return bool(getattr(self.model, "uses_events", False))

    @property
    def max_scale(self) -> float:
        return float(getattr(self.model, "max_scale", float("inf")))

    def check_scale(self, scale: float, where: str = "`scale`") -> float:
        """`scale` as a float in (0, cap], or a ConfigError naming the cap."""
        if not is_real(scale):  # True and "2" are not scales
            raise ConfigError(f"{where} {scale!r}: expected a positive number")
        s = float(scale)
        if not (s > 0 and s == s and s != float("inf")):
            raise ConfigError(f"{where} {scale!r}: expected a positive finite number")
        if s > self.max_scale:  # exactly, as `eval` checks its scales: a scale is shown as it is checked
            raise ConfigError(
                f"{where} {fmt_scale(s)}: above the cap of model {self.name!r} (max_scale {fmt_scale(self.max_scale)}, "
                f"from checkpoint {self.path}); choose a scale up to {fmt_scale(self.max_scale)}"
            )
        return s


def load_render_model(checkpoint: str | Path, device: torch.device | str = "cpu",
                      expect_model: str | None = None, overrides: dict[str, Any] | None = None) -> RenderModel:
    """Load a checkpoint for rendering (safe load, weights checked, eval mode); `overrides` replace
    options without weights (`window_size`)."""
    path = check_path(checkpoint, "checkpoint")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides: expected a mapping of model options (e.g. {{'window_size': 8}}) or None, "
                          f"got {type(overrides).__name__}")
    model, ck = model_from_checkpoint(path, device, expect_model=expect_model, overrides=overrides)
    k, rep = derive_inputs(model, input_options(ck, str(path)), str(path))
    return RenderModel(model, str(ck["model"]["name"]), path, k, rep)


def baseline_model(like: RenderModel, device: torch.device | str = "cpu") -> RenderModel:
    """The bicubic baseline with the same window (for side-by-side panels and the demo's table)."""
    from egvsr.models import build_model

    m = build_model("bicubic", max_scale=max(like.max_scale, 1.0)).to(device).eval()
    return RenderModel(m, "bicubic", like.path, like.num_frames, {})


def save_untrained(name: str, path: str | Path, seed: int = 0, overwrite: bool = False,
                   **options: Any) -> Path:
    """A checkpoint of a randomly initialised registered model (smoke runs, memory benchmarks).

    It has the keys the trainer writes (model name and config, state_dict, experiment) with an empty
    experiment, so its input options are derived from the model. `path` may not be the shipped weights
    (any spelling, a hard link) nor lie in the package's data folder, even with `overwrite`.
    """
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.events.io.arguments import check_path
    from egvsr.fsutil import check_output_path, refuse_package_data
    from egvsr.models import build_model

    check_output_path(check_path(path, "path", "an output file path"), overwrite)  # before the model is built
    refuse_package_data([Path(path)])
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(int(seed))
        model = build_model(name, **options)
    payload = {"model": {"name": name, "config": model.config}, "state_dict": model.state_dict(),
               "ema": None, "experiment": {}}
    return save_checkpoint(path, payload, overwrite=overwrite)
