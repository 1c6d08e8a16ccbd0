"""`voxelize --between-frames` uses the frames' times only (docs/representations.md): frames of another size than
the events' sensor, or of mixed sizes, do not stop it (the windows are the frame intervals, the tensors at the
events' size); an AEDAT4 frame stream with such a problem has no reliable times and is refused in one line;
duplicated frame times are refused in every layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from tests.events.io.test_layouts import write_aedat4, write_e2vid

W, H = 32, 24
T = 100_000 + 40_000 * np.arange(4)
RNG = np.random.default_rng(0)
N = 600
X, Y = RNG.integers(0, W, N), RNG.integers(0, H, N)
TE, ON = np.sort(RNG.integers(90_000, 230_000, N)), RNG.random(N) < 0.5


def _frames(sizes):
    return [RNG.integers(0, 255, (h, w, 3)).astype(np.uint8) for h, w in sizes]


def _ours(path, frame_size, times=T):
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=W, height=H, num_events=N)
        f["events/x"], f["events/y"] = X.astype(np.uint16), Y.astype(np.uint16)
        f["events/t"], f["events/p"] = TE.astype(np.int64), np.where(ON, 1, -1).astype(np.int8)
        f["frames/images"] = np.stack(_frames([frame_size] * len(times)))
        f["frames/t"] = times


@pytest.mark.parametrize("kind", ["ours, frames 2x the sensor", "e2vid, mixed sizes"])
def test_frame_images_that_cannot_be_used_do_not_stop_between_frames(tmp_path, kind, capsys):
    src = tmp_path / "rec.h5"
    if kind.startswith("ours"):
        _ours(src, (2 * H, 2 * W))
    else:
        imgs = _frames([(H, W), (H, W), (2 * H, 2 * W), (H, W)])
        write_e2vid(src, X, Y, TE, ON, [(img, int(t), "color_bgr") for img, t in zip(imgs, T)],
                    sensor_resolution=(H, W))
    assert main(["info", str(src)]) == 2  # the frames are unusable as frames
    assert "unusable:" in capsys.readouterr().out
    out = tmp_path / "v.h5"
    assert main(["voxelize", str(src), str(out), "--between-frames", "--no-progress"]) == 0
    with h5py.File(out) as f:
        tensors = [f[k] for k in f if isinstance(f[k], h5py.Dataset) and f[k].ndim >= 3]
        assert tensors and all(t.shape[0] == len(T) - 1 and t.shape[-2:] == (H, W) for t in tensors)


def test_an_aedat4_frame_stream_of_mixed_sizes_is_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("aedat")
    imgs = _frames([(H, W), (H, W), (2 * H, 2 * W), (H, W)])
    src = tmp_path / "rec.aedat4"
    write_aedat4(src, [(TE, X, Y, ON)], W, H, frames=[(int(t), (int(t) - 5, int(t) + 5), img, 16)
                                                     for img, t in zip(imgs, T)])
    assert main(["voxelize", str(src), str(tmp_path / "v.h5"), "--between-frames", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rec.aedat4: AEDAT4 frame stream 1: frame 2 is 64x48" in err
    assert not (tmp_path / "v.h5").exists()


def test_duplicated_frame_times_are_refused(tmp_path, capsys):
    src = tmp_path / "rec.h5"
    _ours(src, (H, W), times=np.array([100_000, 140_000, 140_000, 220_000]))
    assert main(["voxelize", str(src), str(tmp_path / "v.h5"), "--between-frames", "--no-progress"]) == 2
    assert "'frames/t' must strictly increase" in capsys.readouterr().err
