"""Spatial tiling of the LR input, on the output pixel grid of the whole render, and the region render it drives.

Tiling bounds the encoder's memory (decoding is already chunked): the output pixels are cut into
tiles of about `tile` LR pixels' worth; each tile is rendered from the LR footprint of its pixels
plus `context` LR pixels on each side (fewer only where the frame ends; at least the `DECODE_REACH`
pixels decoding reads, so a cut is no seam even at `context` 0), and pasted into the
output; an as-is ROI is one such tile. Cuts fall anywhere: a model with `supports_region` decodes
each tile at the whole render's coordinates (`egvsr.models.sampling.Region`), so pasted tiles equal
the whole-frame render wherever the encoder's view is the same (a bicubic model gives identical
pixels). A model that decodes on its own grid only (the official-compatible modes) renders each
crop at the nearest whole output size instead: exact where the cuts fall on the grid, else off by
up to half an output pixel (docs/render.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import torch
from torch import nn

from egvsr.errors import ConfigError
from egvsr.models.gray import gray_inputs
from egvsr.models.sampling import AxisGrid, Region


@dataclass(frozen=True)
class AxisPiece:
    """One tile along an axis: the LR crop [lo, hi) that renders output pixels [dst, dst + n) of the
    render of the core, LR [c0, c0 + size), to `out` pixels."""

    lo: int
    hi: int
    dst: int
    n: int
    c0: int
    size: int
    out: int

    def grid(self) -> AxisGrid:
        """Where the piece's pixels sit for a model that decodes on a given grid."""
        return AxisGrid(self.dst, self.c0 - self.lo, self.size, self.out, self.hi - self.lo)

    def own_grid(self, max_scale: float = math.inf) -> tuple[int, int]:
        """(output length, first kept pixel) of the crop rendered on its own grid at the nearest whole
        output size (at most `max_scale` times the crop): exact when that size and the kept pixels'
        offset are whole, else the kept pixels are the ones nearest the whole render's."""
        crop = self.hi - self.lo
        length = round(Fraction(crop * self.out, self.size))
        if length > crop * max_scale + 1e-9:
            length = math.floor(crop * max_scale + 1e-9)
        length = max(self.n, length)
        mid = self.dst + self.n // 2  # place the middle kept pixel best: the drift splits both ways
        centre = (self.c0 - self.lo) + (mid + Fraction(1, 2)) * Fraction(self.size, self.out)
        k = round(centre * Fraction(length, crop) - Fraction(1, 2))
        return length, min(max(k - self.n // 2, 0), length - self.n)


@dataclass(frozen=True)
class Tile:
    """A padded LR box (rows y, cols x) and the output pixels it renders."""

    y: AxisPiece
    x: AxisPiece

    @property
    def out_size(self) -> tuple[int, int]:
        """The output pixels it renders (rows, cols)."""
        return self.y.n, self.x.n

    @property
    def lr_pixels(self) -> int:
        """LR pixels of its crop (what the encoder sees)."""
        return (self.y.hi - self.y.lo) * (self.x.hi - self.x.lo)

    def region(self) -> Region:
        """Where its output pixels sit in the whole render, for `model.render(..., region=...)`."""
        return Region(self.y.grid(), self.x.grid())


#: LR pixels beyond the footprint of a tile's output pixels that decoding them reads (bicubic's four taps, of the
#: bicubic model and the learned models' bicubic residual, reach 2 past the pixel under an output pixel; bilinear
#: maps 1): a tile holds them whatever its `context`, so its pixels decode as the whole frame's do
DECODE_REACH = 2


def _footprint(j0: int, j1: int, c0: int, n: int, out: int) -> tuple[int, int]:
    """LR pixels [a, b) under output pixels [j0, j1) of a render of LR [c0, c0 + n) to `out` pixels."""
    return c0 + (j0 * n) // out, c0 - (-(j1 * n) // out)


def plan_axis(full: int, c0: int, n: int, out: int, tile: int = 0, margin: int = 16) -> list[AxisPiece]:
    """Pieces of the core [c0, c0+n) of an axis of `full` LR pixels rendered to `out` pixels: the output
    cut into ceil(n / tile) nearly equal parts (one without `tile`), each with its LR footprint plus
    `margin` LR pixels each side (at least `DECODE_REACH`, what decoding reads), clipped to the axis."""
    if not (0 <= c0 and n >= 1 and c0 + n <= full and out >= 1):
        raise ConfigError(f"tile plan: core {c0}..{c0 + n} does not fit an axis of {full} pixels")
    parts = min(out, -(-n // int(tile))) if tile and tile < n else 1
    cuts = [(i * out) // parts for i in range(parts + 1)]
    margin = max(int(margin), DECODE_REACH)
    pieces = []
    for j0, j1 in zip(cuts[:-1], cuts[1:]):
        a, b = _footprint(j0, j1, c0, n, out)
        pieces.append(AxisPiece(max(0, a - margin), min(full, b + margin), j0, j1 - j0, c0, n, out))
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
    return all((p.lo, p.hi, p.c0, p.size, p.dst, p.n) == (0, int(full), 0, int(full), 0, p.out)
               for p, full in ((t.y, lr_size[0]), (t.x, lr_size[1])))


def render_region(model: nn.Module, lr: torch.Tensor, times: torch.Tensor, events: torch.Tensor | None,
                  frame_times: torch.Tensor, tiles: list[Tile], out_size: Sequence[int],
                  chunk_size: int) -> torch.Tensor:
    """(T, 3, H, W) float output of the core for query `times` (1, T), rendered tile by tile."""
    if is_whole(tiles, lr.shape[-2:]):
        return model.render(lr, times, tuple(out_size), events=events, frame_times=frame_times,
                            chunk_size=chunk_size)[0]
    out = torch.empty(times.shape[1], 3, int(out_size[0]), int(out_size[1]), dtype=lr.dtype, device=lr.device)
    gray = bool(gray_inputs(lr)[0])  # the whole frame's, not each tile's: a gray patch of a colour frame stays as is
    on_grid = bool(getattr(model, "supports_region", False))
    cap = float(getattr(model, "max_scale", math.inf))
    for t in tiles:
        ys, xs = slice(t.y.lo, t.y.hi), slice(t.x.lo, t.x.hi)
        crop = lr[..., ys, xs].contiguous()
        ev = None if events is None else events[..., ys, xs].contiguous()
        target = out[:, :, t.y.dst:t.y.dst + t.y.n, t.x.dst:t.x.dst + t.x.n]
        if on_grid:
            target.copy_(model.render(crop, times, t.out_size, events=ev, frame_times=frame_times,
                                      chunk_size=chunk_size, region=t.region(), gray=gray)[0])
            continue
        (hy, sy), (hx, sx) = t.y.own_grid(cap), t.x.own_grid(cap)
        res = model.render(crop, times, (hy, hx), events=ev, frame_times=frame_times, chunk_size=chunk_size,
                           gray=gray)[0]
        target.copy_(res[:, :, sy:sy + t.y.n, sx:sx + t.x.n])
        del res
    return out
