"""VideoINR (Chen et al., CVPR 2022): frames-only continuous space-time super-resolution.

Each query time is mapped to local time u in [0, 1] inside its bracketing frame pair; the encoder runs
once per pair a batch needs. `decoder="official"` / `"official-train"` decode as the released test /
training path (`videoinr_official.py`) for imported official weights (docs/models.md, "VideoINR").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from egvsr.errors import ConfigError
from egvsr.models.base import ACTIVATIONS, SRModel, output_activation
from egvsr.models.options import opt
from egvsr.models.registry import register_model
from egvsr.models.sampling import bracket
from egvsr.models.size_estimate import videoinr_decode_floats, videoinr_size
from egvsr.models.validate import TIME_TOLERANCE, Batch, check_inputs
from egvsr.models.videoinr_decoder import DecodeContext, VideoINRDecoder
from egvsr.models.videoinr_encoder import VideoINREncoder
from egvsr.models.videoinr_official import OfficialContext, official_context, official_decode


def check_between_frames(batch: Batch) -> None:
    """VideoINR interpolates between two input frames and cannot extrapolate: a query time before the
    first or after the last of `frame_times` (possible when they do not span [-1, 1]) is refused, not
    silently rendered at that frame's time."""
    ft, t = batch.frame_times, batch.times
    outside = (t < ft[:, :1] - TIME_TOLERANCE) | (t > ft[:, -1:] + TIME_TOLERANCE)
    if bool(outside.any()):
        b, j = (int(i) for i in outside.nonzero()[0])
        raise ConfigError(
            f"times: time {float(t[b, j]):.6g} (sample {b}, query {j}) lies outside the input frames' times "
            f"[{float(ft[b, 0]):.6g}, {float(ft[b, -1]):.6g}] (frame_times); VideoINR interpolates between "
            "two frames and cannot render a time before the first or after the last"
        )


@dataclass(frozen=True)
class VideoINROptions:
    """Options of the VideoINR family."""

    nf: int = opt(64, min=1, doc="encoder width")
    groups: int = opt(8, min=1, doc="deformable groups (must divide nf)")
    front_blocks: int = opt(5, min=0, doc="residual blocks before the pyramid")
    back_blocks: int = opt(40, min=0, doc="residual blocks of the reconstruction trunk")
    spatial_hidden: tuple = opt((64, 64, 256), doc="SpatialINR SIREN widths")
    spatial_out: int = opt(64, min=1, doc="width of the output-resolution spatial feature")
    flow_hidden: tuple = opt((64, 64, 256), doc="TemporalINR SIREN widths")
    rgb_hidden: tuple = opt((64, 64, 256, 256), doc="RGB decoder SIREN widths")
    w0: float = opt(30.0, min=1e-6, doc="SIREN omega_0")
    output_activation: str = opt("clamp", choices=ACTIVATIONS, doc="final RGB activation")
    max_scale: float = opt(16.0, min=1e-6, doc="largest accepted output/input size ratio")
    decoder: str = opt("ours", choices=("ours", "official", "official-train"),
                       doc="decoding: ours, or the released test (x4 frames) / training path")

    def check(self, name: str) -> None:
        """Constraints that involve several options."""
        if self.nf % self.groups:
            raise ConfigError(f"model {name!r}: groups={self.groups} must divide nf={self.nf}")


@register_model("videoinr", options=VideoINROptions, size=videoinr_size, presets={
    "videoinr": ("VideoINR, frames only: ZSM encoder (plain-PyTorch DCN) + SIREN INRs (~11.0M)", {}),
    "videoinr-official": ("VideoINR as released (official-compatible test path, imported latest_G.pth): "
                          "no output clamp", {"decoder": "official", "output_activation": "none"}),
    "videoinr-tiny": ("VideoINR, tiny (tests and smoke runs): nf 8",
                      {"nf": 8, "groups": 2, "front_blocks": 1, "back_blocks": 1, "spatial_hidden": [16, 16],
                       "spatial_out": 8, "flow_hidden": [16, 16], "rgb_hidden": [16, 16]}),
})
class VideoINR(SRModel):
    """Two-frame encoder + spatial/temporal SIREN decoders with predicted flows."""

    uses_events = False
    min_frames = 2
    default_frames = 2  # the paper's model: two frames in, any time between them out
    default_chunk = 16384

    def __init__(self, options: VideoINROptions) -> None:
        super().__init__(options.max_scale)
        o = self.options = options
        self.encoder = VideoINREncoder(o.nf, o.groups, o.front_blocks, o.back_blocks)
        self.decoder = VideoINRDecoder(3 * o.nf, o.spatial_hidden, o.spatial_out, o.flow_hidden,
                                       o.rgb_hidden, o.w0)

    @property
    def supports_region(self) -> bool:
        """Our decoder places pixels by `batch.region`; the official ones keep their corner grids."""
        return self.options.decoder == "ours"

    def encode(self, batch: Batch) -> dict[str, Any]:
        check_between_frames(batch)
        pair, u = bracket(batch.frame_times, batch.times)
        feats: dict[int, tuple[list[int], Tensor]] = {}
        for p in sorted(set(pair.flatten().tolist())):
            rows = torch.nonzero((pair == p).any(dim=1)).flatten()
            feats[p] = (rows.tolist(), self.encoder(batch.lr[rows, p : p + 2]))
        return {"pair": pair, "u": u, "feats": feats}

    def prepare_time(self, state: dict[str, Any], batch: Batch, j: int) -> DecodeContext | OfficialContext:
        pairs = state["pair"][:, j].tolist()
        feat = torch.stack([state["feats"][p][1][state["feats"][p][0].index(b)] for b, p in enumerate(pairs)])
        frames = torch.stack([batch.lr[b, p : p + 2].flatten(0, 1) for b, p in enumerate(pairs)])
        ctx = self.decoder.context(feat, frames, state["u"][:, j], batch.out_size, batch.region)
        return ctx if self.options.decoder == "ours" else official_context(ctx, self.options.decoder)

    def decode_floats(self) -> int:
        return videoinr_decode_floats(self.options)

    def decode(self, ctx: DecodeContext | OfficialContext, batch: Batch, pix: Tensor) -> Tensor:
        if isinstance(ctx, OfficialContext):
            return output_activation(official_decode(self.decoder, ctx, pix)[0], self.options.output_activation)
        return output_activation(self.decoder(ctx, pix), self.options.output_activation)

    @torch.no_grad()
    def reference_forward(self, lr: Tensor, times: Tensor, out_size: tuple[int, int],
                          events: Tensor | None = None, frame_times: Tensor | None = None) -> Tensor:
        """Official-style decoding (whole spatial map materialized, then warped), for tests and
        benchmarks: the same numbers as `render`, with memory that grows with the output. The
        official decoders have no separate reference: `forward` is returned."""
        if self.options.decoder != "ours":
            return self.forward(lr, times, out_size, events, frame_times)
        batch = check_inputs(self, lr, times, out_size, events, frame_times)
        state = self.encode(batch)
        height, width = batch.out_size
        frames = []
        for j in range(batch.times.shape[1]):
            rgb = self.decoder.forward_full_map(self.prepare_time(state, batch, j))
            rgb = output_activation(rgb, self.options.output_activation)
            frames.append(rgb.transpose(1, 2).reshape(rgb.shape[0], 3, height, width))
        return torch.stack(frames, dim=1)
