"""Frame sizes known before any frame is decoded (`frame_shape`, `gt_shape`, `check_frame_sizes`): a file
may declare frames far larger than memory, so every layout answers from what it stores about them, and a
frame of another size is refused before it is decoded."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest

from egvsr.errors import FormatError, InputFileError
from egvsr.events import EventStream, Frames
from egvsr.events.io import open_events, write_events
from egvsr.events.io.aedat4_frames import Aedat4Frames
from egvsr.events.io.ced_folder import CedFolderSource, png_shape
from egvsr.events.io.egvsr_h5 import EgvsrH5Source
from tests._reliability import check_message
from tests.events.io.test_layouts import _events, write_aedat4, write_ced, write_e2vid

W, H = 40, 30
X, Y, T, ON = _events(300, W, H, t0=1_000_000, span=100_000)


def _no_decoding(*args, **kwargs):
    raise AssertionError("a frame was decoded")


def _ours(path, frame_size=(H, W), gt_size=None):
    """Our layout with frames (and ground truth) of these sizes, set after writing (the writer refuses
    frames of another size than the sensor)."""
    s = EventStream(X.astype(np.uint16), Y.astype(np.uint16), T, np.where(ON, 1, -1).astype(np.int8), W, H)
    frames = Frames(np.zeros((2, H, W, 3), np.uint8), np.array([1_000_000, 1_050_000]))
    gt = None if gt_size is None else Frames(np.zeros((1, H, W, 1), np.uint8), np.array([1_025_000]))
    write_events(path, s, frames=frames, gt_frames=gt)
    with h5py.File(path, "r+") as f:
        for group, size, n, c in (("frames", frame_size, 2, 3), ("gt", gt_size, 1, 1)):
            if size is not None and tuple(size) != (H, W):
                del f[f"{group}/images"]
                f.create_dataset(f"{group}/images", data=np.zeros((n, *size, c), np.uint8))
    return path


def _ced(path, sizes):
    rows = np.stack([T * 1000.0, X, Y, ON], axis=1)
    frames = [(int(T[0]) * 1000 + k, np.zeros((*size, 3), np.uint8)) for k, size in enumerate(sizes)]
    write_ced(path, [(int(rows[0, 0]), rows)], frames)
    return path


def test_ours_sizes_frames_and_ground_truth_without_decoding(tmp_path, monkeypatch):
    path = _ours(tmp_path / "ours.h5", gt_size=(H, W))
    monkeypatch.setattr(EgvsrH5Source, "read_frame", _no_decoding)
    monkeypatch.setattr(EgvsrH5Source, "read_gt", _no_decoding)
    with open_events(path) as src:
        assert src.frame_shape() == (H, W, 3) and src.gt_shape() == (H, W, 1)
        src.check_frame_sizes()


@pytest.mark.parametrize("what, kw", [("frames", {"frame_size": (H, 2 * W)}),
                                      ("ground-truth frames", {"gt_size": (H + 1, W)})])
def test_frames_of_another_size_than_the_sensor_are_refused_naming_the_file(tmp_path, monkeypatch, what, kw):
    path = _ours(tmp_path / "ours.h5", **kw)
    monkeypatch.setattr(EgvsrH5Source, "read_frame", _no_decoding)
    monkeypatch.setattr(EgvsrH5Source, "read_gt", _no_decoding)
    h, w = kw.get("frame_size") or kw["gt_size"]
    with open_events(path) as src, pytest.raises(FormatError) as err:
        src.check_frame_sizes()
    check_message(err.value, f"{path}: {what} are {w}x{h} (WxH) but the events' sensor is {W}x{H}")


def test_ced_frames_are_sized_from_their_png_header(tmp_path, monkeypatch):
    folder = _ced(tmp_path / "ced", [(H, W), (H, W)])
    monkeypatch.setattr(CedFolderSource, "read_frame_path", staticmethod(_no_decoding))
    with open_events(folder) as src:  # the sensor size comes from the first PNG's header too
        assert (src.height, src.width) == (H, W) and src.frame_shape() == (H, W, 3)
        src.check_frame_sizes()


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_png_header_gives_the_shape_of_the_decoded_frame(tmp_path, channels):
    import cv2

    path = tmp_path / "f.png"
    cv2.imwrite(str(path), np.zeros((5, 7) if channels is None else (5, 7, channels), np.uint8))
    assert png_shape(path) == CedFolderSource.read_frame_path(path).shape


def test_a_ced_frame_of_another_size_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    folder = _ced(tmp_path / "ced", [(3 * H, 3 * W), (3 * H, 3 * W)])
    with open_events(folder, sensor_size=(H, W)) as src:
        monkeypatch.setattr(CedFolderSource, "read_frame_path", staticmethod(_no_decoding))
        with pytest.raises(FormatError) as err:
            src.read_frame(1)
    check_message(err.value, f"{folder}/", f"frame is {3 * W}x{3 * H}, expected the sensor size {W}x{H}")


def test_a_ced_frame_of_another_size_than_the_first_makes_the_frames_unusable_at_once(tmp_path, monkeypatch):
    """Every PNG header is read when the frames are sized, so one odd frame is found before any is used
    (as `info` reports it), not only by the command that reaches it."""
    folder = _ced(tmp_path / "ced", [(H, W), (H, W), (3 * H, 3 * W)])
    first, odd = sorted(p.name for p in folder.glob("*.png"))[::2]
    monkeypatch.setattr(CedFolderSource, "read_frame_path", staticmethod(_no_decoding))
    with open_events(folder) as src, pytest.raises(FormatError) as err:
        src.frame_shape()
    check_message(err.value, f"{folder}: frame '{odd}' is {3 * W}x{3 * H}, but the first frame '{first}' is {W}x{H}; "
                  "all frames of a recording must have one size")


def test_a_file_that_is_not_a_png_is_refused_naming_it(tmp_path):
    bad = tmp_path / "1000.png"
    bad.write_bytes(b"GIF89a" + bytes(40))
    with pytest.raises(InputFileError) as err:
        png_shape(bad)
    check_message(err.value, f"{bad}: not a readable PNG frame")


def test_an_e2vid_image_of_another_size_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "e.h5"
    frames = [(np.zeros((H, W), np.uint8), 1_000_000, "greyscale"), (np.zeros((H, W), np.uint8), 1_050_000,
                                                                     "greyscale")]
    write_e2vid(path, X, Y, T, ON, frames, sensor_resolution=(H, W))
    with h5py.File(path, "r+") as f:  # image 1 declares 20000x20000 (compressed: nothing stored is large)
        del f["images/image000000001"]
        ds = f.create_dataset("images/image000000001", shape=(20000, 20000), dtype=np.uint8, chunks=(2000, 2000),
                              compression="gzip")
        ds.attrs["timestamp"] = 1.05
    with open_events(path) as src:  # every image's declared shape is compared when the frames are sized
        with pytest.raises(FormatError) as err:
            src.frame_shape()
        with pytest.raises(FormatError):
            src.read_frame(1)
    check_message(err.value, f"{path}: 'images/image000000001' is 20000x20000, but the first image is {W}x{H}; "
                  "all images of a recording must have one size")


def test_aedat4_frames_are_sized_from_the_first_pass(tmp_path, monkeypatch):
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    img = np.zeros((H, W), np.uint8)
    t = np.sort(T - T[0])
    write_aedat4(tmp_path / "r.aedat4", [(t, X, Y, ON)], W, H, frames=[(5_000, (0, 0), img, 0)])
    with open_events(tmp_path / "r.aedat4") as src:
        monkeypatch.setattr(Aedat4Frames, "read", _no_decoding)
        assert src.frame_shape() == (H, W, 1)
        src.check_frame_sizes()


# ---- recordings whose frames mix gray and colour: one channel count per recording ---------------
def _images(gray):
    """Four distinct RGB frames, those numbered in `gray` gray (H, W)."""
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(4)]
    return [img[..., 0] if k in gray else img for k, img in enumerate(images)]


def _as_rgb(img):
    return np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img


def _e2vid_frames(path, gray):
    images = _images(gray)
    frames = [(img if img.ndim == 2 else img[..., ::-1], 1_000_000 + 20_000 * k,
               "greyscale" if img.ndim == 2 else "color_bgr") for k, img in enumerate(images)]
    write_e2vid(path, X, Y, T, ON, frames, sensor_resolution=(H, W))
    return path, images


def _ced_frames(path, gray):
    images = _images(gray)
    rows = np.stack([T * 1000.0, X, Y, ON], axis=1)
    frames = [((1_000_000 + 20_000 * k) * 1000, img if img.ndim == 3 else img[..., None])
              for k, img in enumerate(images)]
    write_ced(path, [(int(rows[0, 0]), rows)], frames)  # (H, W, 1) is written as a gray PNG
    return path, images


LAYOUTS_WITH_PER_FRAME_SHAPES = pytest.mark.parametrize("make", [_e2vid_frames, _ced_frames], ids=["e2vid", "ced"])


@pytest.mark.parametrize("gray", [(0,), (2,)])
@LAYOUTS_WITH_PER_FRAME_SHAPES
def test_gray_frames_among_colour_ones_come_as_three_equal_channels(tmp_path, make, gray):
    from egvsr.events.io import convert

    src_path, images = make(tmp_path / "mixed", gray)
    expected = np.stack([_as_rgb(img) for img in images])
    with open_events(src_path) as src:
        assert src.frame_shape() == (H, W, 3)
        assert all(src.read_frame(k).shape == (H, W, 3) for k in range(4))
        np.testing.assert_array_equal(src.read_frames(1, 4).images, expected[1:])
    out = convert(src_path, tmp_path / "out.h5", progress=False)
    with open_events(out) as ours:
        np.testing.assert_array_equal(ours.read_frames().images, expected)


@LAYOUTS_WITH_PER_FRAME_SHAPES
def test_the_channel_count_is_declared_and_gray_only_stays_gray(tmp_path, make, monkeypatch):
    mixed, _ = make(tmp_path / "mixed", (0,))
    gray, images = make(tmp_path / "gray", range(4))
    monkeypatch.setattr(CedFolderSource, "read_frame_path", staticmethod(_no_decoding))
    monkeypatch.setattr(h5py.Dataset, "__getitem__", _no_decoding)
    with open_events(mixed) as src, open_events(gray) as gray_src:
        assert src.frame_shape() == (H, W, 3) and gray_src.frame_shape() == (H, W, 1)  # headers only
    monkeypatch.undo()
    with open_events(gray) as src:
        np.testing.assert_array_equal(src.read_frames().images, np.stack(images)[..., None])


def test_ced_gray_frames_with_alpha_stay_gray(tmp_path):
    """A gray PNG with an alpha channel is a gray frame (its alpha dropped), as in a frame folder: declared and
    read as one channel, so a gray recording saved with alpha stays gray in `info` and `convert`."""
    from PIL import Image

    from egvsr.events.io import convert

    gray, _ = _ced_frames(tmp_path / "gray", range(4))
    images = []
    for k, png in enumerate(sorted(gray.glob("*.png"))):
        plane = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        Image.fromarray(np.dstack([plane, np.full_like(plane, 40 * k)]), "LA").save(png)
        images.append(plane)
    with open_events(gray) as src:
        assert src.frame_shape() == (H, W, 1)
        np.testing.assert_array_equal(src.read_frames().images, np.stack(images)[..., None])
    with open_events(convert(gray, tmp_path / "out.h5", progress=False)) as ours:
        np.testing.assert_array_equal(ours.read_frames().images, np.stack(images)[..., None])


def _e2vid(path, size):
    frames = [(np.zeros(size, np.uint8), 1_000_000 + 50_000 * k, "greyscale") for k in range(2)]
    write_e2vid(path, X, Y, T, ON, frames, sensor_resolution=(H, W))
    return path


@pytest.mark.parametrize("what, make", [
    ("frames", lambda p: _ours(p, frame_size=(H, 2 * W))),
    ("ground-truth frames", lambda p: _ours(p, gt_size=(H + 1, W))),
    ("frames", lambda p: _e2vid(p, (2 * H, W))),
])
def test_convert_refuses_frames_of_another_size_before_converting_naming_the_input(tmp_path, monkeypatch, what,
                                                                                  make):
    """Not after every event was streamed, and not naming the output (which never exists)."""
    from egvsr.events.io import convert
    from egvsr.events.io.source import EventSource

    path = make(tmp_path / "in.h5")
    monkeypatch.setattr(EventSource, "iter_chunks", lambda *a, **k: pytest.fail("converted events first"))
    with pytest.raises(FormatError) as err:
        convert(path, tmp_path / "out.h5", progress=False)
    msg = check_message(err.value, f"{path}: {what} are ", f"but the events' sensor is {W}x{H}")
    assert "out.h5" not in msg and "--sensor-size" not in msg
    assert not (tmp_path / "out.h5").exists()


def test_convert_names_sensor_size_when_it_gave_the_size_the_frames_do_not_have(tmp_path, capsys):
    from egvsr.cli import main

    path = _ours(tmp_path / "in.h5")
    assert main(["convert", str(path), str(tmp_path / "out.h5"), "--sensor-size", f"{2 * H}x{2 * W}"]) == 2
    err = capsys.readouterr().err
    assert err == (f"egvsr: error: {path}: frames are {W}x{H} (WxH) but the events' sensor is {2 * W}x{2 * H}; "
                   f"frames and events must share the sensor size; that sensor size is --sensor-size "
                   f"{2 * H}x{2 * W} (HxW): give the frames' size, or leave the option out to take the file's\n")
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("what, row, make", [
    ("frames", "frames     ", lambda p: _ours(p, frame_size=(H, 2 * W))),
    ("ground-truth frames", "gt frames  ", lambda p: _ours(p, gt_size=(H + 1, W))),
    ("frames", "frames     ", lambda p: _e2vid(p, (2 * H, W))),
])
def test_info_reports_frames_of_another_size_as_unusable_and_exits_2(tmp_path, monkeypatch, capsys, what, row,
                                                                    make):
    """As every other command refuses them (and as `info` reports an unusable AEDAT4 frame stream); the
    sizes are the declared ones: nothing is decoded. Ground-truth frames get their own row."""
    from egvsr.cli import main
    from egvsr.events.io.e2vid_h5 import E2vidH5Source

    path = make(tmp_path / "in.h5")
    for cls in (EgvsrH5Source, E2vidH5Source):
        monkeypatch.setattr(cls, "read_frame", _no_decoding)
    assert main(["info", str(path)]) == 2
    out, err = capsys.readouterr()
    why = f"{what} are "
    assert f"events       {len(X)}" in out and f"{row}  unusable: {why}" in out
    assert f"but the events' sensor is {W}x{H}" in out
    assert err.strip().splitlines()[-1].startswith(f"egvsr: error: {path}: {what} unusable: {why}")


def test_info_of_frames_of_the_sensor_size_exits_0(tmp_path, capsys):
    from egvsr.cli import main

    path = _ours(tmp_path / "in.h5", gt_size=(H, W))
    assert main(["info", str(path)]) == 0
    assert "frames       2 (" in capsys.readouterr().out


def _ced_odd_frame(path):
    """A CED folder whose last PNG (of three, 40 ms apart) has another size than the others (and the sensor)."""
    rows = np.stack([T * 1000.0, X, Y, ON], axis=1)
    frames = [(int(T[0]) * 1000 + 40_000_000 * k, np.zeros((*size, 3), np.uint8))
              for k, size in enumerate([(H, W), (H, W), (H // 2, W // 2)])]
    write_ced(path, [(int(rows[0, 0]), rows)], frames)
    return path


def _e2vid_odd_image(path):
    """An E2VID file whose second gray image has another size than the first (and the sensor)."""
    frames = [(np.zeros(size, np.uint8), 1_000_000 + 50_000 * k, "greyscale")
              for k, size in enumerate([(H, W), (H // 2, W // 2)])]
    write_e2vid(path, X, Y, T, ON, frames, sensor_resolution=(H, W))
    return path


@pytest.mark.parametrize("make, why", [
    (_ced_odd_frame, f"but the first frame '{int(T[0]) * 1000}.png' is {W}x{H}; all frames of a recording"),
    (_e2vid_odd_image, f"'images/image000000001' is {W // 2}x{H // 2}, but the first image is {W}x{H}"),
], ids=["ced", "e2vid"])
def test_info_reports_one_frame_of_another_size_as_unusable_and_exits_2(tmp_path, monkeypatch, capsys, make, why):
    """Not `frames 3 ... RGB` and exit 0 while `eval` refuses the recording at that frame."""
    from egvsr.cli import main
    from egvsr.events.io.e2vid_h5 import E2vidH5Source

    path = make(tmp_path / "in")
    for cls in (CedFolderSource, E2vidH5Source):
        monkeypatch.setattr(cls, "read_frame", _no_decoding)
    assert main(["info", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "frames       unusable: " in out and why in out
    assert err.strip().splitlines()[-1].startswith(f"egvsr: error: {path}: frames unusable: ")
