"""`egvsr simulate`: video and frame-folder input, timestamps, bad inputs, the written recording."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError, FormatError, InputFileError, OutputExistsError
from egvsr.events.io import open_events, read_events
from egvsr.events.simulate import SimulatorConfig, open_video, simulate_video


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    return (255 * (noise - noise.min()) / np.ptp(noise)).astype(np.uint8)


def _frames(n: int, h: int = 40, w: int = 56, shift: int = 1) -> list[np.ndarray]:
    base = _texture(h, w + n * shift)
    return [np.ascontiguousarray(base[:, k * shift: k * shift + w]) for k in range(n)]


def _mjpg_clip(path: Path, n: int) -> Path:
    """A 20-fps MJPG video of `_frames(n)` (gray, written as BGR) at `path`."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (56, 40))
    assert writer.isOpened()
    for f in _frames(n):
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def _folder(tmp: Path, frames, name: str = "seq", color: bool = False) -> Path:
    d = tmp / name
    d.mkdir()
    for k, f in enumerate(frames):
        img = cv2.merge([f, f // 2, 255 - f]) if color else f
        cv2.imwrite(str(d / f"frame_{k}.png"), img)
    return d


def test_folder_with_timestamps_txt(tmp_path):
    d = _folder(tmp_path, _frames(12))
    (d / "timestamps.txt").write_text("".join(f"{0.5 + k * 0.04:.6f}\n" for k in range(12)))
    out = simulate_video(d, tmp_path / "out.h5", cp=0.2, progress=False)
    with open_events(out) as src:
        assert src.num_frames == 12
        assert np.array_equal(src.frame_times(), np.round((0.5 + np.arange(12) * 0.04) * 1e6))
        assert src.read_frame(3).shape == (40, 56, 1)
        assert src.num_events > 100
        ev = src.read()
    assert ev.t[0] >= 500_000 and ev.t[-1] <= 500_000 + 11 * 40_000


def test_names_sort_naturally_and_fps_gives_times(tmp_path):
    d = _folder(tmp_path, _frames(11))  # frame_10 must come after frame_9
    vi = open_video(d, fps=10.0)
    assert [f.name for f in vi.files][-2:] == ["frame_9.png", "frame_10.png"]
    assert np.array_equal(vi.timestamps_us, np.arange(11) * 100_000)


def test_name_order_takes_any_digits_and_never_depends_on_the_listing(tmp_path):
    """'²' is a digit to str.isdigit but not to int(): a frame named f1²2.png stopped `egvsr simulate` with
    a traceback. Names equal up to case or leading zeros (img01, img1) kept the folder listing's order."""
    from egvsr.events.simulate.video_input import _natural_key

    names = ["f1²2.png", "f12.png", "f3.png", "img01.png", "img1.png", "Img1.png", "img2.png", "img10.png",
             "b.png", "B.png", "f٣.png"]  # '٣' is an Arabic-Indic 3: a digit to re and int() alike
    order = sorted(map(Path, names), key=_natural_key)
    assert sorted(map(Path, reversed(names)), key=_natural_key) == order
    assert [p.name for p in order] == ["B.png", "b.png", "f1²2.png", "f3.png", "f٣.png", "f12.png", "Img1.png",
                                       "img01.png", "img1.png", "img2.png", "img10.png"]
    d = _folder(tmp_path, _frames(3))
    (d / "frame_1.png").rename(d / "frame_1².png")
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "10", "--no-progress"]) == 0


