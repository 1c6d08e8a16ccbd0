"""`simulate_video` / `egvsr simulate` on inputs that are not what they seem: its own input as output,
float frames (NaN, scales), text files in other encodings, pipes, broken files and their native
messages, argument types and ranges, mixed frame sizes with `size`, gray with alpha."""

from __future__ import annotations

import os
import re
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError, FormatError, InputFileError, OutputExistsError
from egvsr.events.io import open_events
from egvsr.events.simulate import open_video, simulate_video
from egvsr.events.simulate import video_input as V
from egvsr.native_stderr import native_messages_held

KW = dict(progress=False, interpolation="none", cp=0.2)


def _gray(k: int, h: int = 12, w: int = 16) -> np.ndarray:
    """A small frame whose brightness changes with `k`."""
    return np.full((h, w), 40 + 30 * k, np.uint8)


def _folder(tmp: Path, frames, name: str = "seq", suffix: str = "png", params=()) -> Path:
    d = tmp / name
    d.mkdir()
    for k, f in enumerate(frames):
        assert cv2.imwrite(str(d / f"f{k}.{suffix}"), f, list(params))
    return d


def _video(path: Path, n: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (16, 12))
    for k in range(n):
        writer.write(cv2.cvtColor(_gray(k), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


# ---- the input as output ------------------------------------------------------------------------
def test_the_input_video_is_never_its_output_even_with_overwrite(tmp_path):
    video = _video(tmp_path / "v.mp4")
    before = video.read_bytes()
    os.link(video, tmp_path / "hard.h5")
    for out in (video, tmp_path / "." / "v.mp4", tmp_path / "hard.h5"):
        with pytest.raises(OutputExistsError, match=r"output is the input file .*v.mp4; choose another output path"):
            simulate_video(video, out, overwrite=True, **KW)
    assert video.read_bytes() == before


def test_a_frame_of_the_input_folder_is_never_its_output(tmp_path):
    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    before = (d / "f1.png").read_bytes()
    with pytest.raises(OutputExistsError, match=r"f1.png: already exists inside the input folder"):
        simulate_video(d, d / "f1.png", fps=10, overwrite=True, **KW)
    assert (d / "f1.png").read_bytes() == before


# ---- float frames ---------------------------------------------------------------------------------
def _float_folder(tmp: Path, frames, name: str = "floats") -> Path:
    return _folder(tmp, [np.asarray(f, np.float32) for f in frames], name, "tiff")


def test_a_nan_float_frame_is_refused_naming_it_without_a_warning(tmp_path):
    d = _float_folder(tmp_path, [np.full((12, 16), 0.5), np.full((12, 16), np.nan), np.full((12, 16), 0.5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputFileError, match=r"floats/f1.tiff: the image holds NaN or infinite values"):
            simulate_video(d, tmp_path / "o.h5", fps=10, **KW)
    assert not (tmp_path / "o.h5").exists()


def test_float_frames_get_one_scale_for_the_whole_recording(tmp_path):
    # an all-black first frame decides nothing; the second (values up to 200) makes the scale 0..255,
    # so the third (0.8 everywhere) is a dark frame, not a bright one
    d = _float_folder(tmp_path, [np.zeros((12, 16)), np.full((12, 16), 200.0), np.full((12, 16), 0.8)])
    out = simulate_video(d, tmp_path / "o.h5", fps=10, **KW)
    with open_events(out) as src:
        assert [int(src.read_frame(k).max()) for k in range(3)] == [0, 200, 1]
    # intensities in [0, 1] are scaled by 255; a later frame above 1 contradicts that and is refused
    d = _float_folder(tmp_path, [np.full((12, 16), 0.5), np.full((12, 16), 0.25), np.full((12, 16), 3.0)], "unit")
    video = open_video(d, fps=10)
    frames = video.frames()
    assert [int(next(frames)[1].max()) for _ in range(2)] == [128, 64]
    with pytest.raises(InputFileError, match=r"f2.tiff: values reach 3, but those of f0.tiff lie in \[0, 1\]"):
        next(frames)


@pytest.mark.parametrize("dtype, shape", [(np.float32, (12, 16, 3)), (np.float64, (12, 16)), (np.float64, (12, 16, 3))])
def test_float_tiffs_pil_cannot_open_are_read(tmp_path, dtype, shape):
    """OpenCV reads float32 RGB and float64 TIFFs, but the size probe asked PIL alone, which cannot
    identify them: a folder of such frames was refused as unreadable. Their sizes and channel counts now
    come from the TIFF directory, and the frames are read as their values say."""
    frames = [np.random.default_rng(k).random(shape).astype(dtype) for k in range(3)]
    # uncompressed: OpenCV 4.8 stores float32 RGB as lossy LogLuv (SGILOG) by default, off by up to 0.03
    d = _folder(tmp_path, frames, "f", "tiff", [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    video = open_video(d, fps=10)
    assert (video.height, video.width, video.channels) == (12, 16, len(shape) == 3 and 3 or 1)
    got = [img for _, img in video.frames()]
    want = [np.round(f * 255).astype(np.uint8).reshape(12, 16, -1)[..., ::-1] for f in frames]  # BGR -> RGB
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    (d / "f1.tiff").write_bytes(b"II*\x00" + b"\xff" * 20)  # a TIFF header leading nowhere: still refused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputFileError, match=r"^.*f/f1.tiff: cannot read this image \("):
            open_video(d, fps=10)


@pytest.mark.parametrize("rate, message", [
    (0.0, "the video does not state its frame rate; pass --fps"),
    (float("nan"), "the video does not state its frame rate; pass --fps"),
    (-25.0, "the video does not state its frame rate; pass --fps"),
    (1e7, r"its stated frame rate 10000000.0: expected at most 1,000,000 frames per second \(frame times are "
          r"whole microseconds\); pass --fps \(fps=...\) to give the real rate$"),
    (1e-300, r"its stated frame rate 1e-300: 5 frames at this rate last beyond .*; pass --fps \(fps=...\)"),
])
def test_a_container_s_unusable_frame_rate_says_how_to_give_one(tmp_path, monkeypatch, rate, message):
    """A rate the container states wrongly was refused without the way round it (--fps overrides it)."""
    video = _video(tmp_path / "v.mp4")
    probe = V._probe_video
    monkeypatch.setattr(V, "_probe_video", lambda path: (probe(path)[0], rate, 5))
    with pytest.raises(ConfigError, match=message):
        open_video(video)
    assert open_video(video, fps=10).timestamps_us is None  # --fps is taken instead


# ---- text files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, text", [
    ("timestamps.txt", b"0\n0.1\n0.2 # caf\xe9\n"),
    ("images.txt", b"0 f0.png\n0.1 f1.png \xff\n0.2 f2.png\n"),
    ("fps.txt", b"\xfe10\n"),
])
def test_a_time_file_in_another_encoding_is_named(tmp_path, name, text):
    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    (d / name).write_bytes(text)
    with pytest.raises(FormatError,
                       match=rf"^{re.escape(str(d / name))}: not UTF-8 text \(byte \d+ cannot be decoded\)"):
        simulate_video(d, tmp_path / "o.h5", **KW)


# ---- files that are not regular files --------------------------------------------------------------
@pytest.fixture
def unblock():
    """`unblock(fifo)`: until the test ends, open `fifo` for writing now and then and close it at once,
    so that a reader blocked on it (the bug: FFmpeg may open it more than once) gets end of file
    instead of hanging the test."""
    done = threading.Event()

    def watch(fifo: Path) -> None:
        while not done.wait(2.0):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass

    yield lambda fifo: threading.Thread(target=watch, args=(fifo,), daemon=True).start()
    done.set()


def test_a_named_pipe_input_is_refused_before_it_is_opened(tmp_path, capsys, unblock):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    unblock(fifo)
    assert main(["simulate", str(fifo), str(tmp_path / "o.h5"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"egvsr: error: {fifo}: the input is not a regular file (a named pipe, device or socket); "
                   "expected a regular file"]


@pytest.mark.parametrize("member", ["f3.png", "timestamps.txt", "images.txt", "fps.txt"])
def test_a_frame_folder_member_that_is_a_pipe_is_refused(tmp_path, member, unblock):
    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    os.mkfifo(d / member)
    unblock(d / member)
    with pytest.raises(InputFileError, match=rf"{member}: the (image|frame-time file) is not a regular file"):
        simulate_video(d, tmp_path / "o.h5", fps=10, **KW)


def test_an_images_txt_listing_a_device_is_refused(tmp_path):
    d = _folder(tmp_path, [_gray(k) for k in range(2)])
    (d / "images.txt").write_text("0 f0.png\n0.1 /dev/zero\n")
    with pytest.raises(InputFileError, match=r"/dev/zero: the image is not a regular file"):
        open_video(d)


# ---- native messages about broken files ------------------------------------------------------------
def test_broken_files_give_one_line_and_no_native_messages(tmp_path, capfd):
    video = _video(tmp_path / "v.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # FFmpeg: "moov atom not found"
    with pytest.raises(InputFileError, match="broken.mp4: cannot read this file as a video"):
        simulate_video(broken, tmp_path / "o.h5", **KW)
    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    data = (d / "f1.png").read_bytes()
    (d / "f1.png").write_bytes(data[: len(data) - 30])  # libpng: "Not enough image data"
    with pytest.raises(InputFileError, match="f1.png: cannot read this image"):
        simulate_video(d, tmp_path / "o.h5", fps=10, **KW)
    assert capfd.readouterr().err == ""


def test_native_messages_are_passed_on_when_the_body_succeeds(capfd):
    with native_messages_held():
        os.write(2, b"kept\n")
    with pytest.raises(InputFileError):
        with native_messages_held():
            os.write(2, b"dropped\n")
            raise InputFileError("x")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept\nafter\n"


# ---- arguments ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(size=("a", "b")), r"^size: expected \(height, width\), two whole numbers >= 1, got \('a', 'b'\)"),
    (dict(size=5), r"^size: expected \(height, width\)"),
    (dict(size=(10.7, 12.2)), r"^size: expected \(height, width\)"),
    (dict(fps="abc"), r"^fps: expected a positive frame rate, got 'abc'"),
    (dict(fps=[1]), r"^fps: expected a positive frame rate, got \[1\]"),
    (dict(src=None), r"^src: expected a video file or frame folder path \(str or os.PathLike\), got NoneType"),
    (dict(dst=None), r"^dst: expected an output file path \(str or os.PathLike\), got NoneType"),
    (dict(seed=2**64), r"^`seed`: expected an integer in 0..2\*\*63-1 \(output files store it as int64\), got 1844"),
    (dict(seed=-1), r"^`seed`: expected an integer in 0..2\*\*63-1"),
    (dict(cn_ratio=1.0), r"^`cn_ratio`: expected \(mean, std\), got 1.0"),
    (dict(cn_ratio="ab"), r"^`cn_ratio`: expected \(mean, std\), got 'ab'"),
])
def test_bad_arguments_are_one_config_error_naming_them_before_any_work(tmp_path, monkeypatch, kwargs, message):
    import egvsr.events.simulate.api as api

    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    monkeypatch.setattr(api, "open_video", lambda *a: pytest.fail("the input was opened"))
    args = {"src": d, "dst": tmp_path / "o.h5", "fps": 10, **kwargs}
    with pytest.raises(ConfigError, match=message):
        simulate_video(args.pop("src"), args.pop("dst"), **args, progress=False)
    assert not (tmp_path / "o.h5").exists()


def test_cli_seed_beyond_int64_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    import egvsr.events.simulate.api as api

    d = _folder(tmp_path, [_gray(k) for k in range(3)])
    monkeypatch.setattr(api, "open_video", lambda *a: pytest.fail("the input was opened"))
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "10", "--seed", str(2**64)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"egvsr: error: --seed: expected an integer in 0..2**63-1 (output files store it as int64), got {2**64}"]


# ---- frame sizes and channels ---------------------------------------------------------------------
def test_size_resizes_a_folder_of_mixed_frame_sizes(tmp_path, capsys):
    d = _folder(tmp_path, [_gray(0), _gray(1, 10, 14), _gray(2, 24, 32)])
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "10", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "all frames of a folder must have the same size (pass --size to resize them all)")
    out = simulate_video(d, tmp_path / "o.h5", fps=10, size=(12, 16), **KW)
    with open_events(out) as src:
        assert src.num_frames == 3 and (src.height, src.width) == (12, 16)
        assert [int(src.read_frame(k)[0, 0, 0]) for k in range(3)] == [40, 70, 100]


def test_gray_with_alpha_stays_gray(tmp_path):
    d = tmp_path / "la"
    d.mkdir()
    from PIL import Image

    for k in range(3):
        Image.fromarray(np.dstack([_gray(k), np.full((12, 16), 255, np.uint8)]), "LA").save(d / f"f{k}.png")
    out = simulate_video(d, tmp_path / "o.h5", fps=10, **KW)
    with open_events(out) as src:
        assert src.read_frame(2).shape == (12, 16, 1) and int(src.read_frame(2)[0, 0, 0]) == 100
