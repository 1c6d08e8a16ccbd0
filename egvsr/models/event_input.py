"""How the event tensor enters a model: density normalization and the frames-only ablation.

Real sensors differ from each other and from the simulator by several times in events per pixel
(contrast thresholds, bias settings, scene light), so a model fed raw counts sees a different input
scale on every camera. `event_norm` removes that scale per sample, inside the model, so it is stored
with the weights and applied identically in training, evaluation and rendering:

- "none": raw counts (the official input).
- "nonzero_mean": divide by the mean |value| of the non-zero entries. Duplicating every event leaves
  the tensor unchanged exactly, and a 3-4x change of threshold changes it far less than raw counts
  (docs/training.md gives the measurement that chose it).
- "rms": divide by the root mean square of all entries (a sparse tensor is scaled up more).

An all-zero tensor stays zero. `ignore_events` replaces the tensor by zeros: the same architecture
and training with no event information, i.e. the frames-only control.
"""

from __future__ import annotations

import torch
from torch import Tensor

EVENT_NORMS = ("none", "nonzero_mean", "rms")
_FLOOR = 1e-6


def normalize_events(events: Tensor, mode: str) -> Tensor:
    """Events (B, ...) scaled per sample by `mode` (see module doc); float32 statistics."""
    if mode == "none":
        return events
    flat = events.flatten(1).float()
    if mode == "nonzero_mean":
        mag = flat.abs()
        count = (mag > 0).sum(1).clamp_min(1)
        scale = mag.sum(1) / count
    elif mode == "rms":
        scale = flat.square().mean(1).sqrt()
    else:
        raise ValueError(f"event_norm {mode!r}: expected one of {EVENT_NORMS}")
    scale = scale.clamp_min(_FLOOR).to(events.dtype)
    return events / scale.view(-1, *([1] * (events.dim() - 1)))


def model_events(events: Tensor, mode: str, ignore: bool) -> Tensor:
    """The tensor a model computes with: zeros for the frames-only control, else normalized."""
    if ignore:
        return torch.zeros_like(events)
    return normalize_events(events, mode)