def test_hidden_files_beside_the_frames_are_no_frames(tmp_path):
    """A folder copied from macOS to another file system holds `._frame_0.png` (AppleDouble metadata, no
    image): the whole folder was refused as unreadable. Hidden names are skipped, as `*.png` skips them."""
    d = _folder(tmp_path, _frames(3))
    (d / "._frame_0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60))
    cv2.imwrite(str(d / ".frame_9.png"), _frames(1)[0])
    vi = open_video(d, fps=10.0)
    assert [f.name for f in vi.files] == ["frame_0.png", "frame_1.png", "frame_2.png"]
    assert main(["simulate", str(d), str(d / ".out.png"), "--fps", "10", "--no-progress"]) == 0  # not a frame


@pytest.mark.parametrize("name", ["frame_3\n.png", "frame_3.tİf", "frame_3.PNG", ".frame_3.png", "frame_3.png "])
def test_a_new_file_is_claimed_exactly_when_it_would_be_read_as_a_frame(tmp_path, name):
    """One rule for the names read as frames and for the outputs refused as frames-to-be (`folder_members`):
    the two rules differed, so a name with a newline was read as a frame but could be written into the folder,
    and 'x.tİf' was refused as an output though never read."""
    from egvsr.events.simulate.video_input import folder_members

    d = _folder(tmp_path, _frames(3))
    claimed = folder_members(d).claims(d / name)
    cv2.imwrite(str(d / "new.png"), _frames(1)[0])
    (d / "new.png").rename(d / name)
    read = name in [f.name for f in open_video(d, fps=10.0).files]
    assert claimed == read
    assert read == (name in ("frame_3\n.png", "frame_3.PNG"))

def test_images_txt_listing_a_folder_says_so(tmp_path):
    """A listed path that is a folder was said not to exist."""
    d = _folder(tmp_path, _frames(2))
    (d / "sub").mkdir()
    (d / "images.txt").write_text("0 frame_0.png\n0.1 sub\n")
    with pytest.raises(InputFileError, match=r"images.txt: lists .*seq/sub, which is a folder, not an image$"):
        open_video(d)
    (d / "images.txt").write_text("0 frame_0.png\n0.1 gone.png\n")
    with pytest.raises(InputFileError, match=r"images.txt: lists .*seq/gone.png, which does not exist$"):
        open_video(d)


def test_images_txt_layout_and_resize(tmp_path):
    frames = _frames(6)
    d = tmp_path / "ecd"
    (d / "images").mkdir(parents=True)
    lines = []
    for k, f in enumerate(frames):
        cv2.imwrite(str(d / "images" / f"frame_{k:08d}.png"), f)
        lines.append(f"{10 + k * 0.05:.9f} images/frame_{k:08d}.png")
    (d / "images.txt").write_text("\n".join(lines) + "\n")
    out = simulate_video(d, tmp_path / "o.h5", size=(20, 28), progress=False)
    with open_events(out) as src:
        assert (src.width, src.height) == (28, 20)
        assert src.frame_times()[1] == 10_050_000


def test_video_file(tmp_path):
    path = _mjpg_clip(tmp_path / "clip.avi", 10)
    out = simulate_video(path, tmp_path / "v.h5", interpolation="linear", progress=False)
    with open_events(out) as src:
        assert src.num_frames == 10
        assert src.frame_times()[-1] == 9 * 50_000
        assert src.read_frame(0).shape == (40, 56, 3)
        assert src.num_events > 0


def test_reading_leaves_opencv_s_log_level_as_the_caller_set_it(tmp_path):
    """The log level is process-wide: reading lowers it for its own calls only."""
    path = _mjpg_clip(tmp_path / "clip.avi", 3)
    log = getattr(cv2.utils, "logging", cv2)  # OpenCV 4.8 (declared) has the level at the top level
    before = log.getLogLevel()
    try:
        for level in (4, 0):  # LOG_LEVEL_INFO, LOG_LEVEL_SILENT
            log.setLogLevel(level)
            simulate_video(path, tmp_path / f"v{level}.h5", progress=False)
            simulate_video(_folder(tmp_path, _frames(3), f"f{level}"), tmp_path / f"f{level}.h5", fps=20,
                           progress=False)
            assert log.getLogLevel() == level
    finally:
        log.setLogLevel(before)


@pytest.mark.parametrize("caller", [4, 0])  # INFO is lowered to ERROR (2) for the body, SILENT stays
def test_opencv_warnings_off_works_with_opencv_4_8_s_top_level_log_level(monkeypatch, caller):
    """opencv-python-headless >= 4.8 is declared, and 4.8 has no cv2.utils.logging: its
    cv2.getLogLevel/setLogLevel take the same levels (ERROR = 2)."""
    import types

    from egvsr.native_stderr import opencv_warnings_off

    level = [caller]
    old_cv2 = types.SimpleNamespace(utils=types.SimpleNamespace(), getLogLevel=lambda: level[0],
                                    setLogLevel=lambda v: level.__setitem__(0, v))
    monkeypatch.setitem(sys.modules, "cv2", old_cv2)
    with opencv_warnings_off():
        assert level[0] == min(caller, 2)
    assert level[0] == caller


def test_unreadable_video(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputFileError, match="broken.mp4: cannot read this file as a video"):
        simulate_video(bad, tmp_path / "o.h5", progress=False)
    with pytest.raises(InputFileError, match="no such file or folder"):
        open_video(tmp_path / "missing.mp4")
    assert not (tmp_path / "o.h5").exists()


def test_folder_with_mixed_sizes(tmp_path):
    frames = _frames(4)
    frames[2] = frames[2][:, :50]
    d = _folder(tmp_path, frames)
    with pytest.raises(InputFileError, match=r"frame_2.png: image is 50x40 but frame_0.png is 56x40"):
        simulate_video(d, tmp_path / "o.h5", fps=25, progress=False)


def _png(path: Path, width: int, height: int, depth: int = 8, colour: int = 2, rows: bytes = b"\0" * 100) -> None:
    """A PNG whose header declares width x height, `depth` bits and colour type `colour`, with `rows` (filter
    byte and samples per row) as its pixel data; the default, a few bytes, is never decoded here."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    head = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + head + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares width x height (a few bytes of pixel data: never decoded here)."""
    _png(path, width, height)


def test_a_16_bit_gray_png_with_alpha_stays_gray(tmp_path):
    """PIL opens a 16-bit gray PNG with alpha as RGBA: its frames were stored as RGB; gray with alpha stays gray
    (docs/simulator.md), its values 16-bit scaled to 8 as for any 16-bit frame."""
    d = tmp_path / "seq"
    d.mkdir()
    gray = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 341).astype(">u2")
    pixels = np.dstack([gray, np.full_like(gray, 40_000)]).astype(">u2")  # gray, alpha; big-endian samples
    for k in range(2):
        _png(d / f"f{k}.png", 16, 12, 16, 4, b"".join(b"\0" + row.tobytes() for row in pixels))
    vi = open_video(d, fps=10)
    assert vi.channels == 1
    for _, img in vi.frames():
        assert img.shape == (12, 16, 1)
        assert np.array_equal(img[..., 0], (gray.astype(np.int64) + 128) // 257)


@pytest.mark.parametrize("side", [12_000, 60_000])  # above PIL's bomb warning (89 Mpx), above its error (179 Mpx)
def test_huge_frames_are_refused_by_the_memory_check_not_by_pil(tmp_path, capsys, recwarn, side):
    d = tmp_path / "big"
    d.mkdir()
    for k in range(3):
        _png_header_only(d / f"{k:06d}.png", side, side)
    video = open_video(d, fps=10)
    assert (video.width, video.height) == (side, side)
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "10", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith(f"egvsr: error: {d}: frames of {side}x{side} pixels need about"), err
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_no_timestamps_and_no_fps(tmp_path):
    d = _folder(tmp_path, _frames(3))
    with pytest.raises(ConfigError, match="no timestamps .* pass --fps"):
        simulate_video(d, tmp_path / "o.h5", progress=False)
    with pytest.raises(InputFileError, match="no images found"):
        open_video(_folder(tmp_path, [], name="empty"), fps=25)


@pytest.mark.parametrize("times, message", [
    ("0.0\n0.1\n0.1\n", r"timestamps.txt: timestamps must strictly increase, but line 3"),
    ("0.0\n0.2\n0.1\n", r"line 3 \(0.100000 s\) does not come after line 2 \(0.200000 s\)"),
    # the lines as an editor counts them: blank and comment lines too (they were 0-based entries)
    ("# frame times\n0.0\n\n0.2\n0.1\n", r"line 5 \(0.100000 s\) does not come after line 4 "),
])
def test_non_increasing_timestamps(tmp_path, times, message):
    d = _folder(tmp_path, _frames(3))
    (d / "timestamps.txt").write_text(times)
    with pytest.raises(InputFileError, match=message):
        simulate_video(d, tmp_path / "o.h5", progress=False)


def test_times_beyond_the_microsecond_clock_name_their_source(tmp_path):
    d = _folder(tmp_path, _frames(3))
    (d / "timestamps.txt").write_text("# s\n0\n1e300\n2e300\n")
    with pytest.raises(FormatError, match=r"timestamps.txt, line 3: time 1e300 s is beyond"):
        open_video(d)
    (d / "timestamps.txt").unlink()
    (d / "fps.txt").write_text("1e-300\n")
    with pytest.raises(ConfigError, match=r"fps.txt 1e-300: 3 frames at this rate last beyond 2\*\*53"):
        open_video(d)
    with pytest.raises(ConfigError, match=r"`fps` 2000000.0: expected at most 1,000,000 frames per second"):
        open_video(d, fps=2e6)


def test_bad_timestamp_files(tmp_path):
    d = _folder(tmp_path, _frames(3))
    (d / "timestamps.txt").write_text("0.0\n0.1\n")
    with pytest.raises(FormatError, match="has 2 timestamps but the folder has 3 images"):
        open_video(d)
    (d / "timestamps.txt").write_text("0.0\nabc\n0.2\n")
    with pytest.raises(FormatError, match="timestamps.txt, line 2: expected one time in seconds"):
        open_video(d)


def test_time_files_from_windows_editors_are_read(tmp_path):
    """Notepad's UTF-8 starts with a byte-order mark; it was read as part of the first time, and a folder
    with a valid timestamps.txt, images.txt or fps.txt was refused. CRLF, blank lines, comments and
    scientific notation are read too."""
    d = _folder(tmp_path, _frames(3))
    bom = b"\xef\xbb\xbf"
    (d / "timestamps.txt").write_bytes(bom + b"0.5\r\n\r\n# t\r\n5.4e-1 # second\r\n5.8E-1\r\n")
    assert open_video(d).timestamps_us.tolist() == [500_000, 540_000, 580_000]
    (d / "timestamps.txt").unlink()
    (d / "fps.txt").write_bytes(bom + b"20\r\n")
    assert open_video(d).timestamps_us.tolist() == [0, 50_000, 100_000]
    (d / "images.txt").write_bytes(bom + "".join(f"{k / 10} frame_{k}.png\r\n" for k in range(3)).encode())
    assert open_video(d).timestamps_us.tolist() == [0, 100_000, 200_000]
    (d / "images.txt").write_bytes(bom + b"0 frame_0.png\n0.1 \xff\n")  # the byte counts from the file's start
    with pytest.raises(FormatError, match=r"images.txt: not UTF-8 text \(byte 21 cannot be decoded\)"):
        open_video(d)


@pytest.mark.parametrize("line", ["1 0.04", "0.04 0.08", "0.04\t1"])
def test_a_second_column_in_timestamps_txt_is_refused(tmp_path, line):
    """'index seconds' read as its first column gave frames 1 s apart, silently; a line holds one time
    (and maybe a # comment)."""
    d = _folder(tmp_path, _frames(3))
    (d / "timestamps.txt").write_text(f"0\n{line}\n0.12\n")
    with pytest.raises(FormatError, match=r"timestamps.txt, line 2: expected one time in seconds per line"):
        open_video(d)


@pytest.mark.parametrize("kwargs, message", [
    (dict(cp=[-0.1]), "contrast thresholds must be at least 0.01"),
    (dict(cp=[0.005, 0.2]), "at least 0.01"),  # below the floor: it would be recorded, not used
    (dict(cp=[0.3, 0.1]), "LO <= HI"),
    (dict(sigma=-0.01), "`sigma`: expected a value >= 0"),
    (dict(cn_ratio=(0.0, 0.1)), "positive mean"),
    (dict(refractory_us=-5), "`refractory_us`: expected a value >= 0"),
    (dict(max_subframes=0), "`max_subframes`: expected an integer >= 1"),
    (dict(interpolation="cubic"), "interpolation 'cubic'"),
])
def test_bad_settings_fail_before_any_work(tmp_path, kwargs, message):
    d = _folder(tmp_path, _frames(3))
    with pytest.raises(ConfigError, match=message):
        simulate_video(d, tmp_path / "o.h5", fps=25, progress=False, **kwargs)
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("args, flag", [
    (["--seed", "-1"], "--seed"), (["--refractory-us", "-5"], "--refractory-us"), (["--sigma", "-1"], "--sigma"),
    (["--max-subframes", "0"], "--max-subframes"), (["--cn-ratio", "0", "0.1"], "--cn-ratio [0.0, 0.1]"),
])
def test_cli_errors_name_the_flag(tmp_path, capsys, args, flag):
    d = _folder(tmp_path, _frames(3))
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "25", *args]) == 2
    assert capsys.readouterr().err.startswith(f"egvsr: error: {flag}")


