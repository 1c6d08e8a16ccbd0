"""VideoINR decoder: SpatialINR -> TemporalINR (two flows) -> backward warping -> SIREN RGB.

Decoding is cheap and memory O(chunk) by two exact rewrites: each SIREN's linear first layer is applied
once per time at LR (`context`), and the spatial map is evaluated only at the distinct output pixels
the warped points touch. `forward_full_map` is the official-style reference. Everything uses pixel
centres, flows are in output pixels and warped reads replicate the border (docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egvsr.models.sampling import Region, index_centers, pixel_cells, pixel_coords, sample_points
from egvsr.models.siren import Siren


@dataclass
class DecodeContext:
    """Per-time decoder inputs: LR features and frames, local time, and their LR projections."""

    feat: Tensor                # (B, C, h, w)
    frames: Tensor              # (B, 6, h, w) the two input frames
    u: Tensor                   # (B,) local time in [0, 1]
    out_size: tuple[int, int]
    spatial_rows: Tensor        # (B*h*w, S) SpatialINR first layer on [feature, frames, u] + bias
    flow_map: Tensor            # (B, F, h, w) TemporalINR first layer on [feature, frames, u] + bias
    rgb_maps: tuple[Tensor, Tensor]  # (B, R, h, w) RGB first layer on [feature_k, frames_k] (+ u, bias)
    region: Region | None = None     # a piece of a larger render: where the output pixels sit


def warp_grid(ctx: DecodeContext) -> tuple[tuple[int, int], tuple[int, int], Region | None]:
    """(size, offset of the call's pixels in it, region) of the output grid that warped reads index: the
    call's output, or with a region the whole larger render (a warp may leave the call's pixels)."""
    r = ctx.region
    if r is None:
        return ctx.out_size, (0, 0), None
    return (r.y.out_len, r.x.out_len), (r.y.first, r.x.first), Region(replace(r.y, first=0), replace(r.x, first=0))


def _conv1x1(x: Tensor, weight: Tensor) -> Tensor:
    return F.conv2d(x, weight[:, :, None, None].to(x.dtype))


def _time_and_bias(layer: nn.Linear, u: Tensor) -> Tensor:
    """(B, out, 1, 1): the first layer's time column times u plus its bias."""
    return (u.view(-1, 1).to(layer.weight.dtype) * layer.weight[:, -1] + layer.bias).view(len(u), -1, 1, 1)


def unique_inverse(ids: Tensor) -> tuple[Tensor, Tensor]:
    """Sorted distinct values of `ids` and the index of each element into them (a sort-based,
    much faster stand-in for `torch.unique(..., return_inverse=True)` on CPU)."""
    flat = ids.reshape(-1)
    ordered, perm = torch.sort(flat)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[1:] = ordered[1:] != ordered[:-1]
    group = torch.cumsum(first, 0) - 1
    inverse = torch.empty_like(group)
    inverse[perm] = group
    return ordered[first], inverse.view(ids.shape)


