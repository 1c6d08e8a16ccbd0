"""EGVSR in official-compatible mode: the released network's exact computation, at any LR size.

A family of its own so that imported official weights give the official numbers: released blocks and
attention, corner-aligned query grid and moment times, no bicubic residual, ReLU output. It does not
copy the size lock or the truncated output size (docs/models.md, "Official-compatible mode").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from egvsr.errors import ConfigError
from egvsr.models.base import ACTIVATIONS, output_activation
from egvsr.models.egvsr import EGVSR, EGVSROptions
from egvsr.models.egvsr_stf import STF
from egvsr.models.egvsr_tf import TemporalFilter
from egvsr.models.options import opt
from egvsr.models.registry import register_model
from egvsr.models.sampling import sample_points
from egvsr.models.size_estimate import egvsr_size
from egvsr.models.validate import Batch


@dataclass(frozen=True)
class EGVSROfficialOptions(EGVSROptions):
    """EGVSR options with the official code's defaults (paper size: n_feats 32, inr 32)."""

    fold: str = opt("sum", choices=("mean", "sum"), doc="how overlapping patches fold back")
    attention: str = opt("math", choices=("sdpa", "math"), doc="attention kernel (math = official)")
    output_activation: str = opt("relu", choices=ACTIVATIONS, doc="final RGB activation")
    residual_bicubic: bool = opt(False, doc="add the bicubic upsample of the nearest frame")

    def check(self, name: str) -> None:
        """The base constraints, no LIIF ensemble (the official decoder has no cell input) and no attention
        window option (the official attention always runs in 4 stripes: a value would change nothing)."""
        super().check(name)
        if self.local_ensemble:
            raise ConfigError(f"model {name!r}: option 'local_ensemble' does not exist in the official model")
        for option, unset in (("window_size", 0), ("window_tokens", type(self).window_tokens)):  # their defaults
            if getattr(self, option) != unset:
                raise ConfigError(f"model {name!r}: option {option!r} does not exist in the official model "
                                  "(its attention runs in 4 row-major stripes)")


def official_out_size(lr_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The official output size: each LR side times `scale`, truncated (21 x 2.7 = 56.7 -> 56)."""
    return int(lr_size[0] * scale), int(lr_size[1] * scale)


def corner_coords(pix: Tensor, out_size: tuple[int, int], lr_size: tuple[int, int]) -> Tensor:
    """Normalized (x, y) (our pixel-centre convention), shape (Q, 2), of the LR positions that the
    official corner-aligned grid reads for flat output pixels `pix`."""
    (big_h, big_w), (h, w) = out_size, lr_size
    y = torch.div(pix, big_w, rounding_mode="floor")
    x = pix - y * big_w

    def axis(i: Tensor, big: int, small: int) -> Tensor:
        pos = i.double() * ((small - 1) / (big - 1)) if big > 1 else torch.zeros_like(i, dtype=torch.float64)
        return ((2 * pos + 1) / small - 1).float()

    return torch.stack([axis(x, big_w, w), axis(y, big_h, h)], dim=-1)


@register_model("egvsr-official", options=EGVSROfficialOptions, size=lambda o: egvsr_size(o, official=True), presets={
    "egvsr-official": ("EGVSR as released (official-compatible mode, imported weights): n_feats 32, inr 32 (~2.59M)",
                       {}),
    "egvsr-official-large": ("EGVSR as released, CED-yaml size: n_feats 64 (~10.2M)", {"n_feats": 64}),
})
class EGVSROfficial(EGVSR):
    """EGVSR with the released code's blocks, grids and time axis (official-compatible mode)."""

    min_lr_side = 2  # the released HPB pools with floor: a side of 1 pools to nothing

    def __init__(self, options: EGVSROfficialOptions) -> None:
        super().__init__(options)
        o = options
        self.stf = STF(o.num_frames, o.moments, o.polarities, o.n_feats, o.inr_channels, o.time_bins,
                       o.lcb_depth, o.patch_size, o.heads, o.window_tokens, o.fold, o.attention, official=True)
        self.tf = TemporalFilter(o.polarities, o.tf_samples, o.tf_half_width, o.tf_hidden, o.tf_layers,
                                 o.inr_channels, o.tf_mode, activation=o.mlp_activation, moments_at_corners=True)

    def decode(self, ts: dict[str, Any], batch: Batch, pix: Tensor) -> Tensor:
        b = batch.lr.shape[0]
        coords = corner_coords(pix, batch.out_size, batch.lr_size).to(pix.device)
        coords = coords.unsqueeze(0).expand(b, -1, -1)
        if self.options.tf_mode == "separable":
            tf_feature = self.tf.after_first(sample_points(ts["tf_lr"], coords))
        else:
            tf_feature = self.tf(self.tf.samples_naive(ts.get("events", batch.events), ts["t"], coords))
        rgb = self.stir(ts["latent"], tf_feature, coords, batch.out_size)
        if self.options.residual_bicubic:
            rgb = rgb.float() + sample_points(ts["frame"], coords, mode="bicubic")
        return output_activation(rgb, self.options.output_activation)
