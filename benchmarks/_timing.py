"""Timing helpers shared by the benchmarks (they run as scripts, so this folder is on sys.path): contenders
run in turn (A B A B), so that each sees the same load on a shared machine, and the 1-minute load average
printed beside the table."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable


def load_average() -> float:
    """The 1-minute load average (NaN where the system has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


def interleaved(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each contender per round, run A B A B ... (each callable returns its seconds)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
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
