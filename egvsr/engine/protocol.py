"""Evaluation protocols: which channel, which border crop, and how ground truth meets the output size.

Published event-VSR numbers differ in all three (docs/training.md, Evaluation), so every table we print names its protocol.
- `egvsr`: EGVSR's released code: RGB, whole frame, ground truth bicubic-resized to the output size.
- `evtexture`: EvTexture's CED protocol: RGB, 8-pixel border excluded, output compared at the HR crop size.
- `videoinr`: C-STVSR convention: Y channel (BT.601), no crop.
- `ours` (default): RGB, 4-pixel border excluded; the ground truth is the exact HR crop of size
  floor(s*h) x floor(s*w) from which the LR input was made, so no resampling touches the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from egvsr.engine.metrics import SSIM_WINDOW, psnr, ssim
from egvsr.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    """How a prediction is scored against its ground truth."""

    name: str
    y_channel: bool
    crop_border: int
    gt_rule: str  # "exact": GT already has the output size; "resize": bicubic-resize GT to the output size

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
        """(PSNR, SSIM) of an (H, W, 3) prediction in [0, 1] against its ground truth."""
        if gt.shape != pred.shape:
            if self.gt_rule != "resize":
                raise ConfigError(
                    f"protocol {self.name!r}: ground truth {gt.shape} differs from output {pred.shape}"
                )
            gt = resize_bicubic(gt, pred.shape[:2])
        return (
            psnr(pred, gt, self.crop_border, self.y_channel),
            ssim(pred, gt, self.crop_border, self.y_channel),
        )


PROTOCOLS = {
    "ours": Protocol("ours", y_channel=False, crop_border=4, gt_rule="exact"),
    "egvsr": Protocol("egvsr", y_channel=False, crop_border=0, gt_rule="resize"),
    "evtexture": Protocol("evtexture", y_channel=False, crop_border=8, gt_rule="exact"),
    "videoinr": Protocol("videoinr", y_channel=True, crop_border=0, gt_rule="exact"),
}


def get_protocol(name: str, where: str = "protocol") -> Protocol:
    """Look up a protocol preset by name (`where` names the argument or key it came from)."""
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise ConfigError(f"{where} {name!r}: unknown protocol; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def resize_bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of an (H, W, C) [0, 1] image (align_corners=True, as EGVSR's scoring does)."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=size, mode="bicubic", align_corners=True)
    return y[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float64)
