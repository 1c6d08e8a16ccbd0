"""YAML experiment configs: defaults, strict merging (unknown keys are errors), dotted overrides.

An experiment is one model + data + schedule. Every key a user writes must exist in `DEFAULTS` (or in a
free-form section, checked later by the component that consumes it), so a typo fails at start-up with the
key's dotted name and the closest valid spelling instead of being silently ignored.
"""

from __future__ import annotations

import copy
import difflib
import operator
import os
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from egvsr.engine.yamltext import (check_expanded_size, number_text, read_yaml_mapping, safe_dump, safe_load,
                                   yaml_problem)
from egvsr.errors import ConfigError

#: the largest float32: torch computes Adam's step and weight decay in the weights' float32, and stops
#: with "value cannot be converted to type float without overflow" on a value beyond it
FLOAT32_MAX = 3.4028234663852886e38

# Sections whose keys belong to another component (checked there against its signature).
FREE_FORM = {"model.options", "data.train", "data.val"}

DEFAULTS: dict[str, Any] = {
    "name": "experiment",
    "seed": 0,
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "output_root": "experiments",
    "model": {"name": "egvsr", "options": {}},
    "data": {"train": {}, "val": {}},
    "train": {
        "iterations": 1000,
        "batch_size": 4,
        "num_workers": 0,
        "lr": 2e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.0,
        "schedule": "cosine",  # cosine | constant
        "eta_min": 1e-7,
        "warmup_iterations": 0,
        "grad_clip": 0.0,  # 0 = off; else max global norm
        "ema_decay": 0.0,  # 0 = off; e.g. 0.999
        "amp": True,  # used on CUDA only
        "loss": "charbonnier",  # or charbonnier_rgb (EGVSR's released loss)
        "log_every": 10,
        "val_every": 200,
        "checkpoint_every": 200,
        "keep_checkpoints": 2,
        "max_minutes": 0.0,  # 0 = no wall-clock budget
        "max_cpu_minutes": 0.0,  # 0 = no budget; else CPU time of the training process (all threads)
        "threads": 0,  # torch CPU threads; 0 = torch's default
        "init_from": None,  # a checkpoint (or "shipped") whose model weights start a new run
    },
    "eval": {"protocol": "ours", "scales": [2, 4], "chunk_size": 65536},
}


