"""Input checks for every model call: shapes, sizes, times and scale, failing with the toolkit's errors.

Shape problems of the frame/event tensors raise `EventValidationError`; bad arguments (output size,
scale, query times, chunk size) raise `ConfigError`. Both name the argument and what was expected.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import torch
from torch import Tensor

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.checks import is_integer
from egvsr.models.sampling import AxisGrid, Region

TIME_TOLERANCE = 1e-5


@dataclass
class Batch:
    """Validated inputs of one model call (times and frame_times broadcast to (B, T) and (B, K))."""

    lr: Tensor
    times: Tensor
    frame_times: Tensor
    events: Tensor | None
    out_size: tuple[int, int]
    region: Region | None = None  # a piece of a larger render (tiles): where its pixels sit

    @property
    def lr_size(self) -> tuple[int, int]:
        return int(self.lr.shape[-2]), int(self.lr.shape[-1])

    @property
    def grid_size(self) -> tuple[float, float]:
        """The output size the LR input is rendered at: `out_size`, or with a region the whole crop's
        size at the larger render's scale (what sets the output pixel's size, e.g. LIIF's cell)."""
        return self.out_size if self.region is None else self.region.extent


def model_dtype(model: Any) -> torch.dtype | None:
    """The floating dtype of the model's weights (inputs are cast to it), None for a model without any.
    Complex weights (`model.to(torch.complex64)`) are refused: no input dtype could run them."""
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    odd = sorted({str(p.dtype).removeprefix("torch.") for p in params if p.is_complex()})
    if odd:
        raise ConfigError(f"model: weights of dtype {', '.join(odd)}; expected a real floating dtype (float16, "
                          "bfloat16, float32 or float64): move the model with .to(dtype), .half() or .float()")
    return next((p.dtype for p in params if p.is_floating_point()), None)


def _tensor(name: str, value: Any, ndim: int, layout: str, dtype: torch.dtype | None = None,
            scale_free: bool = False) -> Tensor:
    """`value` checked as a finite floating tensor of `ndim` dims, cast to `dtype` (the model's) when given:
    float64 frames from NumPy or half-precision inputs then run on a float32 model (and vice versa).
    `scale_free`: the model divides this tensor by a per-sample statistic (`event_norm`), so samples whose
    values lie beyond `dtype`'s range are first scaled down by a power of two (`fit_range`), which that
    division undoes (exactly, unless the scaling pushes small values into the subnormal range), instead of
    being refused."""
    if not isinstance(value, Tensor):
        raise EventValidationError(f"{name}: expected a torch.Tensor {layout}, got {type(value).__name__}")
    if value.dim() != ndim:
        raise EventValidationError(f"{name}: expected {ndim} dimensions {layout}, got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        raise EventValidationError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")
    given = value
    if dtype is not None and value.dtype != dtype:
        if scale_free:
            value = fit_range(value, dtype)
        value = value.to(dtype)  # a value beyond the model dtype's range becomes infinite: refused below
    if not bool(torch.isfinite(value).all()):  # per forward call: no index search unless it fails
        where = tuple(int(i) for i in (~torch.isfinite(value)).nonzero()[0])
        was = given[where].item()
        if math.isfinite(was):  # finite as given: the cast to the model's dtype overflowed
            raise EventValidationError(
                f"{name}: value {was!r} at index {where} is beyond the range of {str(dtype).removeprefix('torch.')}, "
                f"the dtype of the model's weights (largest {torch.finfo(dtype).max:g}); scale the input down or "
                "run the model in float32"
            )
        raise EventValidationError(
            f"{name}: value {was} at index {where}; expected finite values (NaN or infinity "
            "in the input frames or events)"
        )
    return value


#: the largest magnitude `fit_range` leaves a sample at: a quarter of float16's range, so that the model's own
#: sums over it (its normalization takes float32 statistics) have room
_FIT_HEADROOM = 2.0**14


