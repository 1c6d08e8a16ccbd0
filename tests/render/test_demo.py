"""`egvsr demo` on a tiny configuration: folder contents, PSNR table, figure, refusals, fallback."""

from __future__ import annotations

import contextlib

import cv2
import numpy as np
import pytest

from egvsr.render import demo as demo_mod
from egvsr.render.demo import run_demo, shipped_checkpoint
from egvsr.errors import CheckpointError, ConfigError, OutputExistsError
from tests._reliability import check_message


TINY = dict(seconds=0.12, size=(40, 56), scales=(2.0, 3.5), progress=False, echo=None)


@pytest.fixture(scope="module")
def tiny_ck(tmp_path_factory):
    from egvsr.render.model import save_untrained

    return save_untrained("egvsr-tiny", tmp_path_factory.mktemp("demo") / "tiny.pt")


def test_demo_writes_table_figure_videos_and_log(tiny_ck, tmp_path):
    out = tmp_path / "demo"
    said: list[str] = []
    res = run_demo(out, tiny_ck, **{**TINY, "echo": said.append})
    # the representation in words, and `wrote` last, naming every file (sample.h5 too)
    assert "events moments (bins 8, polarity split, normalize none)" in "\n".join(said) and "{'" not in "".join(said)
    assert said[-1] == (f"wrote {out}/: sample.h5, x2/video.mp4, x2/side_by_side.mp4, x3.5/video.mp4, "
                        "x3.5/side_by_side.mp4, figure.png, results.md, log.txt")
    assert sorted(res.files) == sorted(p for p in out.rglob("*") if p.is_file() and p.name != ".egvsr-output")
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == [".egvsr-output", "figure.png", "log.txt", "results.md", "sample.h5", "x2/side_by_side.mp4", "x2/video.mp4",
                     "x3.5/side_by_side.mp4", "x3.5/video.mp4"]
    kinds = {(r["scale"], r["model"], r["kind"]) for r in res.rows}
    for s in (2.0, 3.5):
        for m in ("egvsr-tiny", "bicubic"):
            assert {(s, m, "frame"), (s, m, "between"), (s, m, "all")} <= kinds
    frames = {(r["scale"], r["kind"]): r["n"] for r in res.rows if r["model"] == "bicubic"}
    assert frames[(2.0, "frame")] == 4 and frames[(2.0, "between")] == 3  # 4 frames at twice the rate
    assert all(r["psnr"] > 5 and 0 < r["ssim"] <= 1 for r in res.rows)
    log = (out / "log.txt").read_text()
    for stage in ("[sample] done in", "[checkpoint] done in", "[render x2] done in", "[render x3.5] done in",
                  "[figure] done in", "PSNR / SSIM"):
        assert stage in log
    assert "| x3.5 | in-between GT times | 3 |" in (out / "results.md").read_text()
    fig = cv2.imread(str(out / "figure.png"))
    assert fig is not None and fig.shape[1] > fig.shape[0]
    cap = cv2.VideoCapture(str(out / "x3.5" / "side_by_side.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    cap.release()
    # an existing demo folder is refused, untouched
    before = (out / "results.md").read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_demo(out, tiny_ck, **TINY)
    assert (out / "results.md").read_bytes() == before


@contextlib.contextmanager
def _no_shipped_checkpoint():
    yield None


def test_shipped_checkpoint_is_a_small_safe_egvsr_checkpoint():
    from egvsr.engine.checkpoint_file import load_checkpoint

    with shipped_checkpoint() as shipped:
        assert shipped is not None, "egvsr/data/egvsr-sample.pt is missing from this install"
        assert shipped.stat().st_size < 5_000_000
        ck = load_checkpoint(shipped)
    assert ck["model"]["name"].startswith("egvsr")


def _no_sample(monkeypatch):
    import egvsr.events.simulate as sim

    monkeypatch.setattr(sim, "make_sample", lambda *a, **k: pytest.fail("made the sample before a check"))


def test_a_demo_too_long_to_render_is_refused_before_the_sample(tiny_ck, tmp_path, monkeypatch, capsys):
    from egvsr.cli import main

    import egvsr.events.simulate.sample as S

    _no_sample(monkeypatch)
    # a full disk too: the render limit, the same on every machine, is the one reported
    monkeypatch.setattr(S, "free_bytes", lambda folder: 1)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "900", "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "render would write 45001 frames of 344x260" in err
    assert "the demo renders all of its 900 s sample at x4: use fewer --seconds" in err
    assert not out.exists() and not list(tmp_path.glob(".*egvsr-partial*"))


def test_a_demo_sample_larger_than_the_free_space_is_refused_naming_seconds(tiny_ck, tmp_path, monkeypatch, capsys):
    import egvsr.events.simulate.sample as S
    from egvsr.cli import main

    _no_sample(monkeypatch)
    monkeypatch.setattr(S, "free_bytes", lambda folder: 1000)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "2", "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'sample.h5'}: the sample would take up to about " in err
    assert "use fewer --seconds, or write elsewhere" in err and "--fps" not in err and not out.exists()


def test_a_demo_sample_too_short_advises_only_the_demo_s_own_option(tiny_ck, tmp_path, monkeypatch, capsys):
    """The demo fixes the sample's frame rate and size: its advice names --seconds, never make-sample's --fps."""
    from egvsr.cli import main

    _no_sample(monkeypatch)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "0.01", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a sample needs at least two frames; give more --seconds\n" in err
    assert "--fps" not in err and not out.exists()


def test_missing_shipped_checkpoint_is_said_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_mod, "shipped_checkpoint", _no_shipped_checkpoint)
    _no_sample(monkeypatch)
    with pytest.raises(CheckpointError, match="egvsr-sample.pt is not in this install"):
        run_demo(tmp_path / "d", None, fallback=False, **TINY)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".*egvsr-partial*"))