class VideoINRDecoder(nn.Module):
    """The three SIREN MLPs and the warping between them."""

    def __init__(self, feat_channels: int, spatial_hidden: Sequence[int], spatial_out: int,
                 flow_hidden: Sequence[int], rgb_hidden: Sequence[int], w0: float) -> None:
        super().__init__()
        self.c, self.s = feat_channels, spatial_out
        self.spatial = Siren(feat_channels + 6 + 2 + 1, spatial_hidden, spatial_out, w0)
        self.flow = Siren(spatial_out + feat_channels + 6 + 1, flow_hidden, 4, w0)
        self.rgb = Siren(2 * spatial_out + 2 * feat_channels + 12 + 1, rgb_hidden, 3, w0)

    # ---- per time, at LR -------------------------------------------------------------------
    def context(self, feat: Tensor, frames: Tensor, u: Tensor, out_size: tuple[int, int],
                region: Region | None = None) -> DecodeContext:
        """Apply the LR-resolution columns of each first layer once (exact: reads commute with them)."""
        c, s = self.c, self.s
        ws, wf, wr = self.spatial.first.weight, self.flow.first.weight, self.rgb.first.weight
        spatial = _conv1x1(feat, ws[:, :c]) + _conv1x1(frames, ws[:, c:c + 6]) + _time_and_bias(self.spatial.first, u)
        flow = _conv1x1(feat, wf[:, s:s + c]) + _conv1x1(frames, wf[:, s + c:s + c + 6]) + _time_and_bias(self.flow.first, u)
        o = 2 * s
        rgb0 = _conv1x1(feat, wr[:, o:o + c]) + _conv1x1(frames, wr[:, o + 2 * c:o + 2 * c + 6])
        rgb1 = _conv1x1(feat, wr[:, o + c:o + 2 * c]) + _conv1x1(frames, wr[:, o + 2 * c + 6:o + 2 * c + 12])
        rgb0 = rgb0 + _time_and_bias(self.rgb.first, u)
        rows = spatial.permute(0, 2, 3, 1).reshape(-1, spatial.shape[1])
        return DecodeContext(feat, frames, u, out_size, rows, flow, (rgb0, rgb1), region)

    # ---- per output pixel ------------------------------------------------------------------
    def _lr_lookup(self, ctx: DecodeContext, gid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Batch index, LR row (into B*h*w) and scaled offset to the nearest LR centre of output
        pixels given as global ids b*H*W + flat index (of the `warp_grid`)."""
        (big_h, big_w), _, whole = warp_grid(ctx)
        h, w = ctx.feat.shape[-2:]
        b = torch.div(gid, big_h * big_w, rounding_mode="floor")
        pix = gid - b * big_h * big_w
        coords = pixel_coords(pix, big_h, big_w, region=whole)
        iy, ix = pixel_cells(pix, big_h, big_w, h, w, region=whole)  # exact: ties pick one cell on every path
        rel = (coords - index_centers(iy, ix, h, w, coords.dtype)) * coords.new_tensor([w, h])
        return b, (b * h + iy) * w + ix, rel

    def spatial_at(self, ctx: DecodeContext, gid: Tensor) -> Tensor:
        """SpatialINR at output pixels (global ids) -> (N, spatial_out)."""
        _, rows, rel = self._lr_lookup(ctx, gid)
        table = ctx.spatial_rows[rows]
        z = table + F.linear(rel.to(table.dtype), self.spatial.first.weight[:, self.c + 6:self.c + 8].to(table.dtype))
        return self.spatial.after_first(z)

    def flows(self, ctx: DecodeContext, s_q: Tensor, coords: Tensor) -> Tensor:
        """Two flows (B, Q, 2, 2) as (dx, dy) in output pixels."""
        z = F.linear(s_q, self.flow.first.weight[:, :self.s]) + sample_points(ctx.flow_map, coords)
        f = self.flow.after_first(z).float()
        return torch.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0).view(*coords.shape[:2], 2, 2)

    def warped_spatial(self, ctx: DecodeContext, targets: Tensor) -> Tensor:
        """Bilinear read (replicated border) of the spatial feature map at pixel positions
        `targets` (B, Q, K, 2) = (x, y) in output pixel units -> (B, Q, K, spatial_out)."""
        (big_h, big_w), (oy, ox), _ = warp_grid(ctx)
        tx, ty = targets[..., 0] + ox, targets[..., 1] + oy
        x0, y0 = torch.floor(tx), torch.floor(ty)
        wx, wy = tx - x0, ty - y0
        x0, y0 = x0.long(), y0.long()
        xs = torch.stack([x0, x0 + 1, x0, x0 + 1], -1).clamp_(0, big_w - 1)
        ys = torch.stack([y0, y0, y0 + 1, y0 + 1], -1).clamp_(0, big_h - 1)
        weights = torch.stack([(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy], -1)
        batch = torch.arange(targets.shape[0], device=targets.device).view(-1, 1, 1, 1)
        gid = batch * (big_h * big_w) + ys * big_w + xs                     # (B, Q, K, 4)
        distinct, inverse = unique_inverse(gid)
        values = self.spatial_at(ctx, distinct)[inverse]                     # (B, Q, K, 4, C)
        return (values * weights.unsqueeze(-1).to(values.dtype)).sum(dim=3)

    def forward(self, ctx: DecodeContext, pix: Tensor) -> Tensor:
        """RGB (B, Q, 3) before the output activation at flat output pixel indices `pix` (Q,)."""
        big_h, big_w = ctx.out_size
        b = ctx.feat.shape[0]
        (grid_h, grid_w), (oy, ox), _ = warp_grid(ctx)
        y = torch.div(pix, big_w, rounding_mode="floor")
        at = (y + oy) * grid_w + (pix - y * big_w + ox)  # the pixels in the warp grid
        gid = torch.arange(b, device=pix.device).unsqueeze(1) * (grid_h * grid_w) + at
        s_q = self.spatial_at(ctx, gid.reshape(-1)).view(b, pix.numel(), -1)
        coords = pixel_coords(pix, big_h, big_w, region=ctx.region).unsqueeze(0).expand(b, -1, -1)
        targets = self._base(pix, big_w) + self.flows(ctx, s_q, coords)    # (B, Q, 2, 2) pixel units
        s_k = self.warped_spatial(ctx, targets)
        norm = self._normalize(targets, ctx.out_size, ctx.region)
        w = self.rgb.first.weight
        z = F.linear(s_k[:, :, 0], w[:, :self.s].to(s_k.dtype)) + F.linear(s_k[:, :, 1], w[:, self.s:2 * self.s].to(s_k.dtype))
        z = z + sample_points(ctx.rgb_maps[0], norm[:, :, 0]) + sample_points(ctx.rgb_maps[1], norm[:, :, 1])
        return self.rgb.after_first(z)

    @staticmethod
    def _base(pix: Tensor, width: int) -> Tensor:
        y = torch.div(pix, width, rounding_mode="floor")
        return torch.stack([pix - y * width, y], -1).float().view(1, -1, 1, 2)

    @staticmethod
    def _normalize(targets: Tensor, out_size: tuple[int, int], region: Region | None = None) -> Tensor:
        """Normalized (x, y) of positions (..., 2) in output pixels (of the larger render's grid with a region)."""
        if region is None:
            return (2 * targets + 1) / targets.new_tensor([out_size[1], out_size[0]]) - 1
        xs, ys = (axis.normalized(targets[..., i], targets.dtype) for i, axis in enumerate((region.x, region.y)))
        return torch.stack([xs, ys], -1)

    # ---- reference ---------------------------------------------------------------------------
    def forward_full_map(self, ctx: DecodeContext) -> Tensor:
        """Reference (official-style): plain concatenated inputs, the whole spatial map materialized
        and warped with grid_sample. Same result as `forward` over all pixels; memory grows with the
        output (tests and benchmarks only). Returns (B, H*W, 3) before the output activation."""
        big_h, big_w = ctx.out_size
        b = ctx.feat.shape[0]
        n = big_h * big_w
        feat_rows = ctx.feat.permute(0, 2, 3, 1).reshape(-1, self.c)
        frame_rows = ctx.frames.permute(0, 2, 3, 1).reshape(-1, 6)
        pix = torch.arange(n, device=ctx.feat.device)
        gid = (torch.arange(b, device=pix.device).unsqueeze(1) * n + pix).reshape(-1)
        bi, rows, rel = self._lr_lookup(ctx, gid)
        s_map = self.spatial(torch.cat([feat_rows[rows], frame_rows[rows], rel, ctx.u[bi].unsqueeze(1)], 1))
        s_map = s_map.view(b, n, -1)
        coords = pixel_coords(pix, big_h, big_w, region=ctx.region).unsqueeze(0).expand(b, -1, -1)
        u = ctx.u.view(-1, 1, 1).expand(-1, n, 1)
        flow_in = torch.cat([s_map, sample_points(ctx.feat, coords), sample_points(ctx.frames, coords), u], -1)
        flows = torch.nan_to_num(self.flow(flow_in).float(), nan=0.0, posinf=0.0, neginf=0.0).view(b, n, 2, 2)
        targets = self._base(pix, big_w) + flows
        norm = self._normalize(targets, ctx.out_size, ctx.region)
        image = s_map.transpose(1, 2).reshape(b, -1, big_h, big_w)
        parts = [sample_points(image, norm[:, :, k]) for k in range(2)]
        parts += [sample_points(ctx.feat, norm[:, :, k]) for k in range(2)]
        parts += [sample_points(ctx.frames, norm[:, :, k]) for k in range(2)]
        return self.rgb(torch.cat(parts + [u], -1))
