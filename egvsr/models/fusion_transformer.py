"""Size-agnostic fusion transformer of EGVSR's STF (replaces ESRT's Fold block tied to one LR size).

Tokens are the 3x3 patches of every pixel at the runtime size; attention runs inside windows, so cost
and activations grow linearly with the pixel count, and tokens fold back averaged (`fold="mean"`) or
summed. Windows are either about `window_tokens` contiguous row-major tokens (strips a few rows high),
or, with `window_size` > 0, squares of about `window_size` pixels a side (the shape of a training patch:
a model trained on 16-px patches, each one window, sees the same windows on a whole frame).
`official=True` reproduces the released attention exactly (docs/models.md, "Official-compatible mode").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class EfficientAttention(nn.Module):
    """Multi-head attention on a width-halved projection: D -> D/2 -> qkv -> heads -> D."""

    def __init__(self, dim: int, heads: int, kernel: str = "sdpa", official: bool = False) -> None:
        super().__init__()
        inner = dim // 2
        self.heads, self.kernel = heads, kernel
        # official: the scale comes from the unreduced width (the released code's quirk)
        self.scale = (dim // heads) ** -0.5 if official else None
        self.reduce = nn.Linear(dim, inner, bias=not official)
        self.qkv = nn.Linear(inner, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.reduce(x)).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scale = qkv.shape[-1] ** -0.5 if self.scale is None else self.scale
        if self.kernel == "sdpa":  # fused kernel, never materializes the window's score matrix
            y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], scale=scale)
        else:  # "math": explicit scores and softmax, as the released ESRT-based code does
            scores = (qkv[0] @ qkv[1].transpose(-2, -1)) * scale
            y = scores.softmax(dim=-1) @ qkv[2]
        return self.proj(y.transpose(1, 2).reshape(b, n, -1))


class TransformerLayer(nn.Module):
    """Pre-norm attention and MLP (D -> D/4 -> D, ReLU), each with a residual."""

    def __init__(self, dim: int, heads: int, kernel: str = "sdpa", official: bool = False) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = EfficientAttention(dim, heads, kernel, official)
        self.mlp = nn.Sequential(nn.Linear(dim, dim // 4), nn.ReLU(inplace=True), nn.Linear(dim // 4, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def overlap_count(height: int, width: int, patch: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """How many patches cover each pixel (1, 1, H, W) for same-padded stride-1 unfold/fold."""
    r = patch // 2

    def axis(n: int) -> Tensor:
        i = torch.arange(n, device=device)
        return ((i + r).clamp(max=n - 1) - (i - r).clamp(min=0) + 1).to(dtype)

    return (axis(height)[:, None] * axis(width)[None, :]).view(1, 1, height, width)


def fold_tokens(tokens: Tensor, height: int, width: int, patch: int) -> Tensor:
    """`F.fold` of same-padded stride-1 patch tokens (B, H*W, C*p*p), contiguous, -> (B, C, H, W): the
    p*p shifted adds done channels-last on the token layout as it is (no transposed copy, no col2im);
    the same sums in the same order as `F.fold` (bit-identical, tested)."""
    b, _, d = tokens.shape
    r, c = patch // 2, d // (patch * patch)
    y = tokens.view(b, height, width, c, patch, patch)
    out = tokens.new_zeros(b, height + 2 * r, width + 2 * r, c)
    for i in range(patch):
        for j in range(patch):
            out[:, i:i + height, j:j + width] += y[..., i, j]
    return out[:, r:r + height, r:r + width].permute(0, 3, 1, 2).contiguous()


def balanced_spans(length: int, side: int) -> list[tuple[int, int, int]]:
    """Split `length` pixels into ceil(length / side) windows whose sizes differ by at most one, as
    (start, count, size) groups of equal-size windows (at most two groups)."""
    k = max(1, math.ceil(length / side))
    q, r = divmod(length, k)
    groups = [(0, r, q + 1)] if r else []
    return groups + [(r * (q + 1), k - r, q)]


# tokens per layer call when square windows are batched: bounds the activations of one call
WINDOW_BATCH_TOKENS = 16384


class PatchTransformer(nn.Module):
    """Transformer over 3x3 patch tokens of a (B, C, H, W) map, returned at the same shape."""

    def __init__(self, channels: int, patch: int = 3, heads: int = 8, layers: int = 1,
                 window_tokens: int = 1400, fold: str = "mean", kernel: str = "sdpa",
                 official: bool = False, window_size: int = 0) -> None:
        super().__init__()
        self.patch, self.window_tokens, self.fold, self.official = patch, window_tokens, fold, official
        self.window_size = 0 if official else int(window_size)
        dim = channels * patch * patch
        self.layers = nn.Sequential(*(TransformerLayer(dim, heads, kernel, official) for _ in range(layers)))

    def windows(self, tokens: int) -> int:
        """Number of attention windows of row-major strips for a map of `tokens` pixels."""
        if self.official:
            return math.ceil(tokens / max(tokens // 4, 1))
        return max(1, math.ceil(tokens / self.window_tokens))

    def split(self, tokens: Tensor) -> tuple[Tensor, ...]:
        """Attention windows of contiguous tokens (B, N, D): official N // 4 each, else balanced."""
        n = tokens.shape[1]
        if self.official:
            return tokens.split(max(n // 4, 1), dim=1)
        return tokens.tensor_split(self.windows(n), dim=1)

    def square_windows(self, tokens: Tensor, height: int, width: int) -> Tensor:
        """The layers over square windows of the token map (B, H*W, D), batched by window shape in
        calls of about WINDOW_BATCH_TOKENS tokens; returns the tokens in their row-major order."""
        b, _, d = tokens.shape
        grid = tokens.view(b, height, width, d)
        out = torch.empty_like(grid)
        for r0, nr, sr in balanced_spans(height, self.window_size):
            for c0, nc, sc in balanced_spans(width, self.window_size):
                block = grid[:, r0:r0 + nr * sr, c0:c0 + nc * sc]
                wins = block.reshape(b, nr, sr, nc, sc, d).permute(0, 1, 3, 2, 4, 5).reshape(-1, sr * sc, d)
                step = max(1, WINDOW_BATCH_TOKENS // (sr * sc))
                done = torch.cat([self.layers(part) for part in wins.split(step)])
                out[:, r0:r0 + nr * sr, c0:c0 + nc * sc] = (
                    done.view(b, nr, nc, sr, sc, d).permute(0, 1, 3, 2, 4, 5).reshape(b, nr * sr, nc * sc, d))
        return out.view(b, height * width, d)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        pad = self.patch // 2
        tokens = F.unfold(x, self.patch, padding=pad).transpose(1, 2)  # (B, N, D)
        if self.window_size:
            y = fold_tokens(self.square_windows(tokens.contiguous(), h, w), h, w, self.patch)
        elif self.official:  # as the released code computes it: windows, concatenation, nn.Fold
            y = torch.cat([self.layers(part) for part in self.split(tokens)], dim=1).transpose(1, 2)
            y = F.fold(y, (h, w), self.patch, padding=pad)
        else:  # the same numbers: contiguous windows written in place, folded on the token layout
            tokens = tokens.contiguous()
            out = torch.empty_like(tokens)
            start = 0
            for part in self.split(tokens):
                out[:, start:start + part.shape[1]] = self.layers(part)
                start += part.shape[1]
            y = fold_tokens(out, h, w, self.patch)
        if self.fold == "mean":
            y = y / overlap_count(h, w, self.patch, x.device, y.dtype)
        return y
