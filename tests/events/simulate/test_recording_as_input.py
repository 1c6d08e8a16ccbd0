"""`simulate` given an event recording (HDF5, AEDAT4, Prophesee RAW) where a video is read says what the
file is, never that OpenCV could not decode a frame of it; a broken video keeps its own message."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main


def _e2vid_frames(path):
    with h5py.File(path, "w") as f:
        for i in range(3):
            ds = f.create_dataset(f"images/image{i:09d}", data=np.zeros((8, 8), np.uint8))
            ds.attrs.update(timestamp=0.04 * i)


def _raw(path):
    path.write_bytes(b"% evt 2.0\n% format EVT2;height=8;width=8\n% end\n" + bytes(8))


@pytest.mark.parametrize("name,write,what", [
    ("frames.h5", _e2vid_frames, "is an HDF5 file, not a video"),
    ("rec.raw", _raw, "is an event recording (layout 'evt2'), not a video"),
])
def test_a_recording_is_named_as_such(tmp_path, capsys, name, write, what):
    src = tmp_path / name
    write(src)
    assert main(["simulate", str(src), str(tmp_path / "out.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{src}: {what}" in err and "OpenCV" not in err
    assert not (tmp_path / "out.h5").exists()


def test_a_broken_video_still_says_opencv_could_not_decode_it(tmp_path, capsys):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"not a video at all")
    assert main(["simulate", str(src), str(tmp_path / "out.h5")]) == 2
    assert "OpenCV could not decode a frame" in capsys.readouterr().err
