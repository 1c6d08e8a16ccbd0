"""Memory of one model call from its sizes alone, refused before the call allocates anything.

`forward` and `render` hold the output (B, T, 3, H, W) and decode output pixels: `render` by chunks,
`forward` all at once (with autograd, every pixel's intermediates are kept for backward). A library
caller passing an `out_size` that cannot fit would otherwise allocate until the machine runs out of
memory. The estimate counts only what certainly exists (the output, and per decoded pixel its
coordinates and RGB, or under autograd the model's `decode_floats()`), so it is a lower bound: the
measured peak of a `forward` with autograd is 1.1x to 1.35x (EGVSR) and 2x (VideoINR) of it, more
for the other calls. A call above the device's whole memory is refused; one below it may still fail at
allocation.
"""

from __future__ import annotations

from typing import Any

import torch

from egvsr.errors import ConfigError
from egvsr.fsutil import fmt_size
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory

#: floats per output pixel any decoding holds while it runs (its coordinates and RGB)
MIN_FLOATS = 5
FALLBACK_MEMORY_BYTES = 16 * 10**9  # when the machine's memory cannot be queried


def device_memory(device: torch.device | str) -> tuple[int, str]:
    """(bytes of memory of `device`, whose memory it is in words); 0 when unknown (no check then)."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return physical_memory(), "this machine's"
    try:  # an accelerator (CUDA, XPU) through torch's device-generic module; unknown kinds have no figure
        get_module = getattr(torch, "get_device_module", None)  # torch >= 2.3; 2.2 (declared): torch.cuda etc.
        module = get_module(dev) if get_module is not None else getattr(torch, dev.type)
        return int(module.get_device_properties(dev).total_memory), f"{dev}'s"
    except (AttributeError, RuntimeError, AssertionError, ValueError):
        return 0, f"{dev}'s"


def memory_budget_bytes(device: torch.device | str = "cpu") -> tuple[int, str]:
    """(default memory budget in bytes, what it is a share of) for `device`: `PLANNED_MEMORY_SHARE` of its
    memory (the machine's for anything but CUDA), leaving room for what the estimates leave out."""
    total, what = device_memory(device if torch.device(device).type == "cuda" else "cpu")
    if not total or total <= 0:
        return FALLBACK_MEMORY_BYTES, "a fixed default"
    return int(total * PLANNED_MEMORY_SHARE), f"{PLANNED_MEMORY_SHARE:.0%} of {what} {fmt_size(total)} of memory"


def float_bytes(like: torch.Tensor) -> int:
    """Bytes of one intermediate float: 2 under autocast on the input's device, else the input's."""
    device_type = like.device.type
    try:
        if torch.is_autocast_enabled(device_type):
            return 2
    except TypeError:  # torch < 2.4 (>= 2.2 is declared) takes no device type: CUDA's, and CPU's apart
        enabled = {"cuda": torch.is_autocast_enabled, "cpu": torch.is_autocast_cpu_enabled}.get(device_type)
        if enabled is not None and enabled():
            return 2
    except RuntimeError:  # a device type autocast does not know
        pass
    return like.element_size()


def sample_tensor_bytes(k: int, event_channels: int, lr_size: tuple[int, int], out_size: tuple[int, int],
                        times: int = 1) -> int:
    """Bytes of one sample's float32 tensors: K LR frames, the event tensor and `times` RGB targets."""
    (h, w), (big_h, big_w) = lr_size, out_size
    return 4 * ((3 * k + event_channels) * h * w + times * 3 * big_h * big_w)


def call_bytes(model: Any, batch: int, times: int, out_size: tuple[int, int], nbytes: int = 4,
               chunk: int | None = None, grad: bool = False) -> tuple[int, int]:
    """(output bytes, total bytes at least) of one call decoding `times` frames of `out_size` for
    `batch` samples: `render` with `chunk` pixels at a time, else `forward` (`grad`: with autograd,
    which keeps the model's `decode_floats()` per pixel of every time; without it, the layers are
    freed as they go and only `MIN_FLOATS` per decoded pixel are counted)."""
    height, width = out_size
    pixels = height * width
    out = batch * times * 3 * pixels * nbytes
    if chunk is not None:  # the output, plus one chunk (or one row, on the row path) being decoded
        return out, out + batch * min(max(chunk, width), pixels) * MIN_FLOATS * nbytes
    decoded = batch * times * pixels * int(model.decode_floats()) if grad else batch * pixels * MIN_FLOATS
    return out, 2 * out + decoded * nbytes  # the frames and their stack, plus the decoding


def check_call_memory(model: Any, lr: torch.Tensor, times: int, out_size: tuple[int, int],
                      chunk: int | None = None) -> None:
    """Refuse, before anything is allocated, a call whose output and decoding cannot fit in the memory
    of the input's device, naming `out_size` and the figures."""
    if lr.device.type == "meta":
        return
    grad = chunk is None and torch.is_grad_enabled() and (
        lr.requires_grad or any(p.requires_grad for p in model.parameters()))
    b = int(lr.shape[0])
    out, need = call_bytes(model, b, times, out_size, float_bytes(lr), chunk, grad)
    total, whose = device_memory(lr.device)
    if not total or need <= total:
        return
    height, width = out_size
    how = ("render decoding chunk_size pixels at a time" if chunk is not None
           else "forward with autograd keeping every pixel's decoding for backward" if grad
           else "forward decoding whole frames")
    hint = "a smaller chunk_size, " if chunk is not None and need > 2 * out else ""
    raise ConfigError(
        f"out_size {height}x{width}: {b} sample(s) x {times} time(s) need at least {fmt_size(need)} of memory "
        f"({fmt_size(out)} of output; {how}), more than {whose} {fmt_size(total)}; choose a smaller "
        f"out_size, {hint}fewer times or a smaller batch per call{'' if chunk is not None else ', or render()'}"
    )
