"""Recordings whose events do not cover the frames: none at all, only part of the window, another sensor size.

Documented behaviour (docs/datasets.md): no events -> a zero event tensor, so the model renders exactly
what its frames-only control renders; events in part of the window -> zeros where there are none; a
sensor size other than the frames' -> one error line naming the file.
"""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import torch

from egvsr.cli import main
from egvsr.datasets import EventVSRDataset, collate_samples
from egvsr.datasets.synthetic import render_clip
from egvsr.events.frames import Frames
from egvsr.events.io import EventWriter, read_events
from egvsr.events.stream import EventStream
from egvsr.models import build_model
from tests._model_helpers import give_residual_head_weights

OPTS = dict(num_frames=3, representation="moments", bins=8, polarity="split")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("coverage")
    src = render_clip(d / "full.h5", 0, "val", 3, (48, 64))
    with h5py.File(src, "r") as f:
        images, t = f["frames/images"][:], f["frames/t"][:]
    s = read_events(str(src))
    keep = s.t < t[1]
    out = {"full": src}
    for name, stream in (("none", None), ("part", EventStream(s.x[keep], s.y[keep], s.t[keep], s.p[keep], 64, 48))):
        out[name] = d / f"{name}.h5"
        with EventWriter(out[name], 64, 48) as w:
            w.write_frames(Frames(images, t))
            if stream is not None:
                w.append(stream)
    out["size"] = d / "size.h5"
    out["size"].write_bytes(src.read_bytes())
    with h5py.File(out["size"], "a") as f:
        f.attrs["width"], f.attrs["height"] = 346, 260
    return out


def _render(model, path):
    ds = EventVSRDataset([str(path)], mode="eval", scale=2, queries="middle", **OPTS)
    batch = collate_samples([ds[1]])
    with torch.no_grad():
        out = model.render(batch["lr"], batch["times"], batch["hr"].shape[-2:], events=batch["events"],
                           frame_times=batch["frame_times"])
    return out, batch["events"]


def test_no_events_render_exactly_as_the_frames_only_control(clips):
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model("egvsr-tiny", event_norm="nonzero_mean")).eval()
    out, events = _render(model, clips["none"])
    assert float(events.abs().sum()) == 0.0
    control = build_model("egvsr-tiny", event_norm="nonzero_mean", ignore_events=True)
    control.load_state_dict(model.state_dict())
    ref, _ = _render(control.eval(), clips["full"])
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_events_in_part_of_the_window_leave_zeros_elsewhere_and_still_guide(clips):
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model("egvsr-tiny", event_norm="nonzero_mean")).eval()
    part, events = _render(model, clips["part"])
    none, _ = _render(model, clips["none"])
    bins = events[0].abs().sum(dim=(1, 2, 3))
    assert bins[:3].sum() > 0 and bins[-3:].sum() == 0  # events only in the first interval
    assert torch.isfinite(part).all() and not torch.equal(part, none)


def test_events_of_another_sensor_size_are_refused_with_one_line(clips, tmp_path, capsys):
    from egvsr.render.model import save_untrained

    ck = save_untrained("egvsr-tiny", tmp_path / "ck.pt")
    code = main(["render", str(clips["size"]), str(ck), "--scale", "2", "--png", str(tmp_path / "out"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len([e for e in err if "error:" in e]) == 1
    assert "share the sensor size" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out").exists()
