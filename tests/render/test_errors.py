"""Bad inputs to `egvsr render`: one clear error line (exit 2), and nothing written or overwritten."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from egvsr.cli import main
from egvsr.errors import ConfigError
from egvsr.fsutil import fmt_size


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("render-errors")
    rec = make_sample(d / "clip.h5", seed=1, seconds=0.08, size=(20, 28), fps=25.0, progress=False)
    ck = save_untrained("egvsr-tiny", d / "tiny.pt")
    return rec, ck, d


def _fails(argv, capsys, *needles):
    rc = main(argv + ["--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("egvsr: error: ")
    for n in needles:
        assert n in line, line
    assert "Traceback" not in err
    return line


def _nothing_left(folder, *paths):
    for p in paths:
        assert not p.exists(), p
    assert not list(folder.glob(".*egvsr-partial*"))


def test_checkpoint_of_another_model(tiny, tmp_path, capsys):
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.models import build_model

    rec, ck, _ = tiny
    out = tmp_path / "out"
    # the user expects EGVSR, the file holds another model
    line = _fails(["render", str(rec), str(ck), "--scale", "2", "--model", "videoinr", "--png", str(out)], capsys)
    assert line == (f"egvsr: error: {ck}: checkpoint holds model 'egvsr-tiny', expected 'videoinr' or another model "
                    "of its family (videoinr-official, videoinr-tiny)")
    # a name that is no model is said to be none, with the list, before the checkpoint is read
    line = _fails(["render", str(rec), str(ck), "--scale", "2", "--model", "nonexist", "--png", str(out)], capsys)
    assert line.startswith("egvsr: error: --model 'nonexist': not a registered model; registered models: bicubic, "
                           "egvsr, egvsr-large")
    # a family (the --help example, egvsr) takes any of its presets: egvsr-tiny here, egvsr-small shipped
    assert main(["render", str(rec), str(ck), "--scale", "2", "--model", "egvsr", "--last-frame", "1", "--png",
                 str(tmp_path / "family"), "--no-progress"]) == 0
    # a file that claims egvsr-tiny but carries another model's weights
    other = build_model("videoinr-tiny")
    bad = save_checkpoint(tmp_path / "mixed.pt", {"model": {"name": "egvsr-tiny", "config": build_model(
        "egvsr-tiny").config}, "state_dict": other.state_dict(), "experiment": {}})
    _fails(["render", str(rec), str(bad), "--scale", "2", "--png", str(out)], capsys,
           "mixed.pt", "weights do not fit model 'egvsr-tiny'")
    # a torch file that is not an egvsr checkpoint at all
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    _fails(["render", str(rec), str(tmp_path / "foreign.pt"), "--scale", "2", "--png", str(out)], capsys,
           "foreign.pt", "not an egvsr checkpoint")
    # a checkpoint whose training config contradicts its model (events of another shape)
    m = build_model("egvsr-tiny")
    exp = {"data": {"train": {"bins": 32, "representation": "moments", "polarity": "split"}}}
    wrong = save_checkpoint(tmp_path / "wrong-bins.pt", {"model": {"name": "egvsr-tiny", "config": m.config},
                                                           "state_dict": m.state_dict(), "experiment": exp})
    _fails(["render", str(rec), str(wrong), "--scale", "2", "--png", str(out)], capsys,
           "wrong-bins.pt", "32 bins", "model takes 8 x 2")
    _nothing_left(tmp_path, out)


def test_scale_above_the_cap(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    out = tmp_path / "out.mp4"
    _fails(["render", str(rec), str(ck), "--scale", "16.5", "--mp4", str(out)], capsys,
           "--scale 16.5", "cap", "max_scale 16")
    _nothing_left(tmp_path, out)
    # a scale a hair above the cap is shown as given, not rounded to the cap it exceeds
    line = _fails(["render", str(rec), str(ck), "--scale", "16.0000001", "--mp4", str(out)], capsys)
    assert "--scale 16.0000001: above the cap" in line and "choose a scale up to 16" in line, line


def test_roi_outside_the_frame(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    out = tmp_path / "out"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--roi", "20", "5", "10", "5", "--png", str(out)],
           capsys, "--roi 20 5 10 5", "outside the 28x20 input frame")
    _fails(["render", str(rec), str(ck), "--scale", "2", "--roi", "-1", "0", "4", "4", "--png", str(out)],
           capsys, "--roi -1 0 4 4")
    _fails(["render", str(rec), str(ck), "--scale", "2", "--roi", "0", "0", "0", "4", "--png", str(out)],
           capsys, "at least 1 pixel")
    _nothing_left(tmp_path, out)


def test_existing_outputs_are_never_overwritten(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    video = tmp_path / "video.mp4"
    video.write_bytes(b"precious")
    new = tmp_path / "new.mp4"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--png", str(folder), "--mp4", str(new)], capsys,
           str(folder), "already exists", "--overwrite")
    _fails(["render", str(rec), str(ck), "--scale", "2", "--mp4", str(video)], capsys, str(video), "already exists")
    _fails(["render", str(rec), str(ck), "--scale", "2", "--mp4", str(new), "--side-by-side", str(new)], capsys,
           "same path")
    assert (folder / "keep.txt").read_text() == "mine" and sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert video.read_bytes() == b"precious"
    _nothing_left(tmp_path, new)


def test_other_bad_arguments(tiny, tmp_path, capsys):
    rec, ck, d = tiny
    out = tmp_path / "o.mp4"
    base = ["render", str(rec), str(ck), "--mp4", str(out)]
    _fails(base + ["--scale", "2", "--times", "1s"], capsys, "--times '1s'", "outside the input frames")
    _fails(base + ["--scale", "2", "--max-output-gb", "1e-9"], capsys, "uncompressed", "--max-output-gb")
    _fails(base + ["--scale", "2", "--degrade", "--scale", "0.5"], capsys, "--degrade", ">= 1")
    _fails(base + ["--scale", "2", "--tile", "3"], capsys, "--tile 3")
    _fails(["render", str(d / "missing.h5"), str(ck), "--scale", "2", "--mp4", str(out)], capsys,
           "missing.h5", "not found")
    _fails(["render", str(rec), str(ck), "--scale", "2"], capsys, "at least one output")
    _nothing_left(tmp_path, out)


def test_events_model_on_frames_without_events(tiny, tmp_path, capsys):
    import cv2

    rec, ck, _ = tiny
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), (i * 40) * __import__("numpy").ones((20, 28, 3), "uint8"))
    out = tmp_path / "o.mp4"
    _fails(["render", str(frames), str(ck), "--scale", "2", "--fps", "25", "--mp4", str(out)], capsys,
           "needs events", "--events")
    _fails(["render", str(frames), str(ck), "--scale", "2", "--mp4", str(out)], capsys,
           "no timestamps", "--fps")
    _nothing_left(tmp_path, out)


def test_window_size_override(tiny, tmp_path, capsys):
    """`--window-size` renders an EGVSR checkpoint with square windows; bad values and models without the
    option get one line."""
    import cv2

    rec, ck, _ = tiny
    outs = {}
    for s in ("0", "4"):
        out = tmp_path / f"ws{s}"
        assert main(["render", str(rec), str(ck), "--scale", "2", "--last-frame", "1", "--png", str(out),
                     "--window-size", s, "--no-progress"]) == 0
        outs[s] = cv2.imread(str(sorted(out.glob("frame_*.png"))[0]))
    assert outs["0"].shape == outs["4"].shape
    out = tmp_path / "bad"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--png", str(out), "--window-size", "-3"], capsys,
           "--window-size -3", ">= 0")
    from egvsr.render.model import save_untrained

    vi = save_untrained("videoinr-tiny", tmp_path / "vi.pt")
    line = _fails(["render", str(rec), str(vi), "--scale", "2", "--png", str(out), "--window-size", "8"], capsys)
    assert line == f"egvsr: error: --window-size: model 'videoinr-tiny' ({vi}) has no attention windows"
    _nothing_left(tmp_path, out)


def test_a_model_output_that_is_not_finite_is_refused_naming_the_time_and_weights(tiny, tmp_path, capsys):
    """Finite weights scaled far up overflow inside the model: its NaN output used to be written as black
    frames (with numpy's cast warning) and scored nan; render and eval refuse it instead."""
    from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint

    rec, ck, _ = tiny
    state = load_checkpoint(ck)
    state["state_dict"] = {k: v * 1e30 if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    big = save_checkpoint(tmp_path / "big.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning on casting NaN would fail here
        line = _fails(["render", str(rec), str(big), "--scale", "2", "--last-frame", "1", "--png", str(out)], capsys)
    assert line == (f"egvsr: error: model output is not finite at time 0 µs (output frame 0): the weights of {big} "
                    "overflow float32 (or make NaN) on these inputs; use another checkpoint")
    _nothing_left(tmp_path, out)
    line = _fails(["eval", str(big), "--data", str(rec), "--scales", "2", "--protocol", "videoinr", "--limit", "1"],
                  capsys)
    assert line.startswith("egvsr: error: model output is not finite at time ") and f"of clip 'clip' at x2: the " \
        f"weights of {big} overflow float32" in line


def test_a_frame_folder_of_mixed_sizes_is_not_told_to_pass_a_size_render_lacks(tmp_path, capsys):
    import cv2

    from egvsr.render.model import save_untrained

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, (h, w) in enumerate([(16, 20), (16, 20), (18, 20)]):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.zeros((h, w, 3), np.uint8))
    vi = save_untrained("videoinr-tiny", tmp_path / "vi.pt")  # frames only: no events needed
    line = _fails(["render", str(folder), str(vi), "--fps", "25", "--scale", "2", "--png", str(tmp_path / "o")],
                  capsys)
    assert line.endswith("all frames of a folder must have the same size (render reads frames as they are: resize "
                         "them to one size first, or make a recording of them with egvsr simulate --size HxW, which "
                         "resizes them)")
    line = _fails(["simulate", str(folder), str(tmp_path / "s.h5"), "--fps", "25"], capsys)
    assert line.endswith("(pass --size to resize them all)")  # simulate can
    from egvsr.cli import build_parser  # the advised form is the one simulate's --size takes

    assert build_parser().parse_args(["simulate", "a", "b.h5", "--size", "16x20"]).size == (16, 20)


def _shifted(src, dst, frame_times):
    """`src` (our layout) with its frames at `frame_times` and its events moved along with the first frame."""
    from egvsr.events import EventStream, Frames
    from egvsr.events.io import open_events, write_events

    with open_events(src) as s:
        ev, fr = s.read(), s.read_frames()
    shift = int(frame_times[0]) - int(fr.t[0])
    keep = ev.t <= int(fr.t[1])  # events of the first interval only: they stay inside any new span
    moved = EventStream(ev.x[keep], ev.y[keep], ev.t[keep] + shift, ev.p[keep], ev.width, ev.height)
    n = len(frame_times)
    images = fr.images[np.arange(n) % len(fr.images)]
    return write_events(dst, moved, frames=Frames(images, np.asarray(frame_times, np.int64)))


def test_times_near_the_end_of_the_int64_clock(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    t0 = 2**63 - 1 - 300_000
    clip = _shifted(rec, tmp_path / "late.h5", [t0 + 40_000 * i for i in range(3)])
    out = tmp_path / "png"
    assert main(["render", str(clip), str(ck), "--scale", "2", "--fps-factor", "3", "--png", str(out),
                 "--no-progress"]) == 0, capsys.readouterr().err
    assert len(list(out.glob("*.png"))) == 7


def test_input_frames_too_uneven_for_the_window_time(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    clip = _shifted(rec, tmp_path / "gap.h5", [0, 40_000, 80_000, 10**15])
    out = tmp_path / "png"
    _fails(["render", str(clip), str(ck), "--scale", "2", "--first-frame", "1", "--last-frame", "3",
            "--png", str(out)], capsys, "gap.h5: input frames 1..3", "too uneven (40,000 µs beside")
    _nothing_left(tmp_path, out)


def test_input_frames_beyond_memory_are_refused_before_any_is_decoded(tiny, tmp_path, capsys, monkeypatch):
    """A small compressed file declaring large frames: refused from the declared size, at any scale (a
    downscaling render decodes whole input frames too), with the file, the frame size and the memory."""
    from egvsr.events.frames import frames_memory_bytes
    from egvsr.events.io.egvsr_h5 import EgvsrH5Source
    from egvsr.fsutil import fmt_size
    from tests.datasets.test_frame_memory import write_declared_frames

    _, ck, _ = tiny
    big = write_declared_frames(tmp_path / "big.h5", 2048)
    monkeypatch.setattr("egvsr.models.call_memory.physical_memory", lambda: 200 * 10**6)  # budget: 80%, 160 MB
    monkeypatch.setattr(EgvsrH5Source, "read_frame", lambda *a: pytest.fail("a frame was decoded"))
    need = frames_memory_bytes(2048, 2048, 7 * 2048 * 2048)  # 3-frame windows: 4 cached, 3 stacked
    out = tmp_path / "out"
    for scale in ("2", "0.05"):
        _fails(["render", str(big), str(ck), "--scale", scale, "--png", str(out)], capsys,
               f"{big}: its 2048x2048 frames need about {fmt_size(need)} of memory at once, above the budget "
               f"of {fmt_size(160e6)} (--max-memory-gb default: 80% of this machine's 200 MB of memory); "
               "downscale its frames first, or raise --max-memory-gb")
    _nothing_left(tmp_path, out)


def test_timestamps_are_exact_decimal_seconds():
    from egvsr.render.video import seconds_text

    assert seconds_text(0) == "0.000000"
    assert seconds_text(12_345_678) == "12.345678"
    assert seconds_text(-1_500_000) == "-1.500000"
    assert seconds_text(2**63 - 1) == "9223372036854.775807"  # a float would print ...775391 for all of these
    assert seconds_text(2**63 - 2) != seconds_text(2**63 - 1)


def _refused(rec, ck, error, *needles, **options):
    """`plan_render` (the library path) refuses these options with `error`, naming `needles`."""
    from egvsr.render.plan import RenderOptions, plan_render

    with pytest.raises(error) as exc:
        plan_render(rec, ck, RenderOptions(**{"scale": 2, "device": "cpu", **options}))
    for n in needles:
        assert n in str(exc.value), str(exc.value)


def test_library_outputs_never_replace_inputs(tiny, tmp_path):
    """`plan_render` runs the CLI's input-as-output check: an MP4 at the recording's (or the checkpoint's)
    path is refused even with `overwrite`, and the recording is left whole."""
    from egvsr.errors import OutputExistsError
    from egvsr.render import render

    rec, ck, _ = tiny
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(rec.read_bytes())
    with pytest.raises(OutputExistsError, match="output is the input file"):
        render(copy, ck, scale=2, times=[0.04], mp4=copy, overwrite=True, progress=False, log=None)
    assert copy.read_bytes() == rec.read_bytes()
    _refused(rec, ck, OutputExistsError, "output is the input file", mp4=ck, overwrite=True)
    _refused(rec, ck, OutputExistsError, "output is the input file", side_by_side=rec, overwrite=True)


def test_library_numbers_are_checked(tiny, tmp_path):
    """Huge, non-finite, boolean and non-integer values get one ConfigError naming the option."""
    from egvsr.errors import ConfigError

    rec, ck, _ = tiny
    png = tmp_path / "o"
    _refused(rec, ck, ConfigError, "`times`", "finite", times=[1e308], png=png)
    _refused(rec, ck, ConfigError, "`times`", "finite", times=["1e303"], png=png)
    _refused(rec, ck, ConfigError, "`max_memory_gb`", "1e+09", max_memory_gb=1e300, png=png)
    _refused(rec, ck, ConfigError, "`roi`", "integers", roi=(0, 0, float("inf"), 1), png=png)
    _refused(rec, ck, ConfigError, "`roi`", "integers", roi=(True, 0, 4, 4), png=png)
    _refused(rec, ck, ConfigError, "`roi`", "integers", roi=(0, 0, 4), png=png)
    _refused(rec, ck, ConfigError, "`first_frame`", "integer", first_frame=1.5, last_frame=2, png=png)
    _refused(rec, ck, ConfigError, "`first_frame`", "integer", first_frame="1", png=png)
    _refused(rec, ck, ConfigError, "`video_fps`", video_fps=True, png=png)
    _refused(rec, ck, ConfigError, "`scale`", scale=True, png=png)
    _refused(rec, ck, ConfigError, "`scale`", scale="2", png=png)
    _refused(rec, ck, ConfigError, "`fps`", fps=float("nan"), png=png)
    assert not png.exists()


def test_crops_smaller_than_the_model_computes_on_are_refused_before_any_work(tiny, tmp_path, capsys, monkeypatch):
    """The official model needs LR frames of 2x2 at least: a 1-pixel ROI without context (or a degrade scale
    leaving one LR row) failed once the render had begun, as `lr: frames of 5x1 (h x w) pixels`."""
    import egvsr.render.run as run_mod
    from egvsr.render.model import save_untrained

    def no_work(*args, **kwargs):
        raise AssertionError("rendered before refusing")

    rec, _, _ = tiny
    ck = save_untrained("egvsr-official", tmp_path / "official.pt", n_feats=8, inr_channels=8, moments=8,
                        lcb_depth=1, heads=2, tf_samples=2, tf_hidden=16, max_scale=12)
    from egvsr.models.egvsr_official import EGVSROfficial

    out = tmp_path / "o"
    monkeypatch.setattr(run_mod, "iter_render", no_work)
    _fails(["render", str(rec), str(ck), "--scale", "11", "--degrade", "--png", str(out)], capsys,
           "LR frames (downscaled by --scale) are 2x1; use a smaller --scale")
    # an ROI's crop holds 2 LR pixels around it even without context (what decoding reads): a model that
    # needs 8x8 refuses a 1x5 box's 5x9 crop, naming the options that make it
    monkeypatch.setattr(EGVSROfficial, "min_lr_side", 8)
    _fails(["render", str(rec), str(ck), "--scale", "4", "--roi", "3", "2", "1", "5", "--context", "0", "--png",
            str(out)], capsys, "model 'egvsr-official' computes on LR frames of at least 8x8 pixels",
           "LR crop (the --roi with its --context) are 5x9", "--context")
    _nothing_left(tmp_path, out)
    monkeypatch.undo()
    assert main(["render", str(rec), str(ck), "--scale", "4", "--roi", "3", "2", "1", "5", "--context", "0",
                 "--times", "0.04", "--png", str(out), "--no-progress"]) == 0, capsys.readouterr().err


def test_video_fps_without_a_video_is_refused_not_ignored(tiny, tmp_path, capsys):
    """--video-fps with only --png was ignored silently (as --fps and --events where they do not apply are
    refused): one line naming it, before any work."""
    rec, ck, _ = tiny
    out = tmp_path / "o"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--video-fps", "30", "--png", str(out)], capsys,
           "--video-fps 30.0: sets the frame rate of a video output (--mp4, --side-by-side) and none is asked for")
    _nothing_left(tmp_path, out)
    assert main(["render", str(rec), str(ck), "--scale", "2", "--video-fps", "30", "--times", "0", "0.04",
                 "--mp4", str(tmp_path / "v.mp4"), "--no-progress"]) == 0
    import cv2

    video = cv2.VideoCapture(str(tmp_path / "v.mp4"))  # and with a video it sets the video's rate
    rate, count = video.get(cv2.CAP_PROP_FPS), video.get(cv2.CAP_PROP_FRAME_COUNT)
    video.release()
    assert (rate, count) == (30.0, 2.0)


def test_fps_only_for_a_folder_without_timestamps(tiny, tmp_path, capsys):
    """--fps on a recording, or on a frame folder that states its times, is refused (it was ignored, or
    silently overrode timestamps.txt)."""
    import cv2

    rec, ck, _ = tiny
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((20, 28, 3), i * 40, np.uint8))
    (frames / "timestamps.txt").write_text("0\n0.04\n0.08\n")
    out = tmp_path / "o"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--times", "0.04", "--fps", "1000", "--png", str(out)],
           capsys, "--fps 1000", "own frame times", "without timestamps")
    _fails(["render", str(frames), str(ck), "--events", str(rec), "--scale", "2", "--fps", "30", "--png",
            str(out)], capsys, "--fps 30", "timestamps file")
    _nothing_left(tmp_path, out)


def test_mp4_rates_the_writer_rejects(tiny, tmp_path, capsys):
    """--video-fps below 0.01 fps, and a derived rate (input rate x factor) outside 0.01..65535, are refused
    by name before any frame (OpenCV failed, or aborted the process, at the first frame)."""
    import cv2

    rec, ck, _ = tiny
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((20, 28, 3), i * 40, np.uint8))
    out = tmp_path / "a.mp4"
    base = ["render", str(frames), str(ck), "--events", str(rec), "--scale", "2", "--mp4", str(out)]
    _fails(base + ["--fps", "25", "--video-fps", "0.001"], capsys, "--video-fps 0.001", "0.01 to 65535")
    _fails(base + ["--fps", "70000"], capsys, "MP4 frame rate", "--fps", "--video-fps")
    _fails(base + ["--fps", "0.005"], capsys, "MP4 frame rate 0.005", "--fps", "--video-fps")
    _nothing_left(tmp_path, out)


