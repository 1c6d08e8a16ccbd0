"""Each evaluation protocol's numbers against an independent reference written from the paper's own scoring
code (docs/training.md, Evaluation; /work/shared/design/methods.md A6, landscape.md section 5): EGVSR's
pytorch-ssim (zero-padded window), EvTexture's BasicSR scoring (8-bit output, frame-weighted average), and
gray recordings scoring as the RGB image of three equal channels under every protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from egvsr.engine.metrics import psnr, ssim
from egvsr.engine.protocol import PROTOCOLS, get_protocol
from egvsr.engine.scoring import evaluate
from egvsr.errors import ConfigError


def _pair(shape=(37, 45, 3), seed=0, noise=0.05):
    """A smooth 'image' and a noisy prediction of it, both in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    phase = 0.3 * np.arange(shape[2])
    gt = 0.5 + 0.4 * np.sin(x[..., None] / 5.0 + phase) * np.cos(y / 7.0)[..., None]
    gt = np.clip(gt + 0.05 * rng.random(shape), 0, 1)
    return np.clip(gt + rng.normal(0, noise, shape), 0, 1), gt


def _pytorch_ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """EGVSR's `losses/ssim.py` (pytorch-ssim): an 11x11 Gaussian (sigma 1.5) conv2d with padding 5 per channel,
    C1 = 0.01^2, C2 = 0.03^2, the mean of the whole map."""
    x = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    g = g / g.sum()
    c = pred.shape[-1]
    w = (g[:, None] @ g[None, :]).expand(c, 1, 11, 11).contiguous()
    a, b = (torch.from_numpy(v).permute(2, 0, 1)[None] for v in (pred, gt))

    def conv(t):
        return F.conv2d(t, w, padding=5, groups=c)

    mu1, mu2 = conv(a), conv(b)
    s1, s2, s12 = conv(a * a) - mu1**2, conv(b * b) - mu2**2, conv(a * b) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(m.mean())


@pytest.mark.parametrize("shape", [(37, 45, 3), (11, 11, 3), (12, 30, 3), (64, 23, 1)])
def test_egvsr_protocol_ssim_is_its_released_zero_padded_ssim(shape):
    """EGVSR's released scoring pads the window with zeros and averages every pixel of the map; the `egvsr`
    protocol scored SSIM over the valid region only (0.009 higher or lower on a real frame)."""
    pred, gt = _pair(shape)
    p, s = get_protocol("egvsr").score(pred, gt)
    assert s == pytest.approx(_pytorch_ssim(pred, gt), abs=1e-12)
    assert p == pytest.approx(10 * np.log10(1 / np.mean((pred - gt) ** 2)), abs=1e-10)
    assert ssim(pred, gt, padding="zero") == pytest.approx(_pytorch_ssim(pred, gt), abs=1e-12)
    with pytest.raises(ConfigError, match=r"^padding 'same': expected one of \['valid', 'zero'\]$"):
        ssim(pred, gt, padding="same")


def test_evtexture_protocol_scores_the_output_rounded_to_8_bits():
    """EvTexture scores `tensor2img` outputs: clamped, times 255, rounded to uint8, then BasicSR's metrics
    (on 0..255 with C1 = (0.01*255)^2, the same numbers as on k/255 in [0, 1])."""
    pred, gt = _pair((40, 52, 3), seed=3, noise=0.01)
    gt = np.round(gt * 255) / 255  # a ground truth read from 8-bit frames
    q = np.round(pred * 255)
    p8 = 10 * np.log10(255.0**2 / np.mean((q[8:-8, 8:-8] - gt[8:-8, 8:-8] * 255) ** 2))
    p, s = get_protocol("evtexture").score(pred, gt)
    assert p == pytest.approx(p8, abs=1e-9)
    assert p != pytest.approx(psnr(pred, gt, 8), abs=1e-4)  # the float output scores differently
    assert s == pytest.approx(ssim(q / 255, gt, 8), abs=1e-12)
    # a value half-way between two levels rounds as numpy does (to even), like tensor2img's .round()
    half = np.full((30, 30, 3), 2.5 / 255)
    assert get_protocol("evtexture").score(half, np.full((30, 30, 3), 2 / 255))[0] == 100.0


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize("shape", [(31, 29), (27, 33)])
def test_gray_scores_as_three_equal_channels_under_every_protocol(name, shape):
    """A gray recording is read as RGB of three equal channels; the metrics given the one channel score the
    same, the Y channel included (Y of R = G = B), where y_channel=True used to refuse it."""
    pred, gt = _pair((*shape, 1), seed=5)
    proto = get_protocol(name)
    three = proto.score(np.repeat(pred, 3, -1), np.repeat(gt, 3, -1))
    assert proto.score(pred, gt) == pytest.approx(three, abs=1e-12)
    for y in (False, True):
        rgb = (np.repeat(pred, 3, -1), np.repeat(gt, 3, -1))
        assert psnr(pred[..., 0], gt[..., 0], 2, y) == pytest.approx(psnr(*rgb, 2, y), abs=1e-12)
        assert ssim(pred[..., 0], gt[..., 0], 2, y) == pytest.approx(ssim(*rgb, 2, y), abs=1e-12)
    with pytest.raises(ConfigError, match="y_channel=True needs RGB .* got 2 channels"):
        psnr(np.concatenate([pred, pred], -1), np.concatenate([gt, gt], -1), y_channel=True)


class _Fixed(nn.Module):
    """A model whose render returns the batch's ground truth plus a fixed per-clip offset."""

    def __init__(self, offsets):
        super().__init__()
        self.offsets = offsets

    def render(self, lr, times, out_size, events, frame_times, chunk_size):
        return self.hr + self.offsets[self.clip]


