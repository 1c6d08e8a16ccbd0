"""The numbers of docs/render.md taken exactly, against references in integers: the 8-bit rule of the PNG and
MP4 frames (clamped to [0, 1], times 255, rounded half up) and the scale cap (`scale` up to `max_scale`, as
`eval` checks its scales)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from egvsr.errors import ConfigError
from egvsr.render.video import to_uint8


def _rule(x: np.ndarray) -> np.ndarray:
    """The documented 8-bit value of each float, in exact rational arithmetic."""
    return np.array([math.floor(min(max(Fraction(float(v)), 0), 1) * 255 + Fraction(1, 2)) for v in x.ravel()],
                    np.uint8).reshape(x.shape)


def _near_every_half() -> np.ndarray:
    """float32 values within 40 ulps of every (k + 1/2) / 255, where a rounding in float32 shows."""
    centres = np.float32((np.arange(255) + 0.5) / 255).view(np.int32)
    bits = (centres[:, None] + np.arange(-40, 41, dtype=np.int32)).ravel()
    return bits.view(np.float32)


def test_uint8_is_the_documented_rule_exactly_next_to_every_half():
    x = _near_every_half()
    x = x[: len(x) // 3 * 3].reshape(3, -1, 1)  # (3, H, 1) as the model gives a frame
    ref = _rule(np.moveaxis(x, 0, -1))
    np.testing.assert_array_equal(to_uint8(torch.from_numpy(x), rows=100), ref)
    np.testing.assert_array_equal(to_uint8(np.moveaxis(x, 0, -1)), ref)  # an (H, W, 3) array alike


def _first_at_or_above_half(k: int) -> np.float32:
    """The least float32 whose exact product with 255 is at least k + 1/2."""
    v = np.float32((k + 0.5) / 255)
    while Fraction(float(v)) * 255 < Fraction(2 * k + 1, 2):
        v = np.nextafter(v, np.float32(1))
    while Fraction(float(np.nextafter(v, np.float32(0)))) * 255 >= Fraction(2 * k + 1, 2):
        v = np.nextafter(v, np.float32(0))
    return v


@pytest.mark.parametrize("k", [0, 1, 127, 128, 200, 254])
def test_uint8_rounds_a_half_up_and_just_below_it_down(k):
    b = _first_at_or_above_half(k)
    x = np.float32([b, np.nextafter(b, np.float32(0)), -1e30, -0.0, 1.0, np.nextafter(np.float32(1), np.float32(2)), 7])
    img = np.repeat(x[:, None, None], 3, axis=2)  # (H, 1, 3), as the model's float32 output
    assert to_uint8(img)[:, 0, 0].tolist() == [k + 1, k, 0, 0, 255, 255, 255]
    chw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(img, -1, 0)))
    assert to_uint8(chw)[:, 0, 0].tolist() == [k + 1, k, 0, 0, 255, 255, 255]


def test_a_scale_above_the_cap_by_any_amount_is_refused_as_eval_refuses_it():
    from egvsr.models import build_model
    from egvsr.render.model import RenderModel

    rm = RenderModel(build_model("bicubic", max_scale=16.0).eval(), "bicubic", "ck.pt", 2)
    assert rm.check_scale(16) == 16.0
    for above in (np.nextafter(16.0, 17.0), 16.0000000005):
        with pytest.raises(ConfigError, match="above the cap"):
            rm.check_scale(above)


@pytest.mark.parametrize("fps, stored", [(1e6 / 40001 * 3, 74.998), (1e6 / 40001 * 4, 99.998), (65.537, 65.54),
                                         (131.071, 131.07), (30000 / 1001, 29.97), (12.3456789, 12.346),
                                         (65535, 65535.0), (0.0149, 0.015)])
def test_an_mp4_states_its_rate_as_precisely_as_mpeg4_holds_it(tmp_path, fps, stored):
    """The rate is kept to 3 decimals wherever MPEG-4's time base holds it in lowest terms (at most 65535
    units a second): a 25 fps clip with a frame every 40001 µs at `fps_factor` 3 played at 75 fps, not 74.998."""
    import cv2

    from egvsr.render.video import Mp4Writer

    path = tmp_path / "v.mp4"
    with Mp4Writer(path, fps, (6, 9)) as writer:
        for i in range(3):
            writer.write(np.full((6, 9, 3), 40 * i, np.uint8))
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 3
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(stored, abs=1e-9)
    finally:
        cap.release()