def test_degrade_roi_smaller_than_one_lr_pixel(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    _fails(["render", str(rec), str(ck), "--scale", "2", "--degrade", "--roi", "0", "0", "1", "1", "--png",
            str(tmp_path / "o")], capsys, "--roi 0 0 1 1", "--scale 2", "1x1 region")


def test_plan_render_without_a_checkpoint_uses_the_shipped_weights(tiny, tmp_path):
    from egvsr.engine.weights import shipped_checkpoint
    from egvsr.render.plan import RenderOptions, plan_render

    with shipped_checkpoint() as shipped:
        if shipped is None:
            pytest.skip("this install has no shipped weights")
    rec, _, _ = tiny
    job = plan_render(rec, None, RenderOptions(scale=2, png=tmp_path / "o", times=[0.04], device="cpu"))
    job.rec.close()
    assert job.meta["checkpoint"].startswith("shipped weights")


def _frames(folder, n, h, w):
    """A folder of `n` h x w frames at 25 fps (timestamps.txt)."""
    import cv2

    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((h, w, 3), 40 * i, np.uint8))
    (folder / "timestamps.txt").write_text("".join(f"{0.04 * i:.2f}\n" for i in range(n)))
    return folder


def test_mp4_sides_above_the_mpeg4_limit_are_refused_before_any_work(tmp_path, capsys):
    """MPEG-4 part 2 holds sides up to 8191 px: refused at plan time naming the option (before: FFmpeg's
    own lines, then the OpenCV build was blamed)."""
    from egvsr.render.model import save_untrained

    ck = save_untrained("bicubic", tmp_path / "bicubic.pt")
    wide = _frames(tmp_path / "wide", 3, 6, 600)
    base = ["render", str(wide), str(ck), "--times", "0.04"]
    _fails(base + ["--scale", "14", "--mp4", str(tmp_path / "a.mp4"), "--png", str(tmp_path / "p")], capsys,
           "--mp4: its frames of 8400x84 pixels are wider or taller than 8191", "--png", "--scale", "--roi")
    _fails(base + ["--scale", "7", "--side-by-side", str(tmp_path / "s.mp4")], capsys,
           "--side-by-side: its frames of 8404x", "8191")
    _nothing_left(tmp_path, tmp_path / "a.mp4", tmp_path / "p", tmp_path / "s.mp4")
    assert main(base + ["--scale", "13.65", "--mp4", str(tmp_path / "ok.mp4"), "--no-progress"]) == 0  # 8190 wide


