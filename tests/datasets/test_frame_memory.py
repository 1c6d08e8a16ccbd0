"""Frames too large for memory are refused before any is decoded, with one line naming the file, the frame
size and the memory: a small compressed file can declare frames of any size, and a recording is opened,
and a dataset built, from the declared sizes alone (docs/datasets.md)."""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from egvsr.datasets import EventVSRDataset, open_recording
from egvsr.events.frames import frames_memory_bytes
from egvsr.errors import EgvsrError
from egvsr.events.io.egvsr_h5 import EgvsrH5Source
from egvsr.fsutil import fmt_size
from tests._reliability import check_message

MB = 10**6


def write_declared_frames(path: Path, side: int, frames: int = 3, chunk: int = 1024) -> Path:
    """Our layout with `frames` frames of side x side x 3 declared, stored gzip-compressed (each chunk a
    constant: about 1000:1), so the file stays small whatever the frames' size; 10 events on a sensor
    of the frames' size."""
    n = 10
    chunk = min(chunk, side)
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=side, height=side, num_events=n)
        g = f.create_group("events")
        g["x"], g["y"] = np.zeros(n, np.uint16), np.zeros(n, np.uint16)
        g["t"], g["p"] = np.arange(n, dtype=np.int64) * 10_000, np.ones(n, np.int8)
        ds = f.create_dataset("frames/images", shape=(frames, side, side, 3), dtype=np.uint8,
                              chunks=(1, chunk, chunk, 3), compression="gzip")
        z = zlib.compress(np.full((1, chunk, chunk, 3), 7, np.uint8).tobytes(), 9)
        for i in range(frames):
            for a in range(0, side, chunk):
                for b in range(0, side, chunk):
                    ds.id.write_direct_chunk((i, a, b, 0), z)
        f["frames/t"] = np.arange(frames, dtype=np.int64) * 40_000
    return path


def _no_decoding(*args, **kwargs):
    raise AssertionError("a frame was decoded")


@pytest.fixture
def big(tmp_path, monkeypatch):
    """A recording of 2048x2048 frames on a machine of 64 MB, where nothing may decode a frame."""
    path = write_declared_frames(tmp_path / "big.h5", 2048)
    monkeypatch.setattr("egvsr.datasets.vsr_dataset.physical_memory", lambda: 64 * MB)
    monkeypatch.setattr(EgvsrH5Source, "read_frame", _no_decoding)
    return path


def test_the_estimate_counts_the_decoded_frame_and_the_tensors():
    assert frames_memory_bytes(10, 20) == 4 * 200
    assert frames_memory_bytes(10, 20, 3 * 50) == 4 * 200 + 12 * 150


def test_opening_reads_declared_sizes_only(big):
    with open_recording(big) as rec:
        assert (rec.width, rec.height, rec.num_frames) == (2048, 2048, 3)


def test_evaluation_samples_of_frames_beyond_memory_are_refused_before_decoding(big):
    with pytest.raises(EgvsrError) as err:
        EventVSRDataset(big, mode="eval", scale=2, patch_size=None)
    need = frames_memory_bytes(2048, 2048, 2 * 4 * 2048 * 2048)
    check_message(err.value, f"{big}: its 2048x2048 frames need about {fmt_size(need)} of memory at once",
                  "above the budget of 32 MB (half of this machine's 64 MB of memory)", "downscale its frames")


def test_training_patches_of_the_same_frames_fit(big):
    ds = EventVSRDataset(big, patch_size=16, scale_range=(1, 4))  # one decoded frame (17 MB) and patches
    assert len(ds) == 1


def test_eval_command_refuses_in_one_line(big, tmp_path, capsys):
    from egvsr.cli import main
    from egvsr.render.model import save_untrained

    ck = save_untrained("egvsr-tiny", tmp_path / "tiny.pt")
    assert main(["eval", str(ck), "--data", str(big), "--scales", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"egvsr: error: {big}: its 2048x2048 frames need about")
    assert "Traceback" not in "\n".join(err)
