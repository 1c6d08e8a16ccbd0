"""Training losses, by the name `train.loss` gives them (`LOSSES`)."""

from __future__ import annotations

import torch


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean Charbonnier penalty sqrt((pred - target)^2 + eps^2): an L1 that is smooth at zero."""
    diff = pred.float() - target.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def charbonnier_rgb(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """EGVSR's released loss: per pixel, sqrt(mean over its colours of (pred - target)^2 + eps^2), then the mean
    over pixels, query times and samples. Outputs are (B, T, 3, H, W): colours on dim -3."""
    diff = pred.float() - target.float()
    return torch.sqrt((diff * diff).mean(dim=-3) + eps * eps).mean()


LOSSES = {"charbonnier": charbonnier, "charbonnier_rgb": charbonnier_rgb}