def test_an_mp4_side_of_8191_is_refused_as_the_8192_it_is_padded_to():
    """An output 8191 pixels wide is padded to 8192 in the MP4, which MPEG-4 cannot code, so it is refused; the
    message names the padded size (its 8191 pixels alone are not 'wider than 8191')."""
    from egvsr.errors import ConfigError
    from egvsr.render.video import check_video_size

    for h, w in ((100, 8190), (8190, 8190), (1, 8189)):
        check_video_size("mp4", h, w)
    for (h, w), padded in (((100, 8191), "8192x100"), ((8191, 3), "4x8192"), ((8191, 8191), "8192x8192")):
        with pytest.raises(ConfigError, match=f"of {w}x{h} pixels \\({padded} once padded to the even sides"):
            check_video_size("mp4", h, w)
    with pytest.raises(ConfigError, match="of 8192x100 pixels are wider or taller than 8191"):
        check_video_size("side_by_side", 100, 8192)


def test_library_option_types_get_one_line(tiny, tmp_path):
    """Option values of the wrong type are one ConfigError naming the option; NumPy integers and arrays
    are taken like Python's."""
    from egvsr.errors import ConfigError
    from egvsr.render.plan import RenderOptions, plan_render

    rec, ck, _ = tiny
    png = tmp_path / "o"
    _refused(rec, ck, ConfigError, "`times` '30'", "list of times", times="30", png=png)
    _refused(rec, ck, ConfigError, "`times` 0.1", "list of times", times=0.1, png=png)
    _refused(rec, ck, ConfigError, "`png` 5", "expected a path", png=5)
    _refused(rec, ck, ConfigError, "`degrade` 'no'", "True or False", degrade="no", png=png)
    _refused(rec, ck, ConfigError, "`tile` 3", tile=np.int64(3), png=png)
    assert not png.exists()
    job = plan_render(rec, ck, RenderOptions(scale=2, device="cpu", png=png, roi=np.array([0, 0, 16, 12]),
                                             tile=np.int64(8), context=np.int64(4), chunk_size=np.int64(4096),
                                             window_size=np.int64(4), times=np.array([0.04]),
                                             degrade=np.bool_(False)))
    job.rec.close()
    assert job.meta["roi"] == [0, 0, 16, 12] and job.options.tile == 8 and type(job.options.chunk_size) is int


