"""Evaluation protocols: which channel, which border crop, how ground truth meets the output size, how SSIM's
window meets the border, whether the output is rounded to 8 bits before scoring, and how clips are averaged.

Published event-VSR numbers differ in all of these (docs/training.md, Evaluation), so every table we print names
its protocol.
- `egvsr`: EGVSR's released code: RGB, whole frame, ground truth bicubic-resized to the output size, SSIM
  with pytorch-ssim's zero-padded window (every pixel averaged, the border too).
- `evtexture`: EvTexture's CED protocol: RGB, 8-pixel border excluded, output compared at the HR crop size;
  as its BasicSR scoring (`tensor2img`), the output and the ground truth rounded to 8 bits first, and the
  average weighted by each clip's frame count (the mean over all frames).
- `videoinr`: C-STVSR convention: Y channel (BT.601), no crop.
- `ours` (default): RGB, 4-pixel border excluded; the ground truth is the exact HR crop of size
  floor(s*h) x floor(s*w) from which the LR input was made, so no resampling touches the target.
Every protocol but `evtexture` averages clips equally (each clip's mean over its frames, then the mean of those).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from egvsr.engine.metrics import SSIM_PADDINGS, SSIM_WINDOW, as_unit_image, psnr, ssim
from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer
from egvsr.fsutil import check_flag

#: The ways a protocol's `average` takes its summary rows, each as results.md says it
AVERAGES = {"clips": "the mean of the clips' means (each clip counts once)",
            "frames": "the mean over all frames (each clip weighted by its frame count)"}


@dataclass(frozen=True)
class Protocol:
    """How a prediction is scored against its ground truth."""

    name: str
    y_channel: bool
    crop_border: int
    gt_rule: str  # "exact": GT already has the output size; "resize": bicubic-resize GT to the output size
    ssim_padding: str = "valid"  # `metrics.SSIM_PADDINGS`
    quantize: bool = False  # round prediction and ground truth to 8 bits (k/255) before scoring
    average: str = "clips"  # one of `AVERAGES`: "clips": each clip counts once; "frames": each frame counts once

    def __post_init__(self) -> None:
        for key in ("y_channel", "quantize"):  # a truthy "no" would round or take the luma silently
            try:
                check_flag(getattr(self, key), key)
            except ConfigError:
                raise ConfigError(f"protocol {self.name!r}: {key} {getattr(self, key)!r}: expected True or False"
                                  ) from None
        b = self.crop_border
        if not is_integer(b) or b < 0:
            raise ConfigError(f"protocol {self.name!r}: crop_border {b!r}: expected a whole number of pixels >= 0")
        for key, value, allowed in (("gt_rule", self.gt_rule, ("exact", "resize")),
                                    ("ssim_padding", self.ssim_padding, SSIM_PADDINGS),
                                    ("average", self.average, tuple(AVERAGES))):
            if value not in allowed:
                raise ConfigError(f"protocol {self.name!r}: {key} {value!r}: expected one of {list(allowed)}")

    @property
    def min_size(self) -> int:
        """Smallest output side this protocol can score: its border crop on both sides, then SSIM's window."""
        return 2 * self.crop_border + SSIM_WINDOW

    def check_size(self, height: int, width: int, what: str) -> None:
        """Refuse an output of `height` x `width` (`what` names the file and scale) this protocol cannot score;
        the message writes sizes width x height, as every egvsr message does."""
        m = self.min_size
        if min(height, width) < m:
            raise ConfigError(
                f"{what}: its {width}x{height} output is smaller than protocol {self.name!r} can score "
                f"(at least {m}x{m}: crop_border {self.crop_border} on each side, then SSIM's "
                f"{SSIM_WINDOW}x{SSIM_WINDOW} window); leave the recording out"
                + (" or use a protocol with a smaller crop_border" if self.crop_border else "")
            )

    def score(self, pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
        """(PSNR, SSIM) of an (H, W, 3) (or gray (H, W, 1) or (H, W)) prediction in [0, 1] against its ground
        truth; both are checked (`metrics.as_unit_image`) before a resize or rounding could hide a uint8 or
        0..255 image (the resize's clip to [0, 1] would turn it into an almost white one)."""
        pred, gt = as_unit_image(pred, "pred"), as_unit_image(gt, "gt")
        if gt.shape != pred.shape:
            if self.gt_rule != "resize":
                raise ConfigError(
                    f"protocol {self.name!r}: ground truth {gt.shape} differs from output {pred.shape}"
                )
            if gt.ndim != pred.ndim or gt.ndim not in (2, 3) or gt.shape[2:] != pred.shape[2:]:
                raise ConfigError(f"protocol {self.name!r}: ground truth {gt.shape} cannot be resized to output "
                                  f"{pred.shape}: expected (H, W) or (H, W, C) images with the same channels")
            gt = resize_bicubic(gt, pred.shape[:2])
        if self.quantize:
            pred, gt = quantize_8bit(pred, "pred"), quantize_8bit(gt, "gt")
        return (
            psnr(pred, gt, self.crop_border, self.y_channel),
            ssim(pred, gt, self.crop_border, self.y_channel, padding=self.ssim_padding),
        )

    def mean(self, clips: dict[str, list[float]]) -> float:
        """The average of per-frame `clips` values ({clip: [value per frame]}) by this protocol's rule."""
        if self.average == "frames":
            return float(np.mean([v for values in clips.values() for v in values]))
        return float(np.mean([np.mean(values) for values in clips.values()]))


PROTOCOLS = {
    "ours": Protocol("ours", y_channel=False, crop_border=4, gt_rule="exact"),
    "egvsr": Protocol("egvsr", y_channel=False, crop_border=0, gt_rule="resize", ssim_padding="zero"),
    "evtexture": Protocol("evtexture", y_channel=False, crop_border=8, gt_rule="exact", quantize=True,
                          average="frames"),
    "videoinr": Protocol("videoinr", y_channel=True, crop_border=0, gt_rule="exact"),
}


def get_protocol(name: str, where: str = "protocol") -> Protocol:
    """Look up a protocol preset by name (`where` names the argument or key it came from)."""
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise ConfigError(f"{where} {name!r}: unknown protocol; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def quantize_8bit(img: np.ndarray, what: str) -> np.ndarray:
    """`img` in [0, 1] rounded to the nearest of k/255, as BasicSR's `tensor2img` writes it before scoring."""
    return np.round(as_unit_image(img, what) * 255.0) / 255.0


def resize_bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of an (H, W, C) or (H, W) [0, 1] image (align_corners=True, no antialias, as EGVSR's
    scoring does), in float64 as every metric is computed, then clipped to [0, 1] (the metrics' range)."""
    a = as_unit_image(img, "gt")
    x = torch.from_numpy(np.ascontiguousarray(a.reshape(*a.shape[:2], -1))).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=True)
    return y[0].permute(1, 2, 0).clamp(0, 1).numpy().reshape(*size, *a.shape[2:])
