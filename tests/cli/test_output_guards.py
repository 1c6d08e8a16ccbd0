"""Outputs that would change an input later, or the shipped weights, are refused by the library writers
as by the CLI; and outputs committed together are all new or all old when a signal arrives, with a last
line that says what is in place (docs/io.md, "Outputs")."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from egvsr import fsutil
from egvsr.cli import main
from egvsr.datasets.opening import input_folder_members
from egvsr.errors import OutputExistsError
from egvsr.fsutil import MARKER, TEMP_MARK, atomic_directory, atomic_output, committing, refuse_inputs_as_outputs
from egvsr.process import Terminated, _raise_terminated, interrupt_status
from tests.events.io import test_layouts as L


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("guards")
    return make_sample(d / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False)


def _ced(folder: Path) -> Path:
    t = np.arange(600, dtype=np.float64) * 1e3 + 1e6
    rows = np.stack([t * 1000.0, t % 50, t % 30, (t // 1e3) % 2], axis=1)
    L.write_ced(folder, [(1000, rows[:300]), (2000, rows[300:])], [(1500, np.zeros((30, 50, 3), np.uint8))])
    return folder


def _frames(folder: Path, n: int = 3) -> Path:
    import cv2

    folder.mkdir(parents=True)
    for k in range(n):
        cv2.imwrite(str(folder / f"frame_{k:04d}.png"), np.full((16, 20, 3), 40 * k, np.uint8))
    return folder


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---- finding 1: library writers refuse what the CLI refuses -------------------------------------------
def test_show_recording_never_writes_over_its_input(rec, tmp_path):
    from egvsr.plots import show_recording

    copy = tmp_path / "rec.h5"
    copy.write_bytes(rec.read_bytes())
    os.link(copy, tmp_path / "hard.png")
    ced = _ced(tmp_path / "ced")
    before = _bytes(ced)
    for src, out, overwrite in [(copy, copy, True), (copy, tmp_path / "hard.png", True),
                                (ced, ced / "1500.png", True), (ced, ced / "7000.png", False)]:
        with pytest.raises(OutputExistsError):
            show_recording(src, out, overwrite=overwrite)
    assert copy.read_bytes() == rec.read_bytes() and _bytes(ced) == before


def test_convert_never_writes_into_its_input_folder(tmp_path):
    from egvsr.events.io import convert

    ced = _ced(tmp_path / "ced")
    before = _bytes(ced)
    for out, overwrite in [(ced / "1000.npy", True), (ced / "200001000.npy", False)]:
        with pytest.raises(OutputExistsError):
            convert(ced, out, overwrite=overwrite, progress=False)
    assert _bytes(ced) == before


# ---- findings 2 and 3: names the frame-folder reader would take ---------------------------------------
@pytest.mark.parametrize("sub, name", [("frames", "images"), ("frames", "imgs"), ("imgs", "images"),
                                       ("imgs", "frames")])
def test_a_folder_the_reader_would_prefer_is_refused(tmp_path, sub, name):
    clip = tmp_path / "clip"
    _frames(clip / sub)
    with pytest.raises(OutputExistsError, match="would read a folder of this name"):
        refuse_inputs_as_outputs([clip], [], [clip / name], members=input_folder_members)


@pytest.mark.parametrize("name", ["timestamps.txt", "fps.txt", "images.txt"])
def test_a_frame_time_file_name_is_refused(tmp_path, capsys, name):
    frames = _frames(tmp_path / "frames")
    before = _bytes(frames)
    assert main(["simulate", str(frames), str(frames / name), "--fps", "25", "--no-progress"]) == 2
    assert "would read a file of this name" in capsys.readouterr().err
    assert _bytes(frames) == before
    with pytest.raises(OutputExistsError):  # a folder output (render --png) of that name too
        refuse_inputs_as_outputs([frames], [], [frames / name], members=input_folder_members)


# ---- finding 5: the shipped weights are never an output ---------------------------------------------
def test_the_shipped_checkpoint_is_never_an_output(rec, tmp_path, monkeypatch, capsys):
    shipped = fsutil.SHIPPED_CHECKPOINT
    with pytest.raises(OutputExistsError, match="data folder"):
        fsutil.refuse_package_data([shipped])
    spelled = Path(os.path.relpath(shipped.parent, tmp_path)) / ".." / "data" / shipped.name
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError, match="data folder"):
        fsutil.refuse_package_data([spelled])
    # the commands, against a copy standing in for the package's data folder
    data = tmp_path / "pkg" / "data"
    data.mkdir(parents=True)
    fake = data / "egvsr-sample.pt"
    fake.write_bytes(b"weights")
    os.link(fake, tmp_path / "hard.pt")
    monkeypatch.setattr(fsutil, "PACKAGE_DATA", data)
    monkeypatch.setattr(fsutil, "SHIPPED_CHECKPOINT", fake)
    for argv in (["convert", str(rec), str(fake), "--overwrite"], ["convert", str(rec), "hard.pt", "--overwrite"],
                 ["show", str(rec), "--out", str(data / "p.png")], ["make-sample", str(data / "s.h5")]):
        assert main(argv + (["--no-progress"] if argv[0] == "convert" else [])) == 2, argv
        assert "data folder" in capsys.readouterr().err
    from egvsr.events.simulate import make_sample

    with pytest.raises(OutputExistsError):
        make_sample(data / "s.h5", seconds=0.1, size=(16, 16), progress=False)
    assert fake.read_bytes() == b"weights" and sorted(p.name for p in data.iterdir()) == ["egvsr-sample.pt"]


# ---- finding 4: a signal while outputs are committed ------------------------------------------------
@contextlib.contextmanager
def _handlers():
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        from egvsr import process

        process._pending.clear()


def _signal_on_replace(monkeypatch, call: int = 1):
    real, calls = os.replace, []

    def replace(a, b):
        real(a, b)
        calls.append(b)
        if len(calls) == call:
            signal.raise_signal(signal.SIGTERM)
    monkeypatch.setattr(fsutil.os, "replace", replace)


def _old_folder(out: Path) -> None:
    with atomic_directory(out, False, "test") as tmp:
        (tmp / "old.txt").write_text("old")


def test_outputs_committed_together_are_all_new_and_said_so(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("old")
    _old_folder(tmp_path / "png")
    _signal_on_replace(monkeypatch)  # right after the first rename
    with _handlers(), pytest.raises(Terminated) as caught:
        with contextlib.ExitStack() as stack:
            a = stack.enter_context(atomic_output(tmp_path / "a.txt", True))
            png = stack.enter_context(atomic_directory(tmp_path / "png", True, "test"))
            a.write_text("new")
            (png / "new.txt").write_text("new")
            with committing("its outputs were written in full"):
                stack.close()
    assert (tmp_path / "a.txt").read_text() == "new" and (tmp_path / "png" / "new.txt").exists()
    assert not (tmp_path / "png" / "old.txt").exists()
    assert not list(tmp_path.glob(f"*{TEMP_MARK}*"))
    assert interrupt_status(caught.value) == (143, "egvsr: terminated by SIGTERM after its outputs were written in full")


def test_a_single_output_replaced_is_said_written(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("old")
    _signal_on_replace(monkeypatch)
    with _handlers(), pytest.raises(Terminated) as caught:
        with atomic_output(tmp_path / "a.txt", True) as tmp:
            tmp.write_text("new")
    assert (tmp_path / "a.txt").read_text() == "new"
    assert interrupt_status(caught.value)[1] == f"egvsr: terminated by SIGTERM after {tmp_path / 'a.txt'} was written in full"


def test_a_signal_while_the_old_folder_is_deleted(tmp_path, monkeypatch):
    """The swap is done with signals held; the old folder's deletion may be cut short: what is left is a
    temporary of ours beside the output, swept by the next write of it once this process is gone."""
    _old_folder(tmp_path / "png")
    real = fsutil.shutil.rmtree

    def rmtree(path, *args, **kw):
        if Path(path).name.endswith(TEMP_MARK) and (Path(path) / "old").exists():
            (Path(path) / "old" / "old.txt").unlink()  # partway
            raise Terminated(signal.SIGTERM)
        real(path, *args, **kw)
    monkeypatch.setattr(fsutil.shutil, "rmtree", rmtree)
    with pytest.raises(Terminated) as caught:
        with atomic_directory(tmp_path / "png", True, "test") as tmp:
            (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [MARKER, "new.txt"]
    left = [p for p in tmp_path.iterdir() if p.name != "png"]
    assert all(TEMP_MARK in p.name and p.name.startswith(fsutil.temp_prefix(tmp_path / "png")) for p in left)
    assert interrupt_status(caught.value)[1].endswith("no partial output was left under the final name")
    monkeypatch.setattr(fsutil, "_alive", lambda pid: False)  # as seen by a later run
    monkeypatch.setattr(fsutil.shutil, "rmtree", real)
    fsutil.remove_stale_partials(tmp_path / "png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["png"]


def test_a_folder_output_holding_the_package_data_says_so(tmp_path, monkeypatch):
    """`demo --output ..` (a folder above the package) was said to be 'inside' the data folder."""
    data = tmp_path / "pkg" / "data"
    data.mkdir(parents=True)
    monkeypatch.setattr(fsutil, "PACKAGE_DATA", data)
    monkeypatch.setattr(fsutil, "SHIPPED_CHECKPOINT", data / "egvsr-sample.pt")
    with pytest.raises(OutputExistsError, match=r"output is a folder holding the package's data folder"):
        fsutil.refuse_package_data([], [tmp_path])
    with pytest.raises(OutputExistsError, match=r"output is, or is inside, the package's data folder"):
        fsutil.refuse_package_data([], [data / "out"])
