"""Lightweight CNN blocks of EGVSR's STF branches (ESRT-style): ARFB, HPB and the LCB backbone.

Structure and widths follow the released code; every block works at any spatial size (ceil pooling,
upsampling to the exact input size). `official=True` gives the released layout parameter for parameter
(docs/models.md, "Official-compatible mode").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Scale(nn.Module):
    """A learnable scalar weight."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.value


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average -> bottleneck (reduction 16, at least 4 units) ->
    sigmoid channel gates. The bottleneck starts with zero weights and bias 0.1, so its ReLU units
    start alive: with the default init a 2-4 unit bottleneck fed non-negative averages is entirely
    dead in about 1 of 16 blocks (1 of 4 at the official 2 units) and then never trains."""

    def __init__(self, channels: int, reduction: int = 16, official: bool = False) -> None:
        super().__init__()
        # official: exactly C // 16 units (at least 1: below 16 channels the released code has none)
        mid = max(channels // reduction, 1) if official else max(channels // reduction, min(4, channels))
        self.gate = nn.Sequential(
            nn.Conv2d(channels, mid, 1), nn.ReLU(inplace=True), nn.Conv2d(mid, channels, 1), nn.Sigmoid()
        )
        if not official:
            nn.init.zeros_(self.gate[0].weight)
            nn.init.constant_(self.gate[0].bias, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x.mean(dim=(2, 3), keepdim=True))


class ResidualUnit(nn.Module):
    """Conv3x3 C->C/2, PReLU, Conv3x3 C/2->C with learnable weights on the skip and the branch."""

    def __init__(self, channels: int, official: bool = False) -> None:
        super().__init__()
        half = max(channels // 2, 1)
        self.body = nn.Sequential(
            nn.Conv2d(channels, half, 3, padding=1), nn.PReLU(half if official else 1),
            nn.Conv2d(half, channels, 3, padding=1),
        )
        self.w_skip, self.w_body = Scale(1.0), Scale(1.0)
        self.official = official

    def forward(self, x: Tensor) -> Tensor:
        if self.official:  # the released order of operations
            return self.w_skip(x) + self.w_body(self.body(x))
        # the same sum with the branch weight folded into the last conv and the skip fused (one pass
        # over the map instead of three; equal to float rounding)
        first, act, last = self.body
        w = self.w_body.value
        y = F.conv2d(act(first(x)), last.weight * w, last.bias * w, padding=last.padding)
        return torch.addcmul(y, x, self.w_skip.value)


class ARFB(nn.Module):
    """Adaptive residual feature block: two residual units, 1x1 fuse of both, attention, 3x3 conv."""

    def __init__(self, channels: int, official: bool = False) -> None:
        super().__init__()
        self.ru1, self.ru2 = ResidualUnit(channels, official), ResidualUnit(channels, official)
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=False), nn.ReLU(inplace=True))
        self.attention = ChannelAttention(channels, official=official)
        self.out = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=not official),
                                 nn.ReLU(inplace=True))
        self.w_skip, self.w_body = Scale(1.0), Scale(1.0)
        # official: each branch is scaled before the concatenation (the released block's weight2/3)
        self.w_x2, self.w_x1 = (Scale(1.0), Scale(1.0)) if official else (None, None)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.ru1(x)
        x2 = self.ru2(x1)
        if self.w_x2 is not None:
            x2, x1 = self.w_x2(x2), self.w_x1(x1)
        y = self.out(self.attention(self.fuse(torch.cat([x2, x1], dim=1))))
        if self.w_x2 is not None:  # official: the released order of operations
            return self.w_skip(x) + self.w_body(y)
        y = y * self.w_body.value if torch.is_grad_enabled() else y.mul_(self.w_body.value)
        return torch.addcmul(y, x, self.w_skip.value)


class HPB(nn.Module):
    """High-preserving block: split into a pooled low band (one ARFB applied `low_repeats` times) and
    the high-frequency residual (its own ARFB), fuse, attend, refine, add the input."""

    def __init__(self, channels: int, low_repeats: int = 5, official: bool = False) -> None:
        super().__init__()
        self.inp, self.low, self.high, self.out = (ARFB(channels, official) for _ in range(4))
        self.low_repeats, self.official = low_repeats, official
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=not official), nn.ReLU(inplace=True))
        self.attention = ChannelAttention(channels, official=official)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.inp(x)
        size = x1.shape[-2:]
        corners = self.official  # official: floor pooling (odd sizes lose a row) and corner-aligned resampling
        low = F.avg_pool2d(x1, 2, ceil_mode=not corners)
        high = x1 - F.interpolate(low, size=size, mode="bilinear", align_corners=corners)
        for _ in range(self.low_repeats):
            low = self.low(low)
        low = F.interpolate(low, size=size, mode="bilinear", align_corners=corners)
        y = self.attention(self.fuse(torch.cat([low, self.high(high)], dim=1)))
        return self.out(y) + x


class LCB(nn.Module):
    """Lightweight CNN backbone: `depth` HPBs run in parallel on the input, concatenated, 3x3 fused."""

    def __init__(self, channels: int, depth: int = 2, official: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(HPB(channels, official=official) for _ in range(depth))
        self.fuse = nn.Conv2d(depth * channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(torch.cat([block(x) for block in self.blocks], dim=1))
