"""Degradation and geometry: antialiased bicubic at the crop's exact factor, crop rules, pattern alignment."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.datasets.degrade import downscale, image_to_tensor
from egvsr.datasets.geometry import (
    CropGeometry, cell_size, frame_geometry, hr_size, lr_size_for_frame, patch_geometry, query_grid,
)
from egvsr.errors import ConfigError

# ---- plain numpy reference of antialiased bicubic (Keys a = -0.5, kernel widened by the factor) ----


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def aa_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: output pixel i centred at input coordinate (i + 0.5)·n_in/n_out."""
    scale = n_in / n_out
    s = max(scale, 1.0)
    j = np.arange(n_in) + 0.5
    centre = (np.arange(n_out) + 0.5) * scale
    wts = _cubic((j[None, :] - centre[:, None]) / s)
    wts[np.abs(j[None, :] - centre[:, None]) >= 2 * s] = 0
    return wts / wts.sum(axis=1, keepdims=True)


def reference_downscale(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(C, H, W) float → (C, h, w) by separable antialiased bicubic, clamped to [0, 1]."""
    ry = aa_bicubic_matrix(img.shape[1], size[0])
    rx = aa_bicubic_matrix(img.shape[2], size[1])
    return np.clip(np.einsum("ij,cjk,lk->cil", ry, img, rx), 0, 1)


@pytest.mark.parametrize("scale", [1.0, 2.0, 3.7, 4.0, 6.5])
def test_downscale_matches_reference(scale):
    h, w = 9, 11
    H, W = hr_size(h, w, scale)
    img = np.random.default_rng(0).random((3, H, W))
    got = downscale(torch.from_numpy(img).float(), (h, w), quantize=False).numpy()
    np.testing.assert_allclose(got, reference_downscale(img, (h, w)), atol=2e-5)
    q = downscale(torch.from_numpy(img).float(), (h, w)).numpy()
    np.testing.assert_allclose(q * 255, np.round(q * 255), atol=1e-4)  # 8-bit levels
    assert q.min() >= 0 and q.max() <= 1


@pytest.mark.parametrize("scale", [2.0, 3.7, 6.5])
def test_gaussian_blob_lands_at_mapped_position(scale):
    """A blob at HR (yc, xc) appears in LR at (yc - y0 + 0.5)·h/H - 0.5, the documented map."""
    height, width = 120, 150
    geom = frame_geometry(height, width, scale)
    yy, xx = np.mgrid[0:height, 0:width]
    yc, xc = 57.3, 81.6
    blob = np.exp(-((yy - yc) ** 2 + (xx - xc) ** 2) / (2 * (2.5 * scale) ** 2))
    rows, cols = geom.hr_slices()
    crop = torch.from_numpy(blob[rows, cols][None]).float()
    lr = downscale(crop, (geom.h, geom.w), quantize=False)[0].numpy()
    ly, lx = np.mgrid[0:geom.h, 0:geom.w]
    got = (lr * ly).sum() / lr.sum(), (lr * lx).sum() / lr.sum()
    exp_x, exp_y = geom.sensor_to_lr(np.array([xc]), np.array([yc]))
    assert got[0] == pytest.approx(exp_y[0], abs=0.03)
    assert got[1] == pytest.approx(exp_x[0], abs=0.03)


def test_image_to_tensor_gray_and_rgb():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    t = image_to_tensor(gray)
    assert t.shape == (3, 3, 4) and t.dtype == torch.float32
    assert torch.equal(t[0], t[2]) and float(t.max()) == pytest.approx(11 / 255)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 255
    assert image_to_tensor(rgb)[1].min() == 1.0 and image_to_tensor(rgb)[0].max() == 0.0


@settings(max_examples=60, deadline=None)
@given(H=st.integers(1, 24), W=st.integers(1, 24), data=st.data())
def test_downscale_matches_reference_at_every_size(H, W, data):
    """Every LR size, one-pixel sides included: torch's antialiased bicubic gave every row of a one-pixel-wide
    output the first row's value (a patch_size of (h, 1) had constant LR columns)."""
    h, w = data.draw(st.integers(1, H)), data.draw(st.integers(1, W))
    img = np.random.default_rng(H * 100 + W).random((3, H, W))
    got = downscale(torch.from_numpy(img).float(), (h, w), quantize=False).numpy()
    np.testing.assert_allclose(got, reference_downscale(img, (h, w)), atol=2e-5)


@pytest.mark.parametrize("H,h", [(9, 4), (14, 3), (3, 2)])
def test_downscale_one_pixel_wide_output_is_no_copy_of_its_first_row(H, h):
    img = np.linspace(0.0, 1.0, 3 * H).reshape(3, H, 1)
    got = downscale(torch.from_numpy(img).float(), (h, 1), quantize=False).numpy()
    np.testing.assert_allclose(got, reference_downscale(img, (h, 1)), atol=2e-5)
    assert (np.diff(got[..., 0], axis=-1) > 0).all()  # a ramp stays a ramp
    rot = downscale(torch.from_numpy(img.transpose(0, 2, 1).copy()).float(), (1, h), quantize=False).numpy()
    np.testing.assert_allclose(got[..., 0], rot[:, 0], atol=1e-6)  # the same resize, either orientation


def test_downscale_rejects_upscaling():
    with pytest.raises(ConfigError, match="smaller than the LR size"):
        downscale(torch.zeros(3, 4, 4), (8, 8))


# ---- geometry ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(height=st.integers(8, 400), width=st.integers(8, 400), scale=st.floats(1.0, 8.0))
def test_frame_geometry_lr_size_rule(height, width, scale):
    if min(height, width) < scale:
        with pytest.raises(ConfigError):
            frame_geometry(height, width, scale)
        return
    g = frame_geometry(height, width, scale)
    s = Fraction(repr(scale))  # the scale as written: exact products
    assert (g.H, g.W) == (math.floor(s * g.h), math.floor(s * g.w))
    assert s * g.h <= height < s * (g.h + 1) and s * g.w <= width < s * (g.w + 1)  # LR size = floor(height / s)
    assert g.H <= height and g.W <= width
    # LR size = floor(height / s): s·h fits, s·(h + 1) does not
    assert scale * g.h <= height + 1e-9 and scale * (g.h + 1) > height - 1e-9
    assert scale * g.w <= width + 1e-9 and scale * (g.w + 1) > width - 1e-9
    assert 0 <= g.y0 <= height - g.H and 0 <= g.x0 <= width - g.W
    assert abs(g.scale_eff[0] - scale) < scale / g.h + 1e-9  # effective scale H/h ≈ s


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(1.0, 4.0), seed=st.integers(0, 1000))
def test_patch_geometry_inside_frame(scale, seed):
    g = patch_geometry(260, 346, 64, scale, np.random.default_rng(seed))
    assert (g.h, g.w) == (64, 64) and (g.H, g.W) == hr_size(64, 64, scale)
    assert 0 <= g.y0 and g.y0 + g.H <= 260 and 0 <= g.x0 and g.x0 + g.W <= 346
    # crop edges map to the LR image edges (pixel-centre convention)
    x, y = g.sensor_to_lr(np.array([g.x0 - 0.5, g.x0 + g.W - 0.5]), np.array([g.y0 - 0.5, g.y0 + g.H - 0.5]))
    np.testing.assert_allclose(x, [-0.5, g.w - 0.5], atol=1e-9)
    np.testing.assert_allclose(y, [-0.5, g.h - 0.5], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), H=st.integers(1, 200), W=st.integers(1, 200))