@pytest.mark.parametrize("args, flag", [(["--seed", "-3"], "--seed"), (["--gt-per-interval", "-1"], "--gt-per-interval")])
def test_make_sample_errors_name_the_flag(tmp_path, capsys, args, flag):
    assert main(["make-sample", str(tmp_path / "s.h5"), *args]) == 2
    assert capsys.readouterr().err.startswith(f"egvsr: error: {flag}: expected an integer")


def test_cli_errors_are_one_line(tmp_path, capsys):
    d = _folder(tmp_path, _frames(3))
    assert main(["simulate", str(d), str(tmp_path / "o.h5"), "--fps", "25", "--cp", "-0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("egvsr: error: --cp [-0.1]: ") and "at least 0.01" in err[0]
    assert main(["simulate", str(d), str(tmp_path / "o.h5")]) == 2
    assert "pass --fps" in capsys.readouterr().err


def test_cli_simulate_then_refuses_to_overwrite(tmp_path, capsys):
    d = _folder(tmp_path, _frames(5), color=True)
    out = tmp_path / "o.h5"
    args = ["simulate", str(d), str(out), "--fps", "30", "--cp", "0.1", "0.3", "--seed", "4",
            "--no-progress"]
    assert main(args) == 0
    with open_events(out) as src:
        assert src.read_frame(0).shape == (40, 56, 3)
        first = src.read()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(OutputExistsError):
        simulate_video(d, out, fps=30, progress=False)
    assert main(args + ["--overwrite"]) == 0
    again = read_events(out)
    assert np.array_equal(first.t, again.t) and np.array_equal(first.x, again.x)


def test_slider_depth_simulates_to_a_plausible_recording(shared_data, tmp_path):
    from egvsr.events.io import describe

    out = simulate_video(shared_data / "slider_depth", tmp_path / "slider.h5", cp=0.25,
                         progress=False)
    text = describe(out)
    assert "240x180" in text and "87" in text
    with open_events(out) as src:
        t = src.frame_times()
        assert len(t) == 87 and t[0] == 0 and t[-1] == 3_333_822
        rate = src.num_events / ((t[-1] - t[0]) * 1e-6)
    # DAVIS240 slider scene: the real recording has ~0.3 Mev/s; a simulation with Cp=0.25 and no
    # noise model should be within a small factor of it, far from zero and from sensor saturation.
    assert 5e4 < rate < 8e6, rate


@pytest.mark.parametrize("flags, named", [
    (["--shot-noise-hz", "1e5"], "--shot-noise-hz 100000: about 2.24e+11 noise events in one frame interval "
                                 "(1000 s at 56x40 pixels) need about"),
    (["--leak-hz", "1e5", "--refractory-us", "0"], "--leak-hz 100000: about 2.24e+11 noise events"),
])
def test_noise_beyond_memory_is_refused_before_any_work(tmp_path, capsys, flags, named):
    d = _folder(tmp_path, _frames(3))
    out = tmp_path / "o.h5"  # frames 1000 s apart: the noise of one interval is terabytes
    assert main(["simulate", str(d), str(out), "--fps", "0.001", *flags, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"egvsr: error: {named}"), err
    assert "of this machine's memory" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


def test_noise_beyond_the_free_disk_is_refused_and_the_estimate_is_a_floor(tmp_path, monkeypatch):
    from egvsr.errors import OutputError
    from egvsr.events.simulate import budget

    d = _folder(tmp_path, [_frames(1)[0]] * 3)  # a static scene: every event is noise
    out = tmp_path / "o.h5"
    kw = dict(fps=5.0, cp=0.5, shot_noise_hz=400.0, interpolation="none", progress=False)
    span = budget.ClipSpan.of_rate(5.0, 3)
    config = SimulatorConfig(cp=0.5, shot_noise_hz=400.0)
    least = budget.emitted_noise(config, 56 * 40, span.total_s, span.intervals, least=True)
    with monkeypatch.context() as m:
        m.setattr(budget, "free_bytes", lambda folder: 10**5)
        message = (r"o.h5: --shot-noise-hz 400 gives at least " + re.escape(f"{least:.3g}") + r" noise events over "
                   r"the clip \(400 ms at 56x40 pixels\), at least 517 KB on disk, more than the 100 KB free in ")
        with pytest.raises(OutputError, match=message):
            simulate_video(d, out, **kw)
        assert not out.exists()
    simulate_video(d, out, **kw)
    with open_events(out) as src:
        n = src.num_events
    assert 0.98 * least <= n <= 1.02 * least  # Poisson: +-0.35% is one sd
    assert out.stat().st_size >= budget.DISK_EVENT_BYTES * least


def test_images_txt_paths_may_hold_spaces(tmp_path):
    """The path of an images.txt line is the rest of the line after the time, not its next word."""
    d = tmp_path / "spaced"
    (d / "my frames").mkdir(parents=True)
    for k, f in enumerate(_frames(3)):
        cv2.imwrite(str(d / "my frames" / f"frame {k}.png"), f)
    (d / "images.txt").write_text("".join(f"{k * 0.05:.2f}  my frames/frame {k}.png \n" for k in range(3)))
    vi = open_video(d)
    assert [f.relative_to(d).as_posix() for f in vi.files] == [f"my frames/frame {k}.png" for k in range(3)]
    assert np.array_equal(vi.timestamps_us, [0, 50_000, 100_000])


def _clip_saying(tmp_path, monkeypatch, prop, value) -> Path:
    """A 3-frame 20-fps MJPG clip, opened by `open_video` through a capture whose `get(prop)` says `value`
    (the container's word; an iterator: its next value each time), the rest as decoded."""
    import egvsr.events.simulate.video_input as video_input

    path = _mjpg_clip(tmp_path / "clip.avi", 3)
    real = video_input.video_capture

    def capture(p, *params):
        cap = real(p, *params)

        class Said:
            def __getattr__(self, name):
                return getattr(cap, name)

            def get(self, asked):  # `value` an iterator: one value a call
                return (next(value) if hasattr(value, "__next__") else value) if asked == prop else cap.get(asked)
        return Said()

    monkeypatch.setattr(video_input, "video_capture", capture)
    return path


@pytest.mark.parametrize("count", [float("nan"), -1.0, 0.0, float("-inf"), -9.2e18])
def test_a_video_that_does_not_state_its_frame_count_is_read_as_of_unknown_length(tmp_path, monkeypatch, count):
    """OpenCV gives 0, -1, NaN or INT64_MIN as the frame count of a container that does not say: the video is
    of unknown length (NaN raised a traceback; -1 made a clip of no interval, whose noise went unchecked)."""
    path = _clip_saying(tmp_path, monkeypatch, cv2.CAP_PROP_FRAME_COUNT, count)
    vi = open_video(path)
    assert vi.num_frames is None and vi.fps == 20.0
    assert [t for t, _ in vi.frames()] == [0, 50_000, 100_000]


def _variable_rate_gif(path: Path, durations_ms: list[int]) -> None:
    """An animated GIF whose frames last `durations_ms` (a video of variable frame rate), frame k of gray k*30."""
    from PIL import Image

    frames = [Image.fromarray(np.full((40, 56, 3), 30 * k, np.uint8)) for k in range(len(durations_ms))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations_ms, loop=0)
    cap = cv2.VideoCapture(str(path))
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    if not ok:
        pytest.skip("this OpenCV build does not decode animated GIFs")


def test_a_variable_frame_rate_video_keeps_its_own_frame_times(tmp_path):
    """Frames of a video of variable frame rate are at their own times (they were at i / fps of the container's
    average rate: 70 ms where the video says 40 ms, events at the wrong times without a word); `fps` still
    times them as i / fps."""
    path = tmp_path / "vfr.gif"
    _variable_rate_gif(path, [40, 100, 40, 200, 40, 40])
    vi = open_video(path)
    got = list(vi.frames())
    assert [t for t, _ in got] == [0, 40_000, 140_000, 180_000, 380_000, 420_000]
    assert [int(img[0, 0, 0]) for _, img in got] == [0, 30, 60, 90, 120, 150]
    assert [t for t, _ in open_video(path, fps=10).frames()] == [0, 100_000, 200_000, 300_000, 400_000, 500_000]
    out = simulate_video(path, tmp_path / "vfr.h5", interpolation="none", progress=False)
    with open_events(out) as src:
        assert src.frame_times().tolist() == [0, 40_000, 140_000, 180_000, 380_000, 420_000]


def test_a_constant_rate_video_whose_container_rounds_times_to_the_millisecond_keeps_exact_times(tmp_path):
    """Matroska keeps times in whole ms (33, 67 ms at 30 fps): frames stay at the exact i / fps."""
    path = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (56, 40))
    if not writer.isOpened():
        pytest.skip("this OpenCV build does not write Matroska")
    for f in _frames(4):
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    assert [t for t, _ in open_video(path).frames()] == [0, 33_333, 66_667, 100_000]


@pytest.mark.parametrize("said, message", [
    ([0.0, 50.0, 50.0], r"frame 2 is at 50\.000 ms .* not after frame 1 at 50\.000 ms"),
    ([0.0, 50.0, 20.0], r"frame 2 is at 20\.000 ms .* not after frame 1 at 50\.000 ms"),
    ([0.0, 50.0, 1e300], r"frame 2's timestamp in the video is 1e\+300 ms; expected a time within"),
])
def test_a_video_whose_timestamps_do_not_increase_is_refused_naming_the_frame(tmp_path, monkeypatch, said, message):
    """Frames that the video puts at one time, back in time or beyond the µs clock are refused in one line naming
    the frame and the way round, not written as a clip whose time stands still or runs back."""
    path = _clip_saying(tmp_path, monkeypatch, cv2.CAP_PROP_POS_MSEC, iter(said))
    with pytest.raises(InputFileError, match=rf"clip\.avi: {message}.*--fps"):
        list(open_video(path).frames())
    assert [t for t, _ in open_video(path, fps=20).frames()] == [0, 50_000, 100_000]


def test_a_reader_that_gives_every_frame_time_0_times_the_frames_as_i_over_fps(tmp_path, monkeypatch):
    """OpenCV's own MJPEG reader says 0 ms for every frame: the video states no times, so i / fps."""
    path = _clip_saying(tmp_path, monkeypatch, cv2.CAP_PROP_POS_MSEC, 0.0)
    assert [t for t, _ in open_video(path).frames()] == [0, 50_000, 100_000]


def _float_rgb_tiff(path: Path, rgb: np.ndarray, orientation: int) -> None:
    """An uncompressed float32 RGB TIFF (which PIL does not open) with Orientation tag `orientation`."""
    import struct

    h, w, _ = rgb.shape
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, 158), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, 170),
            (274, 3, 1, orientation), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, rgb.size * 4), (284, 3, 1, 1),
            (339, 3, 3, 164)]  # 8 + 2 + 12 * 12 + 4 = 158: bits per sample, then sample formats, then pixels
    short = [typ == 3 and n == 1 for _, typ, n, _ in tags]  # a lone SHORT value is padded to 4 bytes
    ifd = b"".join(struct.pack("<HHIHH" if s else "<HHII", tag, typ, n, v, *((0,) if s else ()))
                   for (tag, typ, n, v), s in zip(tags, short))
    path.write_bytes(b"II*\0" + struct.pack("<IH", 8, len(tags)) + ifd + struct.pack("<I3H3H", 0, 32, 32, 32, 3, 3, 3)
                     + rgb.astype("<f4").tobytes())


