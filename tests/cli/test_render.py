"""`egvsr render` end to end through the CLI on a tiny recording: sizes, frame counts, readable files."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from egvsr.cli import main
from tests._video import read_frames as _video


H, W = 20, 28  # the tiny recording's frames (the LR input in as-is mode)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 4-frame 28x20 sample recording (3 GT frames per interval) and an untrained egvsr-tiny checkpoint."""
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("render")
    rec = make_sample(d / "clip.h5", seed=3, seconds=0.12, size=(H, W), fps=25.0, progress=False)
    ck = save_untrained("egvsr-tiny", d / "tiny.pt")
    return rec, ck


def test_scale_6_5_factor_2_png_mp4_side_by_side(tiny, tmp_path, capsys):
    rec, ck = tiny
    png, mp4, sbs = tmp_path / "frames", tmp_path / "out.mp4", tmp_path / "sbs.mp4"
    rc = main(["render", str(rec), str(ck), "--scale", "6.5", "--fps-factor", "2", "--png", str(png),
               "--mp4", str(mp4), "--side-by-side", str(sbs), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    out_h, out_w = math.floor(6.5 * H), math.floor(6.5 * W)  # 130 x 182
    files = sorted(png.glob("frame_*.png"))
    assert len(files) == (4 - 1) * 2 + 1
    for f in files:
        img = cv2.imread(str(f))
        assert img is not None and img.shape == (out_h, out_w, 3)
    stamps = np.loadtxt(png / "timestamps.txt")
    np.testing.assert_allclose(stamps, np.arange(7) * 0.02, atol=1e-6)
    meta = json.loads((png / "render.json").read_text())
    assert meta["out_size"] == [out_h, out_w] and meta["frames"] == 7
    video = _video(mp4)
    assert len(video) == 7 and video[0].shape == (out_h, out_w, 3)
    # the MP4 holds the same pictures as the PNGs, up to compression
    assert np.abs(video[3].astype(int) - cv2.imread(str(files[3])).astype(int)).mean() < 12
    side = _video(sbs)
    assert len(side) == 7 and side[0].shape[1] == 2 * out_w + 4  # bicubic | ours (no ground truth as-is)
    assert not list(tmp_path.glob(".*egvsr-partial*"))


def test_explicit_times_roi_and_odd_sizes(tiny, tmp_path, capsys):
    rec, ck = tiny
    png, mp4 = tmp_path / "roi", tmp_path / "roi.mp4"
    rc = main(["render", str(rec), str(ck), "--scale", "6.5", "--times", "0", "10ms", "0.03", "45000us",
               "--roi", "3", "2", "9", "7", "--png", str(png), "--mp4", str(mp4), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    out_h, out_w = math.floor(6.5 * 7), math.floor(6.5 * 9)  # 45 x 58: odd height
    files = sorted(png.glob("frame_*.png"))
    assert len(files) == 4
    assert all(cv2.imread(str(f)).shape == (out_h, out_w, 3) for f in files)
    np.testing.assert_allclose(np.loadtxt(png / "timestamps.txt"), [0, 0.01, 0.03, 0.045], atol=1e-6)
    video = _video(mp4)
    assert len(video) == 4 and video[0].shape == (out_h + 1, out_w, 3)  # MPEG-4 needs even sides: padded


def test_first_frame_alone_at_the_last_frame_renders_that_one_frame(tiny, tmp_path, capsys):
    """`--first-frame`/`--last-frame` are inclusive: `--first-frame 3` of 4 frames is the range [3, 3],
    one output (it was refused as 'expected first < last', naming a `--last-frame 3` never given)."""
    rec, ck = tiny
    png, mp4 = tmp_path / "one", tmp_path / "one.mp4"
    rc = main(["render", str(rec), str(ck), "--scale", "2", "--fps-factor", "2", "--first-frame", "3",
               "--png", str(png), "--mp4", str(mp4), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert " 1 frame at " in out and "render: 1 frame of " in out  # the summary lines count in the singular
    assert len(list(png.glob("frame_*.png"))) == 1
    np.testing.assert_allclose(np.loadtxt(png / "timestamps.txt", ndmin=1), [0.12], atol=1e-6)
    assert len(_video(mp4)) == 1


def test_odd_frames_are_padded_by_repeating_the_edge():
    from egvsr.render.video import pad_even

    img = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3)
    out = pad_even(img)
    assert out.shape == (6, 4, 3)
    np.testing.assert_array_equal(out[:5, :3], img)
    np.testing.assert_array_equal(out[5, :3], img[4])
    np.testing.assert_array_equal(out[:5, 3], img[:, 2])
    assert pad_even(out) is out


def test_degrade_mode_has_ground_truth_and_scores(tiny, tmp_path, capsys):
    rec, ck = tiny
    sbs = tmp_path / "sbs.mp4"
    rc = main(["render", str(rec), str(ck), "--scale", "2", "--degrade", "--fps-factor", "2",
               "--last-frame", "2", "--side-by-side", str(sbs), "--score", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    # 28x20 HR -> LR 14x10 -> output 28x20; the table has model and bicubic at both kinds of times
    assert "input frame times" in out.out and "in-between GT times" in out.out and "bicubic" in out.out
    side = _video(sbs)
    assert len(side) == 5 and side[0].shape[1] == 3 * 28 + 2 * 4  # bicubic | ours | ground truth


def test_uint8_conversion_rounds_and_clamps_by_row_blocks():
    from egvsr.render.video import to_uint8

    x = torch.rand(3, 300, 7) * 1.2 - 0.1
    ref = np.floor(x.clamp(0, 1).permute(1, 2, 0).double().numpy() * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(x, rows=64), ref)
    np.testing.assert_array_equal(to_uint8(x.permute(1, 2, 0).numpy().astype(np.float64)), ref)