def test_score_without_ground_truth_is_refused_before_any_work(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    out = tmp_path / "o"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--score", "--png", str(out)], capsys,
           "--score: no output time has ground truth", "--degrade")
    _fails(["render", str(rec), str(ck), "--scale", "2", "--degrade", "--times", "0.005", "--score", "--png",
            str(out)], capsys, "--score: none of the 1 output times", "--times")
    _nothing_left(tmp_path, out)


def test_score_of_frames_too_small_to_score_is_refused_before_any_work(tiny, tmp_path, capsys, monkeypatch):
    """Output frames smaller than the protocol scores (4-pixel border, then SSIM's 11x11 window) were found
    only after the first frame was rendered, as `SSIM needs images of at least 11x11 pixels, got (5, 9)`."""
    import egvsr.render.run as run_mod
    from egvsr.render import render
    from egvsr.render.plan import RenderOptions, plan_render
    from egvsr.render.run import run_render

    def no_work(*args, **kwargs):
        raise AssertionError("rendered before refusing")

    monkeypatch.setattr(run_mod, "iter_render", no_work)
    rec, ck, _ = tiny
    out, mp4 = tmp_path / "o", tmp_path / "o.mp4"
    _fails(["render", str(rec), str(ck), "--scale", "1", "--degrade", "--roi", "0", "0", "18", "20", "--score",
            "--png", str(out), "--mp4", str(mp4)], capsys,
           "--score: the 18x20 output frames are smaller than protocol 'ours' scores (at least 19x19", "--roi")
    _nothing_left(tmp_path, out, mp4)
    with pytest.raises(ConfigError, match="`score`: the 18x20 output frames"):
        render(rec, ck, scale=1, degrade=True, roi=(0, 0, 18, 20), png=out, score="ours", log=None, progress=False)
    job = plan_render(rec, ck, RenderOptions(scale=1, degrade=True, png=out))  # 28x20: 'evtexture' needs 27x27
    with pytest.raises(ConfigError, match="`score`: the 28x20 output frames are smaller than protocol 'evtexture'"):
        run_render(job, progress=False, score="evtexture")
    _nothing_left(tmp_path, out, mp4)