def _closest(key: str, options) -> str:
    match = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def merge(base: dict, update: dict, prefix: str = "") -> dict:
    """Return `base` updated by `update`, rejecting keys that `base` does not define. What a key takes (a
    mapping, a number) is its `DEFAULTS` entry's kind, not the value an earlier layer gave it: a file's
    `device: 0` does not make `--set device=cpu` "expect a number"."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        dotted = _dotted(prefix, key)
        if key not in out:
            raise ConfigError(
                f"unknown config key {dotted!r}{_closest(key, out)}; valid keys here: {sorted(out)}"
            )
        kind = _default_at(dotted, out[key])
        if dotted in FREE_FORM:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r}: expected a mapping, got {type(value).__name__}")
            out[key] = _merge_free(out[key], value, dotted + ".") if value else {}  # {} clears the section
        elif isinstance(kind, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r}: expected a mapping, got {value!r}")
            out[key] = merge(out[key] if isinstance(out[key], dict) else {}, value, dotted + ".")
        else:
            out[key] = _coerce(kind, value, dotted)
    return out


def _default_at(dotted: str, fallback: Any) -> Any:
    """The `DEFAULTS` value of the dotted key (`fallback`, the merged value, for a key it does not hold)."""
    node: Any = DEFAULTS
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return fallback
        node = node[part]
    return node


def _dotted(prefix: str, key: Any) -> str:
    """`prefix` + `key`, refusing a key that is not text (YAML reads `1:` or `null:` as a number or None)."""
    if not isinstance(key, str):
        shown = yaml.safe_dump(key, default_flow_style=True).splitlines()[0].removesuffix(" ...")
        kind = "null" if key is None else "number" if isinstance(key, (int, float)) else type(key).__name__
        raise ConfigError(f"config key {prefix}{shown}: keys must be names (text), got a YAML {kind}; "
                          f"quote it ('{shown}': ...) if a name was meant")
    return f"{prefix}{key}"


def _merge_free(base: dict, update: dict, prefix: str = "") -> dict:
    """Merge without key checks beyond their type (the consuming component validates these keys)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        dotted = _dotted(prefix, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_free(out[key], value, dotted + ".") if value else {}  # {} clears the section
        elif isinstance(value, dict):
            out[key] = _merge_free({}, value, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _coerce(default: Any, value: Any, dotted: str) -> Any:
    """A number written as text (`"1e-4"`, `"4"`) where the default is a number: read as that number, an
    integer where the default is one and the text is a whole number (so a later check shows `4`, not `4.0`)."""
    if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
        number = number_text(value)
        if number is None:
            raise ConfigError(f"config key {dotted!r}: expected a number, got {value!r}")
        return int(number) if isinstance(default, int) and isinstance(number, float) and number.is_integer() \
            else number
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.lr=1e-4")
    key, raw = text.split("=", 1)
    try:
        value = safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({yaml_problem(exc)})") from None
    except ValueError as exc:
        raise ConfigError(f"--set {text[:60]!r}: {exc}") from None
    parts = key.strip().split(".")
    if parts == [""]:
        raise ConfigError(f"--set {text!r}: empty key")
    if "" in parts:  # `train..lr`, `.lr`, `train.`: a dropped part would set another key
        raise ConfigError(f"--set {text!r}: key {key.strip()!r} has an empty part; expected dotted names, "
                          "e.g. train.lr=1e-4")
    return parts, value


def option_overrides(texts: list[str]) -> dict[str, Any]:
    """`["key=value", ...]` -> {"key": YAML-parsed value}: flat options such as a model's, in order."""
    return {".".join(parts): value for parts, value in map(parse_override, texts)}


def nest(parts: list[str], value: Any) -> dict:
    out: Any = value
    for p in reversed(parts):
        out = {p: out}
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """Defaults, then the YAML file, then `--set` overrides; all strictly checked."""
    if path is not None:
        from egvsr.events.io.arguments import check_path

        check_path(path, "config_path", "the path of a YAML config file")
    if overrides is not None and (isinstance(overrides, str) or not isinstance(overrides, (list, tuple))
                                  or not all(isinstance(text, str) for text in overrides)):
        raise ConfigError(f"overrides: expected a list of 'key=value' texts (as --set takes), got {overrides!r:.80}")
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        cfg = merge(cfg, read_yaml_mapping(path, "config file"))
    for text in overrides or []:
        parts, value = parse_override(text)
        cfg = merge(cfg, nest(parts, value))
    _check_values(cfg)
    return _expand_home(cfg)


def check_config(cfg: Any) -> dict:
    """A config passed from Python (`train(cfg=...)`): merged over `DEFAULTS` and checked as a YAML
    file is, so a key left out takes its default and a wrong or unknown one is named in one line."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"cfg: expected a config mapping (a dict with the sections of a YAML config, as "
                          f"load_config returns), got {type(cfg).__name__}")
    try:  # before the merge walks it: a value shared many times is walked each time
        check_expanded_size(cfg)
    except ValueError as exc:
        raise ConfigError(f"cfg: {exc}") from None
    cfg = merge(DEFAULTS, cfg)
    _check_values(cfg)
    return _expand_home(cfg)


def _expand_home(cfg: dict) -> dict:
    """`cfg` with a leading `~` of its path values expanded as a shell would (`~/data`, `~user/data`): no
    shell sees a YAML file or the value of `--set data.train.recordings=~/x`, and `output_root: ~/runs` would
    otherwise make a folder named `~` in the working directory."""
    def home(value: Any) -> Any:
        return os.path.expanduser(value) if isinstance(value, str) and value.startswith("~") else value

    cfg["output_root"] = home(cfg["output_root"])
    cfg["train"]["init_from"] = home(cfg["train"]["init_from"])
    data = {}
    for name, section in cfg["data"].items():  # new mappings: a caller's own stay as they were
        section = {key: home(v) if key in ("root", "sample_cache") else v for key, v in section.items()}
        recordings = section.get("recordings")
        if recordings is not None:
            section["recordings"] = [home(v) for v in recordings] if isinstance(recordings, list) else home(recordings)
        data[name] = section
    cfg["data"] = data
    return cfg


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    """A finite int or float, an int only within float's range (`math.isfinite` of a larger one raises
    OverflowError; comparing it with a float does not)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= sys.float_info.max


#: `train.loss` values: the keys of `egvsr.engine.losses.LOSSES` (named here so that a config loads without torch)
LOSS_NAMES = ("charbonnier", "charbonnier_rgb")


def _need(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {value!r:.80}")


def _refuse_nul(value: Any, key: str) -> None:
    """Refuse, naming its dotted key (`data.train.recordings[0]`), a text holding a NUL byte anywhere in
    the config: no file name, folder or name can hold one (os calls raise ValueError on it, mid-run)."""
    if isinstance(value, str) and "\0" in value:
        raise ConfigError(f"{key}: {value!r:.80} holds a NUL byte, which no path or name can; expected text without one")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _refuse_nul(v, f"{key}[{i}]")


#: the longest file name (in UTF-8 bytes) the usual file systems hold: `name` is the experiment's folder
NAME_MAX = 255


def _check_values(cfg: dict) -> None:
    """Every value of the known sections is checked here, at start-up, with its dotted key."""
    _refuse_nul(cfg, "")
    t = cfg["train"]
    for key in ("iterations", "batch_size", "log_every", "val_every", "checkpoint_every"):
        _need(_is_int(t[key]) and 1 <= t[key] < 2**62, f"train.{key}", "a positive integer", t[key])
    for key in ("num_workers", "warmup_iterations", "keep_checkpoints"):
        _need(_is_int(t[key]) and 0 <= t[key] < 2**62, f"train.{key}", "an integer >= 0", t[key])
    _need(_is_int(t["num_workers"]) and t["num_workers"] <= 1024, "train.num_workers", "at most 1024", t["num_workers"])
    _need(_is_number(t["lr"]) and t["lr"] > 0, "train.lr", "a positive finite number", t["lr"])
    for key in ("weight_decay", "eta_min", "grad_clip", "max_minutes", "max_cpu_minutes"):
        _need(_is_number(t[key]) and t[key] >= 0, f"train.{key}", "a finite number >= 0", t[key])
    betas = t["betas"]
    _need(isinstance(betas, (list, tuple)) and len(betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in betas),
          "train.betas", "two numbers in [0, 1), e.g. [0.9, 0.99]", betas)
    _need(isinstance(t["amp"], bool), "train.amp", "true or false", t["amp"])
    _need(isinstance(t["loss"], str) and t["loss"] in LOSS_NAMES, "train.loss", " or ".join(LOSS_NAMES), t["loss"])
    if t["schedule"] not in ("cosine", "constant"):
        raise ConfigError(f"train.schedule: expected cosine or constant, got {t['schedule']!r}")
    threads = t["threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 1024:
        raise ConfigError(f"train.threads: expected an integer in 0..1024 (0 = torch's default), got {threads!r}")
    _need(t["init_from"] is None or isinstance(t["init_from"], str) and t["init_from"].strip() != "",
          "train.init_from", "a checkpoint path, 'shipped', or null", t["init_from"])
    if not (_is_number(t["ema_decay"]) and 0 <= float(t["ema_decay"]) < 1):
        raise ConfigError(f"train.ema_decay: expected 0 (off) or a value in (0, 1), got {t['ema_decay']!r}")
    _check_float32(t)
    _need(_is_int(cfg["seed"]) and 0 <= cfg["seed"] < 2**63, "seed", "an integer in 0..2**63-1", cfg["seed"])
    e = cfg["eval"]
    from egvsr.datasets.geometry import check_scales  # `egvsr eval` reads the checkpoint's eval.scales so

    check_scales(e["scales"], "eval.scales")  # at start-up: a scale below 1 or given twice, not at the eval after
    _need(_is_int(e["chunk_size"]) and 1 <= e["chunk_size"] <= 2**31, "eval.chunk_size", "a positive integer",
          e["chunk_size"])
    from egvsr.engine.protocol import PROTOCOLS

    _need(isinstance(e["protocol"], str) and e["protocol"] in PROTOCOLS, "eval.protocol",
          f"one of {sorted(PROTOCOLS)}", e["protocol"])
    name = cfg["name"]
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"name: {name!r:.80} must be a text of letters, digits, '-', '_' or '.'")
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise ConfigError(f"name: {name[:40]!r}... is {len(name.encode('utf-8', 'surrogateescape'))} bytes long; "
                          f"expected at most {NAME_MAX} (it names the experiment's folder)")
    _need(isinstance(cfg["output_root"], str) and cfg["output_root"].strip() != "", "output_root",
          "a folder path (text)", cfg["output_root"])
    model = cfg["model"]
    _need(isinstance(model, dict), "model", "a mapping with a name and options", model)
    _need(isinstance(model.get("name"), str) and model["name"].strip() != "", "model.name",
          "a registered model name (`egvsr models` lists them)", model.get("name"))
    from egvsr.engine.config_datasets import check_section

    for section in ("train", "val"):
        check_section(cfg["data"][section], f"data.{section}")


def _check_float32(t: dict) -> None:
    """Refuse at start-up what torch's Adam cannot hold in float32 (it would stop at step 1): its largest
    step, the highest learning rate of the schedule over (1 - beta1) at step 1, and the weight decay."""
    key = "train.eta_min" if t["schedule"] == "cosine" and t["eta_min"] > t["lr"] else "train.lr"
    rate, beta1 = float(t[key.split(".")[1]]), float(t["betas"][0])
    first = rate / (1.0 - beta1)
    if not first <= FLOAT32_MAX:
        raise ConfigError(
            f"{key}: {rate:g} makes Adam's first step, {key} / (1 - train.betas[0] {beta1!r}) = {first:.3g}, "
            f"larger than float32 holds ({FLOAT32_MAX:.3g}); expected at most {FLOAT32_MAX * (1.0 - beta1):.3g}")
    _need(t["weight_decay"] <= FLOAT32_MAX, "train.weight_decay",
          f"at most {FLOAT32_MAX:.3g} (torch holds it in float32)", t["weight_decay"])


def dump_config(cfg: dict) -> str:
    """The resolved config as YAML (saved beside the experiment's checkpoints)."""
    return safe_dump(cfg, sort_keys=False)  # a text such as '1e-2' quoted: it reads back as text


#: keys that cannot change the weights a run trains, so a resumed run may change them freely
# keys a resume may change freely: where and how fast the run goes, not what it computes (a moved experiment
# folder, a moved sample cache: its clips are the same from their seed and options)
RESUME_FREE_KEYS = {"device", "output_root", "train.num_workers", "train.threads", "train.max_minutes",
                    "train.max_cpu_minutes", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
                    "train.init_from", "data.train.sample_cache", "data.val.sample_cache"}


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(cfg, dict):
        return {prefix.rstrip("."): cfg}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def config_differences(old: dict, new: dict) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs (a key missing on one side counts as
    its default, a data section's key its dataset default, and one value written two ways, `recordings: x`
    and `[x]`, `patch_size: 8` and `[8, 8]`, `CED` and `./CED/`, is one value: `canonical_value`), leaving out
    `RESUME_FREE_KEYS`."""
    from egvsr.engine.config_datasets import canonical_value, section_defaults

    a, b, d = _flatten(old), _flatten(new), _flatten(DEFAULTS)
    for section in ("train", "val"):
        d.update(_flatten(section_defaults(f"data.{section}"), f"data.{section}."))
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        if key in RESUME_FREE_KEYS:
            continue
        va, vb = a.get(key, d.get(key, missing)), b.get(key, d.get(key, missing))
        if canonical_value(key, va) != canonical_value(key, vb):  # shown as written
            out.extend(_show_change(key, va, vb, missing,
                                    lambda x, y, k=key: canonical_value(k, [x]) == canonical_value(k, [y])))
    return out


def _show_change(key: str, old: Any, new: Any, missing: object,
                 same: Callable[[Any, Any], bool] = operator.eq) -> list[str]:
    """`key: old -> new`; for two lists of one length, each element that differs (`key[5]: ...`; `same`: whether
    two elements are one value, a recording path spelled two ways), so a change deep in a long list of
    recordings is seen rather than cut off."""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (x, y) in enumerate(zip(old, new)) if not same(x, y)
                for line in _show_change(f"{key}[{i}]", x, y, missing)]
    show = [("(absent)" if v is missing else repr(v)[:60]) for v in (old, new)]
    return [f"{key}: {show[0]} -> {show[1]}"]
