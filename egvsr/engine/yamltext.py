"""YAML files read with the toolkit's errors: one-line parse messages, a mapping at the top level."""

from __future__ import annotations

from pathlib import Path

import yaml

from egvsr.errors import ConfigError, InputFileError


def yaml_problem(exc: BaseException) -> str:
    """`line L, column C: <problem>` for a `yaml.YAMLError`, on one line (PyYAML's own spans several)."""
    if isinstance(exc, yaml.reader.ReaderError):  # undecodable bytes or a control character
        return f"byte {exc.position}: {exc.reason}; expected UTF-8 (or UTF-16 with a byte-order mark) text"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())



def safe_load(text: str | bytes):
    """`yaml.safe_load`, raising ValueError instead of RecursionError on absurdly nested input."""
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise ValueError("YAML nested too deeply to read; expected a plain config") from None


def read_yaml_mapping(path: str | Path, what: str, expected: str = "a mapping at the top level") -> dict:
    """The mapping in YAML file `path` (empty file: {}); clear errors naming the file otherwise."""
    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{p}: is a folder; expected the {what} (a YAML file)")
    if not p.is_file():
        raise InputFileError(f"{p}: {what} not found")
    try:
        data = safe_load(p.read_bytes()) or {}  # bytes: PyYAML detects UTF-8/UTF-16 by the byte-order mark
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({yaml_problem(exc)})") from None
    except ValueError as exc:  # nested too deeply (below)
        raise ConfigError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected {expected}, got {type(data).__name__}")
    return data