def test_fallback_trains_a_tiny_model_and_labels_it(tiny_ck, tmp_path, monkeypatch):
    monkeypatch.setattr(demo_mod, "shipped_checkpoint", _no_shipped_checkpoint)
    calls = []

    def fake_train(sample, folder, minutes, device, progress, size, log):
        """As the trainer does: an empty logs/ folder, and a line naming its checkpoint's path."""
        calls.append((sample.name, minutes, size))
        (folder / "run" / "logs").mkdir(parents=True)
        log(f"wrote {folder / 'run' / 'last.pt'}")
        return tiny_ck

    monkeypatch.setattr(demo_mod, "train_fallback", fake_train)
    out = tmp_path / "d"
    said: list[str] = []
    res = run_demo(out, None, fallback_minutes=0.5, **{**TINY, "echo": said.append})
    assert calls == [("sample.h5", 0.5, (40, 56))]
    assert "fallback" in res.model_note
    log = (out / "log.txt").read_text()
    assert "falling back to training egvsr-tiny" in log
    assert "fallback" in (out / "results.md").read_text()
    # the trainer's lines name the final folder, never the temporary one, on screen and in log.txt
    assert f"wrote {out / 'fallback' / 'run' / 'last.pt'}" in said and f"wrote {out / 'fallback'}" in log
    assert "egvsr-partial" not in log + "".join(said) and said[-1].endswith(", log.txt, fallback/")
    # the training's empty logs/ folder is the demo's own: --overwrite replaces the fallback demo folder
    run_demo(out, None, fallback_minutes=0.5, overwrite=True, **TINY)
    assert len(calls) == 2 and (out / "fallback" / "run" / "logs").is_dir()


def test_a_checkpoint_inside_the_folder_to_replace_is_refused_from_python_too(tiny_ck, tmp_path, monkeypatch):
    """`run_demo(d1, d1/results.md, overwrite=True)` would delete the checkpoint with the old folder."""
    import shutil

    from egvsr.fsutil import atomic_directory

    out = tmp_path / "d1"
    with atomic_directory(out, kind="demo") as tmp:  # an earlier demo folder, the checkpoint copied into it
        shutil.copy(tiny_ck, tmp / "results.md")
    _no_sample(monkeypatch)
    with pytest.raises(OutputExistsError) as err:
        run_demo(out, out / "results.md", overwrite=True, **TINY)
    check_message(err.value, f"{out}: output folder holds the input {out / 'results.md'}")
    assert (out / "results.md").read_bytes() == tiny_ck.read_bytes()


def test_a_mount_point_as_the_output_is_refused_before_the_sample(tiny_ck, tmp_path, monkeypatch, capsys):
    """Not after the whole job, at the final rename ("Device or resource busy")."""
    import os

    from egvsr.cli import main

    _no_sample(monkeypatch)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda p: os.fspath(p) == str(mnt))
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(mnt), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(f"egvsr: error: {mnt}: is a mount point; ")


def test_wrote_is_printed_only_once_the_folder_is_in_place(tiny_ck, tmp_path, monkeypatch):
    import errno
    import os

    from egvsr.errors import OutputError

    out = tmp_path / "d"
    real = os.replace

    def busy(src, dst):
        if os.fspath(dst) == str(out):
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", busy)
    said: list[str] = []
    with pytest.raises(OutputError) as err:
        run_demo(out, tiny_ck, **{**TINY, "echo": said.append})
    check_message(err.value, f"{out}: cannot create the output in {tmp_path} (Device or resource busy)")
    assert said and not any(line.startswith("wrote") for line in said)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_sample_too_short_for_the_model_s_window_names_seconds_up_front(tiny_ck, tmp_path, monkeypatch, capsys):
    from egvsr.cli import main

    _no_sample(monkeypatch)
    out = tmp_path / "dA"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "0.04", "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        "egvsr: error: --seconds 0.04 gives 2 input frames at 25 fps; model 'egvsr-tiny' renders from windows of 3 "
        "consecutive frames, so it needs at least 3: use --seconds >= 0.08\n")
    assert not out.exists()


