"""16-bit frames in a frame folder (render's and simulate's input) take the white level of the folder's bit
depth, as AEDAT4 frames do (docs/io.md, "AEDAT4 frames"; docs/simulator.md): a DAVIS APS frame stored as its
10-bit ADC value in a 16-bit PNG was scaled by 65535 and came out nearly black (at most 4 of 255)."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.events.frames import SixteenBitLevel, sixteen_bit_to_uint8
from egvsr.events.simulate import open_video

cv2 = pytest.importorskip("cv2")

W, H = 40, 30


def _reference(raw: np.ndarray, full: int) -> np.ndarray:
    """v * 255 / full rounded to the nearest level, in float64 (numpy, independent of the helper)."""
    return np.clip(np.rint(raw.astype(np.float64) * 255.0 / full), 0, 255).astype(np.uint8)


def _folder(path, frames, suffix=".png"):
    path.mkdir()
    for i, img in enumerate(frames):
        assert cv2.imwrite(str(path / f"frame_{i:04d}{suffix}"), img)
    (path / "timestamps.txt").write_text("".join(f"{0.04 * i:.6f}\n" for i in range(len(frames))))
    return path


def _frames(rng, n, top):
    """n gray 16-bit frames below `top`; only the last one reaches top - 1 (the folder's largest value)."""
    frames = [rng.integers(0, top // 2, (H, W)).astype(np.uint16) for _ in range(n)]
    frames[-1][0, 0] = top - 1
    return frames


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_a_folder_of_16_bit_frames_is_scaled_by_its_bit_depth(tmp_path, bits):
    frames = _frames(np.random.default_rng(bits), 4, 2**bits)
    video = open_video(_folder(tmp_path / "f", frames))
    for i in (1, 3, 0, 2):  # any order: the white level is the folder's, not the first frame read's
        got = video.read(i)
        assert got.shape == (H, W, 1) and got.dtype == np.uint8
        np.testing.assert_array_equal(got[..., 0], _reference(frames[i], 2**bits - 1))


def test_ten_bit_frames_are_not_left_nearly_black_by_render(tmp_path):
    from egvsr.render.inputs import open_input

    frames = _frames(np.random.default_rng(0), 3, 1024)
    rec = open_input(_folder(tmp_path / "f", frames))
    img = rec.read_frame(2)
    assert img.max() == 255
    np.testing.assert_array_equal(img[..., 0], _reference(frames[2], 1023))


def test_a_folder_and_an_aedat4_stream_of_the_same_ten_bit_frames_read_alike(tmp_path):
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    from egvsr.events.io import open_events
    from tests.events.io.test_layouts import _events, write_aedat4

    frames = _frames(np.random.default_rng(1), 3, 1024)
    x, y, t, on = _events(300, W, H, t0=0, span=30_000)
    t.sort()
    packets = [(t[a:a + 100], x[a:a + 100], y[a:a + 100], on[a:a + 100]) for a in (0, 100, 200)]
    stream = [(k * 10_000 + 5_000, (k * 10_000 + 1_000, k * 10_000 + 9_000), frames[k], 2) for k in range(3)]
    write_aedat4(tmp_path / "r.aedat4", packets, W, H, frames=stream)
    video = open_video(_folder(tmp_path / "f", frames))
    with open_events(tmp_path / "r.aedat4") as src:
        for k in range(3):
            np.testing.assert_array_equal(video.read(k), src.read_frame(k))


def _level(*frames) -> int:
    level = SixteenBitLevel()
    for f in frames:
        level.add(np.asarray(f, np.uint16))
    return level.full_scale


def test_the_white_level_rule_and_rounding_against_numpy():
    assert [_level([v, 3]) for v in (0, 1, 1023, 1024, 4095, 4096, 65535)] == \
        [1023, 1023, 1023, 4095, 4095, 65535, 65535]
    assert _level() == _level([0, 0]) == 1023
    # values shifted to the top of 16 bits (libcaer, ROS mono16: 10 bits << 6) are 16-bit even when dark ...
    dark = np.arange(1, 9) << 6
    assert _level(dark[:5], dark[5:]) == 65535 and _level(dark, [1]) == 1023
    # ... but a few levels that happen to be multiples of 16 are right-aligned values (a uniform test frame)
    assert _level([512] * 4) == _level([0, 512, 768], [1008]) == 1023
    assert _level([0, 2048, 3072]) == 4095
    v = np.arange(2**16, dtype=np.uint16)
    for full in (1023, 4095, 65535):
        np.testing.assert_array_equal(sixteen_bit_to_uint8(v, full), _reference(v, full))
    np.testing.assert_array_equal(sixteen_bit_to_uint8(v, 65535), (v.astype(np.int64) + 128) // 257)


def test_dark_davis_frames_shifted_to_16_bits_are_not_brightened(tmp_path):
    """libcaer gives a DAVIS frame as its 10-bit value << 6: a dark scene (every value below 64 << 6) was read
    as a 12-bit recording, 16 times too bright, by AEDAT4; in a folder and an AEDAT4 stream it is 16-bit."""
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    from egvsr.events.io import open_events
    from tests.events.io.test_layouts import _events, write_aedat4

    rng = np.random.default_rng(4)
    frames = [(rng.integers(0, 60, (H, W)) << 6).astype(np.uint16) for _ in range(2)]
    x, y, t, on = _events(200, W, H, t0=0, span=20_000)
    t.sort()
    packets = [(t[a:a + 100], x[a:a + 100], y[a:a + 100], on[a:a + 100]) for a in (0, 100)]
    stream = [(k * 10_000 + 5_000, (k * 10_000 + 1_000, k * 10_000 + 9_000), frames[k], 2) for k in range(2)]
    write_aedat4(tmp_path / "r.aedat4", packets, W, H, frames=stream)
    video = open_video(_folder(tmp_path / "f", frames))
    with open_events(tmp_path / "r.aedat4") as src:
        for k in range(2):
            expected = _reference(frames[k], 65535)
            np.testing.assert_array_equal(src.read_frame(k)[..., 0], expected)
            np.testing.assert_array_equal(video.read(k)[..., 0], expected)


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_e2vid_images_of_16_bits_are_scaled_by_the_files_bit_depth(tmp_path, dtype):
    """An E2VID / event_utils file of `mono16` images holding 10-bit DAVIS values was refused as not uint8;
    it reads as the same frames in a folder or an AEDAT4 stream would, also once converted to our layout."""
    from egvsr.events.io import convert, open_events
    from tests.events.io.test_layouts import _events, write_e2vid

    frames = _frames(np.random.default_rng(2), 3, 1024)
    x, y, t, on = _events(300, W, H, t0=0, span=30_000)
    stored = [(img.astype(dtype), k * 10_000 + 5_000, "greyscale") for k, img in enumerate(frames)]
    write_e2vid(tmp_path / "e.h5", x, y, np.sort(t), on, stored, sensor_resolution=(H, W))
    with open_events(tmp_path / "e.h5") as src:
        assert src.frame_shape() == (H, W, 1)
        for k in (2, 0, 1):
            np.testing.assert_array_equal(src.read_frame(k)[..., 0], _reference(frames[k], 1023))
    convert(tmp_path / "e.h5", tmp_path / "ours.h5", progress=False)
    with open_events(tmp_path / "ours.h5") as ours:
        np.testing.assert_array_equal(ours.read_frame(0)[..., 0], _reference(frames[0], 1023))


def _reference_level(frames) -> int:
    """The rule of docs/io.md, written out: shifted to the top (every value a multiple of 16, 8+ distinct values)
    is 65535, else the smallest of 2**10 - 1, 2**12 - 1, 2**16 - 1 at or above the largest value."""
    values = np.concatenate([np.ravel(f) for f in frames]) if frames else np.zeros(0, np.int64)
    if values.size and not (values % 16).any() and len(np.unique(values)) >= 8:
        return 65535
    top = int(values.max(initial=0))
    return 1023 if top <= 1023 else 4095 if top <= 4095 else 65535


def test_the_white_level_is_the_documented_rule_whatever_the_frame_order():
    from hypothesis import given
    from hypothesis import strategies as st

    from tests._reliability import fuzz_settings

    value = st.one_of(st.integers(0, 2**16 - 1), st.integers(0, 1023))
    shifted = st.integers(0, 4095).map(lambda v: v & ~15)  # what a dark recording shifted to the top holds
    frame = st.one_of(st.lists(value, min_size=1, max_size=12), st.lists(shifted, min_size=1, max_size=12))

    @fuzz_settings(200)
    @given(st.lists(frame, max_size=6), st.randoms(use_true_random=False))
    def check(frames, rnd):
        expected = _reference_level(frames)
        shuffled = frames[:]
        rnd.shuffle(shuffled)
        assert _level(*frames) == _level(*shuffled) == expected

    check()
