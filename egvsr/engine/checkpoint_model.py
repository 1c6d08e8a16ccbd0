"""Rebuild a trained model (and the data settings it was trained with) from a checkpoint.

A checkpoint is untrusted input even after the safe load (`load_checkpoint`, which never unpickles
arbitrary objects): its plain values may still have the wrong types, and its weights may be NaN (a
run saved after diverging). Each such problem is a `CheckpointError` naming the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from egvsr.engine.checkpoint_file import check_device, load_checkpoint
from egvsr.errors import CheckpointError, ConfigError
from egvsr.models.checkpoint_import import check_weight_tensors

# Dataset options that define what the model sees; evaluation and rendering must reuse them.
INPUT_OPTIONS = ("num_frames", "representation", "bins", "polarity", "normalize")
TRAIN_KEY = "experiment.data.train"  # where a checkpoint keeps its training data options
DATASET_DEFAULTS = {"num_frames": 3, "representation": "moments", "bins": 32, "polarity": "split",
                    "normalize": "none"}


def model_from_checkpoint(
    path: str | Path, device: torch.device | str = "cpu", expect_model: str | None = None, use_ema: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, dict]:
    """(model in eval mode with the checkpoint's weights — EMA weights when saved —, checkpoint dict).
    `expect_model`: a registered model, or a family (`egvsr` takes any EGVSR preset), that the checkpoint
    must hold. `overrides` replace model options that hold no weights (such as `window_size`); the weights
    must still fit."""
    from egvsr.models import build_model
    from egvsr.models.size_estimate import limit_gb

    device = check_device(device)  # a device this machine lacks is named before the (slow) load
    family = check_expected_model(expect_model)
    ck = load_checkpoint(path, map_location="cpu")
    spec = ck["model"]
    if expect_model is not None and not _holds(spec.get("name"), expect_model, family):
        raise CheckpointError(f"{path}: checkpoint holds model {spec.get('name')!r}, expected {expect_model!r}"
                              f"{_relatives(expect_model) if family else ''}")
    if not isinstance(spec.get("name"), str) or not isinstance(spec.get("config"), Mapping):
        raise CheckpointError(
            f"{path}: checkpoint 'model' must hold a name (str) and a config (mapping), got "
            f"name {type(spec.get('name')).__name__}, config {type(spec.get('config')).__name__}"
        )
    _check_names_agree(path, spec["name"], spec["config"].get("name"))
    limit_gb()  # a bad EGVSR_MAX_MODEL_GB is the environment's mistake, not the checkpoint's: named alone
    try:  # the options are checked, and the model's size estimated, before any module is built
        if overrides:  # only checked (meta device: no memory, no init); the model built is the one below
            with torch.device("meta"):
                probe = build_model(dict(spec["config"]))
        else:
            model = build_model(dict(spec["config"]))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: checkpoint 'model.config': {exc}") from None
    if overrides:
        _check_overrides_known(overrides, probe.config, spec["name"], path)
        try:
            model = build_model({**spec["config"], **overrides})
        except ConfigError as exc:
            named = ", ".join(f"`{key}`" for key in overrides)
            raise ConfigError(f"{named} for {path} (model {spec['name']!r}): {exc}") from None
    ema = ck.get("ema")  # None (or empty) when the run kept no EMA weights
    key = "ema" if use_ema and ema is not None and not (isinstance(ema, Mapping) and not ema) else "state_dict"
    state = ck[key]
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{path}: checkpoint '{key}' is a {type(state).__name__}, expected a mapping of parameter "
            "names to tensors"
        )
    kinds = {name: v.is_floating_point() for name, v in model.state_dict().items()}
    check_weight_tensors(((f"{key}.{name}", v) for name, v in state.items() if isinstance(v, Tensor)), path,
                         integer_ok=lambda name: not kinds.get(name.split(".", 1)[1], True))
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:300]  # torch's message spans lines; the CLI prints one
        raise CheckpointError(f"{path}: weights do not fit model {spec['name']!r}: {detail}") from None
    check_finite_weights(((f"{key}.{name}", p) for name, p in model.named_parameters()), path)
    return model.to(device).eval(), ck


def check_expected_model(name: str | None) -> bool:
    """Whether `name` (a model a checkpoint must hold) names a family too; refused when it names neither a
    registered model nor a family (as `expect_model`, shown by the CLI as --model)."""
    from egvsr.models.registry import FAMILIES, PRESETS

    if name is None:
        return False
    if not isinstance(name, str) or (name not in PRESETS and name not in FAMILIES):
        raise ConfigError(f"`expect_model` {name!r}: not a registered model; registered models: "
                          f"{', '.join(sorted(PRESETS))} (or a family: {', '.join(sorted(FAMILIES))})")
    return name in FAMILIES


def _relatives(family: str) -> str:
    """' or another model of its family (a, b)' for a family name, '' when it has no other model."""
    from egvsr.models.registry import PRESETS

    others = sorted(n for n, p in PRESETS.items() if p.family == family and n != family)
    return f" or another model of its family ({', '.join(others)})" if others else ""


def _holds(name: Any, expected: str, family: bool) -> bool:
    """Whether a checkpoint's model `name` is `expected`, or of family `expected` when `family`."""
    from egvsr.models.registry import PRESETS

    if name == expected:
        return True
    return family and isinstance(name, str) and name in PRESETS and PRESETS[name].family == expected


#: what a render-time option replaces, to say what a model without it lacks
_OVERRIDDEN = {"window_size": "attention windows"}


def _check_overrides_known(overrides: Mapping[str, Any], config: Mapping[str, Any], name: str,
                           path: str | Path) -> None:
    """Refuse an override that is no option of the checkpoint's model (a VideoINR model has no attention
    windows to resize), naming it as the caller's parameter `key`."""
    for key in overrides:
        if key not in config:
            raise ConfigError(f"`{key}`: model {name!r} ({path}) has no {_OVERRIDDEN.get(key, f'option {key!r}')}")


def check_finite_weights(weights: Iterable[tuple[str, Tensor]], where: str | Path) -> None:
    """Refuse the first weight holding NaN or +-inf, or a value beyond float32 (the models' dtype, into
    which an imported float64 weight is cast), naming `where`, the weight's name and index and the value."""
    for name, value in weights:
        value = value.detach()
        if not value.is_floating_point():
            continue  # integers are always finite
        finite = torch.isfinite(value if value.dtype == torch.float32 else value.to(torch.float32))
        if not bool(finite.all()):
            index = tuple(int(i) for i in torch.nonzero(~finite)[0])
            got = float(value[index])
            what = f"{got}" if not math.isfinite(got) else f"{got:g}, beyond float32's range"
            raise CheckpointError(
                f"{where}: weight '{name}'{list(index)} is {what}; expected finite weights (was the checkpoint "
                "saved after training diverged?)"
            )


def output_not_finite(checkpoint: str | Path, when: str) -> CheckpointError:
    """The error for a model output holding NaN or infinity although the weights are finite (weights
    scaled far up overflow float32 inside the model): `when` names the output time, `checkpoint` the
    weights. Rendering and evaluation refuse such an output rather than write black frames or score nan."""
    return CheckpointError(f"model output is not finite at {when}: the weights of {checkpoint} overflow float32 "
                           "(or make NaN) on these inputs; use another checkpoint")


def input_options(ck: dict, where: str = "checkpoint") -> dict:
    """The dataset options the checkpoint's model was trained with (empty for untrained baselines)."""
    exp = ck.get("experiment") or {}
    data = exp.get("data") if isinstance(exp, Mapping) else None
    train = (data or {}).get("train") if isinstance(data, Mapping) else None
    train = train or {}
    for name, value in (("experiment", exp), ("experiment.data", data or {}), ("experiment.data.train", train)):
        if not isinstance(value, Mapping):
            raise CheckpointError(f"{where}: '{name}' is a {type(value).__name__}, expected a mapping")
    return {k: train[k] for k in INPUT_OPTIONS if k in train}


def _check_names_agree(path: str | Path, label: str, built: Any) -> None:
    """The checkpoint's model name (its label everywhere) must be a registered model of the family its
    config builds: a file naming one model and holding another is refused rather than mislabelled."""
    from egvsr.models.registry import PRESETS

    if not isinstance(built, str) or built not in PRESETS:
        return  # building it reports the unknown model
    if label not in PRESETS:
        raise CheckpointError(f"{path}: checkpoint 'model.name' {label!r} is not a registered model (its "
                              f"'model.config' builds {built!r}); the file is inconsistent")
    if PRESETS[built].family != PRESETS[label].family:
        raise CheckpointError(
            f"{path}: checkpoint 'model.name' {label!r} (family {PRESETS[label].family!r}) contradicts its "
            f"'model.config' name {built!r} (family {PRESETS[built].family!r}); the file is inconsistent"
        )


def _int_option(opts: dict, key: str, default: Any, where: str) -> int:
    value = opts.get(key, default)
    try:
        if isinstance(value, bool) or int(value) != value:
            raise ValueError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(
            f"{where}: the training config gives {TRAIN_KEY}.{key}={value!r}, expected an integer"
        ) from None


def derive_inputs(model: nn.Module, opts: dict, where: str) -> tuple[int, dict[str, Any]]:
    """(K, event-tensor options) for `model`, from the training `opts`, checked against the model;
    options the config does not state (an untrained checkpoint states none) come from the model."""
    from egvsr.events.represent.registry import get_representation, representation_names
    from egvsr.events.represent.validation import NORMALIZATIONS, POLARITIES

    k_model = getattr(model, "num_frames", None)
    k = _int_option(opts, "num_frames", k_model or getattr(model, "default_frames", None)
                    or DATASET_DEFAULTS["num_frames"], where)
    if k_model is not None and k != k_model:
        raise CheckpointError(
            f"{where}: the training config gives {TRAIN_KEY}.num_frames={k} but the model takes {k_model} frames"
        )
    if k < getattr(model, "min_frames", 1):
        raise CheckpointError(f"{where}: the training config gives {TRAIN_KEY}.num_frames={k}, below the model's "
                              f"minimum {model.min_frames}")
    if not getattr(model, "uses_events", False):
        return k, {}
    m, p = getattr(model, "event_shape", (0, 0))
    rep = {key: opts[key] for key in ("representation", "bins", "polarity", "normalize") if key in opts}
    rep["bins"] = _int_option(rep, "bins", int(m), where)
    rep.setdefault("polarity", "split" if p == 2 else "signed")
    rep.setdefault("representation", "moments" if rep["polarity"] == "split" else "voxel")
    rep.setdefault("normalize", DATASET_DEFAULTS["normalize"])
    for key, choices in (("representation", representation_names()), ("polarity", POLARITIES),
                         ("normalize", NORMALIZATIONS)):
        if rep[key] not in choices:
            raise CheckpointError(
                f"{where}: the training config gives {TRAIN_KEY}.{key}={rep[key]!r}, expected one of "
                f"{', '.join(choices)}"
            )
    got_p = get_representation(rep["representation"]).polarity_channels(rep["polarity"])
    if rep["bins"] != int(m) or got_p != int(p):
        stated = ", ".join(f"{key}={opts[key]!r}" for key in ("bins", "representation", "polarity") if key in opts)
        raise CheckpointError(
            f"{where}: the training config gives events of {rep['bins']} bins x {got_p} polarities "
            f"({rep['representation']}, {rep['polarity']}{f'; {TRAIN_KEY}: {stated}' if stated else ''}) but the "
            f"model takes {m} x {p}"
        )
    return k, rep
