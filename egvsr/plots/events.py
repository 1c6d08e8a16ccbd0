"""Event frames as pictures: ON events red, OFF events blue, on white or over a gray frame.

Each pixel is coloured by its net polarity count (ON minus OFF) with a strength that saturates at
the 99th percentile of the non-zero |net| counts (so a few hot pixels do not wash the image out),
starting at 40% so that a single event stays visible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer, is_real
from egvsr.plots.figures import house_style

ON_RGB = np.array([214, 39, 40], np.float32)    # red
OFF_RGB = np.array([31, 119, 180], np.float32)  # blue
MIN_STRENGTH = 0.4  # a pixel with any net event is visibly coloured
#: peak bytes per pixel of a picture at full size: the ON/OFF counts (int64), the float32 net count, base,
#: colour and blend, and the float64 strength
PICTURE_BYTES_PER_PIXEL = 100


def event_counts(x: np.ndarray, y: np.ndarray, p: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """ON and OFF event counts per pixel, each (height, width) int64. `height` and `width` are integers >= 1
    (a picture beyond half of this machine's memory is refused before it is made); x, y integer coordinates
    and p (ON > 0) 1-D arrays of one length: a float coordinate is refused, not truncated."""
    check_picture_size(height, width)
    x, y, p = np.asarray(x), np.asarray(y), np.asarray(p)
    for name, a, kinds in (("x", x, "iu"), ("y", y, "iu"), ("p", p, "biuf")):
        if a.ndim != 1 or (a.size and a.dtype.kind not in kinds) or len(a) != len(x):
            what = "integer pixel coordinates" if kinds == "iu" else "polarities (ON > 0)"
            raise ConfigError(f"{name}: expected a 1-D array of {what}, as long as x ({len(np.ravel(x))}), "
                              f"got {a.dtype} {a.shape}")
    x, y = x.astype(np.int64, copy=False), y.astype(np.int64, copy=False)
    if x.size and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise ConfigError(f"events: coordinates fall outside the {width}x{height} image")
    flat = y * width + x
    on = np.bincount(flat[p > 0], minlength=height * width).reshape(height, width)
    off = np.bincount(flat[p <= 0], minlength=height * width).reshape(height, width)
    return on, off


def check_stream(stream: object) -> None:
    """`stream` has what a picture reads of an `EventStream` (x, y, p, height, width), else one `ConfigError`
    naming it (a tonic structured array, say, rather than an AttributeError)."""
    if not all(hasattr(stream, k) for k in ("x", "y", "p", "height", "width")):
        raise ConfigError(f"stream: expected an EventStream, got {type(stream).__name__} (a tonic event array "
                          "becomes one with egvsr.events.io.tonic_arrays.from_tonic)")


def check_picture_size(height: object, width: object) -> None:
    """`height` and `width` of a picture: integers >= 1 (a float is refused, not truncated) whose picture fits
    in half of this machine's memory (`PICTURE_BYTES_PER_PIXEL`), checked before any of it is made."""
    from egvsr.process import physical_memory

    for name, value in (("height", height), ("width", width)):
        if not is_integer(value) or value < 1:
            raise ConfigError(f"{name} {value!r}: expected the picture's size in pixels, an integer >= 1")
    need, total = PICTURE_BYTES_PER_PIXEL * int(height) * int(width), physical_memory()
    if total and need > total / 2:
        raise ConfigError(f"height, width {int(height)}x{int(width)}: a picture of that many pixels needs about "
                          f"{need / 1e9:.3g} GB of memory, more than half of this machine's {total / 1e9:.3g} GB")


def gray_background(frame: np.ndarray, lighten: float = 0.5) -> np.ndarray:
    """(H, W) or (H, W, C) uint8 frame -> (H, W, 3) float gray, pulled towards white by `lighten`. Integers
    beyond 0..255 (a 16-bit frame, which would be drawn white) are refused naming the background."""
    raw = np.asarray(frame)
    if raw.dtype.kind in "iu" and raw.size and (raw.min() < 0 or raw.max() > 255):
        raise ConfigError(f"background: expected a frame of values 0..255 (uint8), got {raw.dtype} values "
                          f"{raw.min()}..{raw.max()}; scale it to 0..255 first")
    a = np.nan_to_num(np.asarray(raw, np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    if a.ndim == 3:
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32) if a.shape[-1] >= 3 else a[..., 0]
    if a.ndim != 2:
        raise ConfigError(f"background: expected an (H, W) or (H, W, C) image, got shape {np.shape(frame)}")
    g = a * (1.0 - lighten) + 255.0 * lighten
    return np.repeat(g[..., None], 3, axis=-1)


def event_image(stream: Any = None, *, x: np.ndarray | None = None, y: np.ndarray | None = None,
                p: np.ndarray | None = None, height: int | None = None, width: int | None = None,
                background: np.ndarray | None = None, saturate: float | None = None) -> np.ndarray:
    """uint8 (H, W, 3) picture of events (an `EventStream`, or arrays x, y, p with the size).

    ON-dominated pixels red, OFF-dominated blue; on white, or over `background` (a frame of the same
    size, shown as light gray). `saturate` = |ON - OFF| count at full colour (default: 99th percentile).
    """
    if stream is not None:
        check_stream(stream)
        x, y, p = stream.x, stream.y, stream.p
        height, width = stream.height, stream.width
    if x is None or y is None or p is None or height is None or width is None:
        raise ConfigError("event_image: give an EventStream, or x, y, p and height, width")
    on, off = event_counts(x, y, p, height, width)
    return counts_image(on, off, background, saturate)


def counts_image(on: np.ndarray, off: np.ndarray, background: np.ndarray | None = None,
                 saturate: float | None = None) -> np.ndarray:
    """`event_image` from per-pixel ON and OFF counts ((H, W) each, see `event_counts`): counts summed
    over chunks picture any number of events in bounded memory."""
    height, width = np.shape(on)
    net = (on - off).astype(np.float32)
    if background is None:
        base = np.full((int(height), int(width), 3), 255.0, np.float32)
    else:
        if np.shape(background)[:2] != (int(height), int(width)):
            raise ConfigError(
                f"background: image is {np.shape(background)[:2]}, expected the events' {(height, width)}"
            )
        base = gray_background(background)
    if saturate is not None and not (is_real(saturate) and np.isfinite(saturate) and saturate > 0):
        raise ConfigError(f"saturate {saturate!r}: expected a positive count (or None: the 99th percentile)")
    nz = np.abs(net[net != 0])
    top = float(saturate) if saturate is not None else (float(np.percentile(nz, 99)) if nz.size else 1.0)
    level = np.clip(np.abs(net) / max(top, 1e-9), 0.0, 1.0)
    strength = np.where(net != 0, MIN_STRENGTH + (1.0 - MIN_STRENGTH) * level, 0.0)[..., None]
    colour = np.where(net[..., None] > 0, ON_RGB, OFF_RGB)
    out = base * (1.0 - strength) + colour * strength
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@house_style
def plot_events(stream: Any, path: str | os.PathLike, background: np.ndarray | None = None,
                title: str | None = None, overwrite: bool = False) -> Path:
    """Save `event_image(stream, background)` with a title and a colour key. A sensor larger than
    `PICTURE_MAX_SIDE` a side is drawn in cells of f x f pixels, as `egvsr show` draws it (events summed, the
    background's top-left pixel of each cell), so memory is bounded by the picture, not the declared size."""
    from egvsr.plots.figures import (cell_size, cells, check_figure_path, new_figure, panel_aspect, pixel_aspect,
                                     plain, save_as_named, stretch_note)

    check_figure_path(path, overwrite)  # before any drawing
    check_stream(stream)

    f = cell_size(stream.height, stream.width)
    if f == 1:
        img = event_image(stream, background=background)
    else:
        if background is not None and np.shape(background)[:2] != (stream.height, stream.width):
            raise ConfigError(f"background: image is {np.shape(background)[:2]}, expected the events' "
                              f"{(stream.height, stream.width)}")
        rows, cols = cells(stream.height, stream.width, f)
        on, off = event_counts(np.asarray(stream.x) // f, np.asarray(stream.y) // f, stream.p, rows, cols)
        img = counts_image(on, off, None if background is None else np.asarray(background)[::f, ::f])
    h, w = img.shape[:2]
    tall = 6.0 * panel_aspect(h, w)  # bounded: a 1x60000 sensor is not a 360000-inch figure
    fig = new_figure(6.0, tall + 0.6)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 * tall / (tall + 0.6)))
    ax.imshow(img, interpolation="nearest", aspect=pixel_aspect(h, w))
    ax.set_axis_off()
    n_on = int((np.asarray(stream.p) > 0).sum())
    fig.suptitle((plain(title) + "\n" if title else "") + f"{len(stream):,} events: ON (red) {n_on:,}, "
                 f"OFF (blue) {len(stream) - n_on:,}{stretch_note(h, w)}"
                 + (f", cells of {f}x{f} pixels" if f > 1 else ""), fontsize=9)
    return save_as_named(fig, path, overwrite)
