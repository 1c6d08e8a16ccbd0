"""Model options: dataclass fields with bounds/choices, checked once so bad configs fail with one clear line.

Each model family declares a dataclass of options built with `opt(...)`; `make_options` rejects unknown
keys, coerces ints/floats/tuples and enforces the declared bounds, raising `ConfigError`.
"""

from __future__ import annotations

import numbers
from dataclasses import MISSING, asdict, field, fields
from typing import Any, Mapping, TypeVar

import numpy as np

from egvsr.errors import ConfigError, shown_value

T = TypeVar("T")


def opt(default: Any, *, min: float | None = None, max: float | None = None,
        choices: tuple | None = None, doc: str = "") -> Any:
    """A dataclass field with validation metadata (bounds for numbers, allowed values for strings)."""
    meta = {"min": min, "max": max, "choices": choices, "doc": doc}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


def _default(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


#: the largest integer option (a tensor size is an int64) and float option (weights and the numbers
#: computed with them are float32: a larger initial scale or TF half-width becomes inf, then NaN outputs)
INT_LIMIT = 2 ** 63 - 1
FLOAT_LIMIT = float(np.finfo(np.float32).max)


def _coerce(model: str, name: str, value: Any, default: Any, meta: dict) -> Any:
    where = f"model {model!r}: option {name!r}"
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{where}: expected true/false, got {shown_value(value)}")
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{where}: expected an integer, got {shown_value(value)}")
        value = int(value)
        if abs(value) > INT_LIMIT:  # 1e300 from a config: a size no tensor can have, nor a message format
            raise ConfigError(f"{where}: expected an integer within int64's range (|n| <= {INT_LIMIT}), "
                              f"got {value:.3g}")
    elif isinstance(default, float):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{where}: expected a number, got {shown_value(value)}")
        value = float(value)
        if value != value or abs(value) > FLOAT_LIMIT:
            raise ConfigError(f"{where}: expected a finite number within float32's range (|x| <= "
                              f"{FLOAT_LIMIT:.3g}), got {shown_value(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {shown_value(value)}")
    elif isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ConfigError(f"{where}: expected a list of positive integers, got {shown_value(value)}")
        items = tuple(value)
        if not items or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
                            or not 1 <= v <= INT_LIMIT for v in items):
            shown = repr(value) if len(repr(value)) <= 200 else f"{repr(value)[:200]}..."
            raise ConfigError(f"{where}: expected a non-empty list of positive integers (each within int64's "
                              f"range), got {shown}")
        return tuple(int(v) for v in items)
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ConfigError(f"{where}: expected one of {list(meta['choices'])}, got {shown_value(value)}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"{where}: expected a value >= {lo}, got {shown_value(value)}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: expected a value <= {hi}, got {shown_value(value)}")
    return value


def make_options(cls: type[T], model: str, values: Mapping[str, Any]) -> T:
    """Build the options dataclass `cls` from `values`, rejecting unknown keys and out-of-range values."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"model {model!r}: unknown option(s) {unknown}; valid options are {sorted(known)}"
        )
    clean = {
        name: _coerce(model, name, values[name], _default(f), dict(f.metadata))
        for name, f in known.items() if name in values
    }
    return cls(**clean)


def options_dict(options: Any) -> dict[str, Any]:
    """Plain dict of an options dataclass (tuples become lists, so it round-trips through YAML/JSON)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}
