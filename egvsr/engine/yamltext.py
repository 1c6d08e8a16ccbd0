"""YAML files read with the toolkit's errors: one-line parse messages, a mapping at the top level."""

from __future__ import annotations

from pathlib import Path

import yaml

from egvsr.errors import ConfigError, InputFileError


def yaml_problem(exc: BaseException) -> str:
    """`line L, column C: <problem>` for a `yaml.YAMLError`, on one line (PyYAML's own spans several)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


def read_yaml_mapping(path: str | Path, what: str, expected: str = "a mapping at the top level") -> dict:
    """The mapping in YAML file `path` (empty file: {}); clear errors naming the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: {what} not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({yaml_problem(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected {expected}, got {type(data).__name__}")
    return data
