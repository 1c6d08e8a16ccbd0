"""Row-band decoding (`render`'s fast path) computes what the per-pixel `decode` computes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from egvsr.models import build_model
from egvsr.models.fusion_transformer import PatchTransformer, fold_tokens
from egvsr.models.rows import mlp_channels_first, sample_rows
from egvsr.models.sampling import AxisGrid, Region, pixel_coords, sample_points


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("lr, out", [((7, 9), (45, 58)), ((13, 10), (13, 10)), ((5, 4), (3, 2)), ((1, 3), (4, 7))])
def test_sample_rows_matches_grid_sample(mode, lr, out) -> None:
    torch.manual_seed(0)
    img = torch.rand(2, 5, *lr)
    coords = pixel_coords(torch.arange(out[0] * out[1]), *out).unsqueeze(0).expand(2, -1, -1)
    want = sample_points(img, coords, mode).transpose(1, 2).reshape(2, 5, *out)
    for r0, r1 in [(0, out[0]), (1, min(3, out[0])), (out[0] - 1, out[0])]:
        got = sample_rows(img, (r0, r1), out, mode)
        torch.testing.assert_close(got, want[:, :, r0:r1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_sample_rows_on_a_region_matches_grid_sample(mode) -> None:
    """A piece of a larger render (tiles): rows and columns at the larger render's coordinates."""
    torch.manual_seed(0)
    img = torch.rand(2, 5, 9, 13)
    region = Region(AxisGrid(7, 2, 5, 32, 9), AxisGrid(11, 3, 8, 51, 13))  # crop context 2 and 3 LR pixels
    out = (17, 29)
    coords = pixel_coords(torch.arange(out[0] * out[1]), *out, region=region).unsqueeze(0).expand(2, -1, -1)
    want = sample_points(img, coords, mode).transpose(1, 2).reshape(2, 5, *out)
    for r0, r1 in [(0, out[0]), (4, 9)]:
        got = sample_rows(img, (r0, r1), out, mode, region=region)
        torch.testing.assert_close(got, want[:, :, r0:r1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("act", [torch.nn.ReLU(), torch.nn.LeakyReLU(0.1),
                                 torch.nn.GELU(), torch.nn.LayerNorm(5)])  # other layers: over the features
def test_mlp_channels_first_matches_linear_layers(act) -> None:
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 5), act, torch.nn.Linear(5, 3, bias=False))
    x = torch.randn(2, 11, 6)
    torch.testing.assert_close(mlp_channels_first(mlp, x.transpose(1, 2).contiguous()), mlp(x).transpose(1, 2))


def test_fold_tokens_is_fold() -> None:
    y = torch.randn(2, 7 * 5, 4 * 9)
    assert torch.equal(fold_tokens(y, 7, 5, 3), F.fold(y.transpose(1, 2), (7, 5), 3, padding=1))


