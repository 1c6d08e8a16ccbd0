"""Density-robust event input, the frames-only control, and gray in -> gray out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egvsr.models import build_model
from egvsr.models.event_input import EVENT_NORMS, normalize_events
from egvsr.models.gray import gray_inputs
from tests._model_helpers import give_residual_head_weights


@pytest.mark.parametrize("mode", [m for m in EVENT_NORMS if m != "none"])
def test_normalization_removes_a_global_density_factor_and_keeps_zeros(mode):
    ev = torch.rand(2, 4, 2, 8, 8) * (torch.rand(2, 4, 2, 8, 8) > 0.7)
    ev[1] *= 3.0
    n1, n2 = normalize_events(ev, mode), normalize_events(2.0 * ev, mode)
    torch.testing.assert_close(n1, n2)
    assert torch.equal(n1 == 0, ev == 0)
    assert torch.equal(normalize_events(torch.zeros(1, 2, 2, 4, 4), mode), torch.zeros(1, 2, 2, 4, 4))


def test_nonzero_mean_makes_sparse_and_dense_windows_comparable():
    """A sparse window (a few events) and a dense one (many) end at the same mean magnitude."""
    sparse = torch.zeros(1, 8, 2, 16, 16)
    sparse[0, 0, 0, :2, :2] = 1.0
    dense = torch.ones(1, 8, 2, 16, 16) * 4.0
    for t in (sparse, dense):
        n = normalize_events(t, "nonzero_mean")
        assert float(n[n != 0].abs().mean()) == pytest.approx(1.0)


def _model(**options):
    torch.manual_seed(0)
    return give_residual_head_weights(build_model("egvsr-tiny", **options)).eval()


def _inputs(gray: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, 3, 3, 12, 14, generator=g)
    if gray:
        lr = lr[:, :, :1].expand(-1, -1, 3, -1, -1).contiguous()
    events = (torch.rand(1, 8, 2, 12, 14, generator=g) < 0.3).float() * 2
    return lr, torch.tensor([[0.0, 0.5]]), events


@pytest.mark.parametrize("method", ["forward", "render"])
def test_gray_frames_give_a_gray_result_colour_frames_keep_colour(method):
    model = _model(event_norm="nonzero_mean")
    for gray in (True, False):
        lr, times, events = _inputs(gray)
        with torch.no_grad():
            out = getattr(model, method)(lr, times, (30, 35), events=events)
        spread = float((out.amax(2) - out.amin(2)).max())
        assert (spread == 0.0) if gray else (spread > 1e-3)


def test_gray_detection_tolerates_resize_rounding_only():
    lr = torch.full((2, 3, 3, 4, 4), 0.5)
    lr[1, 0, 0, 0, 0] += 0.01
    assert gray_inputs(lr).tolist() == [True, False]


@pytest.mark.parametrize("mode,robust", [("nonzero_mean", True), ("none", False)])
def test_doubling_event_density_moves_psnr_by_less_than_0_3_db_only_when_normalized(mode, robust):
    """Same weights, every event duplicated: the normalized model's PSNR is unchanged; the raw one moves."""
    model = _model(event_norm=mode)
    lr, times, events = _inputs(False, seed=1)
    target = torch.nn.functional.interpolate(lr[:, 1], size=(30, 35), mode="bilinear", align_corners=False)

    def psnr(ev):
        with torch.no_grad():
            out = model(lr, times[:, :1], (30, 35), events=ev)[:, 0]
        return float(-10 * torch.log10(((out - target) ** 2).mean()))

    delta = abs(psnr(2 * events) - psnr(events))
    assert (delta < 0.3) if robust else (delta > 1e-3)


def test_old_checkpoints_keep_raw_events():
    """A checkpoint without the new options builds the model as it was trained: raw counts, events used."""
    o = build_model("egvsr-tiny").options
    assert o.event_norm == "none" and o.ignore_events is False
    assert np.isfinite(_model().num_parameters())


@pytest.fixture(scope="module")
def gray_clip(tmp_path_factory):
    from egvsr.datasets.synthetic import render_clip

    return render_clip(tmp_path_factory.mktemp("gray") / "gray.h5", 0, "val", 1, (48, 64),
                       sensor_override={"gray": True})


def test_shipped_weights_render_a_gray_recording_gray(gray_clip, tmp_path):
    """End to end through `egvsr render` with the shipped weights: every written frame is gray."""
    import cv2

    from egvsr.cli import main

    out = tmp_path / "png"
    assert main(["render", str(gray_clip), "--scale", "2", "--png", str(out), "--no-progress"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert pngs
    for p in pngs:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2 or np.array_equal(img[..., 0], img[..., 2]), p


def test_shipped_weights_keep_psnr_when_every_event_is_duplicated(gray_clip, tmp_path):
    import h5py

    from egvsr.datasets import EventVSRDataset, collate_samples
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.engine.weights import shipped_checkpoint
    from egvsr.events.frames import Frames
    from egvsr.events.io import EventWriter, read_events
    from egvsr.events.stream import EventStream

    with h5py.File(gray_clip, "r") as f:
        images, t = f["frames/images"][:], f["frames/t"][:]
    s = read_events(str(gray_clip))
    double = tmp_path / "double.h5"
    with EventWriter(double, 64, 48) as w:
        w.write_frames(Frames(images, t))
        w.append(EventStream(*(np.repeat(a, 2) for a in (s.x, s.y, s.t, s.p)), 64, 48))
    with shipped_checkpoint() as path:
        model, _ = model_from_checkpoint(path)

    def psnr(path):
        ds = EventVSRDataset([str(path)], mode="eval", scale=2, queries="middle", num_frames=3, bins=8)
        b = collate_samples([ds[1]])
        with torch.no_grad():
            out = model.render(b["lr"], b["times"], b["hr"].shape[-2:], events=b["events"],
                               frame_times=b["frame_times"])
        return float(-10 * torch.log10(((out.clamp(0, 1) - b["hr"]) ** 2).mean()))

    assert abs(psnr(double) - psnr(gray_clip)) < 0.3
