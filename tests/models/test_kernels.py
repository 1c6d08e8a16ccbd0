"""The models' sampling kernels against plain numpy / loop references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.models.deform_conv import modulated_deform_conv2d
from egvsr.models.egvsr_stir import STIR
from egvsr.models.egvsr_tf import TemporalFilter
from egvsr.models.fusion_transformer import PatchTransformer, overlap_count
from egvsr.models.sampling import (bracket, nearest_frame, pixel_coords, sample_points,
                                   temporal_sample, time_to_index)


# ---- numpy references -------------------------------------------------------------------------
def np_lerp_index(t: float, steps: int, align_corners: bool) -> float:
    if steps == 1:
        return 0.0
    u = (t + 1) * (steps - 1) / 2 if align_corners else ((t + 1) * steps - 1) / 2
    return min(max(u, 0.0), steps - 1.0)


def np_bilinear(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """img (C, h, w), normalized pixel-centre point, border clamp."""
    _, h, w = img.shape
    px = min(max(((x + 1) * w - 1) / 2, 0.0), w - 1.0)
    py = min(max(((y + 1) * h - 1) / 2, 0.0), h - 1.0)
    x0, y0 = int(math.floor(px)), int(math.floor(py))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = px - x0, py - y0
    return ((1 - ax) * (1 - ay) * img[:, y0, x0] + ax * (1 - ay) * img[:, y0, x1]
            + (1 - ax) * ay * img[:, y1, x0] + ax * ay * img[:, y1, x1])


def np_cubic(d: float, a: float = -0.75) -> float:
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def np_bicubic(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Keys cubic (A = -0.75), pixel centres, replicated border per tap."""
    _, h, w = img.shape
    px, py = ((x + 1) * w - 1) / 2, ((y + 1) * h - 1) / 2
    x0, y0 = int(math.floor(px)), int(math.floor(py))
    out = np.zeros(img.shape[0])
    for j in range(y0 - 1, y0 + 3):
        for i in range(x0 - 1, x0 + 3):
            wgt = np_cubic(px - i) * np_cubic(py - j)
            out += wgt * img[:, min(max(j, 0), h - 1), min(max(i, 0), w - 1)]
    return out


