"""Model registry: named presets of the model families, `build_model` and `list_models`.

A model is built from a preset name ("egvsr"), or from a config mapping with a "name" key plus any
options of that family ({"name": "egvsr", "local_ensemble": True}), plus keyword overrides. The
built model's `config` lists every option, so `build_model(model.config)` rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from egvsr.errors import ConfigError
from egvsr.models.base import SRModel
from egvsr.models.bicubic import Bicubic, BicubicOptions
from egvsr.models.egvsr import EGVSR, EGVSROptions
from egvsr.models.egvsr_official import EGVSROfficial, EGVSROfficialOptions
from egvsr.models.options import make_options, options_dict
from egvsr.models.size_estimate import check_model_size
from egvsr.models.videoinr import VideoINR, VideoINROptions

FAMILIES: dict[str, tuple[type[SRModel], type]] = {
    "egvsr": (EGVSR, EGVSROptions),
    "egvsr-official": (EGVSROfficial, EGVSROfficialOptions),
    "videoinr": (VideoINR, VideoINROptions),
    "bicubic": (Bicubic, BicubicOptions),
}


@dataclass(frozen=True)
class Preset:
    """A named model: its family, the options that differ from the family defaults, one line of text."""

    family: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {}


def register(name: str, family: str, description: str, **options: Any) -> None:
    """Add (or replace) a preset; its options are checked now, the model is built on demand."""
    if family not in FAMILIES:
        raise ConfigError(f"register {name!r}: unknown model family {family!r}; families: {sorted(FAMILIES)}")
    make_options(FAMILIES[family][1], name, options).check(name)
    PRESETS[name] = Preset(family, description, dict(options))


def build_model(name_or_config: str | Mapping[str, Any], **overrides: Any) -> SRModel:
    """Build a registered model by name or config mapping (key "name" + options), with overrides."""
    if isinstance(name_or_config, str):
        name, values = name_or_config, {}
    elif isinstance(name_or_config, Mapping):
        values = dict(name_or_config)
        name = values.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"model config: expected a 'name' key naming one of {sorted(PRESETS)}, got {name!r}")
    else:
        raise ConfigError(f"model: expected a model name or a config mapping, got {type(name_or_config).__name__}")
    preset = PRESETS.get(name)
    if preset is None:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(sorted(PRESETS))}")
    cls, options_cls = FAMILIES[preset.family]
    options = make_options(options_cls, name, {**preset.options, **values, **overrides})
    options.check(name)
    check_model_size(name, preset.family, options)  # before any module exists (untrusted configs)
    model = cls(options)
    model.config = {"name": name, **options_dict(options)}
    return model


def count_parameters(name_or_config: str | Mapping[str, Any], **overrides: Any) -> int:
    """Trainable parameters of a model, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return build_model(name_or_config, **overrides).num_parameters()


def list_models() -> list[tuple[str, int, str]]:
    """(name, parameter count, description) of every registered preset."""
    return [(name, count_parameters(name), p.description) for name, p in PRESETS.items()]


register("egvsr", "egvsr", "EGVSR, paper size: n_feats 32, inr 32, events 32 moments x 2 (~2.6M)")
register("egvsr-large", "egvsr", "EGVSR, CED-yaml size: n_feats 64, inr 32 (~10.2M)", n_feats=64)
register("egvsr-tiny", "egvsr", "EGVSR, tiny (tests and smoke runs): n_feats 8, 8 moments",
         n_feats=8, inr_channels=8, moments=8, lcb_depth=1, heads=2, tf_samples=2, tf_hidden=16)
register("egvsr-small", "egvsr", "EGVSR, the shipped CPU width: n_feats 16, inr 16, 8 moments (~0.52M)",
         n_feats=16, inr_channels=16, moments=8, lcb_depth=1, heads=4, tf_samples=4, tf_hidden=32)
register("egvsr-official", "egvsr-official",
         "EGVSR as released (official-compatible mode, imported weights): n_feats 32, inr 32 (~2.59M)")
register("egvsr-official-large", "egvsr-official", "EGVSR as released, CED-yaml size: n_feats 64 (~10.2M)",
         n_feats=64)
register("videoinr", "videoinr", "VideoINR, frames only: ZSM encoder (plain-PyTorch DCN) + SIREN INRs (~11.0M)")
register("videoinr-official", "videoinr",
         "VideoINR as released (official-compatible test path, imported latest_G.pth): no output clamp",
         decoder="official", output_activation="none")
register("videoinr-tiny", "videoinr", "VideoINR, tiny (tests and smoke runs): nf 8",
         nf=8, groups=2, front_blocks=1, back_blocks=1, spatial_hidden=[16, 16], spatial_out=8,
         flow_hidden=[16, 16], rgb_hidden=[16, 16])
register("bicubic", "bicubic", "bicubic upsampling of the frame nearest each query time (no parameters)")
