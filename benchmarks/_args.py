"""Argument types shared by the benchmarks' command lines: a bad count or size is refused by argparse
in one line (`error: argument --repeats: expected an integer >= 1, got '0'`) before any work, instead
of failing later with a traceback (an empty median, a negative sleep). A check argparse cannot make
(a checkpoint's scale cap, CUDA being present) ends the script through `refuse`, also in one line."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Callable, NoReturn


def _bounded(kind: type, low: float, what: str, high: float = math.inf) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (isinstance(value, int) or math.isfinite(value)) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, 1, "an integer >= 1")
count = _bounded(int, 0, "an integer >= 0")
positive_float = _bounded(float, 1e-12, "a finite number > 0")
nonnegative_float = _bounded(float, 0.0, "a finite number >= 0")
scale = _bounded(float, 1.0, "a finite scale >= 1 (the super-resolution factor)")


def scale_up_to(cap: float) -> Callable[[str], float]:
    """A super-resolution factor from 1 to `cap` (a model's max_scale)."""
    return _bounded(float, 1.0, f"a scale from 1 to {cap:g}", cap)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An integer from `low` to `high`."""
    return _bounded(int, low, f"an integer from {low} to {high}", high)


def size_hxw(low: int, high: int) -> Callable[[str], tuple[int, int]]:
    """'HxW' text as (height, width), each side from `low` to `high` pixels."""
    what = f"HxW with sides from {low} to {high} pixels, e.g. 260x346"

    def parse(text: str) -> tuple[int, int]:
        parts = text.lower().split("x")
        try:
            h, w = (int(v) for v in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (low <= h <= high and low <= w <= high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return h, w
    parse.__name__ = "HxW"
    return parse


def choice_list(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """Comma-separated names, each one of `choices` (argparse's `choices` cannot check a list in one word)."""
    allowed = list(choices)

    def parse(text: str) -> list[str]:
        names = [v.strip() for v in text.split(",")]
        bad = [v for v in names if v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed)}, got {bad[0]!r}")
        return names
    parse.__name__ = "list"
    return parse


def checkout(text: str) -> Path:
    """A folder holding an egvsr package (an old checkout to compare with): refused before the benchmark
    warms up, not when its first command fails; without the package `python -m egvsr` would run another."""
    path = Path(text)
    if not (path / "egvsr" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"expected an egvsr checkout (a folder holding egvsr/__init__.py), "
                                         f"got {text!r}")
    return path


def writable_dir(text: str) -> Path:
    """An existing folder this process may write in (scratch space)."""
    path = Path(text)
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"expected an existing folder this user can write in, got {text!r}")
    return path


def refuse(message: str) -> NoReturn:
    """End the script as argparse ends it on a bad argument, in one line: `script.py: error: message`, exit 2."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def toolkit_errors() -> Iterator[None]:
    """A user-facing toolkit error (`egvsr.errors.EgvsrError`: a missing checkpoint, a size a dataset
    refuses) ends the script in one line (`refuse`), as the `egvsr` command prints it."""
    from egvsr.errors import EgvsrError

    try:
        yield
    except EgvsrError as exc:
        refuse(str(exc))
