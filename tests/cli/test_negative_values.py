"""A value that starts with a minus and a digit (`render --times -1us`, `-40ms`, `-1e-3`) is read as the value
it is, never as an unknown option, on every Python (argparse reads only bare negative numbers so before 3.13):
a time before the first frame is then refused for what it is, naming --times, and a later value is kept."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import build_parser, main


@pytest.mark.parametrize("value", ["-1us", "-40ms", "-0.5s", "-1e-3", "-.5"])
def test_negative_times_with_a_unit_are_values(value):
    args = build_parser().parse_args(["render", "in.h5", "--scale", "2", "--times", value, "0.04"])
    assert args.times == [value, "0.04"]
    args = build_parser().parse_args(["render", "in.h5", "--scale", "2", "--times", "0.04", value])
    assert args.times == ["0.04", value]


def test_a_negative_time_is_refused_as_outside_the_frames(tmp_path, capsys):
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        for i in range(4):
            ds = f.create_dataset(f"images/image{i:09d}", data=np.full((12, 16), 60 * i, np.uint8))
            ds.attrs.update(timestamp=0.5 + 0.04 * i, type="greyscale")
    code = main(["render", str(path), "--scale", "2", "--png", str(tmp_path / "out"), "--times", "-1us"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--times '-1us'" in err and "outside the input frames" in err
    assert not (tmp_path / "out").exists()


def test_options_still_parse_and_an_unknown_option_is_still_refused(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["render", "in.h5", "--scale", "2", "--tmes", "1"])
    assert e.value.code == 2
    assert "--tmes" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    (["render", "in.h5", "--scale", "-2e0", "--png", "out"], "argument --scale: '-2e0': expected a positive number"),
    (["voxelize", "in.h5", "out.h5", "--window-ms", "-1e1"], "argument --window-ms: '-1e1': expected a positive number"),
    (["convert", "in.h5", "out.h5", "--drop-hot-pixels", "-1e0"], "argument --drop-hot-pixels: '-1e0': expected a finite"),
    (["eval", "--data", "in.h5", "--scales", "-2e0"], "argument --scales: '-2e0'"),
])
def test_a_negative_value_is_refused_for_what_it_is(argv, expected, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "expected one argument" not in err