def np_deform_conv(x, offset, mask, weight, bias, groups):
    """Direct loops: DCNv2 semantics (bilinear, zero outside the image)."""
    b, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    cg = c // groups
    out = np.zeros((b, c_out, h, w))

    def read(img, yy, xx):
        if yy <= -1 or yy >= h or xx <= -1 or xx >= w:
            return 0.0
        y0, x0 = math.floor(yy), math.floor(xx)
        val = 0.0
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            yi, xi = y0 + dy, x0 + dx
            if 0 <= yi < h and 0 <= xi < w:
                val += (1 - abs(yy - yi)) * (1 - abs(xx - xi)) * img[yi, xi]
        return val

    for n in range(b):
        for i in range(h):
            for j in range(w):
                for ci in range(c):
                    g = ci // cg
                    for a in range(kh):
                        for bb in range(kw):
                            k = a * kw + bb
                            dy = offset[n, (g * kh * kw + k) * 2, i, j]
                            dx = offset[n, (g * kh * kw + k) * 2 + 1, i, j]
                            v = read(x[n, ci], i + a - kh // 2 + dy, j + bb - kw // 2 + dx)
                            out[n, :, i, j] += weight[:, ci, a, bb] * v * mask[n, g * kh * kw + k, i, j]
    return out + bias.reshape(1, -1, 1, 1)


# ---- tests ------------------------------------------------------------------------------------
def test_pixel_coords_are_centres():
    c = pixel_coords(torch.arange(12), 3, 4)
    assert torch.allclose(c[:4, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(c[::4, 1], torch.tensor([-2 / 3, 0.0, 2 / 3]))


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(1, 9), align=st.booleans(), seed=st.integers(0, 2**16))
def test_temporal_sample_matches_numpy(steps, align, seed):
    rng = np.random.default_rng(seed)
    vol = rng.normal(size=(2, steps, 3, 2, 2)).astype(np.float32)
    t = rng.uniform(-1.2, 1.2, size=(2, 4)).astype(np.float32)
    got = temporal_sample(torch.from_numpy(vol), torch.from_numpy(t), align).numpy()
    for b in range(2):
        for s in range(4):
            u = np_lerp_index(float(t[b, s]), steps, align)
            i0 = int(math.floor(u))
            i1 = min(i0 + 1, steps - 1)
            ref = vol[b, i0] * (1 - (u - i0)) + vol[b, i1] * (u - i0)
            np.testing.assert_allclose(got[b, s], ref, rtol=1e-5, atol=1e-5)


def test_time_to_index_conventions():
    t = torch.tensor([-1.0, 0.0, 1.0])
    assert torch.allclose(time_to_index(t, 3, True), torch.tensor([0.0, 1.0, 2.0]))
    # bin centres of 4 equal bins over [-1, 1] are at -0.75, -0.25, 0.25, 0.75
    assert torch.allclose(time_to_index(torch.tensor([-0.75, 0.75]), 4, False), torch.tensor([0.0, 3.0]))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_sample_points_matches_numpy(mode):
    rng = np.random.default_rng(1)
    img = rng.normal(size=(1, 2, 4, 5)).astype(np.float32)
    pts = rng.uniform(-1.3, 1.3, size=(1, 40, 2)).astype(np.float32)
    got = sample_points(torch.from_numpy(img), torch.from_numpy(pts), mode).numpy()
    ref_fn = np_bilinear if mode == "bilinear" else np_bicubic
    if mode == "bicubic":  # bicubic extrapolates outside the centres; keep points inside the image
        pts = np.clip(pts, -1, 1)
        got = sample_points(torch.from_numpy(img), torch.from_numpy(pts), mode).numpy()
    for q in range(pts.shape[1]):
        np.testing.assert_allclose(got[0, q], ref_fn(img[0], *pts[0, q]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(14, 20), (23, 31), (7, 10), (5, 3)])
def test_point_sampling_equals_interpolate(mode, size):
    img = torch.rand(2, 3, 7, 10)
    h, w = size
    pts = pixel_coords(torch.arange(h * w), h, w).expand(2, -1, -1)
    got = sample_points(img, pts, mode).transpose(1, 2).reshape(2, 3, h, w)
    ref = F.interpolate(img, size=size, mode=mode, align_corners=False)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_bracket_and_nearest_frame():
    ft = torch.tensor([[-1.0, 0.0, 1.0]])
    t = torch.tensor([[-1.0, -0.5, 0.0, 0.25, 1.0, 0.5]])
    p, u = bracket(ft, t)
    assert p.tolist() == [[0, 0, 1, 1, 1, 1]]
    assert torch.allclose(u, torch.tensor([[0.0, 0.5, 0.0, 0.25, 1.0, 0.5]]))
    assert nearest_frame(ft, t).tolist() == [[0, 0, 1, 1, 2, 1]]  # tie at 0.5 -> earlier frame


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(0, 5), half=st.floats(0.0, 0.5),
       polarities=st.integers(1, 2), moments=st.integers(1, 7))
def test_tf_separable_equals_naive_trilinear(seed, n, half, polarities, moments):
    g = torch.Generator().manual_seed(seed)
    tf = TemporalFilter(polarities, n, half, hidden=4, layers=2, out_channels=3)
    events = torch.rand(2, moments, polarities, 5, 6, generator=g) * 4
    t = torch.rand(2, generator=g) * 2.2 - 1.1
    t[0] = 1.0  # samples clamped at the window edge
    t = t.clamp(-1, 1)
    coords = torch.rand(2, 50, 2, generator=g) * 2.4 - 1.2
    sep = tf.samples_separable(tf.prepare(events, t), coords)
    naive = tf.samples_naive(events, t, coords)
    torch.testing.assert_close(sep, naive, rtol=1e-5, atol=1e-5)


def test_stir_separable_sampling_equals_numpy_trilinear():
    rng = np.random.default_rng(2)
    vol = rng.normal(size=(1, 3, 2, 4, 5)).astype(np.float32)  # (B, T, C, h, w)
    t = np.float32(0.37)
    pts = rng.uniform(-1, 1, size=(1, 30, 2)).astype(np.float32)
    latent = STIR.at_time(torch.from_numpy(vol), torch.tensor([t]))
    got = sample_points(latent, torch.from_numpy(pts)).numpy()
    u = np_lerp_index(float(t), 3, True)
    i0 = int(math.floor(u))
    for q in range(30):
        a = np_bilinear(vol[0, i0], *pts[0, q])
        b = np_bilinear(vol[0, i0 + 1], *pts[0, q])
        np.testing.assert_allclose(got[0, q], a * (1 - (u - i0)) + b * (u - i0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups, size", [(1, (3, 4)), (2, (4, 5)), (2, (1, 3))])
def test_deform_conv_matches_loop_reference(groups, size):
    rng = np.random.default_rng(3)
    h, w = size
    x = rng.normal(size=(2, 4, h, w))
    offset = rng.normal(scale=1.5, size=(2, 2 * groups * 9, h, w))
    offset[0, 0, 0, 0] = -1.0  # exactly on a pixel / exactly one step outside
    mask = rng.uniform(size=(2, groups * 9, h, w))
    weight = rng.normal(size=(3, 4, 3, 3))
    bias = rng.normal(size=3)
    t = lambda a: torch.from_numpy(a).double()  # noqa: E731
    got = modulated_deform_conv2d(t(x), t(offset), t(mask), t(weight), t(bias), groups).numpy()
    np.testing.assert_allclose(got, np_deform_conv(x, offset, mask, weight, bias, groups), rtol=1e-9, atol=1e-9)


def test_deform_conv_zero_offset_is_plain_conv():
    x, wgt, bias = torch.rand(1, 8, 6, 7), torch.rand(5, 8, 3, 3), torch.rand(5)
    off = torch.zeros(1, 2 * 4 * 9, 6, 7)
    out = modulated_deform_conv2d(x, off, torch.ones(1, 4 * 9, 6, 7), wgt, bias, groups=4)
    torch.testing.assert_close(out, F.conv2d(x, wgt, bias, padding=1), rtol=1e-5, atol=1e-5)


def test_deform_conv_matches_torchvision_if_installed():
    ops = pytest.importorskip("torchvision.ops")
    x, wgt = torch.rand(1, 4, 5, 6), torch.rand(3, 4, 3, 3)
    off, mask = torch.randn(1, 2 * 2 * 9, 5, 6), torch.rand(1, 2 * 9, 5, 6)
    ref = ops.deform_conv2d(x, off, wgt, None, padding=1, mask=mask)
    torch.testing.assert_close(modulated_deform_conv2d(x, off, mask, wgt, None, 2), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [(1, 1), (2, 5), (7, 4)])
def test_overlap_count_equals_fold_of_ones(size):
    ones = torch.ones(1, 1, *size)
    ref = F.fold(F.unfold(ones, 3, padding=1), size, 3, padding=1)
    assert torch.equal(overlap_count(*size, 3, ones.device, ones.dtype), ref)


def test_patch_transformer_mean_fold_is_identity_for_null_layers():
    block = PatchTransformer(4, heads=2, window_tokens=7, fold="mean")
    for layer in block.layers:
        torch.nn.init.zeros_(layer.attn.proj.weight), torch.nn.init.zeros_(layer.attn.proj.bias)
        torch.nn.init.zeros_(layer.mlp[2].weight), torch.nn.init.zeros_(layer.mlp[2].bias)
    x = torch.rand(2, 4, 5, 9)
    torch.testing.assert_close(block(x), x)
    block.fold = "sum"
    torch.testing.assert_close(block(x), x * overlap_count(5, 9, 3, x.device, x.dtype))


def test_patch_transformer_windows_are_local_and_size_agnostic():
    torch.manual_seed(0)
    block = PatchTransformer(4, heads=2, window_tokens=20)
    assert PatchTransformer(64, window_tokens=1400).windows(65 * 86) == 4  # the official 4 stripes
    x = torch.rand(1, 4, 10, 8)  # 80 tokens -> 4 windows of 20 = rows 0-2.5, 2.5-5, ...
    y = block(x)
    x2 = x.clone()
    x2[0, :, 0, 0] += 1.0  # perturb a pixel of the first window
    y2 = block(x2)
    changed = (y2 - y).abs().sum(1)[0] > 0
    # window 0 holds tokens of rows 0-2; folding reaches one row further; nothing below row 3 moves
    assert changed[:3].all() and not changed[4:].any()
    for size in [(3, 3), (11, 13), (1, 7)]:
        assert block(torch.rand(1, 4, *size)).shape == (1, 4, *size)


def test_attention_kernels_agree():
    torch.manual_seed(0)
    block = PatchTransformer(4, heads=2, window_tokens=9)
    x = torch.rand(1, 4, 5, 7)
    fused = block(x)
    for layer in block.layers:
        layer.attn.kernel = "math"
    torch.testing.assert_close(block(x), fused, rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), H=st.integers(1, 40), W=st.integers(1, 40),
       seed=st.integers(0, 2**16))
def test_nearest_index_and_cells_follow_the_pixel_cell_convention(h, w, H, W, seed):
    from egvsr.models.sampling import index_centers, nearest_index, pixel_cells
    # reference from the convention: LR pixel j of n covers normalized [2j/n - 1, 2(j+1)/n - 1), clamped
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1.4, 1.4, size=(50, 2))
    iy, ix = nearest_index(torch.from_numpy(pts), h, w)
    ref_x = np.clip(np.floor((pts[:, 0] + 1) * w / 2), 0, w - 1)
    ref_y = np.clip(np.floor((pts[:, 1] + 1) * h / 2), 0, h - 1)
    assert ix.tolist() == ref_x.astype(int).tolist() and iy.tolist() == ref_y.astype(int).tolist()
    centres = index_centers(iy, ix, h, w, torch.float64).numpy()
    np.testing.assert_allclose(centres[:, 0], (2 * ref_x + 1) / w - 1, atol=1e-12)
    np.testing.assert_allclose(centres[:, 1], (2 * ref_y + 1) / h - 1, atol=1e-12)
    # output pixel centres: exact integer cells, (2i + 1) * n // (2 * N) (a centre on a border takes the later)
    pix = torch.arange(H * W)
    cy, cx = pixel_cells(pix, H, W, h, w)
    assert cy.tolist() == [min((2 * (q // W) + 1) * h // (2 * H), h - 1) for q in range(H * W)]
    assert cx.tolist() == [min((2 * (q % W) + 1) * w // (2 * W), w - 1) for q in range(H * W)]