def test_events_where_they_do_not_apply(tiny, tmp_path, capsys):
    """--events with a frames-only model, or beside a CED folder (its own events and times): one line
    saying so (before: ignored, or `no timestamps ... pass --fps (fps=...)`)."""
    from egvsr.render.model import save_untrained
    from tests.events.io.test_layouts import write_ced

    rec, ck, _ = tiny
    frames = _frames(tmp_path / "frames", 3, 20, 28)
    bic = save_untrained("bicubic", tmp_path / "bicubic.pt")
    out = tmp_path / "o"
    _fails(["render", str(frames), str(bic), "--events", str(rec), "--scale", "2", "--png", str(out)], capsys,
           f"--events {rec}: model 'bicubic' renders from frames alone", "leave out --events")
    ced = tmp_path / "ced"
    rows = np.array([[1e18, 1, 1, 1], [1e18 + 5e7, 2, 2, 0]], np.float64)
    write_ced(ced, [(10**18, rows)], [(10**18 + i * 40_000_000, np.zeros((20, 28, 3), np.uint8)) for i in range(3)])
    for extra in ([], ["--fps", "25"]):
        line = _fails(["render", str(ced), str(ck), "--events", str(rec), "--scale", "2", "--png", str(out)] + extra,
                      capsys, f"--events {rec}: {ced} is a CED recording folder", "leave it out")
        assert "fps=" not in line
    _nothing_left(tmp_path, out)


