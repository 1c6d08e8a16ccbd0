"""PSNR and SSIM with explicit conventions (channel, border crop), on float images in [0, 1].

Conventions follow BasicSR/MMagic so numbers are comparable with the literature: computation in float64,
Y channel = ITU-R BT.601 luma of [0, 1] RGB ("MATLAB rgb2ycbcr", range 16..235 / 255), SSIM with an 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid-region filtering (or, with `padding="zero"`, EGVSR's
released pytorch-ssim: the window zero-padded over the border, every pixel averaged), averaged over channels.
A one-channel (gray) image scores as the RGB image of three equal channels, its Y channel included.
PSNR is capped at `PSNR_CEILING_DB` (100 dB, MSE <= 1e-10): one exactly reconstructed frame (MSE 0, e.g. a
black frame) would otherwise make every mean over frames or clips infinite.
"""

from __future__ import annotations

import numpy as np

from egvsr.errors import ConfigError
from egvsr.fsutil import check_flag

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) RGB image in [0, 1] -> (H, W, 1) in [16/255, 235/255]."""
    return (img @ _Y_WEIGHTS + 16.0 / 255.0)[..., None]


#: SSIM's Gaussian window side: the smallest image (after the border crop) SSIM can score
SSIM_WINDOW = 11


def as_unit_image(img: object, what: str) -> np.ndarray:
    """`img` as float64, refused unless it is a float image with every value in [0, 1] (the peak of 1 that
    PSNR and SSIM's constants assume): a uint8 image, NaN or 0..255 floats would score silently wrong."""
    a = np.asarray(img)
    if a.dtype.kind != "f":
        hint = " (divide a uint8 image by 255)" if a.dtype.kind in "ui" else ""
        raise ConfigError(f"metric input {what}: expected a float image in [0, 1], got dtype {a.dtype}{hint}")
    a = a.astype(np.float64, copy=False)
    if a.size and not (np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0):
        found = ("NaN or infinity" if not np.isfinite(a).all()
                 else f"values from {float(a.min()):.4g} to {float(a.max()):.4g} (scale or clip it to [0, 1])")
        raise ConfigError(f"metric input {what}: expected values in [0, 1], found {found}")
    return a


def _prepare(pred: np.ndarray, gt: np.ndarray, crop_border: int, y_channel: bool):
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)):
        raise ConfigError(f"crop_border {crop_border!r}: expected a whole number of pixels >= 0")
    y_channel = check_flag(y_channel, "y_channel")
    pred, gt = as_unit_image(pred, "pred"), as_unit_image(gt, "gt")
    if pred.shape != gt.shape:
        raise ConfigError(f"metric inputs differ in shape: prediction {pred.shape}, ground truth {gt.shape}")
    if pred.ndim == 2:
        pred, gt = pred[..., None], gt[..., None]
    if pred.ndim != 3:
        raise ConfigError(f"metric inputs must be (H, W) or (H, W, C) images, got {pred.shape}")
    if not pred.shape[-1]:  # the mean over no values would score NaN
        raise ConfigError(f"metric inputs must have at least one channel, got {pred.shape}")
    if crop_border < 0 or 2 * crop_border >= min(pred.shape[:2]):
        raise ConfigError(f"crop_border={crop_border} leaves no pixels of a {pred.shape[:2]} image")
    if crop_border:
        pred = pred[crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        if pred.shape[-1] == 1:  # gray: the luma of R = G = B, as the same recording read as RGB scores
            pred, gt = (np.repeat(a, 3, axis=-1) for a in (pred, gt))
        if pred.shape[-1] != 3:
            raise ConfigError(f"y_channel=True needs RGB (3 channels) or gray (1) images, got {pred.shape[-1]} channels")
        pred, gt = rgb_to_y(pred), rgb_to_y(gt)
    return pred, gt


#: the highest PSNR a frame scores (identical images included), so that averages stay finite and comparable
PSNR_CEILING_DB = 100.0


def psnr(pred: np.ndarray, gt: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], at most `PSNR_CEILING_DB` (identical images
    score exactly the ceiling, not inf)."""
    pred, gt = _prepare(pred, gt, crop_border, y_channel)
    mse = float(np.mean((pred - gt) ** 2))
    if mse <= 10.0 ** (-PSNR_CEILING_DB / 10.0):
        return PSNR_CEILING_DB
    return float(10.0 * np.log10(1.0 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


#: how SSIM's window meets the image border: "valid" (BasicSR, scikit-image, MATLAB: only where the window
#: fits) or "zero" (pytorch-ssim, EGVSR's released scoring: zero-padded, the map as large as the image)
SSIM_PADDINGS = ("valid", "zero")


def _filter(img: np.ndarray, g: np.ndarray, padding: str) -> np.ndarray:
    """Separable Gaussian filter, zero outside the image; "valid" keeps only positions where the window fits
    inside the image, "zero" every pixel."""
    pad = len(g) // 2
    from scipy.ndimage import correlate1d  # here, not at import: scipy.ndimage costs 0.2 s of every command

    out = correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    return out if padding == "zero" else out[pad:-pad, pad:-pad]


def ssim(pred: np.ndarray, gt: np.ndarray, crop_border: int = 0, y_channel: bool = False,
         padding: str = "valid") -> float:
    """Structural similarity (Wang et al. 2004), Gaussian window 11 / sigma 1.5, mean over channels;
    `padding` (`SSIM_PADDINGS`) says how the window meets the border."""
    if padding not in SSIM_PADDINGS:
        raise ConfigError(f"padding {padding!r}: expected one of {list(SSIM_PADDINGS)}")
    pred, gt = _prepare(pred, gt, crop_border, y_channel)
    if min(pred.shape[:2]) < SSIM_WINDOW:
        raise ConfigError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {pred.shape[:2]}")
    c1, c2 = 0.01**2, 0.03**2
    g = _gaussian_window(SSIM_WINDOW)
    values = []
    for c in range(pred.shape[-1]):
        a, b = pred[..., c], gt[..., c]
        mu_a, mu_b = _filter(a, g, padding), _filter(b, g, padding)
        var_a = _filter(a * a, g, padding) - mu_a**2
        var_b = _filter(b * b, g, padding) - mu_b**2
        cov = _filter(a * b, g, padding) - mu_a * mu_b
        num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
        den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        values.append(float(np.mean(num / den)))
    return float(np.mean(values))
