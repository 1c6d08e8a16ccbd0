"""An E2VID / event_utils file of images and no `events` group at all (frames only, as a recording without
events is packaged) reads as a recording of no events, in the library and every command that does not
need events; written with h5py alone, independently of our readers."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import FormatError, InputFileError
from egvsr.events.io import convert, detect_layout, open_events, read_events

H, W = 12, 16


def _images(path: Path, n: int = 4, colour: bool = False, resolution: bool = True) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (H, W, 3) if colour else (H, W), dtype=np.uint8) for _ in range(n)]
    with h5py.File(path, "w") as f:
        if resolution:
            f.attrs["sensor_resolution"] = (H, W)
        for i, img in enumerate(imgs):
            ds = f.create_dataset(f"images/image{i:09d}", data=img)
            ds.attrs.update(timestamp=0.5 + 0.04 * i, type="color_bgr" if colour else "greyscale")
    return imgs


@pytest.mark.parametrize("resolution", [True, False])
def test_frames_only_file_reads_as_a_recording_of_no_events(tmp_path, resolution):
    path = tmp_path / "frames.h5"
    imgs = _images(path, colour=True, resolution=resolution)
    assert detect_layout(path) == "e2vid"
    with open_events(path) as src:
        assert (src.layout, src.width, src.height, src.num_events) == ("e2vid", W, H, 0)
        assert src.t_first is None and src.t_last is None
        np.testing.assert_array_equal(src.frame_times(), 500_000 + 40_000 * np.arange(4))
        np.testing.assert_array_equal(src.read_frame(2), imgs[2][..., ::-1])  # BGR stored, RGB read
        assert len(src.read(0, 10**6)) == 0 and list(src.iter_chunks()) == []
    s = read_events(path)
    assert len(s) == 0 and (s.width, s.height) == (W, H)
    out = convert(path, tmp_path / "ours.h5", progress=False)
    with open_events(out) as ours:
        assert ours.num_events == 0 and ours.num_frames == 4
        np.testing.assert_array_equal(ours.read_frame(3), imgs[3][..., ::-1])


def test_frames_only_file_in_info_convert_and_show(tmp_path, capsys):
    path = tmp_path / "frames.h5"
    _images(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "e2vid" in out and "4 (500000 .. 620000 µs" in out
    assert main(["convert", str(path), str(tmp_path / "c.h5"), "--no-progress"]) == 0
    assert main(["show", str(path), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0


def test_an_events_link_to_a_missing_file_is_never_taken_for_frames_only(tmp_path):
    path = tmp_path / "frames.h5"
    _images(path)
    with h5py.File(path, "a") as f:
        f["events"] = h5py.ExternalLink("gone.h5", "/events")
    with pytest.raises((FormatError, InputFileError), match="frames.h5"):
        open_events(path)


def test_an_images_group_without_e2vid_images_is_still_no_known_layout(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["images/000000"] = np.zeros((H, W), np.uint8)
    with pytest.raises(InputFileError, match="unknown layout"):
        detect_layout(path)


def test_an_evtexture_clip_is_still_evtexture(tmp_path):
    path = tmp_path / "clip.h5"
    with h5py.File(path, "w") as f:
        f["images/000000"] = np.zeros((H, W, 3), np.uint8)
        f["images/image000000000"] = np.zeros((H, W, 3), np.uint8)  # an E2VID-like name too
        f["voxels_f/000000"] = np.zeros((5, H, W), np.float32)
    assert detect_layout(path) == "evtexture"


def test_an_empty_events_group_beside_images_is_frames_only(tmp_path):
    path = tmp_path / "frames.h5"
    _images(path)
    with h5py.File(path, "a") as f:
        f.create_group("events")
    with open_events(path) as src:
        assert (src.layout, src.num_events, src.num_frames) == ("e2vid", 0, 4)


def test_an_events_group_of_other_columns_is_not_taken_for_frames_only(tmp_path):
    path = tmp_path / "frames.h5"
    _images(path)
    with h5py.File(path, "a") as f:
        f["events/x"] = np.zeros(3, np.uint16)
    with pytest.raises(InputFileError, match="unknown layout"):
        detect_layout(path)
