"""Reading a recording that another process is still writing: a file whose HDF5 lock another process holds
is said to be open for writing (one line, to wait for), not damaged (to re-create); a file whose datasets
are not all written yet (no lock: HDF5_USE_FILE_LOCKING=FALSE, a network file system) is read as HDF5 reads
it, never taken for "out of memory"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import egvsr.events as ev
from egvsr.cli import main
from egvsr.errors import InputFileError
from egvsr.events.io import chunk_codec

BEING_WRITTEN = "is open for writing in another process"

_WRITER = """
import sys, h5py
f = h5py.File(sys.argv[1], "w")
f.attrs["format"] = sys.argv[2]
f.create_dataset("tensors", data=[1.0])
f.flush()
print("open", flush=True)
sys.stdin.readline()
f.close()
"""


@pytest.fixture
def writer(tmp_path):
    """A file that another process holds open for writing (HDF5's file lock held), until the test ends."""
    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE":
        pytest.skip("HDF5 file locking is off in this environment")
    path = tmp_path / "growing.h5"

    def start(fmt: str = "egvsr") -> Path:
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), fmt], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline() == "open\n"
        return path

    procs: list[subprocess.Popen] = []
    yield start
    for proc in procs:
        proc.communicate("\n", timeout=60)


def test_commands_say_a_recording_is_being_written_in_one_line(writer, capsys):
    path = writer()
    for args in (["info", str(path)], ["convert", str(path), str(path.parent / "out.h5")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{path}: {BEING_WRITTEN}" in err and "not a readable" not in err
    assert not (path.parent / "out.h5").exists()


def test_readers_say_a_file_is_being_written_not_damaged(writer):
    path = writer("egvsr-tensors")
    with pytest.raises(InputFileError, match=BEING_WRITTEN):
        ev.read_events(path)
    with pytest.raises(InputFileError, match=BEING_WRITTEN):
        ev.read_tensors(path)


def test_a_cached_clip_being_written_is_not_called_damaged(writer):
    from egvsr.datasets.synthetic.cache import cached_clip_problem

    assert BEING_WRITTEN in cached_clip_problem(str(writer()), 0, "train", 0, (8, 8), 2)


@pytest.mark.parametrize("maxshape", [None, (None,)])
@pytest.mark.parametrize("others_written", [False, True])
def test_datasets_not_written_yet_are_read_as_hdf5_reads_them(tmp_path, maxshape, others_written):
    """Chunks never written hold the fill value: h5py reads them; the threaded decoder must leave them to it
    (HDF5 refuses such a chunk's raw read as OSError, or as MemoryError where it sizes it at 0 bytes)."""
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        kw = dict(chunks=(1000,), maxshape=maxshape, compression="gzip", shuffle=True)
        f.create_dataset("a", (5000,), dtype="u2", **kw)
        b = f.create_dataset("b", (5000,), dtype="i8", **kw)
        if others_written:
            b[:] = np.arange(5000)
    with h5py.File(path, "r") as f:
        got = chunk_codec.read_range(f["a"], 0, 5000)
        assert got is None or np.array_equal(got, f["a"][()])


def test_a_recording_whose_events_are_not_all_written_is_refused_by_its_values(tmp_path, capsys):
    """Times written, coordinates and polarities not yet (a writer cut off, or still at work without HDF5's
    lock): the file reads as HDF5 gives it (fill values), so the polarity 0 is named, not 'out of memory'."""
    path = tmp_path / "partial.h5"
    n = 5000
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "egvsr", "version": 1, "width": 64, "height": 48, "num_events": n})
        g = f.create_group("events")
        for key, dtype in (("x", "u2"), ("y", "u2"), ("t", "i8"), ("p", "i1")):
            g.create_dataset(key, (n,), dtype=dtype, chunks=(1000,), maxshape=(None,), compression="gzip",
                             shuffle=dtype != "i1")
        g["t"][:] = np.arange(n)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "events/p[0] = 0, expected -1 or +1" in err
