"""Argument types shared by the benchmarks' command lines: a bad count or size is refused by argparse
in one line (`error: argument --repeats: expected an integer >= 1, got '0'`) before any work, instead
of failing later with a traceback (an empty median, a negative sleep)."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _bounded(kind: type, low: float, what: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (isinstance(value, int) or math.isfinite(value)) or value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, 1, "an integer >= 1")
count = _bounded(int, 0, "an integer >= 0")
positive_float = _bounded(float, 1e-12, "a finite number > 0")
nonnegative_float = _bounded(float, 0.0, "a finite number >= 0")
