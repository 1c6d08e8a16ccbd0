"""`egvsr render`: super-resolved video at any scale and output times, written as PNGs and/or MP4.

Pipeline: load the checkpoint (`render_model`), open the input and fix the LR geometry
(`render_input`), plan the output times and group them by K-frame window (`render_times`), then for
each window build the LR frames and event tensor once and let the model decode all of the window's
times (`render_tiles.render_region`, chunked, optionally tiled), and stream each frame to the
writers (`render_video`). Memory: one window's inputs plus at most `IN_FLIGHT_BYTES` of float32
output frames per model call; frames leave memory as soon as they are written.

Resource guards, checked before anything is written: the uncompressed output (`--max-output-gb`) and
the memory a model call needs (`estimate_memory_bytes`: float32 output frames held at once, doubled
when tiles are pasted into a full frame, plus the 8-bit copies for the writers) against
`--max-memory-gb` (default: 80% of the device's memory). An output too large for either is refused
with the figures instead of failing with an out-of-memory error half-way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from egvsr.datasets.recording import Recording
from egvsr.engine.render_input import Layout, WindowBuilder, WindowInputs, open_input, plan_layout
from egvsr.engine.render_model import RenderModel, baseline_model, load_render_model
from egvsr.engine.render_tiles import is_whole, plan_tiles, render_region
from egvsr.engine.render_times import group_by_window, output_fps, plan_times
from egvsr.engine.render_video import (
    Mp4Writer, PngFolderWriter, blank_panel, check_outputs, side_by_side, to_uint8,
)
from egvsr.errors import ConfigError

IN_FLIGHT_BYTES = 1 << 30  # float32 output frames held per model call (all panels)
MEMORY_FRACTION = 0.8  # default memory budget: this share of the device's memory
FALLBACK_MEMORY_BYTES = 16 * 10**9  # when the machine's memory cannot be queried


@dataclass
class RenderedFrame:
    """One output time: our frame, the bicubic one (if asked), the ground truth (if it exists)."""

    index: int
    t_us: int
    window: int
    ours: torch.Tensor                 # (3, H, W) float in [0, 1]
    bicubic: torch.Tensor | None
    gt: np.ndarray | None              # (H, W, 3) float64 in [0, 1]
    inputs: WindowInputs


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


def memory_budget_bytes(device: torch.device | str = "cpu") -> tuple[int, str]:
    """(default memory budget in bytes, what it is a share of) for `device`."""
    dev = torch.device(device)
    total = None
    if dev.type == "cuda":
        total = int(torch.cuda.get_device_properties(dev).total_memory)
        what = f"{dev}'s"
    else:
        try:
            total = int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            total = None
        what = "this machine's"
    if not total or total <= 0:
        return FALLBACK_MEMORY_BYTES, "a fixed default"
    return int(total * MEMORY_FRACTION), f"{MEMORY_FRACTION:.0%} of {what} {fmt_bytes(total)} of memory"


def iter_render(rec, rm: RenderModel, layout: Layout, times: np.ndarray, *,
                baseline: RenderModel | None = None, with_gt: bool = False, chunk_size: int = 65536,
                tile: int = 0, context: int = 16, device: torch.device | str = "cpu",
                max_times_per_call: int | None = None) -> Iterator[RenderedFrame]:
    """Render `times` (µs) of recording `rec`; yields frames in time order."""
    builder = WindowBuilder(rec, layout, rm.num_frames, rm.repr, device)
    tiles = plan_tiles(layout.lr_size, layout.core, layout.out_size, tile, context)
    cap = max_times_per_call or in_flight_limit(layout.out_size, 2 if baseline else 1)
    index = 0
    for group in group_by_window(rec.frame_times, times, rm.num_frames, cap):
        w = builder.window(group.start)
        q = w.normalize(group.times).to(w.lr.device)
        ours = render_region(rm.model, w.lr, q, w.events, w.frame_times, tiles, layout.out_size, chunk_size)
        base = None
        if baseline is not None:
            base = render_region(baseline.model, w.lr, q, None, w.frame_times, tiles, layout.out_size,
                                 chunk_size)
        for j, t in enumerate(group.times.tolist()):
            gt = builder.ground_truth(t) if with_gt else None
            yield RenderedFrame(index, int(t), group.start, ours[j], None if base is None else base[j], gt, w)
            index += 1


@dataclass
class RenderJob:
    """A fully checked render: model, input, geometry, times and outputs (nothing written yet)."""

    rm: RenderModel
    rec: Recording
    layout: Layout
    times: np.ndarray
    fps: float
    png: Path | None = None
    mp4: Path | None = None
    side_by_side: Path | None = None
    baseline: RenderModel | None = None
    with_gt: bool = False
    panels: int = 0
    output_bytes: int = 0
    device: torch.device = torch.device("cpu")
    chunk_size: int = 65536
    tile: int = 0
    context: int = 16
    overwrite: bool = False
    meta: dict = field(default_factory=dict)
    times_per_call: int | None = None
    memory_bytes: int = 0

    def describe(self) -> str:
        h, w = self.layout.out_size
        lh, lw = self.layout.lr_size
        mode = "degrade (HR input downscaled first)" if self.layout.degrade else "as-is (input frames are LR)"
        y0, x0, ch, cw = self.layout.core
        roi = f" (ROI {cw}x{ch} at x={x0}, y={y0})" if (ch, cw) != (lh, lw) else ""
        return (f"{self.rm.name} x{self.layout.scale:g}, {mode}: LR {lw}x{lh}{roi} -> {w}x{h}, "
                f"{len(self.times)} frames at {self.fps:.4g} fps ({fmt_bytes(self.output_bytes)} uncompressed, "
                f"about {fmt_bytes(self.memory_bytes)} in memory at once)")


@dataclass
class RenderReport:
    """What a render produced: sizes, counts, paths, timings and (with `score`) per-frame metrics."""

    model: str
    scale: float
    out_size: tuple[int, int]
    frames: int
    fps: float
    outputs: list[Path]
    seconds: float
    scores: list[dict] = field(default_factory=list)


def estimate_output_bytes(frames: int, out_size: Sequence[int], streams: int) -> int:
    """Uncompressed bytes written: frames x H x W x 3 per stream (a side-by-side counts its panels)."""
    return int(frames) * int(out_size[0]) * int(out_size[1]) * 3 * int(streams)


def fmt_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def _check_gb(flag: str, value: object, finite: bool = False) -> None:
    """A size in GB: a positive number (and finite when `finite`)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            or (finite and value == float("inf"))):
        raise ConfigError(f"{flag} {value!r}: expected a positive number")


