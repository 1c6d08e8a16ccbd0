"""The synthetic data engine: deterministic, held-out images kept out, sensor-realistic streams."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from egvsr.datasets.synthetic import ensure_clips, image_names, parse_entry, render_clip
from egvsr.datasets.synthetic.sensor import draw_sensor
from egvsr.errors import ConfigError
from egvsr.events.io import read_events

SIZE = (48, 64)


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("frames/images", "frames/t", "gt/images", "gt/t")}, dict(f.attrs)


def test_same_seed_same_clip_other_index_other_clip(tmp_path):
    a, b, c = (render_clip(tmp_path / n, 3, "train", i, SIZE) for n, i in (("a.h5", 5), ("b.h5", 5), ("c.h5", 6)))
    (fa, _), (fb, _), (fc, _) = _read(a), _read(b), _read(c)
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k])
    ea, eb = read_events(str(a)), read_events(str(b))
    for k in "xytp":
        np.testing.assert_array_equal(getattr(ea, k), getattr(eb, k))
    assert not np.array_equal(fa["frames/images"], fc["frames/images"][: len(fa["frames/images"])])


def test_validation_images_never_appear_in_training_clips(tmp_path):
    train, val = set(image_names("train")), set(image_names("val"))
    assert train and val and not train & val
    for i in range(6):
        _, attrs = _read(render_clip(tmp_path / f"t{i}.h5", 0, "train", i, SIZE))
        assert set(attrs["scene_images"].split(",")) <= train
        _, attrs = _read(render_clip(tmp_path / f"v{i}.h5", 0, "val", i, SIZE))
        assert set(attrs["scene_images"].split(",")) <= val


def test_clips_carry_gray_frames_events_and_ground_truth_between_frames(tmp_path):
    grays = 0
    for i in range(8):
        path = render_clip(tmp_path / f"c{i}.h5", 0, "train", i, SIZE)
        frames, attrs = _read(path)
        ft, gt = frames["frames/t"], frames["gt/t"]
        assert len(ft) == 5 and len(gt) == 3 * 4
        assert np.all((gt > ft[0]) & (gt < ft[-1])) and not set(gt) & set(ft)
        channels = frames["frames/images"].shape[-1]
        assert channels == (1 if attrs["sensor_gray"] else 3)
        grays += channels == 1
        ev = read_events(str(path))
        assert ev.t.min() >= ft[0] and ev.t.max() <= ft[-1]
    assert 0 < grays < 8


def test_sensor_settings_cover_real_ranges_and_vary_per_clip():
    draws = [draw_sensor(np.random.default_rng(i)) for i in range(400)]
    cp = np.array([d.cp for d in draws])
    assert cp.min() < 0.15 and cp.max() > 0.5
    exposure = np.array([d.exposure for d in draws])
    assert exposure.min() < 0.1 and exposure.max() > 0.8
    assert 0.45 < np.mean([d.gray for d in draws]) < 0.75
    assert np.mean([d.hot_fraction > 0 for d in draws]) > 0.9
    ratio = np.array([d.cn_ratio for d in draws])
    assert ratio.min() < 0.8 and ratio.max() > 1.3


def test_long_exposure_blurs_a_moving_scene(tmp_path):
    """The same scene and motion, shutter open 5% vs 90% of the interval: the long exposure is smoother."""
    def sharpness(exposure):
        path = render_clip(tmp_path / f"e{exposure}.h5", 1, "train", 2, SIZE,
                           sensor_override={"exposure": exposure, "read_noise": 0.0, "shot_noise": 0.0})
        img = _read(path)[0]["frames/images"].astype(np.float64)
        return float(np.abs(np.diff(img, axis=2)).mean())

    assert sharpness(0.9) < sharpness(0.05)


def test_hot_pixels_fire_far_above_the_rest(tmp_path):
    path = render_clip(tmp_path / "hot.h5", 0, "train", 1, SIZE,
                       sensor_override={"hot_fraction": 0.01, "hot_rate_hz": 2000.0, "shot_noise_hz": 0.0})
    ev = read_events(str(path))
    counts = np.bincount(ev.y.astype(np.int64) * SIZE[1] + ev.x, minlength=SIZE[0] * SIZE[1])
    assert np.sort(counts)[-5:].min() > 10 * max(1.0, np.median(counts))


@pytest.mark.parametrize("entry", ["synthetic:test:0", "synthetic:train", "synthetic:train:5-2", "synthetic:val:x"])
def test_bad_entries_are_refused_with_the_entry_named(entry):
    with pytest.raises(ConfigError, match="synthetic:SPLIT"):
        parse_entry(entry, "data.train.recordings")


def test_cache_renders_missing_clips_once(tmp_path):
    split, idx = parse_entry("synthetic:val:0-1", "x")
    paths = ensure_clips(tmp_path, 0, split, idx, SIZE, progress=False, workers=1)
    stamps = [os.stat(p).st_mtime_ns for p in paths]
    again = ensure_clips(tmp_path, 0, split, idx, SIZE, progress=False, workers=1)
    assert again == paths and [os.stat(p).st_mtime_ns for p in again] == stamps
