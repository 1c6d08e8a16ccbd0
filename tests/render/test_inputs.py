"""Render inputs other than one recording: events plus a frame folder, frames alone, real frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from egvsr.cli import main
from tests._model_helpers import save_untrained_with_head


@pytest.fixture(scope="module")
def split_clip(tmp_path_factory):
    """A sample recording, and the same content as a PNG folder (timestamps.txt) + an events-only file."""
    from egvsr.events.io import open_events, write_events
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("render-input")
    rec = make_sample(d / "clip.h5", seed=2, seconds=0.08, size=(20, 28), fps=25.0, progress=False)
    frames = d / "frames"
    frames.mkdir()
    with open_events(rec) as src:
        ft = src.frame_times()
        for i in range(len(ft)):
            cv2.imwrite(str(frames / f"frame_{i:04d}.png"), src.read_frame(i)[..., ::-1])
        stream = src.read()
    (frames / "timestamps.txt").write_text("".join(f"{t / 1e6:.6f}\n" for t in ft))
    events = write_events(d / "events.h5", stream)
    return rec, frames, events, save_untrained_with_head("egvsr-tiny", d / "tiny.pt")


def _pngs(folder):
    return [cv2.imread(str(f)) for f in sorted(folder.glob("frame_*.png"))]


def test_events_plus_frame_folder_equals_the_recording(split_clip, tmp_path, capsys):
    rec, frames, events, ck = split_clip
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["render", str(rec), str(ck), "--scale", "3", "--fps-factor", "2", "--png", str(a),
                 "--no-progress"]) == 0
    assert main(["render", str(frames), str(ck), "--events", str(events), "--scale", "3", "--fps-factor", "2",
                 "--png", str(b), "--no-progress"]) == 0, capsys.readouterr().err
    pa, pb = _pngs(a), _pngs(b)
    assert len(pa) == len(pb) == 5
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)


def test_frame_folder_events_of_another_size(split_clip, tmp_path, capsys):
    from egvsr.events import EventStream
    from egvsr.events.io import write_events

    _, frames, _, ck = split_clip
    other = write_events(tmp_path / "big.h5", EventStream.empty(64, 48))
    rc = main(["render", str(frames), str(ck), "--events", str(other), "--scale", "2", "--png",
               str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "64x48" in err and "28x20" in err and "share the sensor size" in err


def test_real_frames_alone_with_a_frames_only_model(shared_data, tmp_path, capsys):
    """slider_depth (real DAVIS240C frames, images.txt timestamps), bicubic model, ROI at x6.5."""
    from egvsr.render.model import save_untrained

    ck = save_untrained("bicubic", tmp_path / "bicubic.pt")
    clip = shared_data / "slider_depth"
    out = tmp_path / "roi"
    x, y, w, h = 100, 60, 24, 16
    rc = main(["render", str(clip), str(ck), "--scale", "6.5", "--roi", str(x), str(y), str(w), str(h),
               "--last-frame", "2", "--png", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    pngs = _pngs(out)
    assert len(pngs) == 3 and pngs[0].shape == (math.floor(6.5 * h), math.floor(6.5 * w), 3)
    # frame 1 at x6.5 by plain bicubic interpolation of the whole frame, then the ROI's part of it
    img = cv2.imread(str(clip / "images" / "frame_00000001.png"), cv2.IMREAD_COLOR)
    t = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    full = F.interpolate(t, size=(math.floor(6.5 * 180), math.floor(6.5 * 240)), mode="bicubic",
                         align_corners=False).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    ref = (full[int(6.5 * y):int(6.5 * y) + 104, int(6.5 * x):int(6.5 * x) + 156] * 255 + 0.5).astype(np.uint8)
    assert np.abs(pngs[1].astype(int) - ref.astype(int)).max() <= 1
