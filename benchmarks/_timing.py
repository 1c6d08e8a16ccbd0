"""Timing helpers shared by the benchmarks (they run as scripts, so this folder is on sys.path): contenders
run in turn (A B A B), so that each sees the same load on a shared machine, and the 1-minute load average
printed beside the table."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def load_average() -> float:
    """The 1-minute load average (NaN where the system has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


def interleaved(contenders: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """What each contender returns per round (its seconds, or several clocks' readings), run A B A B ..."""
    times: dict[str, list[T]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(fn())
    return times


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """`fn` as a contender of `interleaved`: a call that returns its wall seconds."""
    def run() -> float:
        a = time.perf_counter()
        fn()
        return time.perf_counter() - a
    return run