def test_output_problems_are_found_by_the_plan(tiny, tmp_path, monkeypatch):
    """A video not named .mp4, a file where the output's folder must be, a folder it may not write:
    refused by `plan_render`, before anything is rendered (before: only when the writers opened)."""
    from egvsr.errors import ConfigError, OutputError

    rec, ck, _ = tiny
    (tmp_path / "afile").write_text("x")
    _refused(rec, ck, ConfigError, "`mp4`", "o.avi", ".mp4 file name", mp4=tmp_path / "o.avi")
    _refused(rec, ck, ConfigError, "`side_by_side`", ".mp4 file name", side_by_side=tmp_path / "s")
    _refused(rec, ck, OutputError, "afile (it is not a folder)", png=tmp_path / "afile" / "frames")
    _refused(rec, ck, OutputError, "afile is not a folder", mp4=tmp_path / "afile" / "sub" / "o.mp4")
    monkeypatch.setattr("egvsr.render.disk.os.access", lambda *a, **k: False)
    _refused(rec, ck, OutputError, "permission denied to write in", png=tmp_path / "frames")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_one_frame_recording_says_how_many_the_model_needs(tiny, tmp_path, capsys):
    rec, ck, _ = tiny
    one = _shifted(rec, tmp_path / "one.h5", [0])
    _fails(["render", str(one), str(ck), "--scale", "2", "--png", str(tmp_path / "o")], capsys,
           "one.h5: has 1 input frame(s); model 'egvsr-tiny' renders from windows of 3 consecutive frames, "
           "so it needs at least 3")


