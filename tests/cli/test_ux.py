"""The everyday command line (issue 18): progress on long steps, default weights, the checkpoint's
evaluation settings, `wrote ...` lines, --version, defaults in --help, `info` that checks the file,
`show` that shows gray frames as they are."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from egvsr.cli import build_parser, main
from egvsr import progress


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=4, seconds=0.25, size=(40, 56), fps=20.0, progress=False)


@pytest.fixture
def terminal(monkeypatch):
    """Pretend stderr is a terminal, and show bars at once (not after 2 s)."""
    monkeypatch.setattr(progress, "wanted", lambda no_progress=False: not no_progress)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)


def test_progress_only_on_a_terminal_and_never_with_no_progress(monkeypatch):
    assert progress.wanted(no_progress=True) is False
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert progress.wanted() is False


def test_long_eval_shows_progress_and_names_the_weights(tiny_recording, terminal, capsys):
    assert main(["eval", "--data", str(tiny_recording), "--scales", "2", "--no-bicubic"]) == 0
    captured = capsys.readouterr()
    assert "weights: shipped weights egvsr/data/egvsr-sample.pt" in captured.out
    assert "\rx2 " in captured.err and "sample/s" in captured.err  # the bar over the samples
    assert main(["eval", "--data", str(tiny_recording), "--scales", "2", "--no-bicubic", "--no-progress"]) == 0
    assert "sample" not in capsys.readouterr().err


def test_eval_takes_protocol_and_scales_from_the_checkpoint_unless_given(tmp_path):
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.evaluation import checkpoint_eval_section, eval_options

    ck = save_checkpoint(tmp_path / "b.pt", {"model": {"name": "bicubic", "config": {"name": "bicubic"}},
                                             "state_dict": {},
                                             "experiment": {"eval": {"protocol": "egvsr", "scales": [2, 4, 6.5]}}})
    section = checkpoint_eval_section(ck)
    assert eval_options(None, checkpoint_eval=section) == {"protocol": "egvsr", "scales": [2.0, 4.0, 6.5],
                                                           "queries": "middle",
                                                           "scales_where": "the checkpoint's eval.scales"}
    assert eval_options(None, checkpoint_eval=section, scales=[3.0])["scales"] == [3.0]
    assert eval_options(None, checkpoint_eval={})["scales"] == [2.0, 4.0]


def test_render_without_a_checkpoint_uses_the_shipped_weights(tiny_recording, tmp_path, capsys):
    out = tmp_path / "frames"
    assert main(["render", str(tiny_recording), "--scale", "2", "--png", str(out), "--no-progress",
                 "--last-frame", "1"]) == 0
    text = capsys.readouterr().out
    assert "weights: shipped weights egvsr/data/egvsr-sample.pt" in text
    assert f"wrote {out}" in text
    assert sorted(p.name for p in out.glob("*.png")) == ["frame_000000.png", "frame_000001.png"]


def test_render_without_a_checkpoint_or_shipped_weights_is_one_line(tiny_recording, tmp_path, capsys, monkeypatch):
    import contextlib

    from egvsr.engine import weights

    monkeypatch.setattr(weights, "shipped_checkpoint", lambda: contextlib.nullcontext(None))
    assert main(["render", str(tiny_recording), "--scale", "2", "--png", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CHECKPOINT: not given, and this install has no shipped weights" in err


def test_writing_commands_say_what_they_wrote(tiny_recording, tmp_path, capsys):
    sample = tmp_path / "s.h5"
    assert main(["make-sample", str(sample), "--seconds", "0.12", "--size", "24x32", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {sample}"
    vox = tmp_path / "v.h5"
    assert main(["voxelize", str(sample), str(vox), "--between-frames", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {vox}"


def test_version_and_defaults_in_help(capsys):
    from egvsr import __version__

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"egvsr {__version__}"
    text = build_parser()._subparsers._group_actions[0].choices["voxelize"].format_help()
    assert "(default: 5)" in " ".join(text.split())  # --bins
    assert "(default: voxel)" in " ".join(text.split())  # --repr


def test_help_shows_every_default_zero_included():
    """`--help` lists every option's default: 0 and 0.0 too (`0 in (None, False)` once hid them: --seed,
    --tile), and the simulator's knobs, whose argparse default is None while SimulatorConfig holds the value."""
    import argparse

    commands = build_parser()._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if (action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction))
                    and action.default not in (None, [])):
                text = " ".join(command._get_formatter()._expand_help(action).split())
                assert "default" in text, (name, action.option_strings, text)
    helps = {c: " ".join(commands[c].format_help().split()) for c in ("make-sample", "demo", "simulate", "render")}
    assert "random seed (scene, motion, sensor) (default: 0)" in helps["make-sample"]
    assert "random seed of the sample recording (default: 0)" in helps["demo"]
    assert "random seed (thresholds, noise) (default: 0)" in helps["simulate"]
    assert "(0 = whole frame) (default: 0)" in helps["render"]
    assert "leak events per pixel per second (default 0)" in helps["simulate"]
    assert "shot-noise events per pixel per second (default 0)" in helps["simulate"]


