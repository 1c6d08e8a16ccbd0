"""The benchmarks' command lines refuse a bad count or size in one argparse line, before any work."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _args  # noqa: E402


@pytest.mark.parametrize("parse, text", [
    (_args.positive_int, "0"), (_args.positive_int, "-3"), (_args.positive_int, "1.5"), (_args.positive_int, "x"),
    (_args.count, "-1"), (_args.positive_float, "0"), (_args.positive_float, "nan"), (_args.positive_float, "inf"),
    (_args.nonnegative_float, "-0.1"), (_args.nonnegative_float, "nan"),
])
def test_bad_values_are_refused(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text).replace(".", r"\.")):
        parse(text)


@pytest.mark.parametrize("parse, text, value", [
    (_args.positive_int, "3", 3), (_args.count, "0", 0), (_args.positive_float, "6.5", 6.5),
    (_args.nonnegative_float, "0", 0.0),
])
def test_good_values_pass(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("script, argument", [("render.py", "--frames"), ("models.py", "--repeats"),
                                              ("quality.py", "--val-clips")])
def test_a_benchmark_refuses_a_zero_count_in_one_line(script, argument):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), argument, "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"{script}: error: argument {argument}: expected an integer >= 1, got '0'")
    assert "Traceback" not in run.stderr
