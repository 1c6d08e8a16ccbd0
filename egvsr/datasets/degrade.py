"""Degradation: LR frames from HR crops by antialiased bicubic resizing.

The LR image of an H×W crop is `F.interpolate(mode="bicubic", antialias=True, align_corners=False)`
to h×w, so LR pixel centre i sits at HR coordinate (i + 0.5)·H/h - 0.5 and the kernel is widened by
H/h (the antialias that PIL's and MATLAB's `imresize` also apply). Values are clamped to [0, 1] and,
by default, rounded to 8-bit levels as a real LR video would be.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from egvsr.datasets.geometry import check_sides
from egvsr.errors import ConfigError
from egvsr.fsutil import check_flag


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) RGB or gray → float32 (3, H, W) in [0, 1] (gray replicated to 3 channels).

    The conversion runs in numpy: many tiny multi-threaded torch ops are slow on a busy machine.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ConfigError(f"image: expected (H, W, 1) or (H, W, 3), got shape {a.shape}")
    if a.shape[-1] == 1:
        a = np.broadcast_to(a, (*a.shape[:2], 3))
    out = np.empty((3, a.shape[0], a.shape[1]), np.float32)
    np.multiply(np.moveaxis(a, -1, 0), np.float32(1.0 / 255.0), out=out, dtype=np.float32)
    return torch.from_numpy(out)


def downscale(
    hr: torch.Tensor, size: tuple[int, int], quantize: bool = True
) -> torch.Tensor:
    """Resize (…, C, H, W) images in [0, 1] to `size` = (h, w) by antialiased bicubic.

    The factor is H/h (and W/w) exactly; pass a crop whose size is floor(s·h) to realise scale s
    (see `geometry.hr_size`). `quantize` rounds to multiples of 1/255 after clamping.
    """
    if not isinstance(hr, torch.Tensor) or hr.ndim < 3:
        raise ConfigError(f"downscale hr: expected a (…, C, H, W) torch.Tensor, got "
                          f"{type(hr).__name__}{f' of shape {tuple(hr.shape)}' if isinstance(hr, torch.Tensor) else ''}")
    if isinstance(size, (str, bytes)) or not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ConfigError(f"downscale size {size!r}: expected (h, w), two whole numbers >= 1")
    h, w = check_sides(tuple(size), ("downscale size h", "downscale size w"))
    quantize = check_flag(quantize, "quantize")
    if hr.shape[-2] < h or hr.shape[-1] < w:
        raise ConfigError(
            f"downscale: input {tuple(hr.shape[-2:])} is smaller than the LR size {(h, w)}; "
            "expected a downscaling (scale >= 1)"
        )
    lead = hr.shape[:-3]
    x = hr.reshape(-1, *hr.shape[-3:]).float()
    if (x.shape[-2], x.shape[-1]) == (h, w):
        out = x.clone()
    elif w == 1 and h > 1:
        # torch's antialiased bicubic (CPU) gives every row of a one-pixel-wide output the first row's value;
        # the transposed resize (one pixel high) is right, and is the same resize
        out = F.interpolate(x.transpose(-1, -2), size=(w, h), mode="bicubic", antialias=True,
                            align_corners=False).transpose(-1, -2).contiguous()
    else:
        out = F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
    if out.device.type == "cpu" and not out.requires_grad:
        a = out.numpy()  # finish the small LR result in numpy: no per-op thread overhead
        np.clip(a, 0.0, 1.0, out=a)
        if quantize:
            np.multiply(a, 255.0, out=a)
            np.round(a, out=a)
            np.divide(a, 255.0, out=a)
    else:
        out = out.clamp(0.0, 1.0)
        if quantize:
            out = out.mul(255.0).round().div(255.0)
    return out.reshape(*lead, out.shape[-3], h, w)
