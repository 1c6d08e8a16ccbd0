"""Model registry: families and their named presets, `build_model`, `list_models` and the models table.

A family (a model class with its options dataclass) registers itself where it is defined, with
`@register_model(name, options=..., presets={...})`; code outside the package registers its own the
same way. A model is built from a preset name ("egvsr"), or from a config mapping with a "name" key
plus any options of that family ({"name": "egvsr", "local_ensemble": True}), plus keyword overrides.
The built model's `config` lists every option, so `build_model(model.config)` rebuilds it exactly
(checkpoints store that config).
"""

from __future__ import annotations

from dataclasses import dataclass, field, is_dataclass
from typing import Any, Callable, Mapping, TypeVar

import torch
from torch import nn

from egvsr.errors import ConfigError
from egvsr.fsutil import check_flag
from egvsr.models.base import SRModel
from egvsr.models.options import make_options, options_dict
from egvsr.models.size_estimate import SizeEstimate, check_model_size

M = TypeVar("M", bound=type)


@dataclass(frozen=True)
class Family:
    """A model class, its options dataclass and (optionally) the formula of its size from the options."""

    name: str
    model: type[SRModel]
    options: type
    size: Callable[[Any], SizeEstimate] | None = None

    def estimate(self, options: Any) -> SizeEstimate:
        """Size of the model these options build: the family's formula, else counted on the meta device."""
        if self.size is not None:
            return self.size(options)
        with torch.device("meta"):
            model = self.model(options)
        layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
        params = sum(p.numel() for p in model.parameters())
        return SizeEstimate(params, layers, 0)


@dataclass(frozen=True)
class Preset:
    """A named model: its family, the options that differ from the family defaults, one line of text."""

    family: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}
PRESETS: dict[str, Preset] = {}


def register(name: str, family: str, description: str, /, *, replace: bool = False, **options: Any) -> None:
    """Add a preset of a registered family (an existing name only with `replace=True`, so that a typo
    cannot silently change a built-in preset); its options are checked now, the model is built on demand."""
    if name in PRESETS and not check_flag(replace, "replace"):
        raise ConfigError(f"register {name!r}: a model of that name is already registered "
                          "(pass replace=True to replace it)")
    if family not in FAMILIES:
        raise ConfigError(f"register {name!r}: unknown model family {family!r}; families: {sorted(FAMILIES)}")
    make_options(FAMILIES[family].options, name, options).check(name)
    PRESETS[name] = Preset(family, description, dict(options))


def _check_options_class(name: str, options: Any) -> None:
    """Refuse, naming `options`, what `register_model` cannot build presets from: anything but a dataclass
    type with a `check(name)` method."""
    if not (isinstance(options, type) and is_dataclass(options) and callable(getattr(options, "check", None))):
        raise ConfigError(f"register_model {name!r}: `options` {options!r}: expected an options dataclass "
                          "with a check(name) method (egvsr.models.options.opt fields)")


def register_model(name: str, *, options: type, presets: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
                   size: Callable[[Any], SizeEstimate] | None = None) -> Callable[[M], M]:
    """Class decorator: register the decorated `SRModel` subclass as family `name`.

    `options` is its options dataclass (fields made with `egvsr.models.options.opt`, a `check(name)`
    method); `presets` maps preset names to (description, options that differ from the defaults),
    default: one preset named like the family, described by the class docstring's first line; `size`
    gives parameters/layers/activation bytes from the options (default: counted on the meta device).
    """

    def add(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, SRModel)):
            raise ConfigError(f"register_model {name!r}: expected an SRModel subclass, got {cls!r}")
        _check_options_class(name, options)
        text = (cls.__doc__ or name).strip().splitlines()[0]
        new = {}  # every preset checked before anything is registered: a refusal leaves the registry as it was
        for preset, (description, values) in (presets or {name: (text, {})}).items():
            # registering a family again replaces its own presets, never another family's
            if preset in PRESETS and PRESETS[preset].family != name:
                raise ConfigError(f"register {preset!r}: a model of that name is already registered "
                                  f"(family {PRESETS[preset].family!r})")
            make_options(options, preset, dict(values)).check(preset)
            new[preset] = Preset(name, description, dict(values))
        FAMILIES[name] = Family(name, cls, options, size)
        PRESETS.update(new)
        return cls

    return add


def unregister(name: str) -> None:
    """Remove a preset, or a family together with all its presets (no error if absent)."""
    if name in FAMILIES:
        del FAMILIES[name]
        for preset in [p for p, spec in PRESETS.items() if spec.family == name]:
            del PRESETS[preset]
    PRESETS.pop(name, None)


def _resolve(name_or_config: str | Mapping[str, Any], overrides: Mapping[str, Any]) -> tuple[str, Family, Any]:
    """(preset name, family, checked options) of a model name or config mapping with overrides."""
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
    family = FAMILIES[preset.family]
    options = make_options(family.options, name, {**preset.options, **values, **overrides})
    options.check(name)
    return name, family, options


def estimate_size(name_or_config: str | Mapping[str, Any], /, **overrides: Any) -> SizeEstimate:
    """Parameters, layers and inference activations of a model, from its options alone (no module built)."""
    _, family, options = _resolve(name_or_config, overrides)
    return family.estimate(options)


def encoder_bytes(model: SRModel, lr_size: tuple[int, int]) -> int:
    """Bytes of the LR feature maps one inference pass of `model` keeps alive on an `lr_size` input:
    the model's own estimate (`estimate_size`, given for `REFERENCE_LR`) scaled by the pixel count."""
    from egvsr.models.size_estimate import REFERENCE_LR

    h, w = lr_size
    return estimate_size(model.config).activation_bytes * h * w // (REFERENCE_LR[0] * REFERENCE_LR[1])


def build_model(name_or_config: str | Mapping[str, Any], /, **overrides: Any) -> SRModel:
    """Build a registered model by name or config mapping (key "name" + options), with overrides."""
    name, family, options = _resolve(name_or_config, overrides)
    check_model_size(name, family.estimate(options), options)  # before any module exists (untrusted configs)
    model = family.model(options)
    model.config = {"name": name, **options_dict(options)}
    return model


def count_parameters(name_or_config: str | Mapping[str, Any], /, **overrides: Any) -> int:
    """Trainable parameters of a model, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return build_model(name_or_config, **overrides).num_parameters()


def list_models() -> list[tuple[str, int, str]]:
    """(name, parameter count, description) of every registered preset."""
    return [(name, count_parameters(name), p.description) for name, p in PRESETS.items()]


def models_table() -> str:
    """`egvsr models`: one line per preset (name, parameters in millions, description), with a header."""
    rows = list_models()
    width = max(len(r[0]) for r in rows)
    lines = [f"{'model':<{width}}  {'params':>10}  description"]
    lines += [f"{name:<{width}}  {params / 1e6:>9.3f}M  {text}" for name, params, text in rows]
    return "\n".join(lines) + "\n"
