"""Gray in, gray out: a recording whose frames are gray gets a gray result.

Most event cameras (DAVIS240/346) give gray frames, which reach a model as three equal channels. A
model that predicts RGB can still add small colour differences (fringes at edges); for such inputs
the output's channels are replaced by their mean, so no colour appears that the input did not have.
"""

from __future__ import annotations

from torch import Tensor

GRAY_TOLERANCE = 1.0 / 1024  # below half a uint8 step: equal channels after any resize


def gray_inputs(lr: Tensor) -> Tensor:
    """(B,) bool: the LR frames (B, K, 3, h, w) of each sample have equal channels."""
    spread = lr.amax(dim=2) - lr.amin(dim=2)
    return spread.flatten(1).amax(dim=1) <= GRAY_TOLERANCE


def match_gray(rgb: Tensor, gray: Tensor) -> Tensor:
    """Decoded colours (B, Q, 3) with gray samples' channels set to their mean."""
    if not bool(gray.any()):
        return rgb
    return set_gray(rgb, gray)


def set_gray(rgb: Tensor, gray: Tensor) -> Tensor:
    """`match_gray` without asking the device whether any sample is gray (no sync): for a loop over
    chunks that asked once before it."""
    mean = rgb.mean(dim=-1, keepdim=True).expand_as(rgb)
    return rgb.where(~gray.view(-1, 1, 1), mean)
