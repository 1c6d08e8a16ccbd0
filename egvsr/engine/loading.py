"""Rebuild a trained model (and the data settings it was trained with) from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from egvsr.engine.checkpoint import load_checkpoint
from egvsr.errors import CheckpointError

# Dataset options that define what the model sees; evaluation and rendering must reuse them.
INPUT_OPTIONS = ("num_frames", "representation", "bins", "polarity", "normalize")


def model_from_checkpoint(
    path: str | Path, device: torch.device | str = "cpu", expect_model: str | None = None, use_ema: bool = True
) -> tuple[nn.Module, dict]:
    """(model in eval mode with the checkpoint's weights — EMA weights when saved —, checkpoint dict)."""
    from egvsr.models import build_model

    ck = load_checkpoint(path, map_location="cpu", expect_model=expect_model)
    model = build_model(ck["model"]["config"])
    state = ck["ema"] if use_ema and ck.get("ema") else ck["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]  # torch's message spans lines; the CLI prints one
        raise CheckpointError(f"{path}: weights do not fit model {ck['model']['name']!r}: {detail}") from None
    return model.to(device).eval(), ck


def input_options(ck: dict) -> dict:
    """The dataset options the checkpoint's model was trained with (empty for untrained baselines)."""
    exp = ck.get("experiment") or {}
    train = (exp.get("data") or {}).get("train") or {}
    return {k: train[k] for k in INPUT_OPTIONS if k in train}
