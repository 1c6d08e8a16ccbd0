"""The training losses against numpy references written from docs/training.md, and `train.loss` choosing one."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from egvsr.engine.config import LOSS_NAMES
from egvsr.engine.losses import LOSSES, charbonnier, charbonnier_rgb


def _pair(seed: int = 0):
    g = np.random.default_rng(seed)
    pred, target = g.random((2, 3, 3, 5, 7)), g.random((2, 3, 3, 5, 7))  # (B, T, 3, H, W)
    return pred, target


def test_charbonnier_is_the_mean_root_of_every_value():
    pred, target = _pair()
    want = np.mean(np.sqrt((pred - target) ** 2 + 1e-6))
    got = charbonnier(torch.from_numpy(pred), torch.from_numpy(target))
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_charbonnier_rgb_takes_one_root_per_pixel_over_its_colours():
    """EGVSR's released loss: mean over pixels of sqrt(mean over the 3 colours of d² + 1e-6)."""
    pred, target = _pair(1)
    d2 = (pred - target) ** 2
    want = np.mean(np.sqrt(d2.mean(axis=2) + 1e-6))
    got = charbonnier_rgb(torch.from_numpy(pred), torch.from_numpy(target))
    assert float(got) == pytest.approx(want, rel=1e-6)
    assert float(got) > float(charbonnier(torch.from_numpy(pred), torch.from_numpy(target)))  # Jensen, not equal
    gray = np.repeat(pred[:, :, :1], 3, axis=2), np.repeat(target[:, :, :1], 3, axis=2)
    a, b = (torch.from_numpy(v) for v in gray)
    assert float(charbonnier_rgb(a, b)) == pytest.approx(float(charbonnier(a, b)), rel=1e-6)  # equal colours: same


def test_every_loss_a_config_names_exists():
    assert tuple(LOSSES) == LOSS_NAMES


def test_train_uses_the_loss_the_config_names(tmp_path):
    """The same run's step-1 loss (same weights, same batch) under each loss: charbonnier_rgb is the larger."""
    from egvsr.engine.train import train
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "r.h5", seed=3, seconds=0.3, size=(32, 40), fps=20.0, progress=False)
    first = {}
    for loss in LOSS_NAMES:
        cfg = {"name": loss, "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
               "model": {"name": "egvsr-tiny", "options": {}},
               "data": {"train": {"recordings": [str(rec)], "patch_size": 8, "scale_range": [2, 2], "bins": 8},
                        "val": {}},
               "train": {"iterations": 1, "batch_size": 2, "log_every": 1, "val_every": 100, "threads": 1,
                         "loss": loss}}
        train(cfg=cfg, progress=False, log=None)
        with (tmp_path / "exp" / loss / "logs" / "train.csv").open(newline="") as f:
            first[loss] = float(next(csv.DictReader(f))["loss"])
    assert first["charbonnier_rgb"] > first["charbonnier"] > 0
