"""Whole-frame samples (no patch_size) at a scale larger than a recording's shorter side leave it less than one
LR pixel: refused when the dataset is made, naming the file, its frames (width x height) and the largest scale,
not at whichever training step first drew such a scale (1-pixel-wide line sensors, 2x2 frames)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.datasets import EventVSRDataset
from egvsr.datasets.geometry import fmt_scale
from egvsr.errors import ConfigError
from tests.datasets.test_files import random_events, textured_frames, write_egvsr

FT = np.arange(5, dtype=np.int64) * 40_000


def _recording(tmp_path, h: int, w: int):
    frames = textured_frames(len(FT), h, w, seed=1)
    ev = random_events(500, h, w, 0, int(FT[-1]) + 1, seed=3)
    return write_egvsr(tmp_path / f"r{w}x{h}.h5", frames, FT, ev, w, h)


def _dataset(path, **kw):
    return EventVSRDataset([path], num_frames=3, patch_size=None, bins=8, rotations=False, **kw)


@pytest.mark.parametrize("h, w, top", [(1, 40, 1.5), (40, 1, 1.0001), (2, 2, 2.0000001), (3, 9, 4.0)])
def test_a_scale_range_reaching_past_the_shorter_side_is_refused_at_once(tmp_path, h, w, top):
    path = _recording(tmp_path, h, w)
    with pytest.raises(ConfigError, match=rf"^{path}: its {w}x{h} frames \(width x height\) are smaller than one LR "
                                          rf"pixel at scale {re.escape(fmt_scale(top))} .*at most {min(h, w)}$"):
        _dataset(path, mode="train", scale_range=(1.0, top))
    with pytest.raises(ConfigError, match=rf"^{path}: its {w}x{h} frames"):
        _dataset(path, mode="eval", scale=top)


@pytest.mark.parametrize("h, w", [(1, 40), (2, 2), (3, 9)])
def test_every_scale_up_to_the_shorter_side_gives_samples(tmp_path, h, w):
    path = _recording(tmp_path, h, w)
    ds = _dataset(path, mode="train", scale_range=(1.0, float(min(h, w))))
    for i in range(len(ds)):
        assert min(ds[i]["lr"].shape[-2:]) >= 1
    sample = _dataset(path, mode="eval", scale=float(min(h, w)))[0]
    assert tuple(sample["lr"].shape[-2:]) == (h // min(h, w), w // min(h, w))


def test_eval_names_the_recording(tmp_path, capsys):
    path = _recording(tmp_path, 1, 40)
    assert main(["eval", "--data", str(path), "--scales", "2", "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"egvsr: error: {path}: its 40x1 frames (width x height) are smaller than one LR pixel at scale 2 "
                   "(whole-frame samples: no patch_size); expected a scale (or top of scale_range) at most 1"]