def fit_range(value: Tensor, dtype: torch.dtype) -> Tensor:
    """`value` (B, ...) with each sample whose largest magnitude lies beyond `dtype`'s range divided by a power
    of two (exact in binary floating point) that brings it within `min(_FIT_HEADROOM, max / 4)`; other samples,
    and tensors already within range or not finite, are returned as they are."""
    top = torch.finfo(dtype).max
    if not value.is_floating_point() or torch.finfo(value.dtype).max <= top:
        return value
    peak = value.detach().abs().flatten(1).amax(1).double()
    if not bool(torch.isfinite(peak).all()) or not bool((peak > top).any()):
        return value
    target = min(_FIT_HEADROOM, top / 4)
    shift = torch.where(peak > top, torch.ceil(torch.log2(peak / target)), torch.zeros_like(peak))
    return torch.ldexp(value, (-shift).to(value.dtype).view(-1, *([1] * (value.dim() - 1))))


def _as_real_tensor(name: str, value: Any, like: Tensor) -> Tensor:
    """`value` (a tensor, array, list or number) as a real tensor on `like`'s device; None, strings,
    bools and complex numbers are refused naming `name`."""
    try:
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError
        t = torch.as_tensor(value, device=like.device)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None or t.dtype == torch.bool or t.is_complex():
        got = type(value).__name__ if t is None else f"dtype {t.dtype}"
        raise ConfigError(f"{name}: expected real numbers in [-1, 1] (a tensor, array or list), got {got}")
    return t


def _times(name: str, value: Any, batch: int, like: Tensor) -> Tensor:
    t = _as_real_tensor(name, value, like)
    if t.dim() == 1:
        t = t.unsqueeze(0).expand(batch, -1)
    if t.dim() != 2 or t.shape[0] != batch or t.shape[1] < 1:
        raise ConfigError(f"{name}: expected shape (B={batch}, T>=1) or (T,), got {tuple(t.shape)}")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name}: contains NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1 - TIME_TOLERANCE or hi > 1 + TIME_TOLERANCE:
        raise ConfigError(
            f"{name}: times must lie in the window [-1, 1] spanned by the input frames "
            f"(first frame -1, last +1); got values in [{lo:.4g}, {hi:.4g}]"
        )
    return t.clamp(-1, 1)


def _out_size(out_size: Any, lr_size: tuple[int, int], max_scale: float) -> tuple[int, int]:
    try:
        big_h, big_w = (int(v) for v in out_size)
        if any(isinstance(v, bool) or int(v) != v for v in out_size):
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite size
        raise ConfigError(f"out_size: expected two integers (H, W), got {out_size!r}") from None
    h, w = lr_size
    sh, sw = big_h / h, big_w / w
    if big_h <= 0 or big_w <= 0:
        raise ConfigError(
            f"out_size {big_h}x{big_w}: the scale (output/input size) must be > 0; "
            f"got {sh:.4g} x {sw:.4g} for an LR input of {h}x{w}"
        )
    if max(sh, sw) > max_scale + 1e-9:
        raise ConfigError(
            f"out_size {big_h}x{big_w}: scale {max(sh, sw):.4g} for an LR input of {h}x{w} exceeds "
            f"max_scale={max_scale:g} (raise it with build_model(..., max_scale=...))"
        )
    return big_h, big_w


