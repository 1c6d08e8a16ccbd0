"""Scoring a model on an evaluation dataset: per-clip and average PSNR/SSIM under a declared protocol."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
import torch
from torch import nn

from egvsr.engine.protocol import Protocol


def to_image(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [0, 1] -> (H, W, 3) float64 array, clamped."""
    return t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64)


def model_inputs(batch: dict, device: torch.device) -> dict:
    """The keyword arguments of `model.forward/render` from a collated batch."""
    hr = batch["hr"]
    return {
        "lr": batch["lr"].to(device, non_blocking=True),
        "times": batch["times"].to(device, non_blocking=True),
        "out_size": (int(hr.shape[-2]), int(hr.shape[-1])),
        "events": batch["events"].to(device, non_blocking=True),
        "frame_times": batch["frame_times"].to(device, non_blocking=True),
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    protocol: Protocol,
    device: torch.device,
    chunk_size: int = 65536,
    on_item: Callable[[dict, torch.Tensor], None] | None = None,
    progress: bool = False,
    desc: str = "evaluate",
) -> dict:
    """Render every sample of `loader`; return {"clips": {clip: (psnr, ssim, n)}, "psnr", "ssim", "n"}.

    The average is over clips (each clip's mean over its frames), the convention of the CED tables.
    `progress`: a bar over the samples on stderr (`egvsr.engine.progress`).
    """
    from egvsr.engine.progress import bar as progress_bar

    was_training = model.training
    model.eval()
    per_clip: dict[str, list[tuple[float, float]]] = defaultdict(list)
    try:
        total = len(loader)
    except TypeError:
        total = None
    bar = progress_bar(total, desc, progress, unit="sample")
    for batch in loader:
        pred = model.render(**model_inputs(batch, device), chunk_size=chunk_size)
        for b in range(pred.shape[0]):
            for q in range(pred.shape[1]):
                scores = protocol.score(to_image(pred[b, q]), to_image(batch["hr"][b, q]))
                per_clip[batch["clip"][b]].append(scores)
            if on_item is not None:
                on_item({k: (v[b] if hasattr(v, "__getitem__") else v) for k, v in batch.items()}, pred[b])
        bar.update(1)
    bar.close()
    model.train(was_training)
    clips = {c: (float(np.mean([s[0] for s in v])), float(np.mean([s[1] for s in v])), len(v))
             for c, v in sorted(per_clip.items())}
    if not clips:
        return {"clips": {}, "psnr": float("nan"), "ssim": float("nan"), "n": 0}
    return {
        "clips": clips,
        "psnr": float(np.mean([v[0] for v in clips.values()])),
        "ssim": float(np.mean([v[1] for v in clips.values()])),
        "n": sum(v[2] for v in clips.values()),
    }
