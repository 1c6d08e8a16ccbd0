"""AEDAT4 frame streams (DAVIS APS frames): times, formats, sizes, the on-demand path, and a render."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.errors import FormatError
from egvsr.events.io import convert, open_events
from tests.events.io.test_layouts import _events, write_aedat4

pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")

W, H = 40, 30


def _recording(path, frames, frame_size=None, n_packets=None, span=10_000):
    """Events in packets of `span` µs and the given frames after them."""
    n_packets = n_packets or len(frames)
    x, y, t, on = _events(200 * n_packets, W, H, t0=0, span=span * n_packets)
    t.sort()
    packets = [(t[a:a + 200], x[a:a + 200], y[a:a + 200], on[a:a + 200]) for a in range(0, len(t), 200)]
    write_aedat4(path, packets, W, H, frames=frames, frame_size=frame_size)
    return t


def _gray(rng, n):
    return [rng.integers(0, 256, (H, W), dtype=np.uint8) for _ in range(n)]


def test_gray_frames_at_the_middle_of_their_exposure(tmp_path):
    rng = np.random.default_rng(1)
    imgs = _gray(rng, 3)
    frames = [(k * 10_000 + 9_500, (k * 10_000 + 1_000, k * 10_000 + 7_000), imgs[k], 0) for k in range(3)]
    _recording(tmp_path / "r.aedat4", frames)
    with open_events(tmp_path / "r.aedat4") as src:
        assert src.num_events == 600
        np.testing.assert_array_equal(src.frame_times(), [4_000, 14_000, 24_000])
        got = src.read_frames()
        assert got.images.shape == (3, H, W, 1)
        for k in range(3):
            np.testing.assert_array_equal(got.images[k, ..., 0], imgs[k])
    convert(tmp_path / "r.aedat4", tmp_path / "r.h5", progress=False)
    with open_events(tmp_path / "r.h5") as ours:
        np.testing.assert_array_equal(ours.frame_times(), [4_000, 14_000, 24_000])
        np.testing.assert_array_equal(ours.read_frame(1)[..., 0], imgs[1])


def test_frame_time_without_exposure_is_its_timestamp(tmp_path):
    imgs = _gray(np.random.default_rng(2), 2)
    _recording(tmp_path / "r.aedat4", [(5_000, (0, 0), imgs[0], 0), (15_000, (0, 0), imgs[1], 0)])
    with open_events(tmp_path / "r.aedat4") as src:
        np.testing.assert_array_equal(src.frame_times(), [5_000, 15_000])


def test_sixteen_bit_frames_scaled_by_their_bit_depth(tmp_path):
    ten_bit = np.array([[0, 511, 1023] * (W // 3) + [0] * (W % 3)] * H, np.uint16)
    _recording(tmp_path / "r.aedat4", [(5_000, (1, 9_000), ten_bit, 2)])
    with open_events(tmp_path / "r.aedat4") as src:
        img = src.read_frame(0)[..., 0]
    assert img.dtype == np.uint8
    np.testing.assert_array_equal(img[0, :3], [0, 127, 255])


def test_bgr_frames_come_out_rgb_and_bgra_loses_alpha(tmp_path):
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    bgra = np.dstack([bgr, np.full((H, W), 7, np.uint8)])
    for fmt, img in ((16, bgr), (24, bgra)):
        _recording(tmp_path / f"{fmt}.aedat4", [(5_000, (1, 9_000), img, fmt)])
        with open_events(tmp_path / f"{fmt}.aedat4") as src:
            rgb = src.read_frame(0)
        assert rgb.shape == (H, W, 3)
        np.testing.assert_array_equal(rgb[0, 0], [0, 0, 200])


def test_frames_of_another_size_are_refused_naming_the_sizes(tmp_path):
    small = np.zeros((H // 2, W // 2), np.uint8)
    _recording(tmp_path / "r.aedat4", [(5_000, (1, 9_000), small, 0)], frame_size=(W // 2, H // 2))
    with open_events(tmp_path / "r.aedat4") as src:
        assert len(src.read()) == 200  # the events stay readable
        with pytest.raises(FormatError, match=r"r\.aedat4.*20x15.*40x30"):
            src.frame_times()


def test_frame_times_that_do_not_increase_are_refused(tmp_path):
    imgs = _gray(np.random.default_rng(3), 2)
    _recording(tmp_path / "r.aedat4", [(5_000, (1, 9_000), imgs[0], 0), (4_000, (1, 9_000), imgs[1], 0)])
    with open_events(tmp_path / "r.aedat4") as src, pytest.raises(FormatError, match="frame 1 .*must increase"):
        src.frame_times()


def test_frames_beyond_the_cache_are_decoded_on_demand(tmp_path, monkeypatch):
    from egvsr.events.io import aedat4_frames

    monkeypatch.setattr(aedat4_frames, "CACHE_BYTES", 2 * H * W)
    imgs = _gray(np.random.default_rng(4), 5)
    _recording(tmp_path / "r.aedat4", [(k * 10_000 + 5_000, (0, 0), imgs[k], 0) for k in range(5)])
    with open_events(tmp_path / "r.aedat4") as src:
        assert src._frames._raw is None
        for k in (0, 1, 3, 4, 2, 0):  # forward, then backwards: the pass restarts
            np.testing.assert_array_equal(src.read_frame(k)[..., 0], imgs[k])


def test_render_reads_a_davis_style_recording_directly(tmp_path, capsys):
    from egvsr.cli import main

    rng = np.random.default_rng(5)
    base = rng.integers(40, 200, (H, W), dtype=np.uint8)
    frames = [(k * 20_000 + 10_000, (k * 20_000 + 5_000, k * 20_000 + 15_000), np.roll(base, k, axis=1), 0)
              for k in range(4)]
    _recording(tmp_path / "r.aedat4", frames, n_packets=4, span=20_000)
    out = tmp_path / "png"
    rc = main(["render", str(tmp_path / "r.aedat4"), "--scale", "2", "--png", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 4
    import cv2

    img = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.shape[:2] == (2 * H, 2 * W)
    if img.ndim == 3:  # gray APS frames give a gray result
        assert (img == img[..., :1]).all()


def test_a_header_that_is_not_utf8_is_refused_not_an_abort(tmp_path):
    """`aedat` aborts the whole process (a Rust panic at the FFI boundary) on a stream description
    with invalid UTF-8; the reader checks the header first. Run in a child so a regression cannot kill pytest."""
    import subprocess
    import sys

    _recording(tmp_path / "ok.aedat4", [])
    data = bytearray((tmp_path / "ok.aedat4").read_bytes())
    data[data.index(b"<dv") + 21] = 0xC5
    (tmp_path / "bad.aedat4").write_bytes(bytes(data))
    r = subprocess.run([sys.executable, "-m", "egvsr", "info", str(tmp_path / "bad.aedat4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith("egvsr: error: ")
    assert "bad.aedat4" in r.stderr and "not UTF-8" in r.stderr


def test_a_frame_of_a_format_the_decoder_skips_makes_the_frames_unusable_not_fewer(tmp_path):
    """`aedat` skips a frame of an unknown format code with a warning: a silently missing frame would
    shift every later one, so the stream is refused in one line; the warning is not printed."""
    import warnings

    imgs = _gray(np.random.default_rng(6), 3)
    _recording(tmp_path / "r.aedat4", [(k * 10_000 + 5_000, (k * 10_000 + 1, k * 10_000 + 9_000), imgs[k],
                                        1 if k == 1 else 0) for k in range(3)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_events(tmp_path / "r.aedat4") as src:
            assert len(src.read()) == 600  # the events stay readable
            with pytest.raises(FormatError, match=r"r\.aedat4: AEDAT4 frame stream 1: the decoder skipped frame 1"):
                src.frame_times()
    assert not [w for w in caught if "frame format" in str(w.message)]


def test_a_frame_whose_pixels_do_not_fill_its_size_makes_the_frames_unusable_not_the_events(tmp_path, monkeypatch):
    """A frame packet declaring a larger size than its pixels hold fails inside the decoder (numpy's
    reshape); the decoder goes on with the next packet, so the events stay readable."""
    import struct

    import tests.events.io.test_layouts as writer

    honest = writer._flatbuffer_frame

    def one_pixel_wider(t, exposure, pixels, fmt):
        body = honest(t, exposure, pixels, fmt)
        declared = struct.pack("<4hb", W, H, 0, 0, fmt)
        return body.replace(declared, struct.pack("<4hb", W + 1, H, 0, 0, fmt), 1)

    monkeypatch.setattr(writer, "_flatbuffer_frame", one_pixel_wider)
    imgs = _gray(np.random.default_rng(8), 3)
    t = _recording(tmp_path / "r.aedat4", [(k * 10_000 + 5_000, (k * 10_000 + 1, k * 10_000 + 9_000), imgs[k], 0)
                                           for k in range(3)])
    with open_events(tmp_path / "r.aedat4") as src:
        np.testing.assert_array_equal(src.read().t, t)
        with pytest.raises(FormatError, match=r"r\.aedat4: AEDAT4 frame stream 1: the decoder could not read frame 0"):
            src.frame_times()


def test_one_time_convention_per_stream(tmp_path):
    imgs = _gray(np.random.default_rng(7), 3)
    starts_at_zero = [(k * 10_000 + 9_500, (k * 10_000, k * 10_000 + 8_000), imgs[k], 0) for k in range(3)]
    _recording(tmp_path / "a.aedat4", starts_at_zero)
    with open_events(tmp_path / "a.aedat4") as src:  # an exposure from 0 µs is an exposure
        np.testing.assert_array_equal(src.frame_times(), [4_000, 14_000, 24_000])
    one_without = [(k * 10_000 + 9_500, (0, 0) if k == 1 else (k * 10_000 + 1, k * 10_000 + 8_001), imgs[k], 0)
                   for k in range(3)]
    _recording(tmp_path / "b.aedat4", one_without)
    with open_events(tmp_path / "b.aedat4") as src:  # never a mix: every frame's own timestamp
        np.testing.assert_array_equal(src.frame_times(), [9_500, 19_500, 29_500])


def test_mixed_frame_formats_are_refused(tmp_path):
    gray8 = np.zeros((H, W), np.uint8)
    gray16 = np.zeros((H, W), np.uint16)
    _recording(tmp_path / "r.aedat4", [(5_000, (1, 9_000), gray8, 0), (15_000, (10_001, 19_000), gray16, 2)])
    with open_events(tmp_path / "r.aedat4") as src, pytest.raises(FormatError, match="frame 1 has the format"):
        src.frame_times()


def test_info_describes_the_events_of_a_recording_whose_frames_are_unusable(tmp_path, capsys):
    from egvsr.cli import main

    small = np.zeros((H // 2, W // 2), np.uint8)
    _recording(tmp_path / "r.aedat4", [(5_000, (1, 9_000), small, 0)], frame_size=(W // 2, H // 2))
    assert main(["info", str(tmp_path / "r.aedat4")]) == 2
    captured = capsys.readouterr()
    assert "events       200" in captured.out
    assert "frames       unusable: AEDAT4 frame stream 1: its frames are 20x15" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("egvsr: error: ")