def test_output_size_counts_each_png_file(tiny, tmp_path, capsys):
    """Thousands of tiny PNG frames are not `a few KB`: each file takes at least a 4 KB block."""
    from egvsr.render.plan import estimate_output_bytes

    rec, ck, _ = tiny
    assert estimate_output_bytes(200_001, (9, 12), 1, png=True) == 200_001 * (9 * 12 * 3 + 4096)
    out = tmp_path / "o"
    _fails(["render", str(rec), str(ck), "--scale", "0.1", "--fps-factor", "1000", "--png", str(out),
            "--max-output-gb", "0.005"], capsys, "render would write 2001 frames of 2x2", "--max-output-gb 0.005")
    _nothing_left(tmp_path, out)


def test_outputs_that_cannot_fit_the_free_space_are_refused(tiny, tmp_path, capsys, monkeypatch):
    """Checked before any work at the least the formats take (4 KB per PNG file), outputs on one file
    system added up."""
    rec, ck, _ = tiny
    monkeypatch.setattr("egvsr.render.plan.free_bytes", lambda folder: 10_000)
    out, video = tmp_path / "o", tmp_path / "v.mp4"
    _fails(["render", str(rec), str(ck), "--scale", "2", "--png", str(out), "--mp4", str(video)], capsys,
           f"{out}: --png and --mp4 need at least 12.3 KB for 3 frames of 56x40", "more than the 10 KB free in",
           "free some space, write elsewhere")
    _nothing_left(tmp_path, out, video)


