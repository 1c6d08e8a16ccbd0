"""Degrade mode builds each window exactly as `EventVSRDataset` does in eval mode (same numbers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egvsr.datasets import EventVSRDataset, open_recording
from egvsr.render.run import iter_render
from egvsr.render.inputs import WindowBuilder, plan_layout
from egvsr.render.model import load_render_model
from tests._model_helpers import save_untrained_with_head


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("render-parity")
    rec = make_sample(d / "clip.h5", seed=5, seconds=0.12, size=(26, 34), fps=25.0, progress=False)
    return rec, save_untrained_with_head("egvsr-tiny", d / "tiny.pt", seed=2)


@pytest.mark.parametrize("scale", [2.0, 3.3])
def test_window_inputs_equal_the_eval_dataset(clip, scale):
    path, ck = clip
    rm = load_render_model(ck)
    ds = EventVSRDataset([path], mode="eval", scale=scale, queries="gt", num_frames=rm.num_frames, **rm.repr)
    rec = open_recording(path)
    layout = plan_layout(rec.width, rec.height, scale, degrade=True)
    builder = WindowBuilder(rec, layout, rm.num_frames, rm.repr)
    checked = 0
    for i in [0, 1, 2, len(ds) - 1]:  # frame and in-between GT times, first and last windows
        sample = ds[i]
        t = int(sample["t_us"][0])
        w = builder.window(ds.items[i].start)
        torch.testing.assert_close(w.lr[0], sample["lr"], atol=0, rtol=0)
        torch.testing.assert_close(w.events[0], sample["events"], atol=0, rtol=0)
        torch.testing.assert_close(w.frame_times[0], sample["frame_times"], atol=0, rtol=0)
        torch.testing.assert_close(w.normalize(np.array([t]))[0], sample["times"], atol=1e-7, rtol=0)
        gt = builder.ground_truth(t)
        np.testing.assert_allclose(gt, sample["hr"][0].permute(1, 2, 0).numpy(), atol=1e-6)
        assert layout.out_size == tuple(sample["hr"].shape[-2:])
        checked += 1
    assert checked == 4
    rec.close()


def test_rendered_frames_equal_model_render_on_dataset_samples(clip):
    path, ck = clip
    rm = load_render_model(ck)
    ds = EventVSRDataset([path], mode="eval", scale=2.5, queries="gt", num_frames=rm.num_frames, **rm.repr)
    rec = open_recording(path)
    layout = plan_layout(rec.width, rec.height, 2.5, degrade=True)
    times = np.array([int(ds[i]["t_us"][0]) for i in range(3)])
    frames = list(iter_render(rec, rm, layout, times, with_gt=True))
    assert [f.t_us for f in frames] == times.tolist()
    for i, fr in enumerate(frames):
        s = ds[i]
        ref = rm.model.render(s["lr"][None], s["times"][None], tuple(s["hr"].shape[-2:]), events=s["events"][None],
                              frame_times=s["frame_times"][None])[0, 0]
        torch.testing.assert_close(fr.ours, ref, atol=1e-5, rtol=0)
    rec.close()


@pytest.mark.parametrize("scale, width, height, out", [(1.4, 240, 180, (252, 336)), (2.05, 240, 240, (492, 492)),
                                                       (4.1, 180, 180, (738, 738)), (1.15, 720, 720, (828, 828))])
def test_output_size_is_the_floor_of_the_scale_as_written(scale, width, height, out):
    """`--scale 1.4` on 240x180 gave 336x251: floor of the float product 251.99999999999997."""
    assert plan_layout(width, height, scale).out_size == out
    hr = plan_layout(out[1], out[0], scale, degrade=True)  # the HR frame of that size holds the LR input again
    assert (hr.geom.h, hr.geom.w) == (height, width) and hr.out_size == out