def test_a_float_rgb_tiff_stored_turned_is_read_upright_at_its_upright_size(tmp_path):
    """OpenCV decodes a TIFF with Orientation 6 (turn 90° clockwise) upright; the header read for a TIFF PIL
    cannot open took the stored size, so the frames disagreed with it ("frame: expected shape ...", no file named)."""
    d = tmp_path / "turned"
    d.mkdir()
    rgb = np.random.default_rng(0).random((6, 10, 3)).astype(np.float32)
    for k in range(2):
        _float_rgb_tiff(d / f"f{k}.tif", rgb, 6)
    vi = open_video(d, fps=10)
    assert (vi.width, vi.height) == (6, 10)
    upright = np.rot90(np.round(rgb * 255).astype(np.uint8), -1)
    assert all(np.array_equal(img, upright) for _, img in vi.frames())
    simulate_video(d, tmp_path / "o.h5", interpolation="none", fps=10, progress=False)


def test_a_frame_that_decodes_to_another_size_than_its_header_says_is_refused_naming_it(tmp_path, monkeypatch):
    """Sizes come from headers (nothing decoded up front); a frame whose pixels disagree is refused naming it,
    not passed on at another size."""
    import egvsr.events.simulate.video_input as video_input

    d = _folder(tmp_path, _frames(2))
    monkeypatch.setattr(video_input, "_image_header", lambda path: ((40, 56), "L"))  # the sides swapped
    vi = open_video(d, fps=10)
    with pytest.raises(InputFileError, match=r"frame_0\.png: image decodes to 56x40, expected 40x56 like the"):
        list(vi.frames())


