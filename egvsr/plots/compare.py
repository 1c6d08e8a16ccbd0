"""Comparison grids: the same crop of several results side by side (LR, bicubic, ours, ground truth).

Panels may differ in size (an LR frame beside HR outputs): a crop box is given in the coordinates
of the largest panel (inside it) and scaled to each panel, and crops are drawn with nearest-neighbour
interpolation at one display size, so an LR crop shows its real pixels: as much of them as lies inside
the box, so that every zoom shows the same region at any ratio of sizes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from egvsr.errors import ConfigError
from egvsr.plots.figures import house_style

Box = tuple[int, int, int, int]  # (y, x, h, w)


def scale_box(box: Box, ref_shape: Sequence[int], shape: Sequence[int]) -> Box:
    """`box` in an image of `ref_shape` (H, W) mapped to an image of `shape` (at least 1 pixel)."""
    y, x, h, w = box
    fy, fx = shape[0] / ref_shape[0], shape[1] / ref_shape[1]
    y0, x0 = int(np.floor(y * fy)), int(np.floor(x * fx))
    y1, x1 = max(y0 + 1, int(np.ceil((y + h) * fy))), max(x0 + 1, int(np.ceil((x + w) * fx)))
    return y0, x0, min(y1, shape[0]) - y0, min(x1, shape[1]) - x0


def crop(img: np.ndarray, box: Box) -> np.ndarray:
    """`img[y:y+h, x:x+w]` with the box checked against the image."""
    y, x, h, w = box
    if y < 0 or x < 0 or h < 1 or w < 1 or y + h > img.shape[0] or x + w > img.shape[1]:
        raise ConfigError(f"crop {box}: outside the {img.shape[1]}x{img.shape[0]} image")
    return img[y:y + h, x:x + w]


def pick_crop(weight: np.ndarray, size: tuple[int, int]) -> Box:
    """The (h, w) box of `weight` (H, W) with the largest total weight (summed-area table); NaN and
    infinite weights count as 0 (a NaN would make every box containing it, and the choice, arbitrary)."""
    wmap = np.asarray(weight, np.float64)
    if wmap.ndim != 2 or min(wmap.shape) < 1:
        raise ConfigError(f"weight: expected a non-empty (H, W) map, got shape {wmap.shape}")
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        h = w = 0
    if h < 1 or w < 1:
        raise ConfigError(f"size: expected a crop (h, w) of positive integers, got {size!r}")
    wmap = np.where(np.isfinite(wmap), wmap, 0.0)
    h, w = min(h, wmap.shape[0]), min(w, wmap.shape[1])
    sat = np.zeros((wmap.shape[0] + 1, wmap.shape[1] + 1))
    sat[1:, 1:] = wmap.cumsum(0).cumsum(1)
    sums = sat[h:, w:] - sat[:-h, w:] - sat[h:, :-w] + sat[:-h, :-w]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x), h, w


def _as_rgb(img: np.ndarray, label: object = "panel") -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8 and a.dtype.kind not in "fb":  # e.g. 0..255 in int64 read as [0, 1]: all white
        raise ConfigError(f"{label}: expected a uint8 image (0..255) or floats in [0, 1], got dtype {a.dtype}")
    if a.dtype != np.uint8:  # intensities in [0, 1]; NaN drawn black, infinities clipped
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ConfigError(f"{label}: expected an (H, W) or (H, W, 3) image, got shape {np.shape(img)}")
    if min(a.shape[:2]) < 1:
        raise ConfigError(f"{label}: expected an image of at least 1x1 pixels, got shape {np.shape(img)}")
    return a


@house_style
def comparison_grid(panels: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike,
                    box: Box | None = None, title: str | None = None, overwrite: bool = False) -> Path:
    """Top row: each full image with the crop box drawn; bottom row: the zoomed crops."""
    from matplotlib.patches import Rectangle

    from egvsr.plots.figures import (check_figure_path, new_figure, panel_aspect, pixel_aspect, plain, save_as_named,
                                     stretch_note)

    check_figure_path(path, overwrite)  # before any drawing
    if not panels:
        raise ConfigError("comparison_grid: expected at least one panel")
    imgs = [(label, _as_rgb(img, f"panel {label!r}")) for label, img in panels]
    ref = max((img.shape[:2] for _, img in imgs), key=lambda s: s[0] * s[1])
    if box is not None:
        box = check_box(box, ref)
    n = len(imgs)
    aspect = panel_aspect(ref[0], ref[1])  # bounded: a 3000x1 panel is not a 7800-inch-tall figure
    rows = 2 if box is not None else 1
    fig = new_figure(2.6 * n, 2.6 * aspect * rows + 0.6)
    axes = fig.subplots(rows, n, squeeze=False)
    for j, (label, img) in enumerate(imgs):
        ax = axes[0, j]
        # a panel beyond `PANEL_ASPECTS` (a 3000x1 line) is drawn at the bounded shape, its title says so
        ax.imshow(img, interpolation="nearest", aspect=pixel_aspect(*img.shape[:2]))
        ax.set_title(f"{plain(label)} ({img.shape[1]}x{img.shape[0]}{stretch_note(*img.shape[:2])})", fontsize=8)
        ax.set_axis_off()
        if box is not None:
            # the box itself in this panel's pixels (pixel centres at integers): at a size that is no whole
            # multiple of the largest panel's it cuts through pixels; the zoom shows the pixels it touches
            # (`scale_box`) but only as much of them as lies inside it, so every zoom shows the same region
            fy, fx = img.shape[0] / ref[0], img.shape[1] / ref[1]
            y0, y1 = box[0] * fy - 0.5, (box[0] + box[2]) * fy - 0.5
            x0, x1 = box[1] * fx - 0.5, (box[1] + box[3]) * fx - 0.5
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", lw=1.2))
            b = scale_box(box, ref, img.shape[:2])
            ax2 = axes[1, j]
            ax2.imshow(crop(img, b), interpolation="nearest",
                       extent=(b[1] - 0.5, b[1] + b[3] - 0.5, b[0] + b[2] - 0.5, b[0] - 0.5))
            ax2.set_xlim(x0, x1)
            ax2.set_ylim(y1, y0)
            ax2.set_axis_off()
    if title:
        fig.suptitle(plain(title), fontsize=9)
    fig.tight_layout()
    return save_as_named(fig, path, overwrite)


def check_box(box: object, shape: Sequence[int]) -> Box:
    """`box` (y, x, h, w) as four integers, checked to lie inside an image of `shape` (H, W)."""
    from egvsr.events.checks import is_integer

    if not isinstance(box, (tuple, list, np.ndarray)) or np.ndim(box) != 1 or len(box) != 4 \
            or not all(is_integer(v) for v in box):
        raise ConfigError(f"box {box!r}: expected (y, x, h, w), four integers")
    y, x, h, w = (int(v) for v in box)
    if y < 0 or x < 0 or h < 1 or w < 1 or y + h > shape[0] or x + w > shape[1]:
        raise ConfigError(f"box {(y, x, h, w)}: expected a box of at least 1x1 pixels inside the "
                          f"{shape[1]}x{shape[0]} image (the largest panel)")
    return y, x, h, w


@house_style
def crop_rows(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], path: str | os.PathLike,
              title: str | None = None, overwrite: bool = False, panel_inches: float = 2.2) -> Path:
    """A grid of already-cropped images: one labelled row per setting, one column per method."""
    from egvsr.plots.figures import check_figure_path, new_figure, panel_aspect, plain, save_as_named

    check_figure_path(path, overwrite)  # before any drawing
    if not rows or not rows[0][1]:
        raise ConfigError("crop_rows: expected at least one row with one panel")
    cols = max(len(r[1]) for r in rows)
    first = _as_rgb(rows[0][1][0][1], f"panel {rows[0][1][0][0]!r}")
    aspect = panel_aspect(*first.shape[:2])  # bounded; the pixels stay square, drawn smaller
    fig = new_figure(panel_inches * cols + 0.4, panel_inches * aspect * len(rows) + 0.5 + 0.25 * len(rows))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for i, (row_label, panels) in enumerate(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(panels):
                ax.set_axis_off()
                continue
            label, img = panels[j]
            a = _as_rgb(img, f"panel {label!r}")
            ax.imshow(a, interpolation="nearest")  # square pixels: a crop of another shape is not stretched
            ax.set_title(plain(label), fontsize=8)
            if j == 0:
                ax.set_ylabel(plain(row_label), fontsize=9)
    if title:
        fig.suptitle(plain(title), fontsize=9)
    fig.tight_layout()
    return save_as_named(fig, path, overwrite)
