"""Metrics checked against independent computations: PSNR from a known MSE, SSIM against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.engine.metrics import PSNR_CEILING_DB, psnr, rgb_to_y, ssim
from egvsr.engine.protocol import get_protocol
from egvsr.errors import ConfigError


def _real_image() -> np.ndarray:
    """A real photograph shipped with matplotlib, as float RGB in [0, 1]."""
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = mpimg.imread(f, format="jpg")
    return np.asarray(img[:160, :200, :3], np.float64) / 255.0


def test_psnr_from_known_mse():
    gt = np.full((20, 30, 3), 0.5)
    pred = gt + 0.1  # MSE = 0.01 -> 20 dB
    assert psnr(pred, gt) == pytest.approx(20.0, abs=1e-9)
    assert psnr(gt, gt) == PSNR_CEILING_DB == 100.0


def test_psnr_border_crop_ignores_border():
    gt = np.zeros((20, 20, 3))
    pred = gt.copy()
    pred[:2] = 1.0
    assert psnr(pred, gt, crop_border=2) == PSNR_CEILING_DB
    assert psnr(pred, gt) < 20


def test_psnr_is_capped_so_one_exact_frame_keeps_averages_finite():
    gt = np.zeros((20, 20, 3))
    assert psnr(gt + 1e-6, gt) == PSNR_CEILING_DB  # MSE 1e-12: 120 dB uncapped
    assert psnr(gt + 1.1e-5, gt) == pytest.approx(99.17, abs=0.01)  # just under the ceiling: unchanged
    scores = [psnr(gt, gt), psnr(gt + 0.1, gt)]  # a black frame rendered exactly, then an ordinary one
    assert np.mean(scores) == pytest.approx(60.0)


def test_y_channel_matches_bt601():
    img = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    y = rgb_to_y(img)[..., 0]
    assert y[0, 0] == pytest.approx(235 / 255) and y[0, 1] == pytest.approx(16 / 255)


@pytest.mark.parametrize("noise", [0.02, 0.1])
def test_ssim_matches_scikit_image_on_real_image(noise):
    from skimage.metrics import structural_similarity

    gt = _real_image()
    rng = np.random.default_rng(0)
    pred = np.clip(gt + rng.normal(0, noise, gt.shape), 0, 1)
    ours = ssim(pred, gt)
    ref = np.mean([
        structural_similarity(pred[..., c], gt[..., c], gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1.0, full=True)[1][5:-5, 5:-5].mean()
        for c in range(3)
    ])
    assert ours == pytest.approx(ref, abs=1e-6)
    assert ssim(gt, gt) == pytest.approx(1.0)


def test_protocols_and_errors():
    gt = _real_image()
    pred = np.clip(gt + 0.05, 0, 1)
    p_ours, s_ours = get_protocol("ours").score(pred, gt)
    p_y, _ = get_protocol("videoinr").score(pred, gt)
    assert np.isfinite(p_ours) and 0 < s_ours < 1 and p_y != p_ours
    with pytest.raises(ConfigError, match="unknown protocol"):
        get_protocol("nope")
    with pytest.raises(ConfigError, match="differs from output"):
        get_protocol("ours").score(pred[:100], gt)
    p_resized, _ = get_protocol("egvsr").score(pred[:150, :190], gt)
    assert np.isfinite(p_resized)
    with pytest.raises(ConfigError, match="differ in shape"):
        psnr(pred[:10], gt)


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("make, said", [
    (lambda a: (a * 255).astype(np.uint8), r"metric input pred: expected a float image in \[0, 1\], got dtype uint8 "
                                           r"\(divide a uint8 image by 255\)"),
    (lambda a: a * 255.0, r"metric input pred: expected values in \[0, 1\], found values from .* to .*"),
    (lambda a: a - 0.5, r"metric input pred: expected values in \[0, 1\]"),
    (lambda a: np.where(a > 0.5, np.nan, a), r"metric input pred: expected values in \[0, 1\], found NaN or infinity"),
    (lambda a: a > 0.5, r"got dtype bool"),
])
def test_metrics_refuse_an_image_that_is_not_float_in_0_1(metric, make, said):
    """PSNR's peak and SSIM's constants assume [0, 1]: a uint8 image, 0..255 floats or NaN would score silently
    wrong (PSNR -23 dB for a uint8 pair, nan for a NaN pixel), so they are refused naming the argument."""
    gt = np.random.default_rng(0).random((16, 16, 3))
    with pytest.raises(ConfigError, match=said):
        metric(make(gt), gt)
    with pytest.raises(ConfigError, match=said.replace("pred", "gt")):
        metric(gt, make(gt))


@pytest.mark.parametrize("crop", [2.5, "2", None, True])
def test_metrics_refuse_a_crop_border_that_is_not_a_whole_number(crop):
    img = np.zeros((16, 16, 3))
    with pytest.raises(ConfigError, match=r"^crop_border .*: expected a whole number of pixels >= 0$"):
        psnr(img, img, crop_border=crop)
    assert psnr(img, img, crop_border=np.int64(2)) == PSNR_CEILING_DB


def test_metrics_match_scikit_image_on_random_and_constant_images():
    """An independent reference (scikit-image's SSIM with the documented window, its PSNR) on random images
    down to SSIM's 11-px window, and on constant images, where SSIM is defined (1 for equal ones)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(1)
    for shape in [(11, 11, 3), (11, 30, 3), (23, 17, 1), (40, 33, 3)]:
        a = rng.random(shape)
        b = np.clip(a + 0.1 * rng.standard_normal(shape), 0, 1)
        ref = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, channel_axis=-1)
        assert ssim(a, b) == pytest.approx(ref, abs=1e-12)
        assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1.0), abs=1e-10)
    c = np.full((12, 12, 3), 0.5)
    assert ssim(c, c) == 1.0
    assert ssim(c, c + 0.1) == pytest.approx(structural_similarity(c, c + 0.1, data_range=1.0, gaussian_weights=True,
                                                                   sigma=1.5, use_sample_covariance=False,
                                                                   channel_axis=-1), abs=1e-12)
    with pytest.raises(ConfigError, match="SSIM needs images of at least 11x11"):
        ssim(c[:10], c[:10])


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("shape", [(8, 40, 3), (40, 8, 3), (8, 40)])
def test_a_crop_border_that_eats_the_short_side_is_refused_however_long_the_other_side(metric, shape):
    # the crop must leave pixels along BOTH sides: a wide strip cropped to no rows would score NaN
    img = np.full(shape, 0.5)
    with pytest.raises(ConfigError, match=r"^crop_border=4 leaves no pixels of a \(\d+, \d+\) image$"):
        metric(img, img, crop_border=4)
    assert psnr(img, img, crop_border=3) == PSNR_CEILING_DB


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("shape", [(24,), (2, 24, 24, 3), (1, 1, 24, 24, 3)])
def test_metrics_refuse_what_is_not_one_image(metric, shape):
    # a batch (N, H, W, C) or a flat vector would otherwise score a number that means nothing
    img = np.full(shape, 0.5)
    with pytest.raises(ConfigError, match=r"^metric inputs must be \(H, W\) or \(H, W, C\) images, got \("):
        metric(img, img)
