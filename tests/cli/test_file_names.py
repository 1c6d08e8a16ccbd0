"""File names that are not UTF-8 (Linux names are bytes; Python keeps such a byte as a surrogate escape):
every command reads and writes them, and stores or shows them as text with `\\xNN` (docs/io.md, "Outputs").

OpenCV crashed the process on such a name (simulate, render: run in a subprocess here); HDF5 attributes,
matplotlib titles and results.md failed with UnicodeEncodeError after the work was done.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import cv2
import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.cvfile import read_image
from egvsr.events import EventStream, Frames
from egvsr.events.io import write_events
from tests._reliability import cli, cli_env


def odd(name: str) -> str:
    """`name` with the byte 0xff (not UTF-8) in front, as Python spells such a file name."""
    return os.fsdecode(b"\xff" + name.encode())


def _recording(path) -> str:
    rng = np.random.default_rng(0)
    n = 3000
    s = EventStream(rng.integers(0, 32, n).astype(np.uint16), rng.integers(0, 24, n).astype(np.uint16),
                    np.sort(rng.integers(0, 200_000, n)).astype(np.int64), rng.choice([-1, 1], n).astype(np.int8),
                    32, 24)
    frames = Frames(rng.integers(0, 255, (5, 24, 32, 3)).astype(np.uint8), np.arange(5) * 50_000)
    return str(write_events(path, s, frames=frames))


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), env=cli_env(), capture_output=True, timeout=600)


def test_simulate_reads_a_video_and_writes_an_output_whatever_their_names(tmp_path):
    video = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (32, 24))
    for k in range(4):
        writer.write(np.full((24, 32, 3), 40 * k, np.uint8))
    writer.release()
    os.rename(video, tmp_path / odd("v.mp4"))
    out = tmp_path / odd("sim.h5")
    res = _run("simulate", tmp_path / odd("v.mp4"), out, "--no-progress", "--interpolation", "none")
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]  # was -11 (SIGSEGV)
    assert res.stdout == b"wrote " + os.fsencode(out) + b"\n"
    with h5py.File(out) as f:
        assert f.attrs["source"] == f"{tmp_path}/\\xffv.mp4"


def test_render_writes_png_frames_and_an_mp4_whatever_their_names(tmp_path):
    from egvsr.render.model import save_untrained

    rec = _recording(tmp_path / odd("r.h5"))
    # the tiny preset, not the shipped weights: the names are under test, and those took 2.5 s a frame
    ck = save_untrained("egvsr-tiny", tmp_path / odd("tiny.pt"))
    png, mp4 = tmp_path / odd("frames"), tmp_path / odd("r.mp4")
    res = _run("render", rec, ck, "--scale", "2", "--png", png, "--mp4", mp4, "--no-progress", "--last-frame", "2")
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]  # was -11 (SIGSEGV)
    frames = sorted(p.name for p in png.iterdir() if p.suffix == ".png")
    assert frames == [f"frame_{i:06d}.png" for i in range(3)]  # frames 0..2, each one PNG
    assert all(read_image(png / name).shape == (48, 64, 3) for name in frames)
    plain = tmp_path / "plain.mp4"  # OpenCV opens no undecodable name: the video is read under a plain one
    shutil.copyfile(mp4, plain)
    video = cv2.VideoCapture(str(plain))
    shapes = []
    while (got := video.read())[0]:
        shapes.append(got[1].shape)
    video.release()
    assert shapes == [(48, 64, 3)] * 3  # the same frames, at the same size, in the video


def test_voxelize_convert_and_show_store_the_name_as_text(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # `wrote NAME` (the console's stdout shows any text)
    rec = _recording(tmp_path / odd("r.h5"))
    assert main(["voxelize", rec, str(tmp_path / odd("v.h5")), "--between-frames", "--no-progress"]) == 0
    assert main(["convert", rec, str(tmp_path / odd("c.h5")), "--no-progress"]) == 0
    with h5py.File(tmp_path / odd("v.h5")) as f:
        assert f.attrs["source"] == f"{tmp_path}/\\xffr.h5"
    with h5py.File(tmp_path / odd("c.h5")) as f:
        assert f.attrs["source_file"] == "\\xffr.h5"
    titles = []
    import matplotlib.figure

    real = matplotlib.figure.Figure.suptitle
    with pytest.MonkeyPatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "suptitle", lambda fig, t, **kw: titles.append(t) or real(fig, t, **kw))
        assert main(["show", rec, "--out", str(tmp_path / odd("p.png"))]) == 0
    assert titles and titles[0].startswith("\\xffr.h5: egvsr")
    assert (tmp_path / odd("p.png")).stat().st_size > 0
    assert "Traceback" not in capsys.readouterr().err
    assert sys.stdout.getvalue().count("wrote ") == 3


def test_the_writer_stores_any_text_attribute(tmp_path):
    """EventWriter (convert, simulate, make-sample) stores a name it is given as attribute in the same form,
    checked before any event is written: it refused only at the end, after copying every event."""
    path = write_events(tmp_path / "w.h5", EventStream.empty(4, 4), attrs={"source_file": odd("x.h5")})
    with h5py.File(path) as f:
        assert f.attrs["source_file"] == "\\xffx.h5"


def test_wrote_and_error_lines_show_a_newline_in_a_name_as_one_line(tmp_path, capsys, monkeypatch):
    """A file name holding a newline (or a terminal escape) is printed as `\\n` (`\\x1b`) on the `wrote` line
    and on the error line, each one line, not split (or acted on by the terminal)."""
    monkeypatch.chdir(tmp_path)
    name = "a\nb\x1b[31m.h5"
    argv = ["make-sample", name, "--seconds", "0.1", "--size", "16x20", "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / name).is_file()
    assert capsys.readouterr().out == "wrote a\\nb\\x1b[31m.h5\n"
    assert main(argv) == 2  # it exists now
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("egvsr: error: a\\nb\\x1b[31m.h5: output already exists"), err



def test_render_and_eval_wrote_lines_show_a_newline_in_a_name_as_one_line(tmp_path, capsys, monkeypatch):
    """The same for the outputs render and eval write (their own `wrote` lines)."""
    monkeypatch.chdir(tmp_path)
    assert main(["make-sample", "s.h5", "--seconds", "0.1", "--size", "24x32", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["render", "s.h5", "--scale", "2", "--png", "o\nx", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote o\\nx" in out and "\nx" not in out.replace("\\nx", ""), out
    assert main(["eval", "--data", "s.h5", "--scales", "2", "--output", "r\nq", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote r\\nq" in out and "\nq" not in out.replace("\\nq", ""), out

def test_printable_escapes_only_what_does_not_print():
    from egvsr.fsutil import printable

    assert printable("x\ny\r\tz\x7f\x85\u2028") == "x\\ny\\r\\tz\\x7f\\x85\\u2028"
    assert printable(f"é {odd('f')} ok") == "é \\xfff ok"  # a byte that is not UTF-8 as \xNN, the rest kept
