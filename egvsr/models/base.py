"""The one interface of every model: encode the LR inputs once, then decode output pixels by chunks.

`forward` (training) decodes every output pixel in one piece with autograd; `render` (inference)
decodes the same function chunk by chunk without grad into a preallocated output, so peak memory is
the output plus O(chunk) beyond the LR encoding. Both refuse, before allocating, an `out_size` whose
output and decoding cannot fit in the device's memory (`call_memory`). Subclasses implement `encode`,
`prepare_time` and `decode`; they never call `.cuda()` and create tensors on the input's device. A model whose
`decode_rows` computes `decode` on bands of whole output rows (separable LR reads, channels-first
GEMMs) is rendered band by band instead, with the same numbers to float rounding.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from egvsr.errors import ConfigError
from egvsr.models.call_memory import MIN_FLOATS, check_call_memory
from egvsr.models.gray import gray_inputs, match_gray, set_gray
from egvsr.models.sampling import Region
from egvsr.models.validate import Batch, check_chunk, check_inputs, check_region

ACTIVATIONS = ("clamp", "sigmoid", "relu", "none")


def output_activation(x: Tensor, kind: str) -> Tensor:
    """Final RGB activation. "clamp" bounds to [0, 1] with a straight-through gradient (so a pixel
    pushed out of range still learns), "sigmoid" squashes, "relu" is EGVSR's official unbounded one."""
    if kind == "clamp":
        return x + (x.clamp(0, 1) - x).detach()
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "relu":
        return torch.relu(x)
    return x


class SRModel(nn.Module):
    """Base class: validation, whole/chunked decoding loops and the `config` a model is rebuilt from."""

    uses_events: bool = False
    num_frames: int | None = None   # exact number of input frames, or None for any >= min_frames
    min_frames: int = 1
    #: frames per window when a checkpoint's config states none (an imported or untrained one); None: the
    #: datasets' default (3)
    default_frames: int | None = None
    min_lr_side: int = 1            # smallest LR height and width the network computes on
    default_chunk: int = 65536
    event_shape: tuple[int, int] = (0, 0)
    supports_region: bool = False   # whether `decode` reads coordinates from `batch.region` (tiles)
    #: whether the model divides its event tensor by a per-sample statistic, so that scaling a sample by a
    #: power of two changes nothing (events beyond a half model's range are then scaled into it, not refused)
    scale_free_events: bool = False

    def __init__(self, max_scale: float) -> None:
        super().__init__()
        self.max_scale = float(max_scale)
        self.config: dict[str, Any] = {}

    # ---- to implement ------------------------------------------------------------------------
    def encode(self, batch: Batch) -> Any:
        """LR work done once per call (features, latents)."""
        raise NotImplementedError

    def prepare_time(self, state: Any, batch: Batch, j: int) -> Any:
        """LR work for query time index j (temporal interpolation, frame choice)."""
        raise NotImplementedError

    def decode(self, tstate: Any, batch: Batch, pix: Tensor) -> Tensor:
        """RGB (B, Q, 3) at the flat output pixel indices `pix` (Q,) for the prepared time."""
        raise NotImplementedError

    def decode_floats(self) -> int:
        """Floats per output pixel that `decode` keeps for backward under autograd (at least its
        coordinates and RGB), which sizes a `forward` before it allocates (`call_memory`); each
        family counts its layers."""
        return MIN_FLOATS

    def decodes_rows(self) -> bool:
        """Whether `decode_rows` computes what `decode` does (then `render` decodes bands of rows)."""
        return False

    def decode_rows(self, tstate: Any, batch: Batch, rows: tuple[int, int]) -> Tensor:
        """RGB (B, 3, Q) channels-first of the output rows [r0, r1) (Q their pixels, row-major): an
        optional faster `decode` for the axis-aligned pixel grid of `render` (see `decodes_rows`)."""
        raise NotImplementedError

    # ---- shared ------------------------------------------------------------------------------
    def forward(self, lr: Tensor, times: Tensor, out_size: Sequence[int], events: Tensor | None = None,
                frame_times: Tensor | None = None) -> Tensor:
        """Super-resolve: (B, T, 3, H, W) for query `times` (B, T) in [-1, 1] at `out_size` (H, W)."""
        batch = check_inputs(self, lr, times, out_size, events, frame_times)
        check_call_memory(self, batch.lr, batch.times.shape[1], batch.out_size)
        state = self.encode(batch)
        height, width = batch.out_size
        pix = torch.arange(height * width, device=lr.device)
        gray = gray_inputs(batch.lr)
        frames = []
        for j in range(batch.times.shape[1]):
            rgb = match_gray(self.decode(self.prepare_time(state, batch, j), batch, pix), gray)
            frames.append(rgb.transpose(1, 2).reshape(rgb.shape[0], 3, height, width))
        return torch.stack(frames, dim=1).to(batch.lr.dtype)  # the model's dtype, as `render` gives

    @torch.no_grad()
    def render(self, lr: Tensor, times: Tensor, out_size: Sequence[int], events: Tensor | None = None,
               frame_times: Tensor | None = None, chunk_size: int | None = None,
               region: Region | None = None, gray: bool | None = None) -> Tensor:
        """Same result as `forward` without grad, decoding `chunk_size` output pixels at a time. With a
        `region` (models with `supports_region`), `lr` is a crop and the `out_size` pixels are those
        of a larger render that the region places, at exactly that render's coordinates. `gray`: whether
        the whole input that `lr` is cut from is gray (gray out, docs/models.md), so a gray patch of a
        colour frame is not made gray by being a tile of its own; None: decided from `lr`."""
        chunk = check_chunk(self.default_chunk if chunk_size is None else chunk_size)
        batch = check_inputs(self, lr, times, out_size, events, frame_times)
        if region is not None:
            batch.region = check_region(self, region, batch)
        check_call_memory(self, batch.lr, batch.times.shape[1], batch.out_size, chunk)
        state = self.encode(batch)
        height, width = batch.out_size
        b, t = batch.times.shape
        out = torch.empty(b, t, 3, height * width, dtype=batch.lr.dtype, device=lr.device)
        if gray is None:
            gray = gray_inputs(batch.lr)
        elif not isinstance(gray, bool):
            raise ConfigError(f"`gray` {gray!r:.80}: expected True, False or None (decided from `lr`)")
        else:
            gray = torch.full((b,), gray, dtype=torch.bool, device=lr.device)
        any_gray = bool(gray.any())  # one device sync per call, none per chunk
        band = max(1, chunk // width)  # rows per chunk on the row path
        for j in range(t):
            tstate = self.prepare_time(state, batch, j)
            if self.decodes_rows():
                for r0 in range(0, height, band):
                    r1 = min(height, r0 + band)
                    rgb = self.decode_rows(tstate, batch, (r0, r1))
                    if any_gray:
                        rgb = set_gray(rgb.transpose(1, 2), gray).transpose(1, 2)
                    out[:, j, :, r0 * width:r1 * width] = rgb
                continue
            for start in range(0, height * width, chunk):
                pix = torch.arange(start, min(start + chunk, height * width), device=lr.device)
                rgb = self.decode(tstate, batch, pix)
                out[:, j, :, start:start + pix.numel()] = (set_gray(rgb, gray) if any_gray else rgb).transpose(1, 2)
        return out.view(b, t, 3, height, width)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