def plan_render(
    source: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    *,
    scale: float,
    events: str | os.PathLike | None = None,
    fps: float | None = None,
    fps_factor: int | None = None,
    times: Sequence[str | float] | None = None,
    first_frame: int | None = None,
    last_frame: int | None = None,
    roi: Sequence[int] | None = None,
    degrade: bool = False,
    png: str | os.PathLike | None = None,
    mp4: str | os.PathLike | None = None,
    side_by_side: str | os.PathLike | None = None,
    video_fps: float | None = None,
    chunk_size: int = 65536,
    tile: int = 0,
    context: int = 16,
    device: str = "auto",
    max_output_gb: float = 16.0,
    max_memory_gb: float | None = None,
    expect_model: str | None = None,
    baseline: bool = False,
    overwrite: bool = False,
    model: RenderModel | None = None,
) -> RenderJob:
    """Check everything a render needs and return the job; raises before any output exists.

    `max_output_gb` caps the uncompressed output; `max_memory_gb` the output held in memory at once
    (default: `memory_budget_bytes` of the device)."""
    from egvsr.engine.distributed import resolve_device

    check_outputs([mp4, side_by_side], overwrite, png=png)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"--chunk-size {chunk_size!r}: expected a positive number of output pixels")
    _check_gb("--max-output-gb", max_output_gb)
    if max_memory_gb is not None:
        _check_gb("--max-memory-gb", max_memory_gb, finite=True)
    dev = resolve_device(device)
    rm = model if model is not None else load_render_model(checkpoint, dev, expect_model)
    s = rm.check_scale(scale)
    rec = open_input(source, events, fps)
    try:
        if rm.uses_events and not rec.has_events:
            raise ConfigError(f"{source}: model {rm.name!r} needs events but this input has none; "
                              "pass --events FILE")
        layout = plan_layout(rec.width, rec.height, s, degrade, roi)
        out_times = plan_times(rec.frame_times, fps_factor, times, first_frame, last_frame)
        group_by_window(rec.frame_times, out_times[:1], rm.num_frames)  # clip long enough for K frames
        tiles = plan_tiles(layout.lr_size, layout.core, layout.out_size, tile, context)  # checks tile / context
        known = set(rec.frame_times.tolist()) | set(rec.gt_times.tolist())
        has_gt = degrade and any(int(t) in known for t in out_times.tolist())
        panels = 0 if side_by_side is None else (3 if has_gt else 2)
        total = estimate_output_bytes(len(out_times), layout.out_size,
                                      int(png is not None) + int(mp4 is not None) + panels)
        if total > max_output_gb * 1e9:
            h, w = layout.out_size
            raise ConfigError(
                f"render would write {len(out_times)} frames of {w}x{h} = {fmt_bytes(total)} uncompressed, "
                f"above --max-output-gb {max_output_gb:g}; render fewer frames (--first-frame/--last-frame, "
                "--times), a smaller --scale or an --roi, or raise --max-output-gb"
            )
        need_base = side_by_side is not None or baseline
        models = 2 if need_base else 1  # ours, and bicubic beside it
        if max_memory_gb is None:
            budget, share = memory_budget_bytes(dev)
            budget_text = f"--max-memory-gb default: {share}"
        else:
            budget, budget_text = int(max_memory_gb * 1e9), f"--max-memory-gb {max_memory_gb:g}"
        per_call = min(len(out_times), in_flight_limit(layout.out_size, models, min(IN_FLIGHT_BYTES, budget // 2)))
        tiled = not is_whole(tiles, layout.lr_size)
        memory = estimate_memory_bytes(layout.out_size, per_call, models, tiled, panels)
        if memory > budget:
            h, w = layout.out_size
            raise ConfigError(
                f"render needs about {fmt_bytes(memory)} of memory at once for {w}x{h} output frames "
                f"({fmt_bytes(h * w * 12)} per float32 frame, {models} model(s)"
                f"{', tiles pasted into a full frame' if tiled else ''}), above the budget of {fmt_bytes(budget)} "
                f"({budget_text}); choose a smaller --scale or an --roi, or raise --max-memory-gb"
            )
        if video_fps is not None and not (isinstance(video_fps, (int, float)) and 1e-3 <= video_fps <= 65535):
            raise ConfigError(f"--video-fps {video_fps!r}: expected a frame rate from 0.001 to 65535")
        rate = float(video_fps) if video_fps is not None else output_fps(rec.frame_times, out_times, fps_factor)
    except BaseException:
        rec.close()
        raise
    base = (rm if rm.name == "bicubic" else baseline_model(rm, dev)) if need_base else None
    meta = {"model": rm.name, "checkpoint": str(checkpoint), "scale": s, "degrade": bool(degrade),
            "input": str(source), "out_size": list(layout.out_size), "roi": list(roi) if roi else None}
    as_path = (lambda p: None if p is None else Path(p))
    return RenderJob(rm, rec, layout, out_times, rate, as_path(png), as_path(mp4), as_path(side_by_side), base,
                     bool(degrade) and need_base, panels, total, dev, chunk_size, tile, context, overwrite, meta,
                     per_call, memory)


def run_render(job: RenderJob, *, progress: bool = True, score: str | None = None,
               on_frame: Callable[[RenderedFrame], None] | None = None) -> RenderReport:
    """Execute a planned job: stream frames to the writers; `score` = protocol name for PSNR/SSIM."""
    from egvsr.engine.protocol import get_protocol

    started = time.monotonic()
    proto = get_protocol(score) if score else None
    h, w = job.layout.out_size
    frame_set = set(job.rec.frame_times.tolist())
    scores: list[dict] = []
    try:
        with contextlib.ExitStack() as stack:
            png = stack.enter_context(PngFolderWriter(job.png, job.overwrite, job.meta)) if job.png else None
            mp4 = stack.enter_context(Mp4Writer(job.mp4, job.fps, (h, w), job.overwrite)) if job.mp4 else None
            sbs = None
            if job.side_by_side is not None:
                probe = side_by_side([("x", np.zeros((h, w, 3), np.uint8))] * job.panels)
                sbs = stack.enter_context(Mp4Writer(job.side_by_side, job.fps, probe.shape[:2], job.overwrite))
            bar = _progress(len(job.times), progress)
            try:
                frames = iter_render(job.rec, job.rm, job.layout, job.times, baseline=job.baseline,
                                     with_gt=job.with_gt, chunk_size=job.chunk_size, tile=job.tile,
                                     context=job.context, device=job.device,
                                     max_times_per_call=job.times_per_call)
                for fr in frames:
                    ours = to_uint8(fr.ours)
                    if png is not None:
                        png.write(ours, fr.t_us)
                    if mp4 is not None:
                        mp4.write(ours)
                    if sbs is not None:
                        sbs.write(side_by_side(_panels(job, fr, ours)))
                    if proto is not None and fr.gt is not None:
                        scores.extend(_score(proto, job, fr, "frame" if fr.t_us in frame_set else "between"))
                    if on_frame is not None:
                        on_frame(fr)
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
    finally:
        job.rec.close()
    outputs = [p for p in (job.png, job.mp4, job.side_by_side) if p is not None]
    return RenderReport(job.rm.name, job.layout.scale, (h, w), len(job.times), job.fps, outputs,
                        time.monotonic() - started, scores)


def _panels(job: RenderJob, fr: RenderedFrame, ours: np.ndarray) -> list[tuple[str, np.ndarray]]:
    h, w = job.layout.out_size
    row = [("bicubic", to_uint8(fr.bicubic)), (job.rm.name, ours)]
    if job.panels == 3:
        row.append(("ground truth", to_uint8(fr.gt) if fr.gt is not None else blank_panel(h, w, "no ground truth")))
    return row


def _score(proto, job: RenderJob, fr: RenderedFrame, kind: str) -> list[dict]:
    rows = []
    pairs = [(job.rm.name, fr.ours)]
    if job.baseline is not None and job.baseline is not job.rm:
        pairs.append(("bicubic", fr.bicubic))
    for label, img in pairs:
        p, q = proto.score(as_float(img), fr.gt)
        rows.append({"t_us": fr.t_us, "kind": kind, "model": label, "psnr": float(p), "ssim": float(q)})
    return rows


def as_float(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor -> (H, W, 3) float64 in [0, 1] (the metrics' input)."""
    return img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="render", unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)


def render(source: str | os.PathLike, checkpoint: str | os.PathLike | None = None, *, scale: float,
           progress: bool = True, score: str | None = None, log: Callable[[str], None] | None = print,
           on_frame: Callable[[RenderedFrame], None] | None = None, **options) -> RenderReport:
    """Plan (every check first) and run a render; `options` are those of `plan_render`.

    `checkpoint` None renders with the shipped weights (`egvsr.engine.weights`); `log` gets one line
    naming the weights, the plan, and a `wrote ...` line per output. Writes nothing when any check
    fails. Returns a `RenderReport`; `score` (a protocol name, e.g. "ours") adds PSNR/SSIM per frame
    wherever ground truth exists (degrade mode).
    """
    from egvsr.engine.weights import checkpoint_or_shipped

    if all(options.get(k) is None for k in ("png", "mp4", "side_by_side")) and on_frame is None:
        raise ConfigError("render: give at least one output (--png DIR, --mp4 FILE or --side-by-side FILE)")
    with checkpoint_or_shipped(checkpoint) as (path, label):
        job = plan_render(source, path, scale=scale, baseline=bool(score), **options)
        if log:
            log(f"weights: {label} (model {job.rm.name})")
            log(f"render: {job.describe()}")
        report = run_render(job, progress=progress, score=score, on_frame=on_frame)
    if log:
        per = report.seconds / max(report.frames, 1)
        log(f"render: {report.frames} frames of {report.out_size[1]}x{report.out_size[0]} in {report.seconds:.1f} s "
            f"({per:.2f} s/frame)")
        for out in report.outputs:
            log(f"wrote {out}")
    return report
