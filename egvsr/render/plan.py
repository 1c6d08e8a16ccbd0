"""Plan a render: check every option, the model, the input and the resources before anything is written.

`plan_render(source, checkpoint, RenderOptions(...))` loads the model, opens the input, plans times and
tiles, and returns a `RenderJob` for `run.run_render`. Outputs larger than `max_output_gb`, and input
frames or renders needing more than `max_memory_gb`, are refused with the figures before any frame is
decoded. Errors name options as `field` (the CLI shows its flag instead).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from egvsr.datasets.geometry import fmt_scale
from egvsr.datasets.recording import Recording, warn_event_damage_and_coverage
from egvsr.events.frames import check_frames_memory, frames_memory_bytes
from egvsr.events.io.arguments import check_path
from egvsr.errors import ConfigError, OutputError
from egvsr.fsutil import counted, existing_folder, fmt_size, free_bytes, refuse_inputs_as_outputs
from egvsr.models.call_memory import memory_budget_bytes
from egvsr.render.inputs import Layout, open_input, plan_layout
from egvsr.render.model import RenderModel, baseline_model, load_render_model
from egvsr.render.tiles import Tile, is_whole, plan_tiles
from egvsr.events.checks import is_frame_rate, is_integer, is_real
from egvsr.render.times import group_by_window, output_fps, plan_times
from egvsr.render.disk import PNG_FILE_BYTES, least_mp4_bytes, least_png_bytes
from egvsr.render.video import (MAX_VIDEO_FPS, MIN_VIDEO_FPS, check_mp4_name, check_outputs, check_video_size,
                                side_by_side_size, video_rate_ok)

IN_FLIGHT_BYTES = 1 << 30  # float32 output frames held per model call (all panels)

PathLike = str | os.PathLike


@dataclass(frozen=True)
class RenderOptions:
    """What to render and where: the options of `egvsr render` (docs/render.md), checked by `plan_render`.

    `scale` any positive real up to the model's cap; `fps_factor` (input frames plus F-1 times between)
    or `times` (explicit, seconds or with a unit); `first_frame`/`last_frame` bound the input frames;
    `roi` (x, y, w, h) in input pixels; `degrade` treats the input frames as HR; outputs `png` (folder),
    `mp4`, `side_by_side`; `baseline` renders bicubic beside the model even without a side-by-side;
    `window_size` replaces an EGVSR checkpoint's attention windows (squares of that side, 0 the strips).
    """

    scale: float
    events: PathLike | None = None
    fps: float | None = None
    fps_factor: int | None = None
    times: Sequence[str | float] | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    roi: Sequence[int] | None = None
    degrade: bool = False
    png: PathLike | None = None
    mp4: PathLike | None = None
    side_by_side: PathLike | None = None
    video_fps: float | None = None
    chunk_size: int = 65536
    tile: int = 0
    context: int = 16
    device: str = "auto"
    max_output_gb: float = 16.0
    max_memory_gb: float | None = None
    expect_model: str | None = None
    window_size: int | None = None
    baseline: bool = False
    overwrite: bool = False

    def has_output(self) -> bool:
        """Whether any output file or folder is asked for."""
        return any(p is not None for p in (self.png, self.mp4, self.side_by_side))


@dataclass
class RenderJob:
    """A fully checked render: model, input, geometry, times and outputs (nothing written yet)."""

    options: RenderOptions
    rm: RenderModel
    rec: Recording
    layout: Layout
    times: np.ndarray
    fps: float
    device: torch.device
    baseline: RenderModel | None = None
    with_gt: bool = False
    has_gt: bool = False  # some output time has ground truth (degrade mode): what `score` needs
    panels: int = 0
    output_bytes: int = 0
    times_per_call: int | None = None
    memory_bytes: int = 0
    meta: dict = field(default_factory=dict)

    def path(self, name: str) -> Path | None:
        """The output `name` ("png", "mp4" or "side_by_side") as a Path, or None when not asked for."""
        value = getattr(self.options, name)
        return None if value is None else Path(value)

    def describe(self) -> str:
        """One line: model and scale, mode, LR and output sizes, frame count and rate, output size."""
        h, w = self.layout.out_size
        lh, lw = self.layout.lr_size
        mode = "degrade (HR input downscaled first)" if self.layout.degrade else "as-is (input frames are LR)"
        y0, x0, ch, cw = self.layout.core
        roi = f" (ROI {cw}x{ch} at x={x0}, y={y0})" if (ch, cw) != (lh, lw) else ""
        return (f"{self.rm.name} x{fmt_scale(self.layout.scale)}, {mode}: LR {lw}x{lh}{roi} -> {w}x{h}, "
                f"{counted(len(self.times), 'frame')} at {self.fps:.4g} fps ({fmt_size(self.output_bytes)} uncompressed, "
                f"about {fmt_size(self.memory_bytes)} in memory at once)")


def in_flight_limit(out_size: Sequence[int], panels: int, budget: int = IN_FLIGHT_BYTES) -> int:
    """Output times per model call so that `panels` float32 frames of `out_size` fit in `budget`."""
    per = int(out_size[0]) * int(out_size[1]) * 3 * 4 * max(1, panels)
    return max(1, budget // per)


def estimate_memory_bytes(out_size: Sequence[int], times_per_call: int, models: int, tiled: bool,
                          panels: int = 0) -> int:
    """Peak bytes of rendered output held at once: float32 frames of one call per model (twice when
    tiles are pasted into a full frame), plus the uint8 copies the writers encode (`panels` of a
    side-by-side, and ours)."""
    frame = int(out_size[0]) * int(out_size[1]) * 3
    held = frame * 4 * max(1, int(times_per_call)) * max(1, int(models)) * (2 if tiled else 1)
    return held + frame * (max(0, int(panels)) + 2)


def encoder_memory_bytes(model: torch.nn.Module | None, tiles: Sequence[Tile], chunk_size: int) -> int:
    """Peak bytes of one model call beyond its output, at its largest LR crop (the whole frame or ROI, or
    a tile with its context): the encoder's feature maps and attention scores (the model's own estimate,
    `SizeEstimate.activations_at`: 1.2x to 1.4x of the measured peak for the shipped widths) plus one
    chunk of `chunk_size` decoded pixels (whole rows; at most a tile's). 0 for a model unknown yet, or one
    without a registered size."""
    config = getattr(model, "config", None)
    if model is None or not config or not tiles:
        return 0
    from egvsr.models.registry import estimate_size

    big = max(tiles, key=lambda t: t.lr_pixels)
    lr = (big.y.hi - big.y.lo, big.x.hi - big.x.lo)
    pixels = max(min(t.y.n * t.x.n, max(int(chunk_size), t.x.n)) for t in tiles)
    decode = pixels * int(model.decode_floats()) * 4 if hasattr(model, "decode_floats") else 0
    return estimate_size(config).activations_at(lr) + decode


def input_memory_bytes(width: int, height: int, layout: Layout, k: int, event_channels: int = 0) -> int:
    """Peak bytes of the input side of a render of `width` x `height` frames (`WindowBuilder`): each
    input frame decoded whole, the K + 1 LR frames cached and the K stacked for a model call as float32
    tensors, in degrade mode the HR crop and its float64 ground truth (three float32 crops' worth), and
    the window's event tensor of `event_channels` (bins x polarities) LR maps, twice (as binned, and as
    the model normalizes it)."""
    lh, lw = layout.lr_size
    hr = 3 * layout.geom.H * layout.geom.W if layout.degrade else 0
    return frames_memory_bytes(height, width, (2 * int(k) + 1) * lh * lw + hr) + 2 * 4 * int(event_channels) * lh * lw


def event_channels(rm: RenderModel | None) -> int:
    """Bins x polarities of the event tensor `rm` reads (0 without events, or a model unknown yet)."""
    if rm is None or not rm.uses_events:
        return 0
    m, p = getattr(rm.model, "event_shape", (0, 0))
    return int(m) * int(p)


def estimate_output_bytes(frames: int, out_size: Sequence[int], streams: int, png: bool = False) -> int:
    """Uncompressed bytes written: frames x H x W x 3 per stream (a side-by-side counts its panels), plus
    `PNG_FILE_BYTES` per frame file of a `png` folder (so tiny frames by the thousand are not 'a few MB')."""
    per_frame = int(out_size[0]) * int(out_size[1]) * 3 * int(streams) + (PNG_FILE_BYTES if png else 0)
    return int(frames) * per_frame


MAX_MEMORY_GB = 1e9  # `max_memory_gb` above this is no budget at all (and its bytes overflow an int)


def _check_gb(name: str, value: object, most: float = float("inf")) -> None:
    """A size in GB: a positive number, at most `most`."""
    if not is_real(value) or not 0 < value <= most:
        raise ConfigError(f"`{name}` {value!r}: expected a positive number"
                          + (f" up to {most:g}" if most != float("inf") else ""))


_PATH_OPTIONS = ("events", "png", "mp4", "side_by_side")
_FLAG_OPTIONS = ("degrade", "baseline", "overwrite")
_INTEGER_OPTIONS = ("fps_factor", "first_frame", "last_frame", "chunk_size", "tile", "context", "window_size")


def checked_types(o: RenderOptions) -> RenderOptions:
    """`o` with NumPy integers and booleans made Python's, after refusing paths that are not str or
    os.PathLike and flags that are not booleans ("no" is true to Python); the values are checked later."""
    for name in _PATH_OPTIONS:
        value = getattr(o, name)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"`{name}` {value!r}: expected a path (str or os.PathLike)")
    changes: dict = {}
    for name in _FLAG_OPTIONS:
        value = getattr(o, name)
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"`{name}` {value!r}: expected True or False")
        changes[name] = bool(value)
    for name in _INTEGER_OPTIONS:
        value = getattr(o, name)
        if is_integer(value):
            changes[name] = int(value)
    return replace(o, **changes)


def _check_options(o: RenderOptions) -> None:
    """The checks that need neither the model nor the input."""
    check_outputs([o.mp4, o.side_by_side], o.overwrite, png=o.png)
    for name in ("mp4", "side_by_side"):
        if getattr(o, name) is not None:
            check_mp4_name(getattr(o, name), name)
    if o.fps is not None and not is_frame_rate(o.fps):
        raise ConfigError(f"`fps` {o.fps!r}: expected a positive frame rate")
    if o.video_fps is not None and not (is_real(o.video_fps) and video_rate_ok(o.video_fps)):
        raise ConfigError(f"`video_fps` {o.video_fps!r}: expected a frame rate from {MIN_VIDEO_FPS:g} to "
                          f"{MAX_VIDEO_FPS}")
    if o.video_fps is not None and o.mp4 is None and o.side_by_side is None:  # like `fps`: not ignored silently
        raise ConfigError(f"`video_fps` {o.video_fps!r}: sets the frame rate of a video output (`mp4`, `side_by_side`) "
                          "and none is asked for; leave it out (a PNG folder's times are in its timestamps.txt)")
    if isinstance(o.chunk_size, bool) or not isinstance(o.chunk_size, int) or o.chunk_size < 1:
        raise ConfigError(f"`chunk_size` {o.chunk_size!r}: expected a positive number of output pixels")
    _check_gb("max_output_gb", o.max_output_gb)
    if o.window_size is not None and (isinstance(o.window_size, bool) or not isinstance(o.window_size, int)
                                      or o.window_size < 0):
        raise ConfigError(f"`window_size` {o.window_size!r}: expected a side in LR pixels >= 0 (0: strips)")
    if o.max_memory_gb is not None:
        _check_gb("max_memory_gb", o.max_memory_gb, MAX_MEMORY_GB)


#: what makes a render's output smaller
SMALLER = "render fewer frames (`first_frame`/`last_frame`, `times`), a smaller `scale` or an `roi`"
#: what a render too large to write can change (`plan_outputs`)
FEWER_FRAMES = f"{SMALLER}, or raise `max_output_gb`"


@dataclass(frozen=True)
class OutputPlan:
    """The geometry, output times and resources of a render (`plan_outputs`)."""

    layout: Layout
    times: np.ndarray
    panels: int
    models: int
    output_bytes: int
    times_per_call: int
    memory_bytes: int
    has_gt: bool = False


def plan_outputs(source: PathLike, width: int, height: int, frame_times: np.ndarray, gt_times: np.ndarray,
                 scale: float, rm: RenderModel | None, options: RenderOptions, dev: torch.device,
                 fewer_frames: str = FEWER_FRAMES) -> OutputPlan:
    """Plan a render of a `width` x `height` input with these frame and ground-truth times at `scale`
    (checked against model `rm` already), refusing outputs above `max_output_gb` (advising `fewer_frames`)
    and memory above the budget. It needs the input's facts only, not the file: `egvsr demo` checks its
    renders with the sample's before it makes the sample (`rm` None: a model not known yet, whose windows
    are checked later)."""
    o = options
    layout = plan_layout(width, height, scale, o.degrade, o.roi)
    if o.max_memory_gb is None:
        budget, share = memory_budget_bytes(dev)
        budget_text = f"`max_memory_gb` default: {share}"
    else:
        budget, budget_text = int(o.max_memory_gb * 1e9), f"`max_memory_gb` {o.max_memory_gb:g}"
    k = max(2, rm.num_frames) if rm is not None else 2
    check_frames_memory(source, height, width, input_memory_bytes(width, height, layout, k), budget, budget_text,
                        "downscale its frames first, or raise `max_memory_gb`")
    inputs = input_memory_bytes(width, height, layout, k, event_channels(rm))
    if rm is not None and len(frame_times) < k:
        raise ConfigError(f"{source}: has {len(frame_times)} input frame(s); model {rm.name!r} renders "
                          f"from windows of {k} consecutive frames, so it needs at least {k}")
    out_times = plan_times(frame_times, o.fps_factor, o.times, o.first_frame, o.last_frame, gt_times)
    if rm is not None:
        group_by_window(frame_times, out_times[:1], rm.num_frames)  # clip long enough for K frames
    tiles = plan_tiles(layout.lr_size, layout.core, layout.out_size, o.tile, o.context)  # checks tile, context
    if rm is not None:
        _check_crop_sides(rm, tiles, layout)
    known = set(np.asarray(frame_times).tolist()) | set(np.asarray(gt_times).tolist())
    has_gt = o.degrade and any(int(t) in known for t in out_times.tolist())
    panels = 0 if o.side_by_side is None else (3 if has_gt else 2)
    total = estimate_output_bytes(len(out_times), layout.out_size,
                                  int(o.png is not None) + int(o.mp4 is not None) + panels, o.png is not None)
    h, w = layout.out_size
    if total > o.max_output_gb * 1e9:
        raise ConfigError(
            f"render would write {len(out_times)} frames of {w}x{h} = {fmt_size(total)} uncompressed, "
            f"above `max_output_gb` {o.max_output_gb:g}; {fewer_frames}")
    models = 2 if o.side_by_side is not None or o.baseline else 1  # ours, and bicubic beside it
    net = rm.model if rm is not None else None
    call = encoder_memory_bytes(net, tiles, o.chunk_size)
    # output frames per model call: half of what the inputs and the model call leave of the budget
    per_call = min(len(out_times), in_flight_limit(layout.out_size, models,
                                                   min(IN_FLIGHT_BYTES, max(budget - inputs - call, 0) // 2)))

    def need(tiles_: list[Tile]) -> int:
        """Memory at once of the render with these tiles."""
        tiled_ = not is_whole(tiles_, layout.lr_size)
        return (estimate_memory_bytes(layout.out_size, per_call, models, tiled_, panels) + inputs
                + encoder_memory_bytes(net, tiles_, o.chunk_size))

    memory = need(tiles)
    if memory > budget:
        tiled = not is_whole(tiles, layout.lr_size)
        big = max(tiles, key=lambda t: t.lr_pixels)
        model_text = (f"{fmt_size(call)} for model {rm.name!r} on {big.x.hi - big.x.lo}x{big.y.hi - big.y.lo} LR "
                      f"pixels{' (its largest tile)' if tiled else ''}, ") if call else ""
        raise ConfigError(
            f"render needs about {fmt_size(memory)} of memory at once for {w}x{h} output frames ({model_text}"
            f"{fmt_size(h * w * 12)} per float32 frame, {models} model(s)"
            f"{', tiles pasted into a full frame' if tiled else ''}; {fmt_size(inputs)} of {width}x{height} "
            f"input frames{' and events' if event_channels(rm) else ''}), above the budget of {fmt_size(budget)} "
            f"({budget_text}); {_fitting_tile(layout, o, budget, need)}choose a smaller `scale` or an `roi`, "
            "or raise `max_memory_gb`")
    return OutputPlan(layout, out_times, panels, models, total, per_call, memory, has_gt)


def _check_crop_sides(rm: RenderModel, tiles: Sequence[Tile], layout: Layout) -> None:
    """Refuse, before any work, LR crops (the whole input, the ROI with its context, or a tile) smaller
    than the model computes on (`min_lr_side`), naming the option that makes them so: the model itself
    would refuse them only once the render had begun, naming its argument `lr`."""
    side = int(getattr(rm.model, "min_lr_side", 1))
    small = min(tiles, key=lambda t: min(t.y.hi - t.y.lo, t.x.hi - t.x.lo))
    h, w = small.y.hi - small.y.lo, small.x.hi - small.x.lo
    if min(h, w) >= side:
        return
    if layout.degrade:  # the LR frames are the (ROI's) HR frames downscaled by the scale
        what, advice = "LR frames (downscaled by `scale`)", "use a smaller `scale` or a larger `roi`"
    elif (h, w) == tuple(layout.lr_size):
        what, advice = "input frames", "use another model"
    else:
        what, advice = "LR crop (the `roi` with its `context`)", "use a larger `roi` or `context`"
    raise ConfigError(f"model {rm.name!r} computes on LR frames of at least {side}x{side} pixels, and this render's "
                      f"{what} are {w}x{h}; {advice}")


def least_disk_bytes(o: RenderOptions, plan: OutputPlan) -> dict[str, int]:
    """A lower bound of the disk space of each output (option name -> bytes), from the least these
    formats can take (video.least_png_bytes, least_mp4_bytes): compressed sizes are not known before."""
    n, (h, w) = len(plan.times), plan.layout.out_size
    need = {}
    if o.png is not None:
        need["png"] = least_png_bytes(n, h, w)
    if o.mp4 is not None:
        need["mp4"] = least_mp4_bytes(n, h, w)
    if o.side_by_side is not None:
        need["side_by_side"] = least_mp4_bytes(n, *side_by_side_size(h, w, plan.panels))
    return need


def _device(folder: Path) -> object:
    """The file system `folder` is on (its device number), or the folder itself where unknown."""
    try:
        return os.stat(folder).st_dev
    except OSError:
        return folder


def check_disk_space(o: RenderOptions, plan: OutputPlan) -> None:
    """Refuse, before any work, outputs that cannot fit the free space of their file system even at the
    least their formats take (`least_disk_bytes`); outputs sharing a file system add up."""
    need = least_disk_bytes(o, plan)
    groups: dict[object, list[str]] = {}
    for name in need:
        groups.setdefault(_device(existing_folder(getattr(o, name))), []).append(name)
    for names in groups.values():
        folder = existing_folder(getattr(o, names[0]))
        total, free = sum(need[n] for n in names), free_bytes(folder)
        if free is not None and total > free:
            what = " and ".join(f"`{n}`" for n in names) + (" need" if len(names) > 1 else " needs")
            h, w = plan.layout.out_size
            raise OutputError(
                f"{getattr(o, names[0])}: {what} at least {fmt_size(total)} for {len(plan.times)} frames of "
                f"{w}x{h} (at the best compression these formats reach), more than the {fmt_size(free)} free in "
                f"{folder}; free some space, write elsewhere, or {SMALLER}")


def check_video_sizes(o: RenderOptions, plan: OutputPlan) -> None:
    """Refuse MP4 outputs whose frames are larger than MPEG-4 holds (video.MAX_MP4_SIDE)."""
    h, w = plan.layout.out_size
    if o.mp4 is not None:
        check_video_size("mp4", h, w)
    if o.side_by_side is not None:
        check_video_size("side_by_side", *side_by_side_size(h, w, plan.panels))


def check_score(source: PathLike, degrade: bool, has_gt: bool, times: int,
                out_size: Sequence[int] | None = None, protocol: str = "ours") -> None:
    """Refuse `score` when none of the `times` output times has ground truth (`has_gt`), or when output
    frames of `out_size` are smaller than `protocol` scores (its border crop, then SSIM's window): nothing
    could be scored after the render."""
    if has_gt:
        if out_size is not None:
            _check_score_size(out_size, protocol)
        return
    if not degrade:
        raise ConfigError("`score`: no output time has ground truth, since as-is the input frames are the LR "
                          "video; pass `degrade` to take them as HR, so that they are the ground truth")
    raise ConfigError(f"`score`: none of the {times} output times is the time of an input frame or a "
                      f"ground-truth frame of {source}, so none has ground truth; choose `times` at input frames "
                      "(or use `fps_factor`)")


def _check_score_size(out_size: Sequence[int], protocol: str) -> None:
    """Refuse `score` of output frames smaller than `protocol` scores, before any work, saying what sets the
    least size (its border crop, then SSIM's window)."""
    from egvsr.engine.protocol import get_protocol
    from egvsr.engine.metrics import SSIM_WINDOW

    proto = get_protocol(protocol)
    (h, w), m = out_size, proto.min_size
    if min(h, w) < m:
        raise ConfigError(
            f"`score`: the {w}x{h} output frames are smaller than protocol {proto.name!r} scores (at least {m}x{m}: "
            f"a {proto.crop_border}-pixel border left out on each side, then SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} "
            "window); render a larger input or `roi`, or leave out `score`")


#: `tile` sides the memory advice tries, largest first
TILE_CHOICES = (1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16, 8)


def _fitting_tile(layout: Layout, o: RenderOptions, budget: int, need: Callable[[list[Tile]], int]) -> str:
    """'use `tile` N (about X at once), ' for the largest tile side below the current one (or the frame)
    whose render fits `budget` (`need(tiles)`: its bytes at once), or '' when none does."""
    _, _, ch, cw = layout.core
    below = min(o.tile or max(ch, cw), max(ch, cw))
    for side in (t for t in TILE_CHOICES if t < below):
        memory = need(plan_tiles(layout.lr_size, layout.core, layout.out_size, side, o.context))
        if memory <= budget:
            return f"use `tile` {side} (about {fmt_size(memory)} at once), "
    return ""


def _derived_rate_text(rate: float, o: RenderOptions) -> str:
    """Why an MP4 frame rate derived from the input (no `video_fps`) cannot be written, and the way out."""
    source = ("the spacing of `times`" if o.times is not None else
              "the input frame rate" + ("" if o.fps is None else " `fps`")
              + ("" if o.fps_factor is None else " x `fps_factor`"))
    return (f"MP4 frame rate {rate:.6g} fps (from {source}) is outside the {MIN_VIDEO_FPS:g} to {MAX_VIDEO_FPS} "
            "fps an MP4 can hold; set `video_fps`" + ("" if o.fps is None else " or another `fps`"))


def reads_ground_truth(options: RenderOptions, compared: bool) -> bool:
    """Whether a render reads the ground truth at its output times: only in degrade mode (as-is, the input
    frames are the LR ones and nothing is finer) and only when something is `compared` with it (bicubic
    beside the model, whose side-by-side shows it, or a score)."""
    return bool(options.degrade) and compared


def plan_render(source: PathLike, checkpoint: PathLike | None, options: RenderOptions,
                model: RenderModel | None = None, score: bool | str = False) -> RenderJob:
    """Check everything a render of `source` with `checkpoint` (or the loaded `model`) needs and
    return the job; raises before any output exists. `score`: the render is to be scored (True: by protocol
    "ours", or a protocol's name), so some
    output time must have ground truth."""
    from egvsr.engine.distributed import resolve_device

    from egvsr.datasets.opening import input_folder_members
    from egvsr.engine.weights import checkpoint_or_shipped

    check_path(source, "source")
    if checkpoint is not None:
        check_path(checkpoint, "checkpoint")
    if not isinstance(options, RenderOptions):
        raise ConfigError(f"options: expected an egvsr.render.RenderOptions, got {type(options).__name__}")
    o = checked_types(options)
    if score and not o.baseline:  # scored beside bicubic, as `render` and the CLI score (it plans its memory)
        o = replace(o, baseline=True)
    # the CLI's check too, for every library caller: no output may replace an input
    refuse_inputs_as_outputs([source, o.events, checkpoint], [o.mp4, o.side_by_side], [o.png],
                             members=input_folder_members)
    _check_options(o)
    dev = resolve_device(o.device, where="`device`")  # the CLI names it --device
    overrides = None if o.window_size is None else {"window_size": o.window_size}
    if overrides and model is not None:
        raise ConfigError("`window_size` replaces a checkpoint's option when it is loaded; a model passed in "
                          "already has its windows (build it with window_size instead)")
    label = str(checkpoint)
    if model is not None:
        rm = model
    else:  # None: the shipped weights, read whole when loaded (the path is not needed after)
        with checkpoint_or_shipped(checkpoint) as (path, label):
            rm = load_render_model(path, dev, o.expect_model, overrides)
    s = rm.check_scale(o.scale)
    if o.events is not None and not rm.uses_events:  # like `fps` where it does not apply: not ignored silently
        raise ConfigError(f"`events` {o.events}: model {rm.name!r} renders from frames alone and would not "
                          "use them; leave out `events` (or use a checkpoint of an event-based model)")
    rec = open_input(source, o.events, o.fps)
    try:
        if rm.uses_events and not rec.has_events:
            raise ConfigError(f"{source}: model {rm.name!r} needs events but this input has none; "
                              "pass `events` FILE")
        plan = plan_outputs(source, rec.width, rec.height, rec.frame_times, rec.gt_times, s, rm, o, dev)
        if score:
            check_score(source, o.degrade, plan.has_gt, len(plan.times), plan.layout.out_size,
                        "ours" if score is True else score)
        check_video_sizes(o, plan)
        rate = float(o.video_fps) if o.video_fps is not None else output_fps(rec.frame_times, plan.times,
                                                                             o.fps_factor)
        if (o.mp4 is not None or o.side_by_side is not None) and not video_rate_ok(rate):
            raise ConfigError(_derived_rate_text(rate, o))
        check_disk_space(o, plan)  # last: the limits above hold on any machine, free space differs
        if rm.uses_events:  # every check passed: the render goes on
            warn_event_damage_and_coverage([rec])
    except BaseException:
        rec.close()
        raise
    need_base = plan.models == 2
    base = (rm if rm.name == "bicubic" else baseline_model(rm, dev)) if need_base else None
    meta = {"model": rm.name, "checkpoint": label, "scale": s, "degrade": bool(o.degrade),
            "input": str(source), "out_size": list(plan.layout.out_size),
            "roi": None if o.roi is None else [int(v) for v in o.roi]}
    return RenderJob(options=o, rm=rm, rec=rec, layout=plan.layout, times=plan.times, fps=rate, device=dev,
                     baseline=base, with_gt=reads_ground_truth(o, compared=need_base), has_gt=plan.has_gt,
                     panels=plan.panels,
                     output_bytes=plan.output_bytes, times_per_call=plan.times_per_call,
                     memory_bytes=plan.memory_bytes, meta=meta)
