"""EGVSR (Lu et al., CVPR 2023): STF latent volume + TF event feature -> STIR decoder, any scale/time.

Beyond the released code: any LR size and any query time in [-1, 1], always on; and one switch per
other change, so each can be measured: `output_activation`, `local_ensemble`, `residual_bicubic`,
`fold`, `tf_mode` and `attention` (docs/models.md, "EGVSR options").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from egvsr.errors import ConfigError
from egvsr.models.base import ACTIVATIONS, SRModel, output_activation
from egvsr.models.egvsr_stf import STF
from egvsr.models.egvsr_stir import STIR
from egvsr.models.egvsr_tf import MLP_ACTIVATIONS, TemporalFilter
from egvsr.models.event_input import EVENT_NORMS, normalize_events
from egvsr.models.options import opt
from egvsr.models.registry import register_model
from egvsr.models.rows import mlp_channels_first, sample_rows
from egvsr.models.sampling import FRAME_CHOICES, frame_at, pixel_coords, sample_points
from egvsr.models.size_estimate import egvsr_decode_floats, egvsr_size
from egvsr.models.validate import Batch


@dataclass(frozen=True)
class EGVSROptions:
    """Options of the EGVSR family (see docs/models.md for what each one changes)."""

    num_frames: int = opt(3, min=2, doc="input frames K >= 2 (the image head sees 3K channels)")
    moments: int = opt(32, min=1, doc="event time bins M")
    polarities: int = opt(2, min=1, max=2, doc="event channels per bin P (2 ON/OFF, 1 signed)")
    n_feats: int = opt(32, min=1, doc="width of the STF branches")
    inr_channels: int = opt(32, min=1, doc="latent/INR width C")
    time_bins: int = opt(3, min=1, doc="time bins T of the latent volume")
    lcb_depth: int = opt(2, min=1, doc="HPBs per LCB")
    patch_size: int = opt(3, min=1, doc="odd patch size of the fusion tokens")
    heads: int = opt(8, min=1, doc="attention heads")
    window_tokens: int = opt(1400, min=1, doc="tokens per attention window (row-major strips)")
    window_size: int = opt(0, min=0, doc="side of square attention windows in LR pixels (0: strips of "
                                         "window_tokens)")
    fold: str = opt("mean", choices=("mean", "sum"), doc="how overlapping patches fold back")
    attention: str = opt("sdpa", choices=("sdpa", "math"), doc="attention kernel (math = official)")
    tf_samples: int = opt(8, min=0, doc="N: TF samples 2N+1")
    tf_half_width: float = opt(0.0125, min=0.0, doc="TF window half-width in normalized time")
    tf_hidden: int = opt(64, min=1, doc="TF MLP width")
    tf_layers: int = opt(3, min=1, doc="TF MLP layers")
    tf_mode: str = opt("separable", choices=("separable", "naive"), doc="TF sampling algorithm")
    decoder_layers: int = opt(3, min=1, doc="STIR decoder layers")
    mlp_activation: str = opt("relu", choices=MLP_ACTIVATIONS,
                              doc="hidden activation of the TF and STIR MLPs (relu = official)")
    w_inr_init: float = opt(1.0, doc="initial weight of the latent feature")
    w_ev_init: float = opt(0.1, doc="initial weight of the TF feature")
    output_activation: str = opt("clamp", choices=ACTIVATIONS, doc="final RGB activation")
    local_ensemble: bool = opt(False, doc="LIIF-style 4-neighbour ensemble with cell size")
    residual_bicubic: bool = opt(True, doc="add the bicubic upsample of the frame(s) at the query time")
    residual_base: str = opt("nearest", choices=FRAME_CHOICES,
                             doc="the frame under the residual: nearest (older checkpoints; it jumps at each "
                                 "interval's midpoint) or linear (the blend of the two frames around t)")
    max_scale: float = opt(16.0, min=1e-6, doc="largest accepted output/input size ratio")
    event_norm: str = opt("none", choices=EVENT_NORMS, doc="per-sample event scaling (density robustness)")
    ignore_events: bool = opt(False, doc="frames-only control: the event tensor is replaced by zeros")

    def check(self, name: str) -> None:
        """Constraints that involve several options."""
        if self.patch_size % 2 == 0:
            raise ConfigError(f"model {name!r}: option 'patch_size' must be odd, got {self.patch_size}")
        inner = self.n_feats * self.patch_size ** 2
        if 2 * inner < 4:  # the fusion tokens hold both branches: 2 * inner wide, their MLP a quarter of that
            raise ConfigError(
                f"model {name!r}: fusion tokens of 2*n_feats*patch_size^2 = {2 * inner} channels leave their MLP "
                f"{2 * inner // 4} units wide; raise n_feats or patch_size"
            )
        if inner % self.heads:
            raise ConfigError(
                f"model {name!r}: attention width n_feats*patch_size^2 = {inner} is not divisible by "
                f"heads={self.heads}"
            )
        if self.residual_bicubic and self.output_activation == "sigmoid":
            raise ConfigError(
                f"model {name!r}: output_activation='sigmoid' cannot bound a residual over bicubic; "
                f"use 'clamp' or set residual_bicubic=false"
            )


@register_model("egvsr", options=EGVSROptions, size=lambda o: egvsr_size(o, official=False), presets={
    "egvsr": ("EGVSR, paper size: n_feats 32, inr 32, events 32 moments x 2 (~2.6M)", {}),
    "egvsr-large": ("EGVSR, CED-yaml size: n_feats 64, inr 32 (~10.2M)", {"n_feats": 64}),
    "egvsr-tiny": ("EGVSR, tiny (tests and smoke runs): n_feats 8, 8 moments",
                   {"n_feats": 8, "inr_channels": 8, "moments": 8, "lcb_depth": 1, "heads": 2, "tf_samples": 2,
                    "tf_hidden": 16}),
    "egvsr-small": ("EGVSR, the shipped CPU width: n_feats 16, inr 16, 8 moments (~0.52M)",
                    {"n_feats": 16, "inr_channels": 16, "moments": 8, "lcb_depth": 1, "heads": 4, "tf_samples": 4,
                     "tf_hidden": 32}),
})
class EGVSR(SRModel):
    """Event-guided VSR with spatial-temporal INRs (frames + events -> RGB at any (x, y, t))."""

    def __init__(self, options: EGVSROptions) -> None:
        super().__init__(options.max_scale)
        o = self.options = options
        self.num_frames = o.num_frames
        self.event_shape = (o.moments, o.polarities)
        self.stf = STF(o.num_frames, o.moments, o.polarities, o.n_feats, o.inr_channels, o.time_bins,
                       o.lcb_depth, o.patch_size, o.heads, o.window_tokens, o.fold, o.attention,
                       window_size=o.window_size)
        self.tf = TemporalFilter(o.polarities, o.tf_samples, o.tf_half_width, o.tf_hidden, o.tf_layers,
                                 o.inr_channels, o.tf_mode, activation=o.mlp_activation)
        self.stir = STIR(o.inr_channels, o.decoder_layers, o.w_inr_init, o.w_ev_init, o.local_ensemble,
                         o.mlp_activation)
        if o.residual_bicubic:
            # the untrained model is exactly bicubic: a random head would add a residual of ~0.1 (5-10x
            # bicubic's own error on the sample data) that the first hundreds of steps only undo
            head = self.stir.decoder[-1]
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)

    @property
    def uses_events(self) -> bool:
        """False for the frames-only control (`ignore_events`): it takes no event tensor (one passed is
        ignored), so `render` and `eval` read no events for it, as for VideoINR."""
        return not self.options.ignore_events

    @property
    def scale_free_events(self) -> bool:
        """`event_norm` divides each sample by its own scale (docs/models.md, fp16 inputs)."""
        return self.options.event_norm != "none"

    def events(self, batch: Batch) -> Tensor:
        """The event tensor as the model uses it (normalized, or zeros for the frames-only control)."""
        if batch.events is None:  # the frames-only control (`check_inputs` gives it none): zeros
            b, _, _, h, w = batch.lr.shape
            return batch.lr.new_zeros(b, *self.event_shape, h, w)
        return normalize_events(batch.events, self.options.event_norm)

    def encode(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """(latent volume, the event tensor as used): events are normalized once per call, not per time."""
        events = self.events(batch)
        return self.stf(batch.lr, events), events

    def prepare_time(self, encoded: tuple[Tensor, Tensor], batch: Batch, j: int) -> dict[str, Any]:
        volume, events = encoded
        t = batch.times[:, j]
        state: dict[str, Any] = {"t": t, "latent": self.stir.at_time(volume, t)}
        if self.options.tf_mode == "separable":
            state["tf_lr"] = self.tf.project(self.tf.prepare(events, t))
        else:
            state["events"] = events
        if self.options.residual_bicubic:
            state["frame"] = frame_at(batch.lr, batch.frame_times, t, self.options.residual_base)
        return state

    def decode_floats(self) -> int:
        return egvsr_decode_floats(self.options)

    @property
    def supports_region(self) -> bool:
        """`decode` places pixels by `batch.region` (not a subclass with its own grid, such as the
        official mode's corner grid)."""
        return type(self).decode is EGVSR.decode

    def decodes_rows(self) -> bool:
        """The row path below is `decode` itself for our pixel grid (not for a subclass that changes
        `decode`, such as the official mode's corner grid), separable TF, no ensemble."""
        o = self.options
        return type(self).decode is EGVSR.decode and o.tf_mode == "separable" and not o.local_ensemble

    def decode_rows(self, ts: dict[str, Any], batch: Batch, rows: tuple[int, int]) -> Tensor:
        """`decode` for whole output rows: LR maps read separably, pointwise layers as GEMMs (B, 3, Q)."""
        size, region = batch.out_size, batch.region
        latent = sample_rows(ts["latent"], rows, size, region=region).flatten(2)
        tf_feature = mlp_channels_first(self.tf.mlp[1:], sample_rows(ts["tf_lr"], rows, size, region=region).flatten(2))
        rgb = self.stir.decode_channels_first(latent, tf_feature)
        if self.options.residual_bicubic:
            rgb = rgb.float() + sample_rows(ts["frame"], rows, size, mode="bicubic", region=region).flatten(2)
        return output_activation(rgb, self.options.output_activation)

    def decode(self, ts: dict[str, Any], batch: Batch, pix: Tensor) -> Tensor:
        height, width = batch.out_size
        b = batch.lr.shape[0]
        coords = pixel_coords(pix, height, width, region=batch.region).unsqueeze(0).expand(b, -1, -1)
        if self.options.tf_mode == "separable":
            tf_feature = self.tf.after_first(sample_points(ts["tf_lr"], coords))
        else:
            tf_feature = self.tf(self.tf.samples_naive(ts["events"], ts["t"], coords))
        rgb = self.stir(ts["latent"], tf_feature, coords, batch.grid_size)
        if self.options.residual_bicubic:
            rgb = rgb.float() + sample_points(ts["frame"], coords, mode="bicubic")
        return output_activation(rgb, self.options.output_activation)
