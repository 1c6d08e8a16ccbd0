"""`make_sample`: exact renders at frame and ground-truth times, seeded, consistent events, errors."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.errors import ConfigError, OutputExistsError
from egvsr.events.io import open_events
from egvsr.events.simulate import SampleScene, make_sample, sample_seeds, sample_times

SIZE = (72, 96)
SEED = 6  # its clip thresholds are low (Cp ~ 0.09): plenty of events in a small clip


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "s.h5"
    make_sample(path, seed=SEED, seconds=0.4, size=SIZE, fps=25, gt_per_interval=2, progress=False)
    return path


def _load(path):
    with open_events(path) as src:
        frames = np.stack([src.read_frame(i) for i in range(src.num_frames)])
        gt = np.stack([src.read_gt(i) for i in range(len(src.gt_times()))])
        return src.read(), src.frame_times(), frames, src.gt_times(), gt


def test_layout_times_and_exact_renders(small):
    ev, ft, frames, gt_t, gt = _load(small)
    assert np.array_equal(ft, np.arange(11) * 40_000)
    assert frames.shape == (11, *SIZE, 3) and gt.shape == (20, *SIZE, 3)
    lo, hi = np.repeat(ft[:-1], 2), np.repeat(ft[1:], 2)
    assert np.all((gt_t > lo) & (gt_t < hi))
    assert np.array_equal(gt_t[:2], [13_333, 26_667])
    scene = SampleScene(sample_seeds(SEED)[0], *SIZE)
    for i in (0, 7):
        assert np.array_equal(frames[i], (scene.render(ft[i] / 1e6) * 255 + 0.5).astype(np.uint8))
    assert np.array_equal(gt[5], (scene.render(gt_t[5] / 1e6) * 255 + 0.5).astype(np.uint8))
    assert len(ev) > 2000 and set(np.unique(ev.p)) == {-1, 1}
    assert ev.t[0] > 0 and ev.t[-1] <= ft[-1]
    with h5py.File(small) as f:
        attrs = dict(f.attrs)
    assert attrs["generator"] == "egvsr.make_sample" and attrs["seed"] == SEED and attrs["fps"] == 25
    assert 0.05 <= attrs["sim_cp"] <= 0.5 and attrs["sim_cn"] > 0 and attrs["gt_per_interval"] == 2


def test_events_agree_with_the_frames(small):
    """Net polarity per pixel follows the sign of the log-intensity change between two frames."""
    ev, ft, frames, _, _ = _load(small)
    with h5py.File(small) as f:
        cp = f.attrs["sim_cp"]
    luma = frames.astype(np.float64) @ [0.299, 0.587, 0.114] / 255.0
    agree = []
    for k in range(len(ft) - 1):
        win = ev.slice(ft[k], ft[k + 1])
        net = np.zeros(SIZE)
        np.add.at(net, (win.y, win.x), win.p)
        change = np.log(luma[k + 1] + 1e-3) - np.log(luma[k] + 1e-3)
        strong = np.abs(change) > 2 * cp
        agree.extend(np.sign(net[strong]) == np.sign(change[strong]))
    assert len(agree) > 100 and np.mean(agree) > 0.9


def test_same_seed_same_file_other_seed_other_clip(small, tmp_path):
    again = tmp_path / "again.h5"
    make_sample(again, seed=SEED, seconds=0.4, size=SIZE, fps=25, gt_per_interval=2, progress=False)
    other = tmp_path / "other.h5"
    make_sample(other, seed=7, seconds=0.4, size=SIZE, fps=25, gt_per_interval=2, progress=False)
    a, b, c = _load(small), _load(again), _load(other)
    for k in "xytp":
        assert np.array_equal(getattr(a[0], k), getattr(b[0], k))
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[4], b[4])
    assert not np.array_equal(a[2], c[2])
    assert len(a[0]) != len(c[0]) or not np.array_equal(a[0].t, c[0].t)


@pytest.mark.parametrize("seed", range(4))
def test_motion_is_moderate_and_dense_steps_stay_near_one_pixel(seed):
    scene = SampleScene(seed, 260, 346)
    per_frame = [scene.displacement(k * 0.04, (k + 1) * 0.04) for k in range(0, 100, 7)]
    assert 0.3 < np.mean(per_frame) and max(per_frame) < 8.0  # a few px per frame at 25 fps
    for k in range(0, 100, 13):
        ta, tb = k * 0.04, (k + 1) * 0.04
        n = scene.steps(ta, tb)
        assert all(scene.displacement(ta + (tb - ta) * j / n, ta + (tb - ta) * (j + 1) / n) <= 1.1
                   for j in range(n))


def test_scene_has_no_borders_and_renders_deterministically():
    scene = SampleScene(5, 260, 346)
    for t in (0.0, 3.7, 11.2):
        img = scene.render(t)
        assert img.dtype == np.float32 and img.shape == (260, 346, 3)
        assert 0.0 <= img.min() and img.max() <= 1.0
        luma = scene.render(t, rgb=False)
        assert np.allclose(luma, img @ np.array([0.299, 0.587, 0.114], np.float32), atol=1e-5)
        # the camera view stays inside the photo: its corners map inside the source image
        corners = scene.corners @ scene.camera_matrix(t)[:, :2].T + scene.camera_matrix(t)[:, 2]
        sh, sw = scene.src_rgb.shape[:2]
        assert corners.min() >= 0 and (corners[:, 0] <= sw - 1).all() and (corners[:, 1] <= sh - 1).all()
    assert np.array_equal(SampleScene(5, 260, 346).render(3.7), scene.render(3.7))


def test_sample_times():
    t, gt = sample_times(0.2, 25.0, 3)
    assert np.array_equal(t, [0, 40_000, 80_000, 120_000, 160_000, 200_000])
    assert np.array_equal(gt[:3], [10_000, 20_000, 30_000]) and len(gt) == 15
    assert len(sample_times(0.2, 25.0, 0)[1]) == 0
    t, gt = sample_times(0.1, 30.0, 3)  # odd intervals: the 1/4 and 3/4 points are halves, to the even µs
    assert t.tolist() == [0, 33_333, 66_667, 100_000] and gt[:6].tolist() == [8333, 16_666, 25_000, 41_666,
                                                                             50_000, 58_334]


@settings(max_examples=60, deadline=None)
@given(t0=st.integers(-(2**62), 2**62), steps=st.lists(st.integers(1, 2**61), min_size=1, max_size=4),
       n=st.integers(1, 40))
def test_interval_points_are_the_exact_points_rounded_half_to_even_on_any_clock(t0, steps, n):
    from fractions import Fraction

    from egvsr.events.frames import interval_bounds, interval_points

    ft = np.array(np.cumsum([t0] + steps, dtype=object).tolist())
    if ft.max() >= 2**63:
        return
    ft = ft.astype(np.int64)
    got, (lo, hi) = interval_points(ft, n), interval_bounds(ft, n)
    assert got.shape == lo.shape == hi.shape == (len(steps), n - 1) and got.dtype == np.int64
    for k in range(len(steps)):
        for i in range(1, n):
            p = Fraction(int(ft[k])) + Fraction(i * (int(ft[k + 1]) - int(ft[k])), n)
            assert int(got[k, i - 1]) == round(p)  # Python's round: nearest, a tie to even
            assert (int(lo[k, i - 1]), int(hi[k, i - 1])) == (math.floor(p), math.ceil(p))


@pytest.mark.parametrize("kwargs, message", [
    (dict(seconds=0), "`seconds`: expected a positive number"),
    (dict(size=(8, 64)), "expected sides between 16"),
    (dict(gt_per_interval=-1), "`gt_per_interval`: expected an integer >= 0"),
    (dict(fps=-5.0), "`fps`: expected a positive number"),
    (dict(fps=1e-9), "shorter than one frame interval"),
    (dict(seed=1.5), "`seed`: expected an integer in 0..2\\*\\*63-1"),
    (dict(seed=-3), "`seed`: expected an integer in 0..2\\*\\*63-1"),
    (dict(seed=2**80), "`seed`: expected an integer in 0..2\\*\\*63-1"),
    (dict(seconds=True), "`seconds`: expected a positive number, got True"),  # was read as 1 s
    (dict(size=(16.9, 64)), r"`size`: expected \(height, width\), two whole numbers of pixels"),  # was cut to 16
    (dict(size=("32", "64")), r"`size`: expected \(height, width\), two whole numbers"),  # was read as numbers
    (dict(size=(32, 64, 3)), r"`size`: expected \(height, width\)"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = dict(seconds=0.2, size=SIZE, progress=False) | kwargs
    with pytest.raises(ConfigError, match=message):
        make_sample(tmp_path / "x.h5", **args)
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("kwargs", [dict(fps=np.int64(25)), dict(fps=np.float32(25)), dict(seconds=np.float32(0.08)),
                                    dict(size=np.array(SIZE)), dict(size=(np.int64(SIZE[0]), SIZE[1]))])
def test_numpy_numbers_are_numbers(kwargs):
    """NumPy's ints and floats were refused as fps and seconds ("expected a positive number")."""
    from egvsr.events.simulate.sample import check_sample_options

    args = dict(seconds=0.08, size=SIZE, fps=25.0, gt_per_interval=1) | kwargs
    seconds, size, fps, _ = check_sample_options("x.h5", 0, **args)
    assert (round(seconds, 6), size, fps) == (0.08, tuple(SIZE), 25.0)


