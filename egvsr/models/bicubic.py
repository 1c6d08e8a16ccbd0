"""Bicubic baseline behind the model interface: no parameters, no events.

Each query time takes the LR frame nearest to it (`blend="nearest"`, the usual per-frame baseline; ties
go to the earlier frame) or a linear blend of its two bracketing frames (`blend="linear"`), upsampled
bicubically (A = -0.75, pixel centres, replicated border: equal to
`F.interpolate(mode="bicubic", align_corners=False)`, no antialias), evaluated per output pixel so
that it renders by chunks like the learned models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from egvsr.models.base import ACTIVATIONS, SRModel, output_activation
from egvsr.models.options import opt
from egvsr.models.registry import register_model
from egvsr.models.sampling import FRAME_CHOICES, frame_at, pixel_coords, sample_points
from egvsr.models.size_estimate import bicubic_size
from egvsr.models.validate import Batch


@dataclass(frozen=True)
class BicubicOptions:
    """Options of the bicubic baseline."""

    blend: str = opt("nearest", choices=FRAME_CHOICES, doc="frame choice between frame times")
    output_activation: str = opt("clamp", choices=ACTIVATIONS, doc="bound the bicubic overshoot")
    max_scale: float = opt(16.0, min=1e-6, doc="largest accepted output/input size ratio")

    def check(self, name: str) -> None:
        """No cross-option constraints."""


@register_model("bicubic", options=BicubicOptions, size=bicubic_size, presets={
    "bicubic": ("bicubic upsampling of the frame nearest each query time (no parameters)", {}),
})
class Bicubic(SRModel):
    """Bicubic upsampling of the nearest (or linearly blended) input frame."""

    uses_events = False
    supports_region = True

    def __init__(self, options: BicubicOptions) -> None:
        super().__init__(options.max_scale)
        self.options = options

    def encode(self, batch: Batch) -> None:
        return None

    def prepare_time(self, state: Any, batch: Batch, j: int) -> Tensor:
        return frame_at(batch.lr, batch.frame_times, batch.times[:, j], self.options.blend)

    def decode(self, frame: Tensor, batch: Batch, pix: Tensor) -> Tensor:
        height, width = batch.out_size
        coords = pixel_coords(pix, height, width, region=batch.region).unsqueeze(0).expand(frame.shape[0], -1, -1)
        return output_activation(sample_points(frame, coords, mode="bicubic"), self.options.output_activation)
