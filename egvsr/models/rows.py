"""Row-band decoding helpers: LR maps sampled at whole output rows, and pointwise MLPs channels-first.

Why: output pixels lie on an axis-aligned grid, so a bilinear or bicubic read of an LR map at a band
of output rows separates into a read along x (each LR row the band needs, widened once) and one
along y (per output row), instead of `grid_sample`'s per-pixel coordinate work. The result is (B, C, rows, W),
contiguous channels-first, so the decoder's pointwise layers run as one (out, in) @ (in, Q) GEMM per
layer. Same numbers as `sample_points` at the pixel centres (pixel-centre convention, border
replicated; bicubic is Keys' A = -0.75 with each tap clamped, as `grid_sample` does), to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egvsr.models.sampling import AxisGrid, Region

KEYS_A = -0.75


def source_positions(start: int, stop: int, out_len: int, in_len: int, grid: AxisGrid | None = None) -> Tensor:
    """Unclipped LR positions (float32, on the CPU) of output pixel centres start..stop-1 of an axis
    of `out_len` (of a larger render's `grid`, see `Region`), computed as `grid_sample` unnormalizes
    the normalized centre (2i + 1) / N - 1."""
    i = torch.arange(start, stop, device="cpu")  # on the CPU whatever torch's default device is
    g = (2 * i + 1).float() / out_len - 1 if grid is None else grid.normalized(i)
    return ((g + 1) * in_len - 1) / 2


def linear_taps(pos: Tensor, in_len: int) -> tuple[Tensor, Tensor]:
    """Bilinear taps with border replication: indices (n, 2) (long) and weights (n, 2)."""
    p = pos.clamp(0, in_len - 1)
    i0 = p.floor().long()
    w1 = p - i0.float()
    return torch.stack([i0, (i0 + 1).clamp_(max=in_len - 1)], 1), torch.stack([1 - w1, w1], 1)


def cubic_taps(pos: Tensor, in_len: int) -> tuple[Tensor, Tensor]:
    """Bicubic (Keys A = -0.75) taps: indices (n, 4), clamped to the border, and weights (n, 4)."""
    f = pos.floor()
    t = (pos - f).unsqueeze(1)
    idx = (f.long().unsqueeze(1) + torch.arange(-1, 3, device=pos.device)).clamp_(0, in_len - 1)
    a = KEYS_A
    d = torch.cat([t + 1, t, 1 - t, 2 - t], dim=1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return idx, torch.where(d <= 1, near, far)


def _blend(pos: Tensor, in_len: int, mode: str) -> tuple[Tensor, int]:
    """(len(pos), n) weights of the LR samples lo..lo+n-1 that each position reads, and lo."""
    idx, wt = linear_taps(pos, in_len) if mode == "bilinear" else cubic_taps(pos, in_len)
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return torch.zeros(len(pos), hi - lo, device=pos.device).scatter_add_(1, idx - lo, wt), lo


def sample_rows(image: Tensor, rows: tuple[int, int], out_size: tuple[int, int],
                mode: str = "bilinear", region: Region | None = None) -> Tensor:
    """`image` (B, C, h, w) read at the centres of output rows [r0, r1) of an `out_size` grid (of a
    larger render's, placed by `region`) -> (B, C, r1 - r0, W). Half-precision maps are read in float32
    and the samples returned in the map's dtype, as in `sample_points` (the layers after them take it).

    Only the LR rows the band needs are widened to W columns (`F.interpolate` along x, rows kept as
    they are; with a region, a (n, w) @ (w, W) product of tap weights), then the output rows are blended
    from them by one (rows, n) @ (n, W) product of tap weights (2 taps bilinear, 4 bicubic). Taps are
    computed on the CPU, so nothing waits for the device."""
    dtype = image.dtype
    if dtype in (torch.float16, torch.bfloat16):
        image = image.float()
    h, w = image.shape[-2:]
    ys = source_positions(rows[0], rows[1], out_size[0], h, None if region is None else region.y)
    blend, lo = _blend(ys, h, mode)
    band = image[:, :, lo:lo + blend.shape[1]]
    if region is None:
        wide = F.interpolate(band, size=(band.shape[-2], out_size[1]), mode=mode, align_corners=False)
    else:
        across, x0 = _blend(source_positions(0, out_size[1], out_size[1], w, region.x), w, mode)
        wide = torch.matmul(band[..., x0:x0 + across.shape[1]],
                            across.t().to(image.device, image.dtype, non_blocking=True))
    return torch.matmul(blend.to(image.device, image.dtype, non_blocking=True), wide).to(dtype)


def mlp_channels_first(mlp: nn.Sequential, x: Tensor) -> Tensor:
    """A pointwise MLP (Linear / ReLU modules) on channels-first features (B, C, Q) -> (B, out, Q);
    each Linear is one (out, in) @ (in, Q) product with its bias fused (`addmm`)."""
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            weight = layer.weight.to(x.dtype)
            if layer.bias is None:
                x = torch.matmul(weight, x)
            else:
                bias = layer.bias.to(x.dtype).unsqueeze(1)
                x = (torch.addmm(bias, weight, x[0]).unsqueeze(0) if len(x) == 1
                     else torch.stack([torch.addmm(bias, weight, item) for item in x]))
        elif isinstance(layer, nn.ReLU):
            x = torch.relu(x) if x.requires_grad else torch.relu_(x)
        elif isinstance(layer, nn.LeakyReLU):
            slope = layer.negative_slope
            x = F.leaky_relu(x, slope) if x.requires_grad else F.leaky_relu_(x, slope)
        else:
            x = layer(x.transpose(1, 2)).transpose(1, 2)
    return x