def check_inputs(model: Any, lr: Any, times: Any, out_size: Sequence[int], events: Any,
                 frame_times: Any) -> Batch:
    """Validate one call of `model` and return a `Batch`; see docs/CONTRACTS.md for the layouts."""
    dtype = model_dtype(model)
    lr = _tensor("lr", lr, 5, "(B, K, 3, h, w)", dtype)
    b, k, c, h, w = lr.shape
    if c != 3:
        raise EventValidationError(f"lr: expected 3 (RGB) channels in dim 2 of (B, K, 3, h, w), got {c}")
    if b < 1 or h < 1 or w < 1:
        raise EventValidationError(f"lr: empty tensor of shape {tuple(lr.shape)}")
    side = getattr(model, "min_lr_side", 1)
    if min(h, w) < side:
        raise EventValidationError(
            f"lr: frames of {h}x{w} (h x w) pixels; {type(model).__name__} needs at least {side}x{side}")
    if model.num_frames is not None and k != model.num_frames:
        raise EventValidationError(
            f"lr: this model was built for num_frames={model.num_frames} input frames, got K={k}"
        )
    if k < model.min_frames:
        raise EventValidationError(f"lr: this model needs at least {model.min_frames} input frames, got K={k}")
    big = _out_size(out_size, (h, w), model.max_scale)
    t = _times("times", times, b, lr)
    if frame_times is None:
        ft = torch.linspace(-1, 1, k, device=lr.device).unsqueeze(0).expand(b, -1)
    else:
        ft = _times("frame_times", frame_times, b, lr)
        if ft.shape[1] != k:
            raise EventValidationError(f"frame_times: expected K={k} times per sample, got {ft.shape[1]}")
        if k > 1 and not (ft[:, 1:] > ft[:, :-1]).all():
            raise EventValidationError("frame_times: expected strictly increasing times per sample")
    ev = None
    if model.uses_events:
        if events is None:
            raise EventValidationError("events: this model needs an event tensor (B, M, P, h, w), got None")
        ev = _tensor("events", events, 5, "(B, M, P, h, w)", dtype,
                     scale_free=bool(getattr(model, "scale_free_events", False)))
        m, p = model.event_shape
        if tuple(ev.shape[1:3]) != (m, p):
            raise EventValidationError(
                f"events: expected M={m} time bins x P={p} polarity channels (dims 1, 2 of (B, M, P, h, w)) "
                f"as configured, got {tuple(ev.shape[1:3])}"
            )
        if tuple(ev.shape[3:]) != (h, w):
            raise EventValidationError(
                f"events: spatial size {ev.shape[3]}x{ev.shape[4]} differs from the frames' {h}x{w}; "
                f"resample the event tensor to the LR size"
            )
        if ev.shape[0] != b:
            raise EventValidationError(f"events: batch size {ev.shape[0]} differs from lr's {b}")
        ev = ev.to(lr.dtype)
    return Batch(lr=lr, times=t, frame_times=ft, events=ev, out_size=big)


def check_region(model: Any, region: Any, batch: Batch) -> Region:
    """A `Region` that fits this call: the model decodes on a given grid, the crops are the LR
    input's sides and the call's pixels lie inside the larger render."""
    if not getattr(model, "supports_region", False):
        raise ConfigError(f"region: {type(model).__name__} decodes on its own output grid only "
                          "(render the crop without a region)")
    if not isinstance(region, Region):
        raise ConfigError(f"region: expected an egvsr.models.sampling.Region, got {type(region).__name__}")
    for name, axis, crop, size in (("y", region.y, batch.lr_size[0], batch.out_size[0]),
                                   ("x", region.x, batch.lr_size[1], batch.out_size[1])):
        if not isinstance(axis, AxisGrid):
            raise ConfigError(f"region.{name}: expected an egvsr.models.sampling.AxisGrid, got {type(axis).__name__}")
        fields = (axis.first, axis.start, axis.lr_len, axis.out_len, axis.crop_len)
        if not all(is_integer(v) for v in fields):
            raise ConfigError(f"region.{name} {axis}: expected integer pixel counts and positions")
        if axis.crop_len != crop or axis.lr_len < 1 or not 0 <= axis.first <= axis.out_len - size:
            raise ConfigError(f"region.{name} {axis}: expected crop_len {crop} (the LR input's side), "
                              f"lr_len >= 1 and {size} output pixels inside its out_len")
        if axis.out_len / axis.lr_len > model.max_scale + 1e-9:  # the larger render's scale, as `out_size`'s
            raise ConfigError(
                f"region.{name} {axis}: scale {axis.out_len / axis.lr_len:.4g} (out_len / lr_len) exceeds "
                f"max_scale={model.max_scale:g} (raise it with build_model(..., max_scale=...))")
    return region


def check_chunk(chunk_size: Any) -> int:
    """A positive integer number of query pixels per chunk (Python's or NumPy's, as `RenderOptions`)."""
    try:
        chunk = None if isinstance(chunk_size, (bool, np.bool_)) else operator.index(chunk_size)
    except TypeError:
        chunk = None
    if chunk is None or chunk < 1:
        raise ConfigError(f"chunk_size: expected a positive integer number of pixels, got {chunk_size!r}")
    return chunk