def test_a_video_cut_short_is_read_as_far_as_it_decodes_and_said_to_be(tmp_path, capsys):
    """A video that ends before the frame count its header states (a copy cut short) was read in part without
    a word; now one warning line names it and both counts. A whole video says nothing."""
    path = _mjpg_clip(tmp_path / "clip.avi", 12)
    whole = len(list(open_video(path).frames()))
    assert whole == 12 and capsys.readouterr().err == ""
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    vi = open_video(cut)
    n = len(list(vi.frames()))
    assert vi.num_frames == 12 and 0 < n < 12
    err = capsys.readouterr().err.splitlines()  # and the damage of the frame cut through, if the decoder saw it
    assert err[-1] == (f"egvsr: warning: {cut}: the video states 12 frames but only its first {n} decode (a file cut "
                       f"short or damaged?); the recording holds those {n}")
    assert err[:-1] in ([], [err[0]]) and all("the decoder reported damage" in line for line in err[:-1])


def test_a_damaged_video_is_one_warning_line_not_the_decoder_s_flood(tmp_path, capfd):
    """FFmpeg writes lines of its own on each damaged frame (2000 for 2 kB zeroed in a 20-frame MP4); they are
    summed up in one warning line naming the file, and the frames that decode are read."""
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 256, (48, 64, 3), np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 2000] = bytes(2000)
    path.write_bytes(bytes(data))
    capfd.readouterr()
    assert main(["simulate", str(path), str(tmp_path / "o.h5"), "--interpolation", "none", "--no-progress"]) == 0
    err = capfd.readouterr().err.splitlines()
    assert all(line.startswith("egvsr: warning: ") for line in err), err[:3]
    assert len(err) <= 1 and all(f"{path}: the decoder reported damage" in line for line in err)
    with open_events(tmp_path / "o.h5") as src:
        assert src.num_frames == 20


