"""How the event tensor enters a model: density normalization and the frames-only ablation.

Sensors differ by several times in events per pixel, so `event_norm` removes that scale per sample,
inside the model (stored with the weights): "none" (raw counts, official), "nonzero_mean" (mean |value|
of the non-zero entries) or "rms" (docs/training.md). The frames-only control with the same architecture
(`ignore_events`) takes no event tensor and computes with zeros (`EGVSR.events`).
"""

from __future__ import annotations

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