def test_a_read_only_output_folder_is_said_as_such_not_as_full(tiny_ck, tmp_path, monkeypatch, capsys):
    import errno
    import tempfile

    import egvsr.events.simulate.sample as S
    from egvsr.cli import main

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    _no_sample(monkeypatch)
    monkeypatch.setattr(S, "free_bytes", lambda folder: 0)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"egvsr: error: {out}: cannot create the output in {tmp_path} (the file "
                                       "system is read-only); choose another path\n")


def test_a_render_out_of_disk_space_names_the_demo_folder_and_its_own_option(tiny_ck, tmp_path, monkeypatch):
    """Not the temporary folder, nor render's `first_frame`/`last_frame` and `roi`, which the demo lacks."""
    import egvsr.render.plan as plan
    from egvsr.errors import OutputError
    from egvsr.render.disk import no_space_error

    monkeypatch.setattr(plan, "free_bytes", lambda folder: 1)  # the sample fits; its videos do not
    out = tmp_path / "d"
    with pytest.raises(OutputError) as err:
        run_demo(out, tiny_ck, **TINY)
    msg = check_message(err.value, f"{out / 'x2' / 'video.mp4'}: `mp4` and `side_by_side` need at least ",
                        f"free in {out.absolute()}; free some space, write elsewhere, or use fewer `seconds`")
    assert "egvsr-partial" not in msg and "first_frame" not in msg and "roi" not in msg
    assert not out.exists() and not list(tmp_path.iterdir())
    tmp = tmp_path / ".d.host-pid1.x.egvsr-partial"  # the same for a video that filled the disk as it was written
    with pytest.raises(OutputError) as err, demo_mod._named_as_output(tmp, out):
        raise no_space_error(tmp / "x2" / "video.mp4", tmp / "x2", 0, "writing the video")
    check_message(err.value, f"{out / 'x2' / 'video.mp4'}: no space left on the disk holding {out / 'x2'} while "
                  "writing the video, 0 bytes free; nothing was written (an existing output is kept): free some "
                  "space, write elsewhere or use fewer `seconds`")


@pytest.mark.slow
def test_fallback_training_config_is_accepted_by_the_trainer(tmp_path):
    from egvsr.render.model import load_render_model
    from egvsr.events.simulate import make_sample

    sample = make_sample(tmp_path / "s.h5", seed=0, seconds=0.16, size=(40, 56), progress=False)
    ck = demo_mod.train_fallback(sample, tmp_path / "fb", minutes=0.01, device="cpu", progress=False,
                                 size=(40, 56))
    rm = load_render_model(ck)
    assert rm.name == "egvsr-tiny" and rm.repr["bins"] == 8 and rm.num_frames == 3


def test_choose_time_takes_an_in_between_time_with_ground_truth_else_a_frame_time():
    frames = np.array([0, 40_000, 80_000])
    out = np.array([0, 20_000, 40_000, 60_000, 80_000])
    assert demo_mod.choose_time(frames, out, [20_000, 60_000]) in (20_000, 60_000)
    # thirds of each interval, ground truth at quarters: no in-between output time has any
    thirds = np.array([0, 13_333, 26_667, 40_000, 53_333, 66_667, 80_000])
    assert demo_mod.choose_time(frames, thirds, [10_000, 20_000, 30_000]) in frames.tolist()


def test_a_demo_whose_in_between_times_have_no_ground_truth_draws_its_figure_at_a_frame_time(tiny_ck, tmp_path,
                                                                                                  monkeypatch):
    # fps_factor 3 renders thirds of each interval, the sample's ground truth lies at quarters: the figure
    # (which shows the ground truth) is drawn at a frame time and says so, instead of failing on no ground truth
    from egvsr.plots import compare

    titles = []
    draw = compare.crop_rows
    monkeypatch.setattr(compare, "crop_rows", lambda *a, **k: titles.append(k["title"]) or draw(*a, **k))
    out = tmp_path / "demo"
    res = run_demo(out, tiny_ck, **{**TINY, "scales": (2.0,), "fps_factor": 3})
    assert cv2.imread(str(out / "figure.png")) is not None
    assert {r["kind"] for r in res.rows} == {"frame", "all"}
    assert len(titles) == 1 and "(an input frame time)" in titles[0], titles


