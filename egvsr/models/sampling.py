"""Coordinate grids and point sampling shared by all models.

Convention (all models): output pixel (i, j) of an H x W output has its centre at normalized
x = (2j + 1) / W - 1, y = (2i + 1) / H - 1 (LIIF `make_coord`, `align_corners=False`), so one
continuous image plane is shared by every resolution and any scale. Spatial sampling clamps at the
border (replicate), never fades to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AxisGrid:
    """One axis of a `Region`: the call's output pixel k is pixel `first + k` of a render of `lr_len`
    LR pixels to `out_len` pixels whose first LR pixel is pixel `start` of the call's LR crop of
    `crop_len` pixels (`start` > 0 when the crop has context before the rendered part)."""

    first: int
    start: int
    lr_len: int
    out_len: int
    crop_len: int

    def affine(self) -> tuple[float, float]:
        """(a, b) with the normalized crop coordinate of call pixel k = a * k + b: its centre is at
        crop position start + (first + k + 0.5) * lr_len / out_len - 0.5 (the pixel-centre rule)."""
        r = self.lr_len / self.out_len
        return 2 * r / self.crop_len, (2 * self.start + (2 * self.first + 1) * r) / self.crop_len - 1

    def normalized(self, i: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Normalized crop coordinates of call pixel positions `i` (any real, in output pixels)."""
        a, b = self.affine()
        return (i.double() * a + b).to(dtype)

    @property
    def extent(self) -> float:
        """The output length of the whole crop at this render's scale (what `out_size` is without a region)."""
        return self.crop_len * self.out_len / self.lr_len

    def cells(self, i: Tensor) -> Tensor:
        """Crop pixel (long) whose cell holds the centre of call pixel `i` (integers), clamped to the crop.
        Exact integer arithmetic: a centre on a cell border (e.g. every 5th pixel at 24 -> 60) takes the
        later cell on every path, whole render or region, whatever the float rounding of the coordinates."""
        num = (2 * (self.first + i) + 1) * self.lr_len
        return (self.start + torch.div(num, 2 * self.out_len, rounding_mode="floor")).clamp_(0, self.crop_len - 1)


@dataclass(frozen=True)
class Region:
    """A piece of a larger render decoded from an LR crop (`SRModel.render(region=...)`, used by tiles):
    its output pixels sit where the larger render puts them, so pasted pieces equal that render."""

    y: AxisGrid
    x: AxisGrid

    @property
    def extent(self) -> tuple[float, float]:
        return self.y.extent, self.x.extent


def pixel_coords(pix: Tensor, height: int, width: int, dtype: torch.dtype = torch.float32,
                 region: Region | None = None) -> Tensor:
    """Normalized (x, y) centres, shape (Q, 2), of the flat pixel indices `pix` of an H x W image (of
    the larger render's grid when a `region` is given)."""
    y = torch.div(pix, width, rounding_mode="floor")
    x = pix - y * width
    if region is not None:
        return torch.stack([region.x.normalized(x, dtype), region.y.normalized(y, dtype)], dim=-1)
    gx = (2 * x + 1).to(dtype) / width - 1
    gy = (2 * y + 1).to(dtype) / height - 1
    return torch.stack([gx, gy], dim=-1)


