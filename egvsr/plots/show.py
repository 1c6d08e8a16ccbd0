"""`egvsr show FILE`: a one-picture preview of any recording the readers support.

Panels: the first frame, the events of the first interval over it (ON red / OFF blue; beyond
`PREVIEW_EVENTS` events, evenly spaced runs of them), and the event rate over the whole recording (read
in bounded chunks). Frames are shown as stored (0 black, 255 white); `stretch` stretches them to their
own range.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from egvsr.errors import ConfigError, InputFileError
from egvsr.fsutil import check_output_path, counted, named_path, refuse_inputs_as_outputs, shown
from egvsr.plots.figures import (FIGURE_FORMATS, cell_size, cells, house_style, panel_aspect, pixel_aspect, plain,
                                 stretch_note)
from egvsr.process import physical_memory

RATE_BINS = 200
#: shortest span of the event-rate panel: events sharing one timestamp are counted in 5 µs bins
RATE_MIN_SPAN_US = 1000
NO_FRAME_WINDOW_US = 33_000
#: peak bytes per pixel of the pictures (overlay cells, and the frame as drawn): the counts, the float
#: overlay and matplotlib's copies (measured: 4.9 GB for an 8000x8000 RGB frame drawn whole)
PREVIEW_BYTES_PER_PIXEL = 80
#: bytes per pixel of the first frame as decoded (uint8 RGB and the reader's copies of it)
FRAME_BYTES_PER_PIXEL = 12
#: most events of the pictured window that a preview reads: a window holding more is pictured from
#: evenly spaced runs of consecutive events adding up to this many (its panel's title says so)
PREVIEW_EVENTS = 10_000_000
#: events read at once (about 13 bytes each); the picture sums their per-pixel counts
PREVIEW_RUN = 1 << 18
#: inches of one panel's width, and of the title and axis labels above and below the panels
PANEL_INCHES, MARGIN_INCHES = 4.0, 1.0
PREVIEW_DPI = 110
#: peak bytes per pixel of the PNG itself: matplotlib's RGBA canvas (4, measured) with room for the
#: PNG encoder's copies
FIGURE_BYTES_PER_PIXEL = 16


#: the preview's formats, by the output's suffix (any case): the written format follows the name
PREVIEW_FORMATS = FIGURE_FORMATS


def preview_format(out: str | os.PathLike) -> str:
    """The format (matplotlib's name) of a preview written to `out`, from its suffix, so that the bytes are
    what the name says; another suffix, or none, is refused."""
    fmt = PREVIEW_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        names = ", ".join(PREVIEW_FORMATS)
        raise ConfigError(f"{out}: expected a preview file name ending in {names} (the picture is written in "
                          "the format its name says)")
    return fmt


def default_preview_path(path: str | os.PathLike) -> Path:
    """`clip.h5` -> `clip.preview.png` in the current folder; a folder `ced` -> `ced.preview.png` beside
    it (never inside the recording, and `.` or `..` are named by the folder they mean)."""
    p = Path(path)
    if not p.is_dir():
        return Path(f"{p.stem}.preview.png")
    p = named_path(p)  # `.`, `..`, `a/..`: the folder it means
    return p.parent / f"{p.name or 'root'}.preview.png"


def event_rate(src: Any, bins: int = RATE_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres in s from the first event, ON rate, OFF rate in events/s) over the recording.

    Bins are whole microseconds counted from the first event (integer arithmetic: timestamps on the unix
    clock, ~1.7e15 µs, have no sub-microsecond resolution in float64), spanning at least `RATE_MIN_SPAN_US`,
    so a recording whose events share one timestamp gets finite rates."""
    t0, t1 = src.t_first, src.t_last
    if t0 is None:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    width = -(-max(int(t1) - int(t0) + 1, RATE_MIN_SPAN_US) // bins)  # µs per bin, rounded up
    on = np.zeros(bins, np.int64)
    off = np.zeros(bins, np.int64)
    for chunk in src.iter_chunks(max_events=1 << 20):
        # t - t0 wraps in int64 only where it exceeds 2**63; as uint64 it is exact for any int64 span
        k = ((chunk.t - np.int64(t0)).view(np.uint64) // np.uint64(width)).astype(np.intp)
        on += np.bincount(k[chunk.p > 0], minlength=bins)
        off += np.bincount(k[chunk.p < 0], minlength=bins)
    width_s = width / 1e6
    centres = (np.arange(bins) + 0.5) * width_s
    return centres, on / width_s, off / width_s


def frame_for_display(frame: np.ndarray, stretch: bool = False) -> np.ndarray:
    """A uint8 (H, W) or (H, W, 3) frame as an RGB uint8 image: as stored, or stretched to min..max."""
    img = np.asarray(frame)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if stretch:
        lo, hi = float(img.min()), float(img.max())
        img = ((img.astype(np.float64) - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(img.shape)).round()
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img


def preview_runs(i0: int, i1: int, limit: int, run: int) -> list[tuple[int, int]]:
    """Index ranges of at most `run` events that a preview of events [i0, i1) reads: all of them when
    they are at most `limit`, else `limit // run` runs spread evenly over the window."""
    n = i1 - i0
    if n <= limit:
        return [(a, min(a + run, i1)) for a in range(i0, i1, run)]
    count = max(1, limit // run)
    return [(i0 + j * n // count, i0 + j * n // count + run) for j in range(count)]


def window_counts(src: Any, t0: int, t1: int, f: int = 1) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(ON counts, OFF counts per f x f cell of pixels, events read, events in the window) of the window
    t0 <= t < t1. The count comes from the index before anything is read; at most `PREVIEW_EVENTS` events
    are read, `PREVIEW_RUN` at a time, so any window is pictured in bounded memory and time (`preview_runs`)."""
    from egvsr.plots.events import event_counts

    i0, i1 = src.index_range(t0, t1)
    h, w = cells(src.height, src.width, f)
    on = np.zeros((h, w), np.int64)
    off = np.zeros_like(on)
    read = 0
    if i1 - i0 <= PREVIEW_EVENTS:  # all of them, in one pass (a streamed layout decodes from the start per read)
        chunks = src.iter_chunks(PREVIEW_RUN, t0, t1)
    else:
        chunks = (src.read_index(a, b) for a, b in preview_runs(i0, i1, PREVIEW_EVENTS, PREVIEW_RUN))
    for chunk in chunks:
        x, y = (chunk.x, chunk.y) if f == 1 else (chunk.x // f, chunk.y // f)
        chunk_on, chunk_off = event_counts(x, y, chunk.p, h, w)
        on += chunk_on
        off += chunk_off
        read += len(chunk)
    return on, off, read, i1 - i0


def preview_figure_inches(panels: int, h: int, w: int) -> tuple[float, float]:
    """(width, height) in inches of a preview of `panels` panels side by side, pictures of h x w: bounded
    for any h and w (`panel_aspect`), so the PNG's pixels are too."""
    return PANEL_INCHES * panels, PANEL_INCHES * panel_aspect(h, w) + MARGIN_INCHES


def check_preview_memory(path: str | os.PathLike, src: Any) -> None:
    """Refuse, before any frame is decoded, a recording whose first frame would need more than half of this
    machine's memory to preview, naming the file and the size: the decoded frame, the pictures' cells (at
    most `PICTURE_MAX_SIDE` a side, whatever the sensor size) and the PNG's own (`preview_figure_inches`)."""
    shape = src.frame_shape()
    h, w = (shape[0], shape[1]) if shape is not None else (src.height, src.width)
    fig_w, fig_h = preview_figure_inches(3 if shape is not None else 2, h, w)
    side_h, side_w = max(h, src.height), max(w, src.width)
    rows, cols = cells(side_h, side_w, cell_size(side_h, side_w))
    need = (FRAME_BYTES_PER_PIXEL * (h * w if shape is not None else 0) + PREVIEW_BYTES_PER_PIXEL * rows * cols
            + FIGURE_BYTES_PER_PIXEL * round(fig_w * PREVIEW_DPI) * round(fig_h * PREVIEW_DPI))
    total = physical_memory()
    if total and need > total / 2:
        what = f"{w}x{h} frames" if shape is not None else f"{src.width}x{src.height} sensor"
        raise InputFileError(
            f"{path}: a preview of its {what} needs about {need / 1e9:.3g} GB of memory, more than half "
            f"of this machine's {total / 1e9:.3g} GB; `egvsr show` previews frames up to about "
            f"{total / 2 / FRAME_BYTES_PER_PIXEL / 1e6:.0f} megapixels"
        )


@house_style
def show_recording(path: str | os.PathLike, out_png: str | os.PathLike | None = None,
                   overwrite: bool = False, stretch: bool = False) -> Path:
    """Write a preview of recording `path` to `out_png` (default `<name>.preview.png`), in the format its
    suffix names (`PREVIEW_FORMATS`: .png, .jpg/.jpeg, .pdf, .svg); the first frame as stored, or
    contrast-stretched with `stretch`."""
    from egvsr.events.io import open_events
    from egvsr.plots.events import ON_RGB, OFF_RGB, counts_image
    from egvsr.plots.figures import new_figure, save_figure

    from egvsr.events.io.ced_folder import input_members  # what a CED folder input reads

    from egvsr.plots.figures import check_figure_path

    if out_png is not None:
        check_figure_path(out_png, overwrite, "out_png", named_format=False)  # a str or os.PathLike, not empty, no NUL byte
    out = Path(out_png) if out_png is not None else default_preview_path(path)
    check_output_path(out, overwrite)
    refuse_inputs_as_outputs([path], [out], members=input_members)
    fmt = preview_format(out)
    with open_events(path) as src:
        src.check_frame_sizes(("frames",))  # the events are drawn over the first frame: before it is decoded
        check_preview_memory(path, src)
        ft = src.frame_times()
        frame = src.read_frame(0) if ft is not None and len(ft) else None
        f = cell_size(src.height, src.width)
        if frame is not None and f > 1:  # drawn in the events' cells: the top-left pixel of each
            frame = np.ascontiguousarray(frame[::f, ::f])
        if frame is not None and len(ft) > 1:
            w0, w1, what = int(ft[0]), int(ft[1]), "first interval"
        else:
            w0 = src.t_first if src.t_first is not None else 0
            w1, what = w0 + NO_FRAME_WINDOW_US, "first 33 ms"
        on_counts, off_counts, read, count = window_counts(src, w0, w1, f)
        overlay = counts_image(on_counts, off_counts, background=frame)
        centres, on, off = event_rate(src)
        n_frames = len(ft) if ft is not None else 0
        info = (f"{plain(shown(Path(path).name))}: {src.layout}, {src.width}x{src.height}, "
                f"{counted(src.num_events, 'event')}, "
                + (counted(n_frames, "frame") if n_frames else "no frames"))
    panels = 3 if frame is not None else 2
    h, w = overlay.shape[:2]
    fig = new_figure(*preview_figure_inches(panels, h, w), dpi=PREVIEW_DPI)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    drawn, note = pixel_aspect(h, w), stretch_note(h, w) + (f", cells of {f}x{f} pixels" if f > 1 else "")
    k = 0
    if frame is not None:
        axes[0].imshow(frame_for_display(frame, stretch), interpolation="nearest", aspect=drawn)
        axes[0].set_title(f"first frame (t = {int(ft[0])} µs{', stretched' if stretch else ''}{note})", fontsize=8)
        axes[0].set_axis_off()
        k = 1
    axes[k].imshow(overlay, interpolation="nearest", aspect=drawn)
    events_said = f"{count:,}" if read == count else f"{read:,} of {count:,}, sampled evenly"
    axes[k].set_title(f"events, {what}: {events_said}\nON red, OFF blue{note}", fontsize=8)
    axes[k].set_axis_off()
    ax = axes[k + 1]
    if centres.size:
        ax.plot(centres, on / 1e3, color=ON_RGB / 255, lw=1, label="ON")
        ax.plot(centres, off / 1e3, color=OFF_RGB / 255, lw=1, label="OFF")
        ax.legend(fontsize=7)
    ax.set_xlabel("time since first event (s)", fontsize=8)
    ax.set_ylabel("event rate (k events / s)", fontsize=8)
    ax.set_title("event rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(info, fontsize=9)
    with warnings.catch_warnings():  # a layout that cannot be tightened is drawn as it is, without a note
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return save_figure(fig, out, overwrite, fmt)