def test_nearest_lr_pixels_round_the_pixel_centre_map_exactly(h, w, H, W):
    """Each crop row/column's LR pixel is `sensor_to_lr` of its centre rounded (ties upward), from exact
    fractions: (i + 1/2) w / W - 1/2 + 1/2, floored."""
    g = CropGeometry(3, 5, H, W, h, w)
    rows, cols = g.nearest_lr_pixels()
    assert rows.tolist() == [math.floor((i + Fraction(1, 2)) * h / H) for i in range(H)]
    assert cols.tolist() == [math.floor((i + Fraction(1, 2)) * w / W) for i in range(W)]
    xl, yl = g.sensor_to_lr(np.arange(W) + g.x0, np.arange(H) + g.y0)
    assert np.abs(xl - cols).max() <= 0.5 + 1e-9 and np.abs(yl - rows).max() <= 0.5 + 1e-9

def test_patch_too_large_for_scale():
    with pytest.raises(ConfigError, match="patch_size 64x64 at scale 6.5 needs an HR crop of 416x416"):
        patch_geometry(260, 346, 64, 6.5, np.random.default_rng(0))


@pytest.mark.parametrize("scale, side, out", [(1.4, 180, 252), (2.05, 240, 492), (4.1, 180, 738), (1.15, 720, 828)])
def test_hr_size_is_the_floor_of_the_scale_as_written(scale, side, out):
    assert math.floor(scale * side) == out - 1  # the float product falls just short (251.99999999999997)
    assert hr_size(side, side, scale) == (out, out)
    assert lr_size_for_frame(out, out, scale) == (side, side)  # its frame at that scale holds exactly that LR size
    g = frame_geometry(out, out + 1, scale)
    assert (g.h, g.H, g.W) == (side, out, out) and g.y0 == 0


def test_lr_size_and_query_grid():
    assert lr_size_for_frame(260, 346, 4.0) == (65, 86)
    assert hr_size(65, 86, 4.0) == (260, 344)
    assert hr_size(65, 86, 6.5) == (422, 559)  # docs/models.md: 422x559 at x6.5
    g = query_grid(2, 4)
    assert g.shape == (2, 4, 2)
    np.testing.assert_allclose(g[:, 0, 0], [-0.5, 0.5])
    np.testing.assert_allclose(g[0, :, 1], [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(cell_size(2, 4), [1.0, 0.5])
    assert CropGeometry(0, 0, 37, 44, 10, 12).scale_eff == (3.7, 44 / 12)
