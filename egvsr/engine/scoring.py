"""Scoring a model on an evaluation dataset: per-clip and average PSNR/SSIM under a declared protocol."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from egvsr.engine.protocol import Protocol
from egvsr.engine.tables import SUMMARY_CLIP, fmt_scale
from egvsr.errors import ConfigError


def to_image(t: torch.Tensor, nonfinite: Callable[[], Exception] | None = None) -> np.ndarray:
    """(3, H, W) tensor in [0, 1] -> (H, W, 3) float64 array, clamped. With `nonfinite`, a NaN or
    infinite value raises the exception it returns (checked on the CPU copy: no device sync added)."""
    a = t.detach().float().cpu()
    if nonfinite is not None and not bool(torch.isfinite(a).all()):
        raise nonfinite()
    return a.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float64)


def label_clips(recordings: list) -> None:
    """Give every recording a clip label of its own, never the summary rows' `SUMMARY_CLIP`: its name,
    or, where that is shared or is the summary's, `parent/file name`, then the path, then the absolute path
    (distinct for distinct recordings), so their scores are never merged into one clip or taken for the
    average."""
    from collections import Counter

    def labels(r) -> list[str]:
        return [r.name, f"{r.path.parent.name}/{r.path.name}", str(r.path), str(r.path.absolute())]

    level = [0] * len(recordings)
    while True:
        names = [labels(r)[i] for r, i in zip(recordings, level)]
        counts = Counter(names)
        clash = [k for k, n in enumerate(names) if (counts[n] > 1 or n == SUMMARY_CLIP) and level[k] < 3]
        if not clash:
            break
        for k in clash:
            level[k] += 1
    for r, name in zip(recordings, names):
        r.name = name


def sample_bytes(model: nn.Module, k: int, event_shape: tuple[int, int], lr_size: tuple[int, int],
                 out_size: tuple[int, int], chunk_size: int) -> int:
    """Bytes one whole-frame scoring sample certainly takes: its float32 inputs and target, the model's
    LR feature maps (its own estimate, `encoder_bytes`) and the chunked render's output (`call_bytes`)."""
    from egvsr.models.call_memory import call_bytes, sample_tensor_bytes
    from egvsr.models.registry import encoder_bytes

    tensors = sample_tensor_bytes(k, event_shape[0] * event_shape[1], lr_size, out_size)
    return tensors + encoder_bytes(model, lr_size) + call_bytes(model, 1, 1, out_size, 4, chunk_size)[1]


def check_scoring(dataset: Any, models: dict[str, nn.Module], protocol: Protocol, device: torch.device,
                  chunk_size: int, where: str) -> None:
    """Refuse, before any sample is read, a recording of `dataset` (one fixed scale, whole frames) that
    `protocol` cannot score or whose samples cannot fit in memory, naming the file, its frame size and
    the scale (`where`: the argument or config key of the data); gives clashing clip names distinct labels."""
    from egvsr.fsutil import fmt_size
    from egvsr.models.call_memory import memory_budget_bytes
    from egvsr.models.registry import encoder_bytes

    label_clips(dataset.recordings)
    budget, share = memory_budget_bytes(device)
    s, event_shape = float(dataset.scale), dataset.event_shape()
    for rec, lr, out in dataset.whole_frame_sizes():
        what = f"{where}: {rec.path} ({rec.width}x{rec.height} frames) at scale x{fmt_scale(s)}"
        protocol.check_size(out[0], out[1], what)
        for name, m in models.items():
            need = sample_bytes(m, int(dataset.k), event_shape, lr, out, chunk_size)
            if need > budget:
                raise ConfigError(
                    f"{what}: scoring one whole-frame sample with {name!r} needs at least {fmt_size(need)} of "
                    f"memory ({fmt_size(encoder_bytes(m, lr))} of LR feature maps at {lr[1]}x{lr[0]}, by the "
                    f"model's own estimate), above the budget of {share}; downscale the recording first"
                )


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
    loader: Iterable[dict],
    protocol: Protocol,
    device: torch.device,
    chunk_size: int = 65536,
    on_item: Callable[[dict, torch.Tensor], None] | None = None,
    progress: bool = False,
    desc: str = "evaluate",
    checkpoint: str | None = None,
) -> dict:
    """Render every sample of `loader`; return {"clips": {clip: (psnr, ssim, n)}, "psnr", "ssim", "n"}.

    The average follows `protocol.average`: over clips (each clip's mean over its frames, the convention of
    the CED tables), or over all frames (EvTexture's, each clip weighted by its frame count).
    `progress`: a bar over the samples on stderr (`egvsr.progress`). With `checkpoint` (the
    weights' file), an output holding NaN or infinity is refused naming it (`output_not_finite`)
    rather than scored nan.
    """
    from egvsr.engine.checkpoint_model import output_not_finite
    from egvsr.progress import bar as progress_bar

    was_training = model.training
    model.eval()
    per_clip: dict[str, list[tuple[float, float]]] = defaultdict(list)
    try:
        total = len(loader)
    except TypeError:
        total = None
    bar = progress_bar(total, desc, progress, unit="sample")
    try:  # the model's mode restored and the bar closed also when a sample fails (a non-finite output)
        for batch in loader:
            pred = model.render(**model_inputs(batch, device), chunk_size=chunk_size)
            for b in range(pred.shape[0]):
                for q in range(pred.shape[1]):
                    check = None if checkpoint is None else (lambda: output_not_finite(
                        checkpoint, f"time {int(batch['t_us'][b, q])} µs of clip {batch['clip'][b]!r} at "
                                    f"x{fmt_scale(float(batch['scale']))}"))
                    scores = protocol.score(to_image(pred[b, q], check), to_image(batch["hr"][b, q]))
                    per_clip[batch["clip"][b]].append(scores)
                if on_item is not None:
                    on_item({k: (v[b] if hasattr(v, "__getitem__") else v) for k, v in batch.items()}, pred[b])
            bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    clips = {c: (float(np.mean([s[0] for s in v])), float(np.mean([s[1] for s in v])), len(v))
             for c, v in sorted(per_clip.items())}
    if not clips:
        return {"clips": {}, "psnr": float("nan"), "ssim": float("nan"), "n": 0}
    return {
        "clips": clips,
        "psnr": protocol.mean({c: [s[0] for s in v] for c, v in per_clip.items()}),
        "ssim": protocol.mean({c: [s[1] for s in v] for c, v in per_clip.items()}),
        "n": sum(v[2] for v in clips.values()),
    }
