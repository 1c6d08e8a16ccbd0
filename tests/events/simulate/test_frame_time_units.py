"""A frame folder's `timestamps.txt` / `images.txt` are seconds. Times in µs (DSEC's `timestamps.txt`) or ns
read as seconds put frames hours apart: with events on a clock from 0 they still overlap the frames' span, so no
other warning fired and nearly every event fell in the first window, in silence. Frames a median of more than
1000 s apart now get one warning naming the file (docs/simulator.md)."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.events.simulate import open_video

cv2 = pytest.importorskip("cv2")


def _folder(path, times, listing=False):
    path.mkdir()
    for i in range(len(times)):
        assert cv2.imwrite(str(path / f"frame_{i:04d}.png"), np.full((12, 16), 40 * i, np.uint8))
    if listing:
        (path / "images.txt").write_text("".join(f"{t} frame_{i:04d}.png\n" for i, t in enumerate(times)))
    else:
        (path / "timestamps.txt").write_text("".join(f"{t}\n" for t in times))
    return path


@pytest.mark.parametrize("listing", [False, True])
def test_microseconds_read_as_seconds_are_warned_of(tmp_path, capsys, listing):
    video = open_video(_folder(tmp_path / "f", [0, 33333, 66667, 100000], listing))
    assert video.timestamps_us.tolist() == [0, 33_333_000_000, 66_667_000_000, 100_000_000_000]  # as written
    err = capsys.readouterr().err
    name = "images.txt" if listing else "timestamps.txt"
    assert err.count("egvsr: warning:") == 1 and f"{name}: its frames are a median 33333 s apart" in err
    assert "divide them by 1e6 or 1e9" in err


def test_seconds_and_slow_frame_rates_are_not_warned_of(tmp_path, capsys):
    open_video(_folder(tmp_path / "a", [0.0, 0.038766, 0.077531]))
    open_video(_folder(tmp_path / "b", [10.0, 70.0, 130.0, 1000.0]))  # a frame a minute, one long gap
    open_video(_folder(tmp_path / "c", [5.0]))
    assert capsys.readouterr().err == ""
