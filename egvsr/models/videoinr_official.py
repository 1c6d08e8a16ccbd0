"""VideoINR's decoder as released (official-compatible mode), decoded by chunks of output pixels.

Same three SIRENs as `VideoINRDecoder`, with the released computation's surprises kept: "official" reads
the LR input upsampled x4 bilinearly whatever the scale ("official-train" reads it as is), a
corner-aligned warp grid sampled with align_corners=False, and zero padding outside the map. Memory
stays O(chunk) at any scale (docs/models.md, "Official-compatible mode").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from egvsr.models.sampling import pixel_coords
from egvsr.models.videoinr_decoder import DecodeContext, VideoINRDecoder, unique_inverse

EDGE = 1 - 1e-6


@dataclass
class OfficialContext:
    """Per-time inputs of the official decoder: our context plus the frames its flow/RGB nets read."""

    ctx: DecodeContext
    hr_input: Tensor  # (B, 6, 4h, 4w) test path, (B, 6, h, w) train path


def official_context(ctx: DecodeContext, path: str) -> OfficialContext:
    """The frames read by the flow and RGB nets: x4 bilinear upsample ("official") or the LR input."""
    frames = ctx.frames
    if path == "official":
        frames = F.interpolate(frames, scale_factor=4, mode="bilinear", align_corners=False)
    return OfficialContext(ctx, frames)


def _read(image: Tensor, grid: Tensor) -> Tensor:
    """Bilinear, zero-padded, align_corners=False read of `image` (B, C, h, w) at (B, Q, 2) -> (B, Q, C)."""
    out = F.grid_sample(image, grid.unsqueeze(1).to(image.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.squeeze(2).transpose(1, 2)


def _spatial_read(dec: VideoINRDecoder, ctx: DecodeContext, grid: Tensor) -> Tensor:
    """Bilinear zero-padded read of the (virtual) output-resolution spatial feature at normalized
    points `grid` (B, Q, 2) -> (B, Q, spatial_out); only the touched pixels are evaluated."""
    big_h, big_w = ctx.out_size
    px = ((grid[..., 0] + 1) * big_w - 1) / 2
    py = ((grid[..., 1] + 1) * big_h - 1) / 2
    x0, y0 = torch.floor(px), torch.floor(py)
    wx, wy = px - x0, py - y0
    x0, y0 = x0.long(), y0.long()
    xs = torch.stack([x0, x0 + 1, x0, x0 + 1], -1)
    ys = torch.stack([y0, y0, y0 + 1, y0 + 1], -1)
    weights = torch.stack([(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy], -1)
    inside = (xs >= 0) & (xs < big_w) & (ys >= 0) & (ys < big_h)
    weights = weights * inside
    batch = torch.arange(grid.shape[0], device=grid.device).view(-1, 1, 1)
    gid = batch * (big_h * big_w) + ys.clamp(0, big_h - 1) * big_w + xs.clamp(0, big_w - 1)
    distinct, inverse = unique_inverse(gid)
    values = dec.spatial_at(ctx, distinct)[inverse]                       # (B, Q, 4, C)
    return (values * weights.unsqueeze(-1).to(values.dtype)).sum(dim=2)


def corner_base(pix: Tensor, out_size: tuple[int, int]) -> Tensor:
    """The official warp's base grid at flat output pixels: linspace(-1, 1) per axis, (Q, 2) as (x, y)."""
    big_h, big_w = out_size
    y = torch.div(pix, big_w, rounding_mode="floor")
    x = pix - y * big_w
    gx = x.float() * (2 / (big_w - 1)) - 1 if big_w > 1 else torch.full_like(x, -1, dtype=torch.float32)
    gy = y.float() * (2 / (big_h - 1)) - 1 if big_h > 1 else torch.full_like(y, -1, dtype=torch.float32)
    return torch.stack([gx, gy], -1)


def official_decode(dec: VideoINRDecoder, octx: OfficialContext, pix: Tensor) -> tuple[Tensor, Tensor]:
    """(RGB (B, Q, 3) before any activation, flows (B, Q, 4) in output pixels) at flat pixels `pix`."""
    ctx = octx.ctx
    big_h, big_w = ctx.out_size
    b, q = ctx.feat.shape[0], pix.numel()
    gid = torch.arange(b, device=pix.device).unsqueeze(1) * (big_h * big_w) + pix
    s_q = dec.spatial_at(ctx, gid.reshape(-1)).view(b, q, -1)
    coords = pixel_coords(pix, big_h, big_w).clamp(-EDGE, EDGE).unsqueeze(0).expand(b, -1, -1)
    t = ctx.u.view(-1, 1, 1).to(s_q.dtype).expand(-1, q, 1)
    flows = dec.flow(torch.cat([s_q, _read(ctx.feat, coords), _read(octx.hr_input, coords), t], -1))
    base = corner_base(pix, ctx.out_size).to(flows.dtype).unsqueeze(0)
    half = flows.new_tensor([max(big_w - 1, 1) / 2, max(big_h - 1, 1) / 2])
    grids = [(base + flows[..., 2 * k:2 * k + 2] / half).clamp(-EDGE, EDGE) for k in range(2)]
    parts = [_spatial_read(dec, ctx, g) for g in grids]
    parts += [_read(ctx.feat, g) for g in grids]
    parts += [_read(octx.hr_input, g) for g in grids]
    return dec.rgb(torch.cat(parts + [t], -1)), flows
