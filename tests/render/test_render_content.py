"""What `render` writes holds what it rendered: PNG frames decode to the library's frames (8-bit rule of
docs/render.md), timestamps.txt lists their times exactly, in file order; the MP4s hold every frame."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from egvsr.render import render
from egvsr.render.video import to_uint8
from tests._video import read_frames as _video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from egvsr.events.simulate import make_sample
    from egvsr.render.model import save_untrained

    d = tmp_path_factory.mktemp("content")
    rec = make_sample(d / "clip.h5", seed=5, seconds=0.12, size=(20, 28), fps=25.0, progress=False)
    return rec, save_untrained("egvsr-tiny", d / "tiny.pt")


def _fps(path) -> float:
    cap = cv2.VideoCapture(str(path))
    try:
        return cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()


def test_png_frames_and_timestamps_are_what_was_rendered(clip, tmp_path):
    rec, ck = clip
    got: list[tuple[int, np.ndarray, np.ndarray]] = []
    out = tmp_path / "png"
    report = render(rec, ck, scale=1.8, fps_factor=3, degrade=True, png=out, mp4=tmp_path / "v.mp4",
                    side_by_side=tmp_path / "s.mp4", progress=False, log=None,
                    on_frame=lambda fr: got.append((fr.t_us, fr.ours.clone(), to_uint8(fr.ours))))
    h, w = report.out_size
    assert (h, w) == (19, 27)  # from 11x15 LR: odd both ways
    names = sorted(p.name for p in out.glob("frame_*.png"))
    assert names == [f"frame_{i:06d}.png" for i in range(len(got))] and len(got) == report.frames == 10
    for name, (t, ours, mine) in zip(names, got):
        png = cv2.cvtColor(cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
        # the documented rule: clamped to [0, 1], times 255, rounded half up
        rule = np.floor(np.clip(ours.permute(1, 2, 0).double().numpy(), 0, 1) * 255 + 0.5).astype(np.uint8)
        np.testing.assert_array_equal(png, mine)
        np.testing.assert_array_equal(png, rule)  # exactly, float32 values just below a half included
    times = [t for t, _, _ in got]
    assert times == sorted(times)
    lines = (out / "timestamps.txt").read_text().splitlines()
    assert lines == [f"{t // 1_000_000}.{t % 1_000_000:06d}" for t in times]
    assert json.loads((out / "render.json").read_text())["times_us"] == times
    video = _video(tmp_path / "v.mp4")
    assert len(video) == len(got) and video[0].shape == (h + 1, w + 1, 3) and _fps(tmp_path / "v.mp4") == 75
    assert len(_video(tmp_path / "s.mp4")) == len(got) and _fps(tmp_path / "s.mp4") == 75


def test_a_gray_recording_renders_gray_in_every_output(clip, tmp_path):
    import shutil

    import h5py

    rec, ck = clip
    gray = shutil.copy(rec, tmp_path / "gray.h5")
    with h5py.File(gray, "a") as f:
        for key in ("frames/images", "gt/images"):
            a = f[key][:]
            f[key][...] = np.repeat(a.mean(-1, keepdims=True).round().astype(np.uint8), 3, -1)
    render(gray, ck, scale=1.8, fps_factor=3, degrade=True, png=tmp_path / "png", mp4=tmp_path / "v.mp4",
           side_by_side=tmp_path / "s.mp4", progress=False, log=None)
    pngs = [cv2.imread(str(p)) for p in sorted((tmp_path / "png").glob("frame_*.png"))]
    for frames in (pngs, _video(tmp_path / "v.mp4"), _video(tmp_path / "s.mp4")):
        assert len(frames) == 10
        assert all(np.array_equal(f[..., 0], f[..., 1]) and np.array_equal(f[..., 1], f[..., 2]) for f in frames)


def test_plan_then_run_scores_as_render_does(clip, tmp_path):
    """`plan_render(..., score=True)` then `run_render(job, score="ours")` (the documented lower level)
    scored nothing, silently: the ground truth was read only for a job planned with a bicubic baseline."""
    from egvsr.render.plan import RenderOptions, plan_render
    from egvsr.render.run import run_render

    rec, ck = clip
    whole = render(rec, ck, scale=1.8, times=[0, 0.04], degrade=True, png=tmp_path / "a", score="ours",
                   progress=False, log=None).scores
    assert {r["model"] for r in whole} == {"egvsr-tiny", "bicubic"} and len(whole) == 4
    options = RenderOptions(scale=1.8, times=[0, 0.04], degrade=True, png=tmp_path / "b")
    job = plan_render(rec, ck, options, score=True)
    assert run_render(job, progress=False, score="ours").scores == whole
    job = plan_render(rec, ck, RenderOptions(scale=1.8, times=[0, 0.04], degrade=True, png=tmp_path / "c"))
    assert run_render(job, progress=False, score="ours").scores == [r for r in whole if r["model"] != "bicubic"]
