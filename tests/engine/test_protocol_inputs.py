"""`Protocol.score` and the metrics check what they are given before any resize or rounding: a ground truth
of another size that is uint8 or 0..255 would be resized, clipped to [0, 1] and scored as an almost white
image; a gray (H, W) pair of two sizes crashed inside torch; an image with no channels scored NaN."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.engine.metrics import psnr, ssim
from egvsr.engine.protocol import get_protocol, resize_bicubic
from egvsr.errors import ConfigError
from tests.engine.test_protocol_numbers import _keys_resize_reference


def _images(pred_shape=(30, 36, 3), gt_shape=(20, 24, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(pred_shape), rng.random(gt_shape)


@pytest.mark.parametrize("make, said", [
    (lambda g: (g * 255).astype(np.uint8), "got dtype uint8"),
    (lambda g: g * 255.0, "found values from"),
    (lambda g: np.where(g > 0.5, np.nan, g), "NaN or infinity"),
])
def test_a_ground_truth_to_be_resized_is_checked_before_the_resize(make, said):
    pred, gt = _images()
    with pytest.raises(ConfigError, match=rf"^metric input gt: .*{said}"):
        get_protocol("egvsr").score(pred, make(gt))
    with pytest.raises(ConfigError, match=rf"^metric input gt: .*{said}"):
        resize_bicubic(make(gt), (30, 36))


def _keys_resize(img, size):
    """The independent reference of test_protocol_numbers, for (H, W) images too."""
    flat = img.ndim == 2
    out = _keys_resize_reference(img[..., None] if flat else img, size)
    return out[..., 0] if flat else out


@pytest.mark.parametrize("gt_shape, pred_shape", [((20, 24), (30, 36)), ((20, 24, 1), (17, 41, 1)),
                                                  ((13, 17, 3), (23, 29, 3))])
def test_the_egvsr_resize_takes_gray_and_rgb_in_float64(gt_shape, pred_shape):
    """A gray (H, W) pair of two sizes is resized like its (H, W, 1) form, not refused by torch's permute;
    the resize is float64 as every metric (float32 moved it by 1e-7)."""
    pred, gt = _images(pred_shape, gt_shape, seed=4)
    ref = _keys_resize(gt, pred_shape[:2])
    out = resize_bicubic(gt, pred_shape[:2])
    assert out.shape == pred_shape and out.dtype == np.float64
    assert np.abs(out - ref).max() < 1e-12
    p, s = get_protocol("egvsr").score(pred, gt)
    assert p == pytest.approx(psnr(pred, ref), abs=1e-10)
    assert s == pytest.approx(ssim(pred, ref, padding="zero"), abs=1e-10)


def test_a_ground_truth_of_other_channels_is_refused_naming_both_shapes():
    pred, gt = _images((30, 36, 3), (20, 24, 1))
    with pytest.raises(ConfigError, match=r"^protocol 'egvsr': ground truth \(20, 24, 1\) cannot be resized to "
                                          r"output \(30, 36, 3\)"):
        get_protocol("egvsr").score(pred, gt)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_an_image_without_channels_is_refused_not_scored_nan(metric):
    img = np.zeros((20, 20, 0))
    with pytest.raises(ConfigError, match=r"^metric inputs must have at least one channel, got \(20, 20, 0\)$"):
        metric(img, img)


@pytest.mark.parametrize("key, value, said", [
    ("quantize", "no", r"quantize 'no': expected True or False"),
    ("quantize", 0, r"quantize 0: expected True or False"),
    ("y_channel", "false", r"y_channel 'false': expected True or False"),
    ("crop_border", -1, r"crop_border -1: expected a whole number of pixels >= 0"),
    ("crop_border", 4.0, r"crop_border 4.0: expected a whole number of pixels >= 0"),
    ("crop_border", True, r"crop_border True: expected a whole number of pixels >= 0"),
])
def test_a_protocol_with_a_bad_flag_or_crop_is_refused_when_made(key, value, said):
    """A protocol made with quantize "no" rounded every output to 8 bits (the string is truthy), and one with a
    negative crop passed `check_size` for outputs its metrics then refused with a misleading message."""
    from egvsr.engine.protocol import Protocol

    kw = {"y_channel": False, "crop_border": 0, "gt_rule": "exact", key: value}
    with pytest.raises(ConfigError, match=rf"^protocol 'mine': {said}$"):
        Protocol("mine", **kw)
    ok = Protocol("mine", **{**kw, key: np.int64(2) if key == "crop_border" else np.bool_(True)})
    pred, gt = _images((30, 30, 3), (30, 30, 3))
    assert np.isfinite(ok.score(pred, gt)).all()


def test_a_failed_evaluation_leaves_the_model_in_its_mode():
    """`evaluate` put the model in eval mode and restored it only after the last sample: an output holding NaN
    (refused naming the checkpoint) left a training model in eval mode (dropout and norms off from then on)."""
    import torch

    from egvsr.engine.scoring import evaluate
    from egvsr.errors import CheckpointError
    from tests.engine.test_protocol_numbers import _Fixed, _loader

    model = _Fixed({"a": float("nan")}).train()
    with pytest.raises(CheckpointError, match=r"^model output is not finite at .* of ck\.pt"):
        evaluate(model, _loader(model, [("a", 2)]), get_protocol("ours"), torch.device("cpu"), checkpoint="ck.pt")
    assert model.training