def test_patch_transformer_fast_path_is_the_windowed_original() -> None:
    torch.manual_seed(0)
    pt = PatchTransformer(8, heads=2, window_tokens=40, fold="sum").eval()
    x = torch.randn(2, 8, 13, 17)
    with torch.no_grad():
        tokens = F.unfold(x, 3, padding=1).transpose(1, 2)
        parts = tokens.tensor_split(pt.windows(tokens.shape[1]), dim=1)
        want = torch.cat([pt.layers(p) for p in parts], dim=1).transpose(1, 2)
        want = F.fold(want, (13, 17), 3, padding=1)
        torch.testing.assert_close(pt(x), want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("options", [{}, {"polarities": 1, "output_activation": "none"},
                                     {"mlp_activation": "leaky_relu"}])
def test_render_on_rows_equals_forward(options) -> None:
    torch.manual_seed(0)
    model = build_model("egvsr-tiny", **options).eval()
    with torch.no_grad():
        for p in model.parameters():  # the zero-initialised residual head would hide the network
            p.add_(0.05 * torch.randn_like(p))
    assert model.decodes_rows()
    m, p = model.event_shape
    lr, ev = torch.rand(2, 3, 3, 11, 14), torch.randn(2, m, p, 11, 14)
    lr[1] = lr[1].mean(dim=1, keepdim=True)  # a gray sample: gray out
    t = torch.tensor([[-0.4, 0.9], [0.0, 1.0]])
    with torch.no_grad():
        want = model(lr, t, (37, 46), events=ev)
        for chunk in (10, 46 * 5, 1 << 16):
            torch.testing.assert_close(model.render(lr, t, (37, 46), events=ev, chunk_size=chunk), want,
                                       atol=1e-5, rtol=1e-5)


def test_models_that_change_decode_keep_the_pixel_path() -> None:
    assert not build_model("egvsr-official").decodes_rows()
    assert not build_model("egvsr-tiny", local_ensemble=True).decodes_rows()
    assert not build_model("egvsr-tiny", tf_mode="naive").decodes_rows()


@pytest.mark.parametrize("options", [{"residual_base": "linear", "time_bins": 5}, {"time_bins": 1, "moments": 1},
                                     {"window_size": 3, "tf_samples": 0}, {"num_frames": 2, "time_bins": 2},
                                     {"residual_bicubic": False, "output_activation": "relu", "max_scale": 3.0}])
@pytest.mark.parametrize("lr_size, scale", [((7, 9), 1.0), ((5, 11), 2.37), ((1, 3), None), ((6, 4), 0.5)])
def test_rows_equal_pixels_at_odd_sizes_scales_and_times(options, lr_size, scale) -> None:
    """Times at, between and off-centre of unevenly spaced frames; scale 1, non-integer, below 1 and the
    model's max_scale (None)."""
    torch.manual_seed(0)
    model = build_model("egvsr-tiny", **options).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    h, w = lr_size
    s = model.max_scale if scale is None else scale
    size = (int(h * s), int(w * s))
    if min(size) < 1:
        size = (max(1, size[0]), max(1, size[1]))
    k, (m, p) = model.num_frames, model.event_shape
    lr, ev = torch.rand(1, k, 3, h, w), torch.randn(1, m, p, h, w)
    ft = torch.linspace(-1, 1, k) ** 3  # uneven spacing, still increasing from -1 to 1
    t = torch.cat([ft, torch.tensor([0.123, float(ft[:2].mean())])]).unsqueeze(0)
    with torch.no_grad():
        want = model(lr, t, size, events=ev, frame_times=ft)
        rows = model.render(lr, t, size, events=ev, frame_times=ft, chunk_size=5)  # row bands of 1 row
        assert model.decodes_rows()
        model.decodes_rows = lambda: False  # the per-pixel decode in chunks
        chunked = model.render(lr, t, size, events=ev, frame_times=ft, chunk_size=7)
    torch.testing.assert_close(rows, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_maps_are_read_in_float32_and_returned_in_their_dtype(dtype) -> None:
    """As `sample_points`: the row path of a half model computed its layers in float32 (its samples came
    back float32), so `render` and `forward` of one half model differed in a quarter of the values."""
    torch.manual_seed(0)
    img = torch.rand(2, 5, 7, 9).to(dtype)
    out = (17, 20)
    coords = pixel_coords(torch.arange(out[0] * out[1]), *out).unsqueeze(0).expand(2, -1, -1)
    for mode in ("bilinear", "bicubic"):
        want = sample_points(img, coords, mode).transpose(1, 2).reshape(2, 5, *out)
        got = sample_rows(img, (0, out[0]), out, mode)
        assert got.dtype == want.dtype == dtype
        torch.testing.assert_close(got.float(), want.float(), atol=0.01, rtol=0)  # a half's rounding


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_model_renders_what_its_forward_computes(dtype) -> None:
    """Same layers in the same dtype on both paths: at most a few values one rounding step apart (row
    samples come back in the map's dtype, so the decoder does not run in float32 on one path only)."""
    torch.manual_seed(0)
    model = build_model("egvsr-tiny").eval()
    with torch.no_grad():
        for p in model.parameters():  # the zero-initialised residual head would hide the network
            p.add_(0.03 * torch.randn_like(p))
    model = model.to(dtype)
    lr, events, t = torch.rand(2, 3, 3, 9, 11), torch.randn(2, 8, 2, 9, 11), torch.tensor([-0.3, 0.5])
    with torch.no_grad():
        whole = model(lr, t, (23, 31), events=events)
    rendered = model.render(lr, t, (23, 31), events=events)
    assert rendered.dtype == whole.dtype == dtype
    assert (rendered != whole).float().mean() < 0.03
    torch.testing.assert_close(rendered.float(), whole.float(), atol=0.004, rtol=0)
