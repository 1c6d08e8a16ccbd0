"""Tiles and ROI context: cuts aligned to the output grid, and a bicubic model gives identical pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.render.tiles import DECODE_REACH, plan_axis, plan_tiles, render_region
from egvsr.errors import ConfigError
from egvsr.models import build_model
from egvsr.models.sampling import AxisGrid, Region


def _grid(lo: int, n_lr: int, n_out: int, count: int, start: int = 0) -> np.ndarray:
    """LR coordinates of output pixel centres of a render of LR [lo, lo+n_lr) to n_out pixels."""
    j = np.arange(start, start + count)
    return lo + (j + 0.5) * n_lr / n_out - 0.5


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 400), st.floats(0.3, 9.0), st.integers(0, 90), st.integers(0, 90), st.data())
def test_axis_pieces_cover_the_core_on_its_grid_with_the_context(n, scale, tile, margin, data):
    full = data.draw(st.integers(n, n + 50))
    c0 = data.draw(st.integers(0, full - n))
    out = max(1, math.floor(scale * n))
    tile = tile if tile == 0 or tile >= 8 else 8
    pieces = plan_axis(full, c0, n, out, tile, margin)
    if tile and tile < n:  # tiled whatever the scale: q = n / gcd(n, out) does not matter
        assert len(pieces) == min(out, -(-n // tile))
    dst = 0
    for p in pieces:
        assert p.dst == dst and p.n >= 1
        dst += p.n
        assert 0 <= p.lo < p.hi <= full
        a = c0 + (p.dst * n) // out                    # the LR footprint of the piece's output pixels
        b = c0 - (-((p.dst + p.n) * n) // out)
        reach = max(margin, DECODE_REACH)  # the context, never dropped, and at least what decoding reads
        assert a - p.lo == min(reach, a) and p.hi - b == min(reach, full - b)
        if tile and tile < n:
            assert b - a <= tile + -(-n // out) + 1  # about the tile: whole output pixels
        # on the given grid, the kept pixels sit exactly where the whole-core render puts them
        ours = p.lo + _from_grid(p.grid(), p.n)
        np.testing.assert_allclose(ours, _grid(c0, n, out, p.n, p.dst), atol=1e-9)
        length, src = p.own_grid()
        assert 0 <= src and src + p.n <= length
        q = n // math.gcd(n, out)
        if (c0 - p.lo) % q == 0 and (p.hi - p.lo) % q == 0:  # on the grid: the own grid is exact too
            np.testing.assert_allclose(_grid(p.lo, p.hi - p.lo, length, p.n, src), _grid(c0, n, out, p.n, p.dst),
                                       atol=1e-9)
    assert dst == out


def _from_grid(grid, count: int) -> np.ndarray:
    """LR positions (relative to the crop) of a piece's first `count` pixels on its given grid."""
    u = grid.normalized(torch.arange(count), torch.float64).numpy()
    return ((u + 1) * grid.crop_len - 1) / 2


def test_tile_and_context_arguments_are_checked():
    with pytest.raises(ConfigError, match="`tile` 3"):
        plan_tiles((20, 20), (0, 0, 20, 20), (40, 40), tile=3)
    with pytest.raises(ConfigError, match="`context` -1"):
        plan_tiles((20, 20), (0, 0, 20, 20), (40, 40), margin=-1)


def _inputs(h=24, w=30, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, k, 3, h, w, generator=g)
    return lr, torch.linspace(-1, 1, k)[None], torch.tensor([[-0.2, 0.3]])


# float32 rounding: the whole render's own coordinates are ~1e-5 LR pixels off on a 346-pixel axis
# (it is 2e-5 from a float64 render there, the tiles no further), hence a looser bound for wide frames
@pytest.mark.parametrize("size, scale, tile, context, atol", [
    ((24, 30), 2.5, 8, 4, 4e-6), ((24, 30), 6.5, 12, 4, 4e-6), ((24, 30), 3.0, 10, 4, 4e-6),
    ((20, 346), 6.4, 64, 16, 5e-5),   # q = 173: tiles once had no overlap (a 0.47 seam)
    ((20, 346), 4.3, 64, 16, 5e-5),   # q = 346: the axis was once not tiled at all
    ((20, 346), 6.4, 64, 87, 5e-5),
    # no context: the tiles still hold the pixels bicubic's taps read beyond them (a seam of 0.38 once)
    ((24, 30), 3.0, 8, 0, 4e-6), ((24, 30), 2.5, 9, 1, 4e-6), ((24, 30), 0.7, 8, 0, 4e-6),
    ((23, 31), 10 / 3, 8, 0, 4e-6)])
