"""Modulated deformable convolution (DCNv2) in plain PyTorch: no compiled extension, CPU and CUDA.

For each of G deformable groups and each of the k*k taps, the input is sampled bilinearly (zero
outside the image, like DCNv2) at the tap position plus a learned offset with one `grid_sample`
call over all groups and taps, multiplied by a sigmoid mask, and the columns are contracted with
the weight by one matmul. Offsets are laid out (G, k*k, 2) with (dy, dx) per tap, in pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def modulated_deform_conv2d(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                            bias: Tensor | None, groups: int) -> Tensor:
    """Stride-1, same-padded deformable conv: x (B, C, H, W), offset (B, 2*G*k*k, H, W),
    mask (B, G*k*k, H, W), weight (C_out, C, k, k) -> (B, C_out, H, W)."""
    b, c, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    taps = kh * kw
    # positions and samples in (at least) float32 even under autocast: half-precision grid
    # coordinates would misplace taps by a sizeable fraction of a pixel
    dtype = torch.promote_types(x.dtype, torch.float32)
    off = offset.view(b, groups, taps, 2, h, w).to(dtype)
    ky, kx = torch.meshgrid(torch.arange(kh, device=x.device), torch.arange(kw, device=x.device), indexing="ij")
    ky = (ky.reshape(-1) - kh // 2).to(dtype).view(1, 1, taps, 1, 1)
    kx = (kx.reshape(-1) - kw // 2).to(dtype).view(1, 1, taps, 1, 1)
    ys = torch.arange(h, device=x.device, dtype=dtype).view(1, 1, 1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=dtype).view(1, 1, 1, 1, w)
    py = ys + ky + off[:, :, :, 0]
    px = xs + kx + off[:, :, :, 1]
    # pixel index -> normalized coordinate for align_corners=False (also valid for a size of 1)
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)
    grid = grid.view(b * groups, taps * h, w, 2)
    sampled = F.grid_sample(x.to(dtype).reshape(b * groups, c // groups, h, w), grid, mode="bilinear",
                            padding_mode="zeros", align_corners=False)
    sampled = sampled.view(b, groups, c // groups, taps, h, w) * mask.view(b, groups, 1, taps, h, w).to(dtype)
    out = torch.matmul(weight.reshape(c_out, c * taps).to(dtype), sampled.view(b, c * taps, h * w))
    if bias is not None:
        out = out + bias.view(1, -1, 1).to(dtype)
    return out.view(b, c_out, h, w).to(x.dtype)  # a half-precision model's next layers take its dtype


class DeformConvPack(nn.Module):
    """DCNv2 layer whose offsets and masks come from a separate feature map (DCN_sep-style).

    The offset/mask conv starts near zero (std 1e-4 rather than DCNv2's exact zero, so that the very
    first backward pass already reaches the layers that produce `offset_feature`): the layer starts
    as a plain conv at about half strength (mask ~ sigmoid(0)) and learns to deform.
    """

    def __init__(self, in_channels: int, out_channels: int, offset_channels: int, groups: int,
                 kernel_size: int = 3) -> None:
        super().__init__()
        self.groups, self.taps = groups, kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.uniform_(self.weight, -1 / math.sqrt(in_channels * self.taps), 1 / math.sqrt(in_channels * self.taps))
        self.offset_mask = nn.Conv2d(offset_channels, 3 * groups * self.taps, kernel_size,
                                     padding=kernel_size // 2)
        nn.init.normal_(self.offset_mask.weight, std=1e-4)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, x: Tensor, offset_feature: Tensor) -> Tensor:
        om = self.offset_mask(offset_feature)
        n = 2 * self.groups * self.taps
        return modulated_deform_conv2d(x, om[:, :n], torch.sigmoid(om[:, n:]), self.weight, self.bias, self.groups)
