"""Tiles and ROI context: cuts aligned to the output grid, and a bicubic model gives identical pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.render.tiles import plan_axis, plan_tiles, render_region
from egvsr.errors import ConfigError
from egvsr.models import build_model


def _grid(lo: int, n_lr: int, n_out: int, count: int, start: int = 0) -> np.ndarray:
    """LR coordinates of output pixel centres of a render of LR [lo, lo+n_lr) to n_out pixels."""
    j = np.arange(start, start + count)
    return lo + (j + 0.5) * n_lr / n_out - 0.5


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 80), st.floats(0.3, 9.0), st.integers(0, 40), st.integers(0, 40), st.data())
def test_axis_pieces_cover_the_core_on_its_own_grid(n, scale, tile, margin, data):
    full = data.draw(st.integers(n, n + 50))
    c0 = data.draw(st.integers(0, full - n))
    out = max(1, math.floor(scale * n))
    tile = tile if tile == 0 or tile >= 8 else 8
    pieces = plan_axis(full, c0, n, out, tile, margin)
    dst = 0
    for p in pieces:
        assert p.dst == dst and p.n >= 1
        dst += p.n
        assert 0 <= p.lo < p.hi <= full
        assert p.out_len * n == (p.hi - p.lo) * out  # the piece keeps the core's exact scale
        assert 0 <= p.src and p.src + p.n <= p.out_len
        # the kept pixels sit exactly where the whole-core render puts them
        ours = _grid(p.lo, p.hi - p.lo, p.out_len, p.n, p.src)
        ref = _grid(c0, n, out, p.n, p.dst)
        np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert dst == out


def test_tile_and_context_arguments_are_checked():
    with pytest.raises(ConfigError, match="`tile` 3"):
        plan_tiles((20, 20), (0, 0, 20, 20), (40, 40), tile=3)
    with pytest.raises(ConfigError, match="`context` -1"):
        plan_tiles((20, 20), (0, 0, 20, 20), (40, 40), margin=-1)


def _inputs(h=24, w=30, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, k, 3, h, w, generator=g)
    return lr, torch.linspace(-1, 1, k)[None], torch.tensor([[-0.2, 0.3]])


@pytest.mark.parametrize("scale, tile", [(2.5, 8), (6.5, 12), (3.0, 10)])
def test_tiled_bicubic_equals_whole_frame(scale, tile):
    model = build_model("bicubic")
    lr, ft, times = _inputs()
    out = (math.floor(scale * 24), math.floor(scale * 30))
    whole = model.render(lr, times, out, frame_times=ft)[0]
    tiles = plan_tiles((24, 30), (0, 0, 24, 30), out, tile=tile, margin=4)
    assert len(tiles) > 1
    tiled = render_region(model, lr, times, None, ft, tiles, out, 4096)
    torch.testing.assert_close(tiled, whole, atol=2e-5, rtol=0)


def test_roi_with_context_is_the_crop_of_the_whole_render():
    model = build_model("bicubic")
    lr, ft, times = _inputs()
    whole = model.render(lr, times, (48, 60), frame_times=ft)[0]  # x2
    y, x, h, w = 5, 7, 9, 11
    tiles = plan_tiles((24, 30), (y, x, h, w), (2 * h, 2 * w), tile=0, margin=4)
    roi = render_region(model, lr, times, None, ft, tiles, (2 * h, 2 * w), 4096)
    torch.testing.assert_close(roi, whole[:, :, 2 * y:2 * (y + h), 2 * x:2 * (x + w)], atol=2e-5, rtol=0)


def test_tiled_egvsr_has_the_right_shape_and_stays_close():
    torch.manual_seed(0)
    model = build_model("egvsr-tiny").eval()
    lr, ft, times = _inputs(20, 26)
    events = torch.rand(1, 8, 2, 20, 26)
    out = (math.floor(6.5 * 20), math.floor(6.5 * 26))
    whole = model.render(lr, times, out, events=events, frame_times=ft)[0]
    tiles = plan_tiles((20, 26), (0, 0, 20, 26), out, tile=10, margin=6)
    tiled = render_region(model, lr, times, events, ft, tiles, out, 8192)
    assert tiled.shape == whole.shape == (2, 3, 130, 169)
    assert float((tiled - whole).abs().mean()) < 0.05  # only the encoder's view differs
