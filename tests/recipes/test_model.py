"""Recipe "a new model" (docs/ARCHITECTURE.md): a model family added from outside the package, without
editing egvsr/, is built by `build_model`, saved as a checkpoint and rendered by `egvsr render`."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from egvsr.cli import main
from egvsr.datasets import open_recording
from egvsr.engine.checkpoint_file import save_checkpoint
from egvsr.models import FAMILIES, PRESETS, SRModel, build_model, list_models, register_model, unregister
from egvsr.models.options import opt
from egvsr.models.sampling import nearest_frame

GAIN = 0.5


@dataclass(frozen=True)
class ToyOptions:
    """Options of the toy family."""

    num_frames: int = opt(2, min=2, doc="input frames per window")
    gain: float = opt(1.0, min=0.0, doc="initial value of the learnable gain")
    max_scale: float = opt(8.0, min=1e-6, doc="largest accepted output/input size ratio")

    def check(self, name: str) -> None:
        """No cross-option constraints."""


class ToyNearest(SRModel):
    """Nearest-neighbour upsampling of the frame nearest each query time, times a learnable gain."""

    uses_events = False

    def __init__(self, options: ToyOptions) -> None:
        super().__init__(options.max_scale)
        self.num_frames = options.num_frames
        self.min_frames = options.num_frames
        self.gain = nn.Parameter(torch.tensor(float(options.gain)))

    def encode(self, batch):
        return None

    def prepare_time(self, state, batch, j):
        rows = torch.arange(batch.lr.shape[0], device=batch.lr.device)
        return batch.lr[rows, nearest_frame(batch.frame_times, batch.times[:, j:j + 1])[:, 0]]

    def decode(self, frame, batch, pix):
        (big_h, big_w), (h, w) = batch.out_size, frame.shape[-2:]
        ys = (((pix // big_w).double() + 0.5) * h / big_h).long().clamp(max=h - 1)
        xs = (((pix % big_w).double() + 0.5) * w / big_w).long().clamp(max=w - 1)
        return (frame[:, :, ys, xs] * self.gain).transpose(1, 2)


@pytest.fixture
def toy_registered():
    """Register the toy family from here (outside egvsr/), and restore the registry afterwards."""
    families, presets = dict(FAMILIES), dict(PRESETS)
    register_model("toy-nearest", options=ToyOptions, presets={
        "toy-nearest": ("toy: nearest-neighbour upsampling times a learnable gain", {}),
        "toy-nearest-half": ("toy at half brightness", {"gain": GAIN}),
    })(ToyNearest)
    yield
    unregister("toy-nearest")
    assert FAMILIES == families and PRESETS == presets
    FAMILIES.clear(), FAMILIES.update(families), PRESETS.clear(), PRESETS.update(presets)


def test_a_model_registered_from_outside_is_built_saved_and_rendered(toy_registered, tmp_path, capsys):
    from egvsr.events.simulate import make_sample

    model = build_model("toy-nearest-half")
    assert isinstance(model, ToyNearest) and model.config == {"name": "toy-nearest-half", "num_frames": 2,
                                                               "gain": GAIN, "max_scale": 8.0}
    assert ("toy-nearest", 1, "toy: nearest-neighbour upsampling times a learnable gain") in list_models()
    assert main(["models"]) == 0 and "toy-nearest-half" in capsys.readouterr().out
    ck = save_checkpoint(tmp_path / "toy.pt", {"model": {"name": "toy-nearest-half", "config": model.config},
                                                "state_dict": model.state_dict(), "ema": None, "experiment": {}})
    rec = make_sample(tmp_path / "clip.h5", seed=5, seconds=0.12, size=(16, 20), fps=25.0, progress=False)

    out = tmp_path / "frames"
    assert main(["render", str(rec), str(ck), "--scale", "2", "--png", str(out), "--model", "toy-nearest-half",
                 "--device", "cpu", "--no-progress"]) == 0
    assert "toy-nearest-half x2" in capsys.readouterr().out
    files = sorted(out.glob("frame_*.png"))
    source = open_recording(rec)
    assert len(files) == source.num_frames
    for i, path in enumerate(files):  # each output is its input frame, twice the size, at half brightness
        got = cv2.imread(str(path))[..., ::-1].astype(np.float64)
        lr = source.read_frame(i).astype(np.float64)
        want = np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1) * GAIN
        assert got.shape == (32, 40, 3) and np.abs(got - want).max() <= 1.0
    source.close()


def test_unregister_removes_the_family_and_its_presets(toy_registered):
    unregister("toy-nearest")
    assert "toy-nearest" not in FAMILIES and "toy-nearest-half" not in PRESETS
    register_model("toy-nearest", options=ToyOptions)(ToyNearest)  # default: one preset named like the family
    assert PRESETS["toy-nearest"].description.startswith("Nearest-neighbour upsampling")