def test_demo_folders_name_each_scale_exactly_and_a_scale_given_twice_is_refused(tiny_ck, tmp_path):
    out = tmp_path / "demo"
    run_demo(out, tiny_ck, **{**TINY, "scales": (2.0, 2.0000001)})  # `:g` named both x2
    assert (out / "x2" / "video.mp4").is_file() and (out / "x2.0000001" / "video.mp4").is_file()
    assert "| x2.0000001 | all |" in (out / "results.md").read_text()
    with pytest.raises(ConfigError, match=r"`scales`: scale 2 is given twice"):
        run_demo(tmp_path / "again", tiny_ck, **{**TINY, "scales": (2, 2.0)})
    assert not (tmp_path / "again").exists()


def _coded_figure(scales, height, width):
    """FigureData whose HR images hold each pixel's sensor (row, column) and whose LR images hold each
    pixel's LR (row, column), in units of 1/255 (exact in float)."""
    from egvsr.datasets.geometry import frame_geometry

    fig = demo_mod.FigureData(40_000)
    for s in scales:
        g = frame_geometry(height, width, s)
        yy, xx = np.mgrid[0:g.H, 0:g.W]
        hr = np.stack([(yy + g.y0) / 255, (xx + g.x0) / 255, np.zeros(yy.shape)], -1)
        ly, lx = np.mgrid[0:g.h, 0:g.w]
        lr = np.stack([ly / 255, lx / 255, np.ones(ly.shape)], -1)
        fig.by_scale[s] = {"ours": hr, "bicubic": hr.copy(), "gt": np.ones_like(hr), "lr": lr, "geom": g}
    return fig


@pytest.mark.parametrize("scales", [(2.0, 3.0, 6.5), (3.0, 6.5), (4.0, 6.5)])
def test_the_figure_shows_the_same_sensor_pixels_in_every_row_and_panel(tmp_path, monkeypatch, scales):
    # each scale's whole-frame output is a centred crop of its own size (x3 of a 50x70 sensor: rows 1..48,
    # x6.5: rows 2..46): the figure's crop lies where every row has it, so no row is clipped to another
    # place; its LR panel is the LR pixel under each output pixel's centre (not the whole LR pixels around
    # the crop, a wider region at a scale whose LR pixels do not tile it)
    import egvsr.events.io as eio
    from egvsr.events.stream import EventStream
    from egvsr.plots import compare

    height, width = 50, 70
    rng = np.random.default_rng(0)
    n = 400  # densest in the top-left corner, which not every scale's output covers
    x = np.concatenate([rng.integers(0, 12, n), rng.integers(0, width, n)]).astype(np.uint16)
    y = np.concatenate([rng.integers(0, 10, n), rng.integers(0, height, n)]).astype(np.uint16)
    p = rng.choice(np.array([-1, 1], np.int8), 2 * n)
    events = EventStream(x, y, np.full(2 * n, 40_000, np.int64), p, width, height)
    monkeypatch.setattr(eio, "read_events", lambda *a, **k: events, raising=False)
    drawn = {}
    monkeypatch.setattr(compare, "crop_rows", lambda rows, path, title=None, **k: drawn.update(rows=rows))
    fig = _coded_figure(scales, height, width)
    demo_mod.write_figure(fig, tmp_path / "sample.h5", tmp_path / "f.png", "m", 40_000)

    net = np.zeros((height, width))
    np.add.at(net, (y.astype(int), x.astype(int)), np.where(p > 0, 1, -1))
    regions = set()
    for (label, panels), s in zip(drawn["rows"], sorted(scales)):
        g = fig.by_scale[s]["geom"]
        (_, ev), (_, lr), (_, bic), (_, ours), _ = panels
        code = np.rint(np.asarray(ours) * 255).astype(int)
        sy, sx = code[0, 0, :2]
        bh, bw = code.shape[:2]
        # a contiguous block of sensor pixels, the same in bicubic and ours
        assert (code[:, :, 0] == sy + np.arange(bh)[:, None]).all() and (code[:, :, 1] == sx + np.arange(bw)).all()
        assert np.array_equal(np.asarray(bic), np.asarray(ours))
        regions.add((int(sy), int(sx), bh, bw))
        # events: coloured exactly where the sensor's crop has a net event
        assert np.array_equal((np.asarray(ev) != 255).any(-1), net[sy:sy + bh, sx:sx + bw] != 0), label
        # LR: for each output pixel centre, the LR pixel whose footprint holds it
        lr_code = np.rint(np.asarray(lr)[..., :2] * 255).astype(int)
        assert lr_code.shape[:2] == (bh, bw), label
        cy = (sy - g.y0 + np.arange(bh) + 0.5) / g.H * g.h  # in LR pixels
        cx = (sx - g.x0 + np.arange(bw) + 0.5) / g.W * g.w
        assert (lr_code[:, :, 0] == np.floor(cy)[:, None]).all() and (lr_code[:, :, 1] == np.floor(cx)).all(), label
    assert len(regions) == 1, regions