def sample_points(image: Tensor, coords: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample `image` (B, C, h, w) at normalized points `coords` (B, Q, 2) -> (B, Q, C).

    Pixel-centre convention with border replication; at the centres of an integer-scaled grid this
    equals `F.interpolate(..., align_corners=False)` for bilinear and bicubic. Half-precision maps
    (autocast, a half model) are sampled in float32, float16 coordinates would be off by up to a pixel at
    large sizes, and the samples returned in the map's dtype, which the layers after them take.
    """
    dtype = image.dtype
    if dtype in (torch.float16, torch.bfloat16):
        image = image.float()
    out = F.grid_sample(image, coords.unsqueeze(1).to(image.dtype), mode=mode,
                        padding_mode="border", align_corners=False)
    return out.squeeze(2).transpose(1, 2).to(dtype)


def nearest_index(coords: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Row and column (long) of the LR pixel whose cell contains each normalized point (clamped)."""
    ix = torch.floor((coords[..., 0] + 1) * (width / 2)).long().clamp_(0, width - 1)
    iy = torch.floor((coords[..., 1] + 1) * (height / 2)).long().clamp_(0, height - 1)
    return iy, ix


def pixel_cells(pix: Tensor, height: int, width: int, h: int, w: int,
                region: Region | None = None) -> tuple[Tensor, Tensor]:
    """Row and column (long) of the LR pixel (of an h x w input) whose cell holds the centre of each flat
    pixel `pix` of an H x W output (of the larger render's grid when a `region` is given): `nearest_index`
    at `pixel_coords`, computed exactly (`AxisGrid.cells`), so a centre on a cell border picks one cell."""
    y = torch.div(pix, width, rounding_mode="floor")
    x = pix - y * width
    if region is None:
        region = Region(AxisGrid(0, 0, h, height, h), AxisGrid(0, 0, w, width, w))
    return region.y.cells(y), region.x.cells(x)


def index_centers(iy: Tensor, ix: Tensor, height: int, width: int, dtype: torch.dtype) -> Tensor:
    """Normalized (x, y) centres of LR pixels (iy, ix) -> (..., 2)."""
    return torch.stack([(2 * ix + 1).to(dtype) / width - 1, (2 * iy + 1).to(dtype) / height - 1], -1)


def time_to_index(t: Tensor, steps: int, align_corners: bool) -> Tensor:
    """Fractional index into `steps` samples of the interval [-1, 1], clamped to [0, steps - 1].

    align_corners=True: samples sit at linspace(-1, 1, steps) (e.g. latent bins at the frames);
    False: samples are centres of `steps` equal bins (e.g. event moments covering the window).
    """
    if steps == 1:
        return torch.zeros_like(t)
    u = (t + 1) * (steps - 1) / 2 if align_corners else ((t + 1) * steps - 1) / 2
    return u.clamp(0, steps - 1)


def temporal_sample(volume: Tensor, t: Tensor, align_corners: bool) -> Tensor:
    """Linear interpolation of `volume` (B, D, ...) along axis 1 at times `t` (B, S) -> (B, S, ...).

    Trilinear sampling on an axis-aligned grid separates into this temporal step at LR followed by a
    bilinear spatial step, which is how TF and STIR avoid full-resolution 3-D sampling.
    """
    steps = volume.shape[1]
    u = time_to_index(t, steps, align_corners)
    i0 = torch.floor(u).long().clamp_(0, steps - 1)
    i1 = (i0 + 1).clamp_(max=steps - 1)
    w = (u - i0.to(u.dtype)).to(volume.dtype)
    rows = torch.arange(volume.shape[0], device=volume.device).unsqueeze(1)
    v0, v1 = volume[rows, i0], volume[rows, i1]
    w = w.view(*w.shape, *([1] * (volume.dim() - 2)))
    return v0 * (1 - w) + v1 * w


def bracket(frame_times: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Bracketing frame pair index p (B, T) and local time u in [0, 1] for query times t (B, T).

    p is the last frame with time <= t (at most K - 2); a query exactly at a frame time uses the pair
    starting there with u = 0 (or the last pair with u = 1 at the last frame).
    """
    k = frame_times.shape[1]
    if k == 1:
        return torch.zeros_like(t, dtype=torch.long), torch.zeros_like(t)
    p = (torch.searchsorted(frame_times.contiguous(), t.contiguous(), right=True) - 1).clamp_(0, k - 2)
    t0 = frame_times.gather(1, p)
    t1 = frame_times.gather(1, p + 1)
    u = ((t - t0) / (t1 - t0)).clamp(0, 1)
    return p, u


#: distances to two frames (normalized time) closer than this are a tie: the float32 times of a midpoint and of
#: its two frames are each rounded (at most 2.4e-7 off in the difference of the distances), so an exact tie in
#: µs would otherwise go to either frame by that rounding; distinct µs stay apart in windows up to 2 s
TIE_TOLERANCE = 8 * float(torch.finfo(torch.float32).eps)


def nearest_frame(frame_times: Tensor, t: Tensor) -> Tensor:
    """Index (B, T) of the frame nearest each query time (ties go to the earlier frame, also where float
    rounding of the normalized times made one side a hair nearer: `TIE_TOLERANCE`)."""
    d = (frame_times.unsqueeze(1) - t.unsqueeze(2)).abs().double()
    near = d <= d.min(dim=2, keepdim=True).values + TIE_TOLERANCE
    return near.to(torch.int32).argmax(dim=2)  # the first (earliest) of the nearest


FRAME_CHOICES = ("nearest", "linear")


def frame_at(lr: Tensor, frame_times: Tensor, t: Tensor, how: str) -> Tensor:
    """The LR image (B, C, h, w) standing for query times t (B,): the nearest frame (`"nearest"`; it jumps
    from one frame to the next at each interval's midpoint), or the linear blend of the two frames around
    t (`"linear"`; continuous in t, equal to the frame at frame times)."""
    rows = torch.arange(lr.shape[0], device=lr.device)
    t = t.view(-1, 1)
    if how == "nearest":
        return lr[rows, nearest_frame(frame_times, t)[:, 0]]
    if how != "linear":
        raise ValueError(f"frame choice {how!r}: expected one of {FRAME_CHOICES}")
    p, u = bracket(frame_times, t)
    p, u = p[:, 0], u[:, 0].view(-1, 1, 1, 1).to(lr.dtype)
    second = (p + 1).clamp(max=lr.shape[1] - 1)
    return lr[rows, p] * (1 - u) + lr[rows, second] * u
