"""Voxel grids (or EGVSR moments) as a grid of per-bin slices, ON positive in red, OFF in blue."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer
from egvsr.fsutil import counted
from egvsr.plots.figures import house_style


def signed_slices(voxels: np.ndarray) -> np.ndarray:
    """(B, H, W) signed, (B, 1, H, W) or (B, 2, H, W) ON/OFF -> (B, H, W) net (ON - OFF) slices, float64:
    values near float32's limit (3e38) neither overflow in ON - OFF nor in matplotlib's colour scaling, and
    float64 values beyond it stay finite."""
    v = np.asarray(voxels, np.float64)
    if v.ndim == 4 and v.shape[1] == 2:
        return v[:, 0] - v[:, 1]
    if v.ndim == 4 and v.shape[1] == 1:
        return v[:, 0]
    if v.ndim == 3:
        return v
    raise ConfigError(f"voxels: expected (B, H, W), (B, 1, H, W) or (B, 2, H, W), got shape {v.shape}")


@house_style
def plot_voxels(voxels: np.ndarray, path: str | os.PathLike, title: str | None = None,
                max_cols: int = 8, max_bins: int = 32, overwrite: bool = False) -> Path:
    """Save a grid of the first `max_bins` time bins (diverging colours, shared symmetric limits)."""
    from egvsr.plots.figures import (check_figure_path, new_figure, panel_aspect, pixel_aspect, plain, save_as_named,
                                     stretch_note)

    check_figure_path(path, overwrite)  # before any drawing

    for name, value in (("max_cols", max_cols), ("max_bins", max_bins)):
        if not is_integer(value) or value < 1:
            raise ConfigError(f"{name} {value!r}: expected a positive integer")
    v = voxels if isinstance(voxels, np.ndarray) else np.asarray(voxels)
    total = v.shape[0] if v.ndim in (3, 4) else 0
    s = signed_slices(v[:max_bins] if v.ndim in (3, 4) else v)  # only the bins drawn are converted
    b, h, w = s.shape
    if min(b, h, w) < 1:
        raise ConfigError(f"voxels: expected at least one time bin of at least 1x1 pixels, got shape "
                          f"{np.shape(voxels)}")
    cols = min(max_cols, b)
    rows = math.ceil(b / cols)
    nz = np.abs(s[(s != 0) & np.isfinite(s)])  # NaN is drawn blank and infinity at full colour: neither sets it
    lim = float(np.percentile(nz, 99)) if nz.size else 1.0
    panel = 1.8
    fig = new_figure(cols * panel + 1.0, rows * panel * panel_aspect(h, w) + 0.6)  # bounded for any h, w
    fig.set_layout_engine("constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < b:
            im = ax.imshow(s[i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                           aspect=pixel_aspect(h, w))
            ax.set_title(f"bin {i}", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="ON - OFF")
    shown_bins = counted(b, "time bin") if b == total else f"the first {b} of {total} time bins"
    fig.suptitle((plain(title) if title else f"{shown_bins}, {w}x{h}") + stretch_note(h, w), fontsize=9)
    return save_as_named(fig, path, overwrite)
