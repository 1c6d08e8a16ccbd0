"""Learning-rate schedules stepped once per iteration (so resuming at any step is exact)."""

from __future__ import annotations

import math
from typing import Callable

import torch


def _factor(kind: str, iterations: int, warmup: int, floor: float) -> Callable[[int], float]:
    """The multiplier of one group's base rate at step `step`; `floor` is eta_min over that base rate."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, iterations - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, kind: str, iterations: int, warmup: int = 0, eta_min: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for `warmup` steps, then cosine decay to `eta_min` (or constant), for every param
    group: `eta_min` is each group's final rate itself, whatever the group's base rate."""
    factors = []
    for group in optimizer.param_groups:
        base = group["lr"]
        factors.append(_factor(kind, iterations, warmup, eta_min / base if base > 0 else 0.0))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factors)
