"""Learning-rate schedules stepped once per iteration (so resuming at any step is exact)."""

from __future__ import annotations

import math

import torch


def build_scheduler(
    optimizer: torch.optim.Optimizer, kind: str, iterations: int, warmup: int = 0, eta_min: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for `warmup` steps, then cosine decay to `eta_min` (or constant)."""
    base = optimizer.param_groups[0]["lr"]
    floor = eta_min / base if base > 0 else 0.0

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, iterations - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
