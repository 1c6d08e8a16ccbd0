"""Exponential moving average of model weights (evaluated and checkpointed beside the raw weights)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps `shadow = decay * shadow + (1 - decay) * weights` after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for s, p in zip(self.shadow.state_dict().values(), model.state_dict().values()):
            if s.dtype.is_floating_point:  # s + (1 - decay)(w - s): weights that stay put keep their EMA equal to
                s.lerp_(p.detach(), 1.0 - self.decay)  # them (decay*s + (1-decay)*w in float32 drifts: 0.9999 is not exact)
            else:
                s.copy_(p)

    def state_dict(self) -> dict:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state)
