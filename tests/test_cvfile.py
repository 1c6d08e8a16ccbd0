"""egvsr.cvfile: OpenCV never gets a file name it would crash on (one that is not UTF-8), and images and
videos read and write as `cv2.imread`/`imwrite`/`VideoCapture`/`VideoWriter` do."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from egvsr.cvfile import opencv_name, read_image, video_capture, video_writer, write_image
from egvsr.errors import InputFileError, OutputError

PACKAGE = Path(__file__).resolve().parents[1] / "egvsr"
NOT_UTF8 = os.fsdecode(b"\xff_\xfe")  # a Linux file name's bytes that are no UTF-8: Python's surrogate escapes


def _image(dtype=np.uint8, channels=3) -> np.ndarray:
    rng = np.random.default_rng(0)
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    shape = (12, 17, channels) if channels > 1 else (12, 17)
    return (rng.random(shape) * top).astype(dtype)


@pytest.mark.parametrize("suffix, dtype, channels", [(".png", np.uint8, 3), (".png", np.uint16, 1),
                                                     (".tiff", np.float32, 1), (".jpg", np.uint8, 3)])
def test_images_read_and_write_as_opencv_does_whatever_the_name(tmp_path, suffix, dtype, channels):
    img = _image(dtype, channels)
    odd = tmp_path / f"{NOT_UTF8}{suffix}"
    plain = tmp_path / f"plain{suffix}"
    assert opencv_name(odd) is None
    assert write_image(odd, img) is True
    assert cv2.imwrite(str(plain), img)
    assert odd.read_bytes() == plain.read_bytes()
    for mode, flags in (("unchanged", cv2.IMREAD_UNCHANGED), ("color", cv2.IMREAD_COLOR)):
        got, want = read_image(odd, mode), cv2.imread(str(plain), flags)
        assert (got is None) if want is None else got.dtype == want.dtype and np.array_equal(got, want)


def test_unreadable_images_are_none_as_with_imread(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    for name in ("missing.png", "empty.png", "junk.png"):
        assert read_image(tmp_path / name) is None
        assert cv2.imread(str(tmp_path / name)) is None
    assert write_image(tmp_path / "no" / "folder.png", _image()) is False
    assert write_image(tmp_path / f"x.{NOT_UTF8}", _image()) is False  # no codec has such a suffix


def test_videos_write_and_read_back_whatever_the_name(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / f"{NOT_UTF8}.mp4"
    writer = video_writer(path, "mp4v", 10.0, (32, 24))
    assert writer.isOpened()
    for k in range(4):
        writer.write(np.full((24, 32, 3), 50 * k, np.uint8))
    writer.release()
    cap = video_capture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 4 and abs(int(frames[3].mean()) - 150) < 8
    assert list((tmp_path / "tmp").iterdir()) == []  # the link and its folder are gone
    assert sorted(os.fsencode(p.name) for p in tmp_path.iterdir()) == [b"tmp", b"\xff_\xfe.mp4"]


def test_a_name_no_link_can_stand_for_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "missing"))
    with pytest.raises(InputFileError, match=r"^.*\\xff_\\xfe.mp4: OpenCV cannot open a file whose name is not "
                                             r"UTF-8, and no link to it .* could be made .*; rename the file$"):
        video_capture(tmp_path / f"{NOT_UTF8}.mp4")
    with pytest.raises(OutputError, match="OpenCV cannot open a file whose name is not UTF-8"):
        video_writer(tmp_path / f"{NOT_UTF8}.mp4", "mp4v", 10.0, (32, 24))


def test_no_file_name_reaches_opencv_outside_cvfile():
    """Every OpenCV call that opens a file by name goes through egvsr/cvfile.py."""
    opening = {"imread", "imwrite", "imreadmulti", "imcount", "haveImageReader", "VideoCapture", "VideoWriter"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cvfile.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in opening:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.attr}")
    assert not found, found


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_not_an_image_and_is_not_waited_on(tmp_path):
    """Reading a FIFO named like an image blocked forever in open() (no writer ever comes); a device such as
    /dev/zero would have been read without end. Only a regular file is read; anything else is None."""
    import threading

    fifo = tmp_path / "frame.png"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(read_image(fifo)), daemon=True)
    reader.start()
    reader.join(10)
    blocked = reader.is_alive()
    if blocked:  # release the old code's reader: a writer that closes at once ends its read
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not blocked and got == [None]
    assert read_image(tmp_path) is None  # a folder
    if os.path.exists("/dev/zero"):
        assert read_image("/dev/zero") is None


def test_an_unknown_read_mode_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"^mode 'gray': expected one of \('unchanged', 'color'\)$"):
        read_image(tmp_path / "x.png", "gray")