def _loader(model, clips):
    rng = np.random.default_rng(7)
    for clip, n in clips:
        for _ in range(n):
            hr = torch.from_numpy(0.2 + 0.6 * rng.random((1, 1, 3, 40, 40))).float()
            model.hr, model.clip = hr, clip
            yield {"lr": torch.zeros(1, 1, 3, 4, 4), "times": torch.zeros(1, 1), "hr": hr,
                   "events": torch.zeros(1, 1), "frame_times": torch.zeros(1, 1), "clip": [clip],
                   "t_us": torch.zeros(1, 1, dtype=torch.int64), "scale": 2.0}


@pytest.mark.parametrize("name, weighted", [("evtexture", True), ("ours", False), ("egvsr", False),
                                            ("videoinr", False)])
def test_the_average_row_follows_the_protocols_averaging_rule(name, weighted):
    """EvTexture's test code weights each clip's mean by its frame count (the mean over all frames); the CED
    tables of EGVSR average clips equally. A 1-frame clip and a 3-frame clip tell the two apart."""
    model = _Fixed({"a": 0.1, "b": 0.01})
    res = evaluate(model, _loader(model, [("a", 1), ("b", 3)]), get_protocol(name), torch.device("cpu"))
    pa, pb = res["clips"]["a"][0], res["clips"]["b"][0]
    assert (res["clips"]["a"][2], res["clips"]["b"][2], res["n"]) == (1, 3, 4)
    want = (pa + 3 * pb) / 4 if weighted else (pa + pb) / 2
    assert res["psnr"] == pytest.approx(want, abs=1e-9)
    sa, sb = res["clips"]["a"][1], res["clips"]["b"][1]
    assert res["ssim"] == pytest.approx((sa + 3 * sb) / 4 if weighted else (sa + sb) / 2, abs=1e-12)


@pytest.mark.parametrize("key, value", [("average", "clip"), ("ssim_padding", "same"), ("gt_rule", "crop")])
def test_a_protocol_with_an_unknown_rule_is_refused_when_made(key, value):
    """A misspelt rule would otherwise fall back silently (an `average` of "clip" averaged clips equally)."""
    from egvsr.engine.protocol import Protocol

    with pytest.raises(ConfigError, match=rf"^protocol 'mine': {key} '{value}': expected one of \["):
        Protocol("mine", **{"y_channel": False, "crop_border": 0, "gt_rule": "exact", key: value})


def _docs_protocol_table():
    """{name: row} of the protocol table in docs/training.md (Evaluation), the presets' contract."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`") and cells[0].split("`")[1] in PROTOCOLS:
            rows[cells[0].split("`")[1]] = cells
    return rows


def test_every_preset_is_what_the_docs_table_says():
    rows = _docs_protocol_table()
    assert set(rows) == set(PROTOCOLS)
    for name, (_, channel, crop, truth, window, output, average) in rows.items():
        p = PROTOCOLS[name]
        assert p.y_channel == channel.startswith("Y"), name
        assert p.crop_border == (0 if crop == "none" else int(crop.split()[0])), name
        assert p.gt_rule == ("resize" if "resized" in truth else "exact"), name
        assert p.ssim_padding == ("zero" if window.startswith("zero") else "valid"), name
        assert p.quantize == output.startswith("rounded"), name
        assert p.average == average, name


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_check_size_refuses_exactly_below_twice_the_crop_plus_the_ssim_window(name):
    p = PROTOCOLS[name]
    m = 2 * p.crop_border + 11
    p.check_size(m, m, "x.h5 at x2")
    p.check_size(m, 5 * m, "x.h5 at x2")
    for h, w in ((m - 1, m), (m, m - 1), (m - 1, 10 * m)):
        with pytest.raises(ConfigError, match=rf"^x\.h5 at x2: its {w}x{h} output is smaller than protocol "
                                              rf"'{name}' can score \(at least {m}x{m}: crop_border "):
            p.check_size(h, w, "x.h5 at x2")


def _keys_resize_reference(img, size):
    """Bicubic resize written from the definition: align_corners=True (output i samples input i*(n-1)/(N-1)),
    Keys' cubic with A = -0.75, taps clamped at the border, separable, then clipped to [0, 1]."""
    def weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            f = int(np.floor(src))
            for k in range(-1, 3):
                d = abs(src - (f + k))
                a = -0.75
                w = ((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                m[i, min(max(f + k, 0), n_in - 1)] += w
        return m
    wy, wx = weights(img.shape[0], size[0]), weights(img.shape[1], size[1])
    return np.clip(np.einsum("Yy,yxc,Xx->YXc", wy, img, wx), 0, 1)


def test_egvsr_resizes_a_ground_truth_of_another_size_by_clamped_bicubic_with_aligned_corners():
    rng = np.random.default_rng(3)
    gt = np.zeros((13, 17, 3))
    gt[:, 8:] = 1.0  # a hard edge: bicubic overshoots above 1 and below 0 there, which the clip removes
    gt[2:5, 1:4] = rng.random((3, 3, 3))
    pred = np.clip(rng.random((23, 29, 3)), 0, 1)
    from egvsr.engine.protocol import resize_bicubic
    ref = _keys_resize_reference(gt, (23, 29))
    assert np.abs(resize_bicubic(gt, (23, 29)) - ref).max() < 1e-5
    p, s = get_protocol("egvsr").score(pred, gt)
    assert p == pytest.approx(psnr(pred, ref), abs=1e-4)
    assert s == pytest.approx(ssim(pred, ref, padding="zero"), abs=1e-4)
