"""EventVSRDataset samples: shapes and ranges per scale, alignment, time reversal, seeds, modes, bad inputs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from egvsr.datasets import EventVSRDataset, ScaleBatchSampler, collate_samples, open_recording
from egvsr.datasets.augment import reverse_events
from egvsr.datasets.geometry import hr_size
from egvsr.errors import ConfigError, EgvsrError, IndexRangeError, IndexTypeError
from egvsr.events import represent
from tests.datasets.test_files import random_events, textured_frames, write_egvsr, write_evtexture

H, W = 48, 64
FT = np.arange(6, dtype=np.int64) * 40_000 + 1_000_000
GT_T = np.sort(np.concatenate([FT[:-1] + 10_000, FT[:-1] + 20_000, FT[:-1] + 30_000]))
SCALES = [1.0, 2.0, 3.7, 4.0, 6.5]


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    frames = textured_frames(len(FT), H, W, seed=1)
    gt = textured_frames(len(GT_T), H, W, seed=2)
    ev = random_events(20_000, H, W, int(FT[0]), int(FT[-1]) + 1, seed=3)
    return write_egvsr(d / "clip.h5", frames, FT, ev, W, H, gt, GT_T)


def _in_range(t: torch.Tensor, lo: float, hi: float) -> bool:
    return bool(t.min() >= lo and t.max() <= hi)


# ---- shapes and value ranges ---------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_train_sample_shapes_and_ranges(rec_path, scale):
    ds = EventVSRDataset([rec_path], patch_size=(6, 8), scale_range=(1.0, 6.5), seed=1)
    assert len(ds) == len(FT) - 2
    s = ds[(1, scale, 123)]
    h, w = s["lr"].shape[-2:]
    assert {h, w} == {6, 8}  # a 90-degree rotation may swap them
    assert s["lr"].shape[:2] == (3, 3) and s["lr"].dtype == torch.float32 and _in_range(s["lr"], 0, 1)
    assert s["events"].shape == (32, 2, h, w) and s["events"].dtype == torch.float32
    assert s["events"].min() >= 0  # ON/OFF counts
    assert s["hr"].shape == (1, 3, *hr_size(h, w, scale)) and _in_range(s["hr"], 0, 1)
    assert s["times"].shape == (1,) and _in_range(s["times"], -1, 1)
    np.testing.assert_allclose(s["frame_times"].abs(), [1.0, 0.0, 1.0], atol=1e-6)
    assert abs(float(s["times"][0])) < 1e-6  # middle frame, t = 0
    assert s["scale"] == scale
    np.testing.assert_allclose(s["cell"], [2 / s["hr"].shape[-2], 2 / s["hr"].shape[-1]])


@pytest.mark.parametrize("scale", SCALES)
def test_eval_whole_frames(rec_path, scale):
    ds = EventVSRDataset([rec_path], mode="eval", scale=scale, with_coords=True)
    assert len(ds) == len(FT)  # every frame of the clip, in order
    assert [int(ds[i]["t_us"][0]) for i in range(len(ds))] == FT.tolist()
    s = ds[0]
    h, w = math.floor(H / scale), math.floor(W / scale)
    assert s["lr"].shape == (3, 3, h, w) and s["hr"].shape == (1, 3, math.floor(scale * h), math.floor(scale * w))
    assert float(s["times"][0]) == -1.0  # first frame: window clamped to the clip start
    assert float(ds[3]["times"][0]) == 0.0 and float(ds[5]["times"][0]) == 1.0
    assert s["coord"].shape == (*s["hr"].shape[-2:], 2)
    assert _in_range(s["lr"], 0, 1) and _in_range(s["hr"], 0, 1)
    # events binned at LR size conserve the window's events inside the HR crop
    y0, x0, Hc, Wc = s["crop"].tolist()
    with open_recording(rec_path) as rec:
        ev = rec.read_events(int(FT[0]), int(FT[2]))
    inside = ((ev.x >= x0) & (ev.x < x0 + Wc) & (ev.y >= y0) & (ev.y < y0 + Hc)).sum()
    assert float(s["events"].sum()) == pytest.approx(float(inside), rel=1e-4)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_eval_queries_each_frame_where_training_puts_its_middle_query(rec_path, k):
    """Evaluation (queries 'middle') asks for every frame at the window position training's middle query
    uses, frame K//2 (for even K the later central frame), except where the clip's ends clamp the window;
    the old rule put even K's frames at K/2 - 1 (K=2: t=-1 where training only ever asked t=+1)."""
    train = EventVSRDataset([rec_path], num_frames=k, patch_size=4, scale_range=(2, 2), reverse_prob=0.0,
                            flips=False, rotations=False)
    trained_at = {round(float(train[(i, 2.0, 0)]["times"][0]), 6) for i in range(len(train))}
    ev = EventVSRDataset([rec_path], mode="eval", scale=2.0, num_frames=k)
    for i in range(len(ev)):
        s = ev[i]
        start = int(np.searchsorted(FT, int(s["window_us"][0])))
        assert start == min(max(i - k // 2, 0), len(FT) - k)
        if k // 2 <= i <= len(FT) - k + k // 2:  # not clamped
            assert round(float(s["times"][0]), 6) in trained_at


def test_lr_is_the_degraded_hr_target(rec_path):
    """The middle LR frame is the antialiased bicubic downscale of the HR target (8-bit)."""
    from egvsr.datasets.degrade import downscale

    ds = EventVSRDataset([rec_path], patch_size=(7, 9), flips=False, rotations=False, reverse_prob=0)
    s = ds[(2, 3.7, 5)]
    torch.testing.assert_close(s["lr"][1], downscale(s["hr"][0], (7, 9)))


# ---- alignment of a known pattern at non-integer scales ---------------------------------------------


def _blob_recording(path):
    yc, xc, sigma = 24.3, 31.7, 4.0
    yy, xx = np.mgrid[0:H, 0:W]
    blob = np.exp(-((yy - yc) ** 2 + (xx - xc) ** 2) / (2 * sigma**2))
    frames = np.repeat((blob * 255).round().astype(np.uint8)[None, ..., None], 3, axis=-1)
    frames = np.repeat(frames, 3, axis=0)
    counts = np.round(blob * 6).astype(int)  # events where the blob is, as many as its brightness
    ys, xs = np.nonzero(counts)
    reps = counts[ys, xs]
    x, y = np.repeat(xs, reps), np.repeat(ys, reps)
    t = np.linspace(0, 79_999, len(x)).astype(np.int64)
    p = np.ones(len(x), np.int8)
    return write_egvsr(path, frames, [0, 40_000, 80_000], (x, y, t, p), W, H)


def _centroid(img: torch.Tensor) -> np.ndarray:
    a = img.double().numpy()
    yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    return np.array([(a * yy).sum(), (a * xx).sum()]) / a.sum()


@pytest.mark.parametrize("scale,patch", [(3.7, (10, 12)), (6.5, (6, 8)), (2.5, (16, 20))])
def test_pattern_lands_where_it_should(tmp_path, scale, patch):
    ds = EventVSRDataset([_blob_recording(tmp_path / "blob.h5")], patch_size=patch,
                         scale_range=(1.0, scale), quantize=False)
    for seed in range(8):  # random crops, flips, rotations, reversals
        s = ds[(0, scale, seed)]
        h, w = s["lr"].shape[-2:]
        Hh, Wh = s["hr"].shape[-2:]
        hr_c = _centroid(s["hr"][0, 0])
        expected_lr = (hr_c + 0.5) * np.array([h / Hh, w / Wh]) - 0.5  # pixel-centre map H/h
        lr_c = _centroid(s["lr"][1, 0])
        ev_c = _centroid(s["events"].sum(dim=(0, 1)))
        np.testing.assert_allclose(lr_c, expected_lr, atol=0.03, err_msg=f"LR frame, seed {seed}")
        np.testing.assert_allclose(ev_c, expected_lr, atol=0.03, err_msg=f"events, seed {seed}")


# ---- time reversal --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def on_early_path(tmp_path_factory):
    """Only ON events, all in the first interval of a 3-frame window."""
    d = tmp_path_factory.mktemp("rev")
    frames = textured_frames(3, H, W, seed=4)
    x, y, t, _ = random_events(3000, H, W, 0, 40_000, seed=5)
    return write_egvsr(d / "rev.h5", frames, [0, 40_000, 80_000], (x, y, t, np.ones(len(t), np.int8)), W, H)


@pytest.mark.parametrize("representation,polarity", [("moments", "split"), ("voxel", "signed"), ("voxel", "split")])
def test_time_reversal_flips_polarity(on_early_path, representation, polarity):
    opts = dict(patch_size=None, scale_range=(2.0, 2.0), flips=False, rotations=False,
                representation=representation, polarity=polarity, bins=8)
    fwd = EventVSRDataset([on_early_path], reverse_prob=0.0, **opts)[(0, 2.0, 0)]
    rev = EventVSRDataset([on_early_path], reverse_prob=1.0, **opts)[(0, 2.0, 0)]
    assert rev["reversed"] and not fwd["reversed"]
    e, r = fwd["events"], rev["events"]
    if polarity == "split":
        assert e[:, 1].abs().sum() == 0 and e[:, 0].sum() > 0  # forward: ON only
        assert r[:, 0].abs().sum() == 0 and r[:, 1].sum() > 0  # reversed: OFF only
    else:
        assert e.min() >= 0 and r.max() <= 0 and r.min() < 0
    # early events play late: the mass moves to the second half of the bins
    assert e[:4].abs().sum() > 0.9 * e.abs().sum() and r[4:].abs().sum() > 0.9 * r.abs().sum()
    torch.testing.assert_close(rev["lr"], torch.flip(fwd["lr"], dims=(0,)))
    torch.testing.assert_close(rev["frame_times"], torch.tensor([-1.0, 0.0, 1.0]))
    # identical to binning the reversed event stream
    with open_recording(on_early_path) as rec:
        stream = reverse_events(rec.read_events(0, 80_001), 0, 80_000)
    h, w = e.shape[-2:]
    if representation == "moments":
        ref = represent.event_moments(stream, 8, 0, 80_000, height=h, width=w)
    else:
        ref = represent.voxel_grid(stream, 8, 0, 80_000, height=h, width=w, polarity=polarity)
        ref = ref[:, None] if ref.ndim == 3 else ref
    np.testing.assert_allclose(r.numpy(), ref, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def edge_paths(tmp_path_factory):
    """A 3-frame window [0, 2000] with events at its ends and on bin boundaries (bins=4: every 500 µs),
    and the same recording played backwards (t -> 2000 - t, polarity negated, frames in reverse order)."""
    d = tmp_path_factory.mktemp("rev_edges")
    h, w = 8, 10
    frames = textured_frames(3, h, w, seed=6)
    x, y, t, p = random_events(200, h, w, 0, 2001, seed=7)
    t = np.sort(np.concatenate([t, [0, 0, 500, 1000, 1500, 1999, 2000, 2000]])).astype(np.int64)
    rng = np.random.default_rng(8)
    x, y = rng.integers(0, w, len(t)).astype(np.uint16), rng.integers(0, h, len(t)).astype(np.uint16)
    p = (rng.integers(0, 2, len(t)) * 2 - 1).astype(np.int8)
    fwd = write_egvsr(d / "fwd.h5", frames, [0, 1000, 2000], (x, y, t, p), w, h)
    rev = write_egvsr(d / "rev.h5", frames[::-1].copy(), [0, 1000, 2000],
                      (x[::-1], y[::-1], 2000 - t[::-1], -p[::-1]), w, h)
    return fwd, rev


def _representation_options():
    from egvsr.events.represent.registry import get_representation, representation_names

    return [(name, pol) for name in representation_names() for pol in get_representation(name).polarities]


@pytest.mark.parametrize("representation,polarity", _representation_options())
def test_time_reversal_is_the_reversed_recording(edge_paths, representation, polarity):
    """The reversed sample is the forward sample of the recording played backwards, for every registered
    representation: time surfaces decay forward, so reversing the forward tensor's bins is not it."""
    fwd_path, rev_path = edge_paths
    opts = dict(patch_size=None, scale_range=(1.0, 1.0), flips=False, rotations=False, bins=4,
                representation=representation, polarity=polarity)
    reversed_sample = EventVSRDataset([fwd_path], reverse_prob=1.0, **opts)[(0, 1.0, 0)]
    played_backwards = EventVSRDataset([rev_path], reverse_prob=0.0, **opts)[(0, 1.0, 0)]
    assert reversed_sample["reversed"]
    assert played_backwards["events"].abs().sum() > 0
    torch.testing.assert_close(reversed_sample["events"], played_backwards["events"], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(reversed_sample["lr"], played_backwards["lr"])
    torch.testing.assert_close(reversed_sample["frame_times"], played_backwards["frame_times"])


@pytest.fixture(scope="module")
def uneven_paths(tmp_path_factory):
    """Five frames at uneven times and the same recording played backwards."""
    d = tmp_path_factory.mktemp("rev_uneven")
    h, w = 8, 10
    ft = np.array([0, 700, 2000, 2600, 4000], np.int64)
    frames = textured_frames(len(ft), h, w, seed=9)
    x, y, t, p = random_events(300, h, w, 0, 4001, seed=10)
    end = int(ft[-1])
    fwd = write_egvsr(d / "fwd.h5", frames, ft, (x, y, t, p), w, h)
    rev = write_egvsr(d / "rev.h5", frames[::-1].copy(), end - ft[::-1], (x[::-1], y[::-1], end - t[::-1], -p[::-1]),
                      w, h)
    return fwd, rev, end


@pytest.mark.parametrize("k", [2, 3, 4])
def test_time_reversal_queries_the_middle_of_the_reversed_window(uneven_paths, k):
    """For even K the middle query is the later central frame of the window as played: reversed, that is the
    earlier central frame of the forward window, whose HR frame and time the reversed sample targets."""
    fwd_path, rev_path, end = uneven_paths
    opts = dict(patch_size=None, scale_range=(1.0, 1.0), flips=False, rotations=False, bins=4, num_frames=k)
    fwd = EventVSRDataset([fwd_path], reverse_prob=1.0, **opts)
    rev = EventVSRDataset([rev_path], reverse_prob=0.0, **opts)
    for i in range(len(fwd)):
        reversed_sample, played_backwards = fwd[(i, 1.0, 0)], rev[(len(rev) - 1 - i, 1.0, 0)]
        assert reversed_sample["reversed"]
        for key in ("hr", "times", "frame_times", "lr", "events"):
            torch.testing.assert_close(reversed_sample[key], played_backwards[key], rtol=1e-6, atol=1e-6)
        assert (end - reversed_sample["t_us"]).tolist() == played_backwards["t_us"].tolist()


# ---- determinism ------------------------------------------------------------------------------------------


def _batches(ds, seed, workers=0):
    sampler = ScaleBatchSampler(len(ds), 2, ds.scale_range, seed=seed)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_samples, num_workers=workers)
    return list(loader)


def test_same_seed_same_samples(rec_path):
    ds = EventVSRDataset([rec_path], patch_size=8, scale_range=(1.0, 4.0))
    a, b = _batches(ds, 3), _batches(ds, 3)
    c = _batches(EventVSRDataset([rec_path], patch_size=8), 3, workers=2)  # worker processes
    for x, y, z in zip(a, b, c):
        assert x["scale"] == y["scale"] == z["scale"]
        for k in ("lr", "events", "hr", "times"):
            assert torch.equal(x[k], y[k]) and torch.equal(x[k], z[k])
    other = _batches(ds, 4)
    assert any(not torch.equal(x["lr"], y["lr"]) for x, y in zip(a, other))
    assert torch.equal(ds[1]["lr"], ds[1]["lr"])  # int keys: scale and crop fixed by (seed, index)


# ---- space-time mode ---------------------------------------------------------------------------------


def test_space_time_queries_have_ground_truth(rec_path):
    ds = EventVSRDataset([rec_path], queries="gt", num_queries=4, patch_size=(6, 8), flips=False,
                         rotations=False, reverse_prob=0.0)
    s = ds[(1, 2.0, 9)]
    assert s["times"].shape == (4,) and s["hr"].shape[0] == 4
    assert bool((s["times"][1:] > s["times"][:-1]).all()) and _in_range(s["times"], -1, 1)
    t0, t1 = s["window_us"].tolist()
    np.testing.assert_allclose(s["times"], 2 * (s["t_us"].numpy() - t0) / (t1 - t0) - 1, atol=1e-6)
    y0, x0, Hc, Wc = s["crop"].tolist()
    with open_recording(rec_path) as rec:
        for t, img in zip(s["t_us"].tolist(), s["hr"]):
            j = np.flatnonzero(rec.gt_times == t)
            src = rec.read_gt(int(j[0])) if j.size else rec.read_frame(int(np.flatnonzero(rec.frame_times == t)[0]))
            np.testing.assert_allclose(img.permute(1, 2, 0).numpy() * 255, src[y0 : y0 + Hc, x0 : x0 + Wc], atol=1e-3)
    ev = EventVSRDataset([rec_path], mode="eval", scale=2.0, queries="gt")
    assert len(ev) == len(FT) + len(GT_T)
    assert [int(ev[i]["t_us"][0]) for i in range(len(ev))] == sorted(FT.tolist() + GT_T.tolist())


def test_largest_sample_bounds_every_sample(rec_path):
    """`largest_sample` (which sizes a training step's memory) from the settings alone, for patches at the
    top of the scale range, several queries, and whole frames (largest LR at the lowest scale)."""
    ds = EventVSRDataset([rec_path], queries="gt", num_queries=3, patch_size=(6, 8), scale_range=(1.0, 3.7),
                         rotations=False)
    assert ds.largest_sample() == ((6, 8), (22, 29), 3) and ds.event_shape() == (32, 2)
    s = ds[(0, 3.7, 5)]
    assert s["lr"].shape[-2:] == (6, 8) and s["hr"].shape == (3, 3, 22, 29)
    whole = EventVSRDataset([rec_path], patch_size=None, scale_range=(2.0, 4.0), representation="voxel", bins=5,
                            polarity="signed")
    assert whole.largest_sample() == ((24, 32), (H, W), 1) and whole.event_shape() == (5, 1)
    for scale in (2.0, 3.0, 4.0):
        s = whole[(0, scale, 1)]
        assert s["lr"].shape[-2] * s["lr"].shape[-1] <= 24 * 32 and s["hr"].shape[-2] * s["hr"].shape[-1] <= H * W


# ---- EvTexture: stored LR frames and voxels, fixed scale -------------------------------------------------


def test_evtexture_samples(tmp_path):
    hr = textured_frames(4, 32, 48, seed=6)
    _, lr_path = write_evtexture(tmp_path / "Vid4_h5", "calendar", hr, scale=4, bins=5)
    ds = EventVSRDataset([lr_path], patch_size=(4, 6), flips=False, rotations=False, reverse_prob=0.0)
    assert ds.scale_range == (4.0, 4.0)
    s = ds[(0, 4.0, 1)]
    assert s["lr"].shape == (3, 3, 4, 6) and s["events"].shape == (10, 1, 4, 6) and s["hr"].shape == (1, 3, 16, 24)
    y0, x0, _, _ = s["crop"].tolist()
    hr_target = s["hr"][0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_allclose(hr_target, hr[1, y0 : y0 + 16, x0 : x0 + 24], atol=1e-3)
    rec = ds.recordings[0]
    lr_box = (slice(None), slice(y0 // 4, y0 // 4 + 4), slice(x0 // 4, x0 // 4 + 6))
    np.testing.assert_allclose(s["events"][:5, 0], rec.read_voxels(0)[lr_box])
    r = EventVSRDataset([lr_path], patch_size=(4, 6), flips=False, rotations=False, reverse_prob=1.0)[(0, 4.0, 1)]
    np.testing.assert_allclose(r["events"][:5, 0], rec.read_voxels(1, "backward")[lr_box])  # last interval first
    assert ds.largest_sample() == ((4, 6), (16, 24), 1)
    assert ds.event_shape() == (10, 1)  # the stored voxels, not the (unused) representation settings
    with pytest.raises(ConfigError, match=r"^scale_range: \(1.0, 4.0\) differs from the x4 at which .*calendar.h5 "
                                          r"pairs LR and HR \(EvTexture files\), which cannot be changed; give "
                                          r"scale_range \[4, 4\] or None$"):
        EventVSRDataset([lr_path], scale_range=(1.0, 4.0))
    assert EventVSRDataset([lr_path], mode="eval", scale=4, scale_range=(4, 4), patch_size=None).scale == 4.0


# ---- bad inputs ------------------------------------------------------------------------------------------


def test_frames_and_events_of_different_sensor_sizes(tmp_path):
    frames = textured_frames(3, H, W)
    path = write_egvsr(tmp_path / "bad.h5", frames, [0, 1, 2], random_events(10, 40, 40, 0, 3), 40, 40)
    with pytest.raises(EgvsrError, match="frames are 64x48 .* sensor is 40x40"):
        open_recording(path)


def test_window_without_events_gives_zeros(tmp_path):
    frames = textured_frames(4, H, W)
    ev = random_events(100, H, W, 90_000, 120_000)  # only in the last interval
    ds = EventVSRDataset([write_egvsr(tmp_path / "quiet.h5", frames, [0, 40_000, 80_000, 120_000], ev, W, H)],
                         patch_size=8)
    s = ds[(0, 2.0, 0)]
    assert s["events"].shape == (32, 2, 8, 8) and float(s["events"].abs().sum()) == 0.0
    assert float(ds[(1, 2.0, 0)]["events"].abs().sum()) >= 0  # the other window is fine too


@pytest.mark.parametrize("times", [[0, 40_000, 40_000], [0, 80_000, 40_000]])
def test_unsorted_or_duplicated_frame_times(tmp_path, times):
    path = write_egvsr(tmp_path / "t.h5", textured_frames(3, H, W), times, random_events(10, H, W, 0, 9), W, H)
    with pytest.raises(EgvsrError, match="t.h5.*strictly increase"):
        EventVSRDataset([path])


def test_duplicated_times_message():
    from egvsr.datasets.recording import check_times

    with pytest.raises(EgvsrError, match="clip.h5: frame timestamps: .*duplicated at index 2"):
        check_times(np.array([0, 5, 5]), "clip.h5: frame timestamps")
    with pytest.raises(EgvsrError, match="unsorted"):
        check_times(np.array([0, 5, 3]), "x")


def test_recording_shorter_than_window(tmp_path):
    frames, ev = textured_frames(2, H, W), random_events(10, H, W, 0, 9)
    path = write_egvsr(tmp_path / "short.h5", frames, [0, 40_000], ev, W, H)
    with pytest.raises(ConfigError, match="only 2 frame.*shorter than the window of num_frames=3"):
        EventVSRDataset([path])
    with pytest.raises(ConfigError, match="shorter than the window"):
        EventVSRDataset([path], mode="eval", scale=2.0)


def test_scale_outside_configured_range(rec_path):
    ds = EventVSRDataset([rec_path], patch_size=8, scale_range=(1.0, 4.0))
    with pytest.raises(ConfigError, match="scale 6.5 is outside the configured scale_range \\(1, 4\\)"):
        ds[(0, 6.5, 0)]
    with pytest.raises(ConfigError, match="scale_range"):
        EventVSRDataset([rec_path], scale_range=(0.5, 2.0))
    with pytest.raises(ConfigError, match="lies outside scale_range"):
        EventVSRDataset([rec_path], mode="eval", scale=5.0, scale_range=(1.0, 4.0))
    with pytest.raises(ConfigError, match="needs a fixed scale"):
        EventVSRDataset([rec_path], mode="eval")
    with pytest.raises(ConfigError, match="patch_size 12x12 at scale 6.5 needs a crop of 78x78, larger than the 48x6"):
        EventVSRDataset([rec_path], patch_size=12, scale_range=(1.0, 6.5))
    with pytest.raises(ConfigError, match="evaluation uses whole frames"):
        EventVSRDataset([rec_path], mode="eval", scale=2.0, patch_size=8)
    with pytest.raises(ConfigError, match="patch_size 0"):
        EventVSRDataset([rec_path], patch_size=0)


def test_indexing_follows_python_sequences(rec_path):
    """Negative ints count from the end, numpy ints work; out of range is an IndexError (iteration
    stops there), a non-integer a TypeError; both one-line toolkit errors naming the index."""
    ds = EventVSRDataset([rec_path], mode="eval", scale=2.0)
    n = len(ds)
    assert ds[-1]["index"] == n - 1 and ds[-n]["index"] == 0
    assert torch.equal(ds[-1]["hr"], ds[n - 1]["hr"]) and ds[np.int64(2)]["index"] == 2
    assert ds[(np.int32(-2), np.float32(2.0), np.uint8(3))]["index"] == n - 2
    assert sum(1 for _ in ds) == n  # `for x in ds` ends at the IndexError
    for index in (n, -n - 1, 10**20):
        with pytest.raises(IndexRangeError, match=f"dataset index {index} out of range: {n} items, valid "
                                                  f"indices 0..{n - 1} \\(or -{n}..-1 from the end\\)"):
            ds[index]
        with pytest.raises(IndexError):
            ds[(index, 2.0, 0)]
    for key, match in (("a", "dataset index 'a': expected an integer .*got str"),
                       (1.5, "dataset index 1.5: .*got float"), (1.0, "got float"), (np.float64(1), "got float64"),
                       (None, "got NoneType"), (slice(0, 2), "got slice"), (("a", 2.0, 0), "index 'a'"),
                       ((0, "2", 0), "scale '2' is not a number"), ((0, 2.0, 0.5), "seed 0.5 is not an integer"),
                       ((1,), "expected an index or \\(index, scale, seed\\)")):
        with pytest.raises(IndexTypeError, match=match) as exc:
            ds[key]
        assert isinstance(exc.value, (TypeError, ConfigError)) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="seed -1 is negative"):
        ds[(0, 2.0, -1)]


def test_real_gray_frames(shared_data, tmp_path):
    """slider_depth (real DAVIS240C frames, gray): replicated to 3 channels, whole-frame eval at x3.7."""
    import cv2

    folder = shared_data / "slider_depth"
    stamps = np.loadtxt(folder / "images.txt", usecols=0)[:4]
    imgs = np.stack([cv2.imread(str(folder / "images" / f"frame_{i:08d}.png"), cv2.IMREAD_GRAYSCALE)
                     for i in range(4)])[..., None]
    t = np.round(stamps * 1e6).astype(np.int64)
    Hs, Ws = imgs.shape[1:3]
    path = write_egvsr(tmp_path / "slider.h5", imgs, t, random_events(2000, Hs, Ws, int(t[0]), int(t[-1])), Ws, Hs)
    s = EventVSRDataset([path], mode="eval", scale=3.7)[1]
    assert s["lr"].shape == (3, 3, math.floor(Hs / 3.7), math.floor(Ws / 3.7))
    assert torch.equal(s["hr"][:, 0], s["hr"][:, 2]) and torch.equal(s["lr"][:, 0], s["lr"][:, 1])


def test_frame_times_that_wrap_around_int64_are_not_increasing():
    """np.diff of [max - 1000, min + 1000] wraps to +2001: neighbours are compared instead."""
    from egvsr.datasets.recording import check_times

    i64 = np.iinfo(np.int64)
    with pytest.raises(EgvsrError, match=r"x: timestamps must strictly increase; unsorted \(decreasing\) at index 1"):
        check_times(np.array([i64.max - 1000, i64.min + 1000, i64.min + 2000]), "x")


@pytest.mark.parametrize("index", [1.9, "3", True, None, np.float64(2.0)])
def test_recording_frame_index_of_another_type(rec_path, index):
    """As EventSource.read_frame: never truncated by int(), an IndexTypeError (also a TypeError)."""
    with open_recording(rec_path) as rec:
        with pytest.raises(IndexTypeError, match=rf"clip.h5: frame index .*: expected an integer, got "):
            rec.read_frame(index)
        with pytest.raises(IndexRangeError, match=rf"clip.h5: frame index {len(FT)} out of range"):
            rec.read_frame(len(FT))
        assert rec.read_frame(np.int64(1)).shape == (H, W, 3)


def test_recording_event_window_follows_event_source(rec_path):
    """Floats round up, None is unbounded, NaN or a str names t0 / t1."""
    with open_recording(rec_path) as rec:
        everything = rec.read_events(None, None)
        assert len(everything) == 20_000
        t = int(everything.t[100])
        assert np.array_equal(rec.read_events(t - 0.5, None).t, everything.t[everything.t >= t])
        with pytest.raises(ConfigError, match=r"^t0: expected a finite time in microseconds, got nan$"):
            rec.read_events(float("nan"), 0)
        with pytest.raises(ConfigError, match=r"^t1: expected a time in microseconds \(int\), got '5'$"):
            rec.read_events(0, "5")


@pytest.mark.parametrize("path", [b"clip.h5", None, 5])
def test_recording_path_of_another_type(path):
    with pytest.raises(ConfigError, match=rf"^path: expected a file path \(str or os.PathLike\), got "
                                          rf"{type(path).__name__}$"):
        open_recording(path)


@pytest.mark.parametrize("recordings", [None, 5, ["clip.h5", None]])
def test_dataset_recordings_of_another_type(recordings):
    with pytest.raises(ConfigError, match=r"^recordings .*: expected a recording path \(str or os.PathLike\), a "
                                          r"Recording, a DatasetRoot or a list of them$"):
        EventVSRDataset(recordings)


def test_dataset_scale_range_string(rec_path):
    with pytest.raises(ConfigError, match=r"^scale_range '12': expected \(low, high\)$"):
        EventVSRDataset(rec_path, patch_size=8, scale_range="12")


@pytest.mark.parametrize("patch", ["16", (8.9, 8.2), (True, 8), 8.0, (8, 8, 8), [8, "8"]])
def test_patch_size_takes_integers_only(rec_path, patch):
    """Never read "16" as (1, 6), (8.9, 8.2) as (8, 8) or True as 1."""
    with pytest.raises(ConfigError, match=r"^patch_size .*: expected a positive integer or \(height, width\) of "
                                          r"positive integers$"):
        EventVSRDataset([rec_path], patch_size=patch, scale_range=(1, 2))
    assert EventVSRDataset([rec_path], patch_size=[6, np.int64(8)], scale_range=(1, 2)).patch_size == (6, 8)


def test_fps_is_refused_for_recordings_with_frame_times(rec_path):
    """`fps` times only the frames of layouts without timestamps (EvTexture); elsewhere it would be ignored."""
    pattern = (rf"^fps: {re.escape(str(rec_path))} states its frames' times \(egvsr layout\); fps applies only to "
               r"recordings without timestamps \(EvTexture files\): leave fps unset \(None\)$")
    with pytest.raises(ConfigError, match=pattern):
        open_recording(rec_path, fps=1000)
    with pytest.raises(ConfigError, match=pattern):
        EventVSRDataset([rec_path], fps=1000)
    with open_recording(rec_path) as rec, pytest.raises(ConfigError, match=pattern):
        EventVSRDataset([rec], fps=1000)


def test_fps_of_a_config_section_is_named_by_its_key(rec_path):
    from egvsr.engine.config_datasets import build_dataset

    with pytest.raises(ConfigError, match=r"^data.train.fps: .* states its frames' times \(egvsr layout\); "
                                          r"data.train.fps applies only .*: leave data.train.fps unset \(null\)$"):
        build_dataset({"recordings": [str(rec_path)], "fps": 1000, "patch_size": 8}, "data.train", mode="train")


def test_fps_times_evtexture_frames_and_an_open_one_must_match(tmp_path):
    hr = textured_frames(4, 32, 48, seed=6)
    _, lr_path = write_evtexture(tmp_path / "Vid4_h5", "calendar", hr, scale=4, bins=5)
    assert EventVSRDataset([lr_path], fps=50, patch_size=(4, 6)).recordings[0].frame_times[1] == 20_000
    with open_recording(lr_path, fps=50) as rec:
        assert EventVSRDataset([rec], fps=50, patch_size=(4, 6)).recordings[0] is rec
        with pytest.raises(ConfigError, match=r"^fps: 25: .*calendar.h5 is already open at 50 fps; pass fps to "
                                              r"open_recording, or give its path instead$"):
            EventVSRDataset([rec], fps=25, patch_size=(4, 6))


@pytest.mark.parametrize("mode_options", [{}, {"mode": "eval", "scale": 2.0, "patch_size": None}])
def test_include_frames_off_needs_ground_truth_queries(rec_path, mode_options):
    """Without frames as targets only ground-truth times are left, which queries 'middle' never draws (every
    sample used to fail with a bare KeyError)."""
    with pytest.raises(ConfigError, match=r"^include_frames: turned off, it keeps only the ground-truth frames as "
                                          r"targets, which only queries 'gt' draws \(queries 'middle' targets the "
                                          r"middle frame\): set queries to 'gt' or turn include_frames on$"):
        EventVSRDataset([rec_path], include_frames=False, **mode_options)
    ds = EventVSRDataset([rec_path], include_frames=False, queries="gt", num_queries=2, patch_size=8)
    assert not set(ds[0]["t_us"].tolist()) & set(FT.tolist())  # ground-truth times only


def test_include_frames_of_a_config_section_names_the_keys(rec_path):
    from egvsr.engine.config_datasets import build_dataset

    with pytest.raises(ConfigError, match=r"^data.train.include_frames: turned off, .* only data.train.queries 'gt' "
                                          r"draws .*: set data.train.queries to 'gt' or turn data.train.include_frames "
                                          r"on$"):
        build_dataset({"recordings": [str(rec_path)], "include_frames": False}, "data.train", mode="train")