def test_a_jpeg_s_exif_orientation_is_not_applied_by_any_route(tmp_path):
    """cv2.imread turns a JPEG upright by its EXIF orientation, PIL does not: frames are read as stored by
    simulate and render alike (sizes from the headers, pixels as PIL decodes them)."""
    from PIL import Image

    from egvsr.render.inputs import open_input

    d = tmp_path / "phone"
    d.mkdir()
    rgb = np.repeat(np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20, 8, 0), 8, 1)
    rgb = np.dstack([rgb, 255 - rgb, rgb // 2])
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to show
    for k in range(2):
        Image.fromarray(rgb).save(d / f"img_{k}.jpg", exif=exif, quality=95)
    stored = np.asarray(Image.open(d / "img_0.jpg").convert("RGB"))
    vi = open_video(d, fps=10)
    assert (vi.height, vi.width) == stored.shape[:2] == (24, 32)
    rec = open_input(d, fps=10)
    for k, (_, img) in enumerate(vi.frames()):
        assert np.abs(img.astype(int) - stored).max() <= 1
        assert np.array_equal(rec.read_frame(k), img)


def test_a_pause_in_a_variable_rate_video_has_its_noise_checked_before_it_is_simulated(tmp_path, monkeypatch):
    """Noise is sized up front for intervals of 1 / fps (780 ms here, the average); a video timed by its own
    timestamps may pause far longer (a 3 s frame here), whose noise is drawn in one step: that interval is checked
    before it is simulated, in the same one line, and no output is left."""
    from egvsr.events.simulate import budget
    from egvsr.events.simulate.thresholds import SimulatorConfig

    path = tmp_path / "pause.gif"
    _variable_rate_gif(path, [40, 40, 3000, 40])
    cfg = SimulatorConfig(shot_noise_hz=50.0)
    pixels, state = 56 * 40, 56 * 40 * budget.BYTES_PER_PIXEL
    monkeypatch.setattr(budget, "memory_budget", lambda: int(state + budget.step_noise_bytes(cfg, pixels, 1.5)))
    with pytest.raises(ConfigError, match=r"^--shot-noise-hz 50: about 3\.36e\+05 noise events in one frame "
                                          r"interval \(3 s at 56x40 pixels\)"):
        simulate_video(path, tmp_path / "o.h5", interpolation="none", progress=False, shot_noise_hz=50.0)
    assert not (tmp_path / "o.h5").exists()
    simulate_video(path, tmp_path / "o.h5", fps=25, interpolation="none", progress=False, shot_noise_hz=50.0)