def test_tiled_bicubic_equals_whole_frame(size, scale, tile, context, atol):
    model = build_model("bicubic")
    lr, ft, times = _inputs(*size)
    out = (math.floor(scale * size[0]), math.floor(scale * size[1]))
    whole = model.render(lr, times, out, frame_times=ft)[0]
    tiles = plan_tiles(size, (0, 0) + tuple(size), out, tile=tile, margin=context)
    assert len({(t.x.lo, t.x.hi) for t in tiles}) == -(-size[1] // tile)
    assert max(t.x.hi - t.x.lo for t in tiles) <= tile + 2 * max(context, DECODE_REACH) + 2
    tiled = render_region(model, lr, times, None, ft, tiles, out, 4096)
    torch.testing.assert_close(tiled, whole, atol=atol, rtol=0)


def _roi_reference(model, lr, ft, times, core, out):
    """The ROI read from the whole LR frame (the encoder sees everything) on the ROI's own grid."""
    (h, w), (y, x, ch, cw) = lr.shape[-2:], core
    region = Region(AxisGrid(0, y, ch, out[0], h), AxisGrid(0, x, cw, out[1], w))
    return model.render(lr, times, out, frame_times=ft, region=region)[0]


@pytest.mark.parametrize("size, scale, core, context", [((24, 30), 2.0, (5, 7, 9, 11), 4),
                                                        ((40, 346), 6.4, (9, 101, 13, 57), 16),
                                                        ((40, 346), 4.3, (0, 300, 40, 46), 87),
                                                        ((24, 30), 2.5, (5, 7, 9, 11), 0)])
def test_roi_with_context_is_the_roi_of_the_whole_frame(size, scale, core, context):
    model = build_model("bicubic")
    lr, ft, times = _inputs(*size)
    out = (math.floor(scale * core[2]), math.floor(scale * core[3]))
    tiles = plan_tiles(size, core, out, tile=0, margin=context)
    (t,) = tiles
    y, x, h, w = core
    c = max(context, DECODE_REACH)  # at least what decoding reads beyond the box
    assert (t.y.lo, t.y.hi, t.x.lo, t.x.hi) == (max(0, y - c), min(size[0], y + h + c),
                                                max(0, x - c), min(size[1], x + w + c))
    roi = render_region(model, lr, times, None, ft, tiles, out, 4096)
    torch.testing.assert_close(roi, _roi_reference(model, lr, ft, times, core, out), atol=5e-5, rtol=0)
    if scale == 2.0:  # on the whole frame's grid: the crop of the whole render
        whole = model.render(lr, times, (48, 60), frame_times=ft)[0]
        torch.testing.assert_close(roi, whole[:, :, 2 * y:2 * (y + h), 2 * x:2 * (x + w)], atol=4e-6, rtol=0)


def _perturbed(name, **options):
    torch.manual_seed(0)
    model = build_model(name, **options).eval()
    with torch.no_grad():
        for p in model.parameters():  # the zero-initialised residual head would hide the network
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
def test_tiled_model_has_the_right_shape_and_stays_close(name):
    model = _perturbed(name)
    assert model.supports_region
    lr, ft, times = _inputs(20, 26)
    events = torch.rand(1, 8, 2, 20, 26) if model.uses_events else None
    out = (math.floor(6.4 * 20), math.floor(6.4 * 26))
    whole = model.render(lr, times, out, events=events, frame_times=ft)[0]
    tiles = plan_tiles((20, 26), (0, 0, 20, 26), out, tile=10, margin=6)
    tiled = render_region(model, lr, times, events, ft, tiles, out, 8192)
    assert tiled.shape == whole.shape == (2, 3, 128, 166)
    assert float((tiled - whole).abs().mean()) < 0.05  # only the encoder's view differs
    # the encoder seeing the whole frame, a region decodes exactly the whole render's pixels
    region = Region(AxisGrid(10, 0, 20, 128, 20), AxisGrid(3, 0, 26, 166, 26))
    part = model.render(lr, times, (40, 70), events=events, frame_times=ft, region=region)[0]
    torch.testing.assert_close(part, whole[:, :, 10:50, 3:73], atol=1e-4, rtol=0)


def test_a_model_on_its_own_grid_is_tiled_at_the_nearest_output_size():
    model = _perturbed("egvsr-official", n_feats=8, inr_channels=8, moments=8, lcb_depth=1, heads=2,
                       tf_samples=2, tf_hidden=16)
    assert not model.supports_region
    lr, ft, times = _inputs(20, 26)
    events = torch.rand(1, 8, 2, 20, 26)
    with pytest.raises(ConfigError, match="region: EGVSROfficial decodes on its own output grid"):
        model.render(lr, times, (10, 10), events=events, frame_times=ft,
                     region=Region(AxisGrid(0, 0, 20, 40, 20), AxisGrid(0, 0, 26, 52, 26)))
    out = (math.floor(6.4 * 20), math.floor(6.4 * 26))
    tiles = plan_tiles((20, 26), (0, 0, 20, 26), out, tile=10, margin=6)
    tiled = render_region(model, lr, times, events, ft, tiles, out, 8192)
    whole = model.render(lr, times, out, events=events, frame_times=ft)[0]
    assert tiled.shape == whole.shape and float((tiled - whole).abs().mean()) < 0.05


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
def test_a_gray_patch_of_a_colour_frame_is_not_made_gray_by_tiling(name):
    """Gray out is decided by the whole frame: a tile cut from a gray area of a colour frame keeps the
    colours the model gives it (as the whole-frame render does), and a gray frame stays gray in every tile."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():  # weights that colour a gray input (an initial residual of zero would not)
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    k = 3 if name == "egvsr-tiny" else 2
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, k, 1, 24, 40, generator=g).expand(1, k, 3, 24, 40).clone()  # gray everywhere ...
    lr[..., 30:] = torch.rand(1, k, 3, 24, 10, generator=g)  # ... but the right quarter, which is colour
    events = (torch.randn(1, *model.event_shape, 24, 40, generator=g) if model.uses_events else None)
    times = torch.tensor([[0.0]])
    frame_times = torch.linspace(-1, 1, k).unsqueeze(0)
    tiles = plan_tiles((24, 40), (0, 0, 24, 40), (48, 80), tile=10, margin=4)
    tiled = render_region(model, lr, times, events, frame_times, tiles, (48, 80), 4096)
    left = tiled[:, :, :, :40]  # from tiles that saw only gray LR pixels (and their context)
    assert (left[:, 0] - left[:, 2]).abs().max() > 1e-4, "a gray tile of a colour frame was forced gray"
    gray_lr = lr[:, :, :1].expand_as(lr).contiguous()
    out = render_region(model, gray_lr, times, events, frame_times, tiles, (48, 80), 4096)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_render_refuses_a_gray_flag_that_is_not_a_bool():
    model = build_model("bicubic").eval()
    with pytest.raises(ConfigError, match="`gray`"):
        model.render(torch.rand(1, 2, 3, 8, 8), torch.tensor([[0.0]]), (16, 16), gray="yes")


def test_a_render_tiled_without_context_is_the_whole_frame_render(tmp_path):
    """`render --tile 8 --context 0` with a bicubic checkpoint: the same frames as untiled (a 0.38 seam once,
    where a tile's edge pixels lacked the LR pixels bicubic's taps read beyond it)."""
    from egvsr.events.simulate import make_sample
    from egvsr.render import render
    from egvsr.render.model import save_untrained

    rec = make_sample(tmp_path / "clip.h5", seed=2, seconds=0.08, size=(20, 28), fps=25.0, progress=False)
    ck = save_untrained("bicubic", tmp_path / "bicubic.pt")
    frames = {}
    for tile, context in ((0, 16), (8, 0), (9, 1)):
        got = []
        render(rec, ck, scale=2.5, fps_factor=2, tile=tile, context=context, progress=False, log=None,
               on_frame=lambda fr: got.append(fr.ours.clone()))
        frames[tile, context] = torch.stack(got)
    whole = frames.pop((0, 16))
    assert whole.shape[-2:] == (50, 70)
    for tiled in frames.values():
        torch.testing.assert_close(tiled, whole, atol=4e-6, rtol=0)


def test_contexts_help_states_the_least_margin_tiles_hold():
    # --context 0 still gives a tile the DECODE_REACH pixels decoding reads: the help said only "margin"
    from egvsr.cli import build_parser
    from egvsr.render.tiles import DECODE_REACH

    render = build_parser().parse_args(["models"]).commands["render"]
    action = next(a for a in render._actions if "--context" in a.option_strings)
    assert f"at least {DECODE_REACH}, what decoding reads" in action.help
