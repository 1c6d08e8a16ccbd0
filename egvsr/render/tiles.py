"""Spatial tiling of the LR input, aligned to the output pixel grid, and the region render it drives.

Tiling bounds the encoder's memory (decoding is already chunked): a tile is an LR box plus a context
margin, rendered whole, whose core is pasted into the output; an as-is ROI is one such box. Cuts and
margins are multiples of n / gcd(n, N) LR pixels, so the output pixel grid is kept exactly
(docs/render.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from egvsr.errors import ConfigError


@dataclass(frozen=True)
class AxisPiece:
    """One tile along an axis: padded LR range [lo, hi), kept output [src, src+n) -> [dst, dst+n)."""

    lo: int
    hi: int
    out_len: int
    src: int
    dst: int
    n: int


@dataclass(frozen=True)
class Tile:
    """A padded LR box (rows y, cols x) with its output size and where its core goes."""

    y: AxisPiece
    x: AxisPiece

    @property
    def out_size(self) -> tuple[int, int]:
        return self.y.out_len, self.x.out_len


def _multiple_below(limit: int, q: int) -> int:
    return (max(limit, 0) // q) * q


def plan_axis(full: int, c0: int, n: int, out: int, tile: int = 0, margin: int = 16) -> list[AxisPiece]:
    """Pieces of the core [c0, c0+n) of an axis of `full` LR pixels rendered to `out` pixels."""
    if not (0 <= c0 and n >= 1 and c0 + n <= full and out >= 1):
        raise ConfigError(f"tile plan: core {c0}..{c0 + n} does not fit an axis of {full} pixels")
    q = n // math.gcd(n, out)
    ratio_num, ratio_den = out, n  # output pixels per LR pixel, exact as a fraction
    if tile and tile < n and q < n:
        step = -(-int(tile) // q) * q
        cuts = list(range(0, n, step)) + [n]
    else:
        cuts = [0, n]
    want = -(-int(margin) // q) * q if margin > 0 else 0
    if want > 2 * max(int(margin), 1):
        want = 0
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        left = min(want, _multiple_below(c0 + a, q))
        right = min(want, _multiple_below(full - (c0 + b), q))
        lo, hi = c0 + a - left, c0 + b + right
        out_a = a * ratio_num // ratio_den
        out_b = b * ratio_num // ratio_den
        pieces.append(AxisPiece(lo, hi, (hi - lo) * ratio_num // ratio_den,
                                left * ratio_num // ratio_den, out_a, out_b - out_a))
    return pieces


def plan_tiles(lr_size: Sequence[int], core: Sequence[int], out_size: Sequence[int], tile: int = 0,
               margin: int = 16) -> list[Tile]:
    """Tiles covering the core box (y0, x0, h, w) of an LR frame of `lr_size`, output `out_size`."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0 or 0 < tile < 8:
        raise ConfigError(f"`tile` {tile!r}: expected 0 (no tiling) or a tile side of at least 8 LR pixels")
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise ConfigError(f"`context` {margin!r}: expected a non-negative number of LR pixels")
    y0, x0, h, w = (int(v) for v in core)
    ys = plan_axis(int(lr_size[0]), y0, h, int(out_size[0]), tile, margin)
    xs = plan_axis(int(lr_size[1]), x0, w, int(out_size[1]), tile, margin)
    return [Tile(py, px) for py in ys for px in xs]


def is_whole(tiles: list[Tile], lr_size: Sequence[int]) -> bool:
    """One tile that is the whole LR frame with nothing cut off (plain render, no copy)."""
    if len(tiles) != 1:
        return False
    t = tiles[0]
    return (t.y.lo, t.y.hi, t.x.lo, t.x.hi) == (0, int(lr_size[0]), 0, int(lr_size[1])) \
        and t.y.src == 0 and t.x.src == 0 and t.y.n == t.y.out_len and t.x.n == t.x.out_len


def render_region(model: nn.Module, lr: torch.Tensor, times: torch.Tensor, events: torch.Tensor | None,
                  frame_times: torch.Tensor, tiles: list[Tile], out_size: Sequence[int],
                  chunk_size: int) -> torch.Tensor:
    """(T, 3, H, W) float output of the core for query `times` (1, T), rendered tile by tile."""
    if is_whole(tiles, lr.shape[-2:]):
        return model.render(lr, times, tuple(out_size), events=events, frame_times=frame_times,
                            chunk_size=chunk_size)[0]
    out = torch.empty(times.shape[1], 3, int(out_size[0]), int(out_size[1]), dtype=lr.dtype, device=lr.device)
    for t in tiles:
        ys, xs = slice(t.y.lo, t.y.hi), slice(t.x.lo, t.x.hi)
        ev = None if events is None else events[..., ys, xs].contiguous()
        res = model.render(lr[..., ys, xs].contiguous(), times, t.out_size, events=ev,
                           frame_times=frame_times, chunk_size=chunk_size)[0]
        out[:, :, t.y.dst:t.y.dst + t.y.n, t.x.dst:t.x.dst + t.x.n] = \
            res[:, :, t.y.src:t.y.src + t.y.n, t.x.src:t.x.src + t.x.n]
        del res
    return out