def test_a_bad_model_size_limit_is_blamed_on_the_environment_variable(tiny, tmp_path, capsys, monkeypatch):
    """EGVSR_MAX_MODEL_GB=abc was reported as a fault of the checkpoint ('<file>: checkpoint 'model.config': ...')."""
    rec, ck, d = tiny
    monkeypatch.setenv("EGVSR_MAX_MODEL_GB", "abc")
    line = _fails(["render", str(rec), str(ck), "--scale", "2", "--png", str(tmp_path / "p")], capsys)
    assert line == "egvsr: error: environment variable EGVSR_MAX_MODEL_GB='abc': expected a positive number of GB"


def test_memory_plan_counts_the_encoder_and_advises_a_tile(tiny):
    """The encoder's feature maps dominate a render's memory (~3-4 KB per LR pixel for the shipped
    widths): a 640x480 render at x1 once planned 33 MB and passed a 0.1 GB budget, then peaked at 1.5 GB.
    The plan counts them at the largest LR crop, and a refusal names a `tile` that fits."""
    import re

    from egvsr.errors import ConfigError
    from egvsr.models.registry import estimate_size
    from egvsr.render.model import load_render_model
    from egvsr.render.plan import RenderOptions, plan_outputs

    _, ck, _ = tiny
    rm = load_render_model(ck)
    ft, gt = np.arange(4) * 40_000, np.zeros(0, np.int64)

    def plan(**options):
        o = RenderOptions(**{"scale": 1, "png": "unused", "times": ["0.04"], "device": "cpu", **options})
        return plan_outputs("big.h5", 640, 480, ft, gt, 1, rm, o, torch.device("cpu"))

    whole = plan(max_memory_gb=100).memory_bytes
    assert whole > estimate_size(rm.model.config).activations_at((480, 640)) > 500e6
    with pytest.raises(ConfigError) as err:
        plan(max_memory_gb=0.15)
    text = str(err.value)
    assert "for model 'egvsr-tiny' on 640x480 LR pixels" in text and "above the budget of 150 MB" in text
    side = int(re.search(r"use `tile` (\d+) \(about ", text).group(1))
    tiled = plan(max_memory_gb=0.15, tile=side).memory_bytes
    assert tiled <= 0.15e9 and f"about {fmt_size(tiled)} at once" in text
    with pytest.raises(ConfigError, match=r"\(its largest tile\).*use `tile` \d+ "):  # a smaller tile still
        plan(max_memory_gb=0.15, tile=2 * side + 64)
    with pytest.raises(ConfigError) as err:  # the input frames and output alone do not fit: no tile is advised
        plan(max_memory_gb=0.07)
    assert "`tile`" not in str(err.value)


@pytest.mark.parametrize("source, checkpoint, options, message", [
    (None, None, None, "source: expected a file path (str or os.PathLike), got NoneType"),
    ("clip.h5", 5, None, "checkpoint: expected a file path (str or os.PathLike), got int"),
    ("clip.h5", None, {"scale": 2}, "options: expected an egvsr.render.RenderOptions, got dict"),
])
def test_plan_render_arguments_of_another_type(source, checkpoint, options, message):
    from egvsr.errors import ConfigError
    from egvsr.render.plan import RenderOptions, plan_render

    with pytest.raises(ConfigError) as exc:
        plan_render(source, checkpoint, RenderOptions(scale=2) if options is None else options)
    assert str(exc.value) == message


def test_save_untrained_never_replaces_the_shipped_weights(tmp_path):
    """A library writer like the others: a path naming the shipped checkpoint is refused, even with overwrite."""
    from egvsr.errors import OutputExistsError
    from egvsr.fsutil import SHIPPED_CHECKPOINT
    from egvsr.render.model import save_untrained
    from tests._model_helpers import shipped_weights_link

    link = shipped_weights_link(tmp_path)
    with pytest.raises(OutputExistsError, match="the package's data folder"):
        save_untrained("egvsr-tiny", link, overwrite=True)
    assert link.samefile(SHIPPED_CHECKPOINT)


def test_save_untrained_leaves_the_callers_random_state(tmp_path) -> None:
    """A library call that seeds its own weights must not reseed the notebook it runs in."""
    import torch

    from egvsr.render.model import save_untrained

    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    a = save_untrained("egvsr-tiny", tmp_path / "a.pt", seed=5)
    assert torch.equal(torch.rand(3), want)
    b = save_untrained("egvsr-tiny", tmp_path / "b.pt", seed=5)
    wa, wb = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # and the seed still fixes the weights