def _unsorted_copy(tmp_path: Path) -> Path:
    from egvsr.events import EventStream
    from egvsr.events.io import write_events

    n = 8000
    t = np.arange(n, dtype=np.int64) * 10
    s = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, np.ones(n, np.int8), 64, 48)
    path = write_events(tmp_path / "bad.h5", s)
    with h5py.File(path, "r+") as f:
        tt = f["events/t"][:]
        tt[5001] = 5
        f["events/t"][:] = tt
        xx = f["events/x"][:]
        xx[:12] = 100
        f["events/x"][:] = xx
    return path


def test_info_reports_an_unsorted_file_with_stray_coordinates_and_fails(tmp_path, capsys):
    path = _unsorted_copy(tmp_path)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert "sorted       no (first decrease at index 5001)" in captured.out
    assert "coordinates  12 outside 64x48" in captured.out
    assert captured.err.count("\n") == 1 and "timestamps decrease at index 5001" in captured.err
    assert "12 events have coordinates outside the 64x48 sensor" in captured.err


def test_info_of_a_good_file_says_so(tiny_recording, capsys):
    assert main(["info", str(tiny_recording)]) == 0
    out = capsys.readouterr().out
    assert "sorted       yes" in out and "coordinates  all inside 56x40" in out


def test_show_keeps_gray_frames_as_stored_and_can_stretch():
    from egvsr.plots.show import frame_for_display

    mid = np.full((4, 5, 1), 128, np.uint8)
    mid[0, 0] = 120
    shown = frame_for_display(mid)
    assert shown.shape == (4, 5, 3) and shown[1, 1].tolist() == [128, 128, 128]  # mid-gray stays mid-gray
    stretched = frame_for_display(mid, stretch=True)
    assert stretched[0, 0].tolist() == [0, 0, 0] and stretched[1, 1].tolist() == [255, 255, 255]
    rgb = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    assert np.array_equal(frame_for_display(rgb), rgb)


@pytest.mark.parametrize("argv, fragment", [
    (["render", "--scale"], "egvsr: error: render: argument --scale: expected one argument (see `egvsr render --help`)"),
    (["nosuchcmd"], "egvsr: error: argument COMMAND: invalid choice: 'nosuchcmd'"),
    (["info"], "egvsr: error: info: the following arguments are required"),
    ([], "egvsr: error: the following arguments are required: COMMAND"),
    (["--frob"], "egvsr: error: unrecognized arguments: --frob (see `egvsr --help`)"),  # no command: named too
    (["--frob", "--bar=3"], "egvsr: error: unrecognized arguments: --frob --bar=3 (see `egvsr --help`)"),
    (["--frob", "info", "x"], "egvsr: error: info: unrecognized arguments: --frob"),
    (["voxelize", "a.h5", "b.h5", "--between-frames", "--bogus"],  # named by the command that did not take it
     "egvsr: error: voxelize: unrecognized arguments: --bogus (see `egvsr voxelize --help`)"),
    (["convert", "a.h5", ""], "egvsr: error: convert: argument output: the path is empty; expected the name of a "
                              "file or folder (see `egvsr convert --help`)"),
    (["show", "a.h5", "--out", ""], "egvsr: error: show: argument --out: the path is empty"),
    (["eval", "--data", "a.h5", "--output", ""], "egvsr: error: eval: argument --output: the path is empty"),
    (["render", "a.h5", "--scale", "2", "--mp4", ""], "egvsr: error: render: argument --mp4: the path is empty"),
    (["make-sample", ""], "egvsr: error: make-sample: argument output: the path is empty"),
])
def test_usage_mistakes_are_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_repeated_list_options_add_their_values():
    """`render --times 0 --times 10ms` renders both times (argparse kept the last list only)."""
    parse = build_parser().parse_args
    assert parse(["render", "r.h5", "--scale", "2", "--times", "0", "--times", "10ms", "20ms"]).times == \
        ["0", "10ms", "20ms"]
    a = parse(["eval", "--data", "a.h5", "b.h5", "--data", "c.h5", "--scales", "2", "--scales", "3", "4"])
    assert a.data == ["a.h5", "b.h5", "c.h5"] and a.scales == [2.0, 3.0, 4.0]
    assert parse(["eval", "--data", "a.h5"]).scales is None  # not given: the checkpoint's or preset's


def test_a_short_convert_or_render_on_a_terminal_shows_no_bar(tiny_recording, tmp_path, monkeypatch, capsys):
    """One rule for every bar (README: steps longer than about 2 s): convert and render showed theirs at once."""
    from egvsr.render.model import save_untrained

    monkeypatch.setattr(progress, "wanted", lambda no_progress=False: not no_progress)
    monkeypatch.setattr(progress, "DELAY_S", 60.0)
    assert main(["convert", str(tiny_recording), str(tmp_path / "c.h5")]) == 0
    ck = save_untrained("bicubic", tmp_path / "b.pt")
    assert main(["render", str(tiny_recording), str(ck), "--scale", "2", "--png", str(tmp_path / "p")]) == 0
    assert "%|" not in capsys.readouterr().err
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    assert main(["convert", str(tiny_recording), str(tmp_path / "d.h5")]) == 0
    assert "100%" in capsys.readouterr().err


def test_eval_of_a_missing_recording_prints_only_its_error(tmp_path, capsys):
    """The settings line came first, then the refusal: a bad --data is refused before anything is printed."""
    missing = tmp_path / "nope.h5"
    assert main(["eval", "--data", "sample:1", str(missing), "--scales", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"egvsr: error: --data: {missing} does not exist\n"