def test_cli_make_sample_and_overwrite(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = ["make-sample", str(out), "--seconds", "0.2", "--size", "32x40", "--seed", "3",
            "--gt-per-interval", "1", "--no-progress"]
    assert main(args) == 0
    with open_events(out) as src:
        assert (src.width, src.height) == (40, 32) and src.num_frames == 6
        assert len(src.gt_times()) == 5
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(OutputExistsError):
        make_sample(out, seconds=0.2, size=(32, 40), progress=False)
    assert main(args + ["--overwrite"]) == 0


@pytest.mark.parametrize("args", [["--gt-per-interval", "1000000"], ["--fps", "1e7"]])
def test_cli_advice_on_too_many_frames_names_every_option_that_helps(tmp_path, capsys, args):
    out = tmp_path / "many.h5"
    assert main(["make-sample", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use fewer --seconds, a lower --fps or fewer --gt-per-interval\n" in err
    assert not out.exists()
    assert main(["make-sample", str(out), "--no-progress", "--fps", "4e5", "--seconds", "1e-4"]) == 2
    assert "distinct microsecond ground-truth times; use a lower --fps or fewer --gt-per-interval\n" in \
        capsys.readouterr().err


def test_a_sample_larger_than_the_free_disk_space_is_refused_before_rendering(tmp_path, capsys, monkeypatch):
    from egvsr.events.simulate import sample as S

    monkeypatch.setattr(S, "free_bytes", lambda folder: 2_000_000)  # 2 MB free
    monkeypatch.setattr(S, "SampleScene", lambda *a: pytest.fail("rendered before the size check"))
    out = tmp_path / "big.h5"
    assert main(["make-sample", str(out), "--seconds", "2", "--size", "64x64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: the sample would take up to about " in err
    assert "(51 frames and 150 ground-truth frames of 64x64 RGB" in err
    assert "more than the 2 MB free" in err and "use fewer --seconds, a smaller --size" in err
    assert not out.exists() and not list(tmp_path.iterdir())
    need, frames, gt, events = S.output_bytes(0, 2.0, (64, 64), 25.0, 3)
    assert (frames, gt) == (51, 150) and need >= 201 * 64 * 64 * 3 + events * 13


def test_a_read_only_folder_is_said_as_such_not_as_one_without_space(tmp_path, capsys, monkeypatch):
    """A read-only (or virtual) file system has no free space either: writability is checked first."""
    import errno
    import tempfile

    from egvsr.events.simulate import sample as S

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(S, "free_bytes", lambda folder: 0)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(S, "SampleScene", lambda *a: pytest.fail("rendered before the checks"))
    out = tmp_path / "ro.h5"
    assert main(["make-sample", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"egvsr: error: {out}: cannot create the output in {tmp_path} (the file "
                                       "system is read-only); choose another path\n")


def test_a_sample_larger_than_memory_is_refused_before_rendering(tmp_path, monkeypatch):
    from egvsr.events.simulate import budget, sample as S

    monkeypatch.setattr(budget, "memory_budget", lambda: 8 * 10**5)
    monkeypatch.setattr(S, "SampleScene", lambda *a: pytest.fail("rendered before the memory check"))
    with pytest.raises(ConfigError, match=r"x.h5: frames of 96x72 pixels need about .* pass a smaller --size"):
        make_sample(tmp_path / "x.h5", seconds=0.2, size=SIZE, progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_the_event_estimate_uses_the_clips_thresholds_and_covers_the_clip(small):
    """The disk estimate allows more events than the module's clip has (seed 6, low thresholds)."""
    from egvsr.events.simulate.sample import clip_thresholds, output_bytes

    with h5py.File(small, "r") as f:
        n = f["events/t"].shape[0]
        cp, cn = float(f.attrs["sim_cp"]), float(f.attrs["sim_cn"])
    assert clip_thresholds(SEED) == (cp, cn)
    assert n < output_bytes(SEED, 0.4, SIZE, 25.0, 2)[3] < 10 * n


def test_renders_stay_in_unit_range_where_float32_rounding_overshoots(monkeypatch):
    """render promised [0, 1] from "convex combinations, no clipping needed", but the float32 warp weights
    and premultiplied colour against alpha round a few ulps above 1 (1.0000001 over a white photo and white
    objects): a frame handed on as an intensity in [0, 1] was not one."""
    import egvsr.events.simulate.scene as scene_module

    sample_image = scene_module._sample_image
    monkeypatch.setattr(scene_module, "_sample_image", lambda name: np.ones_like(sample_image(name)))
    for seed in range(3):
        scene = SampleScene(seed, 60, 80)
        for t in np.linspace(0.0, 10.0, 40):
            for rgb in (True, False):
                img = scene.render(float(t), rgb=rgb)
                assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.0, (seed, t, rgb)
