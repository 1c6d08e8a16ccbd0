"""The learning-rate schedule against the formula of docs/training.md, step by step and per param group."""

from __future__ import annotations

import math

import pytest
import torch

from egvsr.engine.schedule import build_scheduler


def _reference(s: int, lr: float, iterations: int, warmup: int, eta_min: float) -> float:
    """docs/training.md: s < W trains at lr·(s+1)/W, then eta_min + (lr - eta_min)·(1 + cos(π(s-W)/(I-W)))/2."""
    if s < warmup:
        return lr * (s + 1) / warmup
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * min(1.0, (s - warmup) / (iterations - warmup)))) / 2


@pytest.mark.parametrize("warmup", [0, 3])
def test_every_param_group_decays_to_eta_min_itself(warmup):
    """eta_min is the final rate of each group, not eta_min scaled by the group's rate over the first's."""
    iterations, eta_min, rates = 10, 1e-5, (1e-3, 1e-2, 4e-4)
    opt = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in rates])
    sched = build_scheduler(opt, "cosine", iterations, warmup, eta_min)
    for s in range(iterations + 2):
        for group, lr in zip(opt.param_groups, rates):
            assert group["lr"] == pytest.approx(_reference(s, lr, iterations, warmup, eta_min), rel=1e-12)
        opt.step()
        sched.step()


def test_constant_schedule_keeps_each_group_rate_after_warmup():
    opt = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (1e-3, 5e-3)])
    sched = build_scheduler(opt, "constant", 6, 2, 1e-5)
    seen = []
    for _ in range(6):
        seen += [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
    assert seen == pytest.approx([5e-4, 2.5e-3] + [1e-3, 5e-3] * 5)
