"""Run a planned render: decode window by window and stream each frame to the writers.

For each window of K input frames (`times.group_by_window`) the LR frames and event tensor are built
once (`inputs.WindowBuilder`) and the model decodes all of that window's output times
(`tiles.render_region`, chunked, optionally tiled); each frame goes to the PNG / MP4 writers
(`video`) and leaves memory. Memory: one window's inputs plus at most `plan.IN_FLIGHT_BYTES` of
float32 output frames per model call. `render` is plan + run in one call, as `egvsr render` does.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from egvsr.engine.checkpoint_model import output_not_finite
from egvsr.errors import ConfigError
from egvsr.fsutil import check_flag, committing, counted
from egvsr.process import check_pending, one_line
from egvsr.progress import bar as progress_bar
from egvsr.render.inputs import Layout, WindowInputs, WindowBuilder
from egvsr.render.model import RenderModel
from egvsr.render.plan import RenderJob, RenderOptions, check_score, in_flight_limit, plan_render, reads_ground_truth
from egvsr.render.tiles import plan_tiles, render_region
from egvsr.render.times import group_by_window
from egvsr.render.video import Mp4Writer, PngFolderWriter, blank_panel, side_by_side, to_uint8


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


def iter_render(rec: Any, rm: RenderModel, layout: Layout, times: np.ndarray, *,
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


def run_render(job: RenderJob, *, progress: bool = True, score: str | None = None,
               on_frame: Callable[[RenderedFrame], None] | None = None) -> RenderReport:
    """Execute a planned job: stream frames to the writers; `score` = protocol name for PSNR/SSIM."""
    if not isinstance(job, RenderJob):
        raise ConfigError(f"job: expected an egvsr.render.RenderJob (from plan_render), got {type(job).__name__}")
    progress = check_flag(progress, "progress")
    started = time.monotonic()
    proto = None
    if score:  # the metrics load scipy (0.2 s): only a scored render pays for them
        try:
            check_score(job.rec.path, job.options.degrade, job.has_gt, len(job.times), job.layout.out_size, score)
        except ConfigError:
            job.rec.close()
            raise
        from egvsr.engine.protocol import get_protocol

        proto = get_protocol(score)
    h, w = job.layout.out_size
    frame_set = set(job.rec.frame_times.tolist())
    scores: list[dict] = []
    try:
        with contextlib.ExitStack() as stack:
            o, png_path, mp4_path, sbs_path = job.options, job.path("png"), job.path("mp4"), job.path("side_by_side")
            png = (stack.enter_context(PngFolderWriter(png_path, o.overwrite, job.meta, len(job.times)))
                   if png_path else None)
            mp4 = stack.enter_context(Mp4Writer(mp4_path, job.fps, (h, w), o.overwrite)) if mp4_path else None
            sbs = None
            if sbs_path is not None:
                probe = side_by_side([("x", np.zeros((h, w, 3), np.uint8))] * job.panels)
                sbs = stack.enter_context(Mp4Writer(sbs_path, job.fps, probe.shape[:2], o.overwrite))
            bar = progress_bar(len(job.times), "render", progress, unit="frame")
            try:
                # a scored job reads its ground truth even when it was planned without `score`
                with_gt = job.with_gt or reads_ground_truth(o, compared=proto is not None)
                frames = iter_render(job.rec, job.rm, job.layout, job.times, baseline=job.baseline,
                                     with_gt=with_gt, chunk_size=o.chunk_size, tile=o.tile,
                                     context=o.context, device=job.device,
                                     max_times_per_call=job.times_per_call)
                for fr in frames:
                    ours = to_uint8(fr.ours, nonfinite=lambda: output_not_finite(
                        job.rm.path, f"time {fr.t_us} µs (output frame {fr.index})"))
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
                    bar.update(1)
            finally:
                bar.close()
            for writer in (png, mp4, sbs):  # all the work but the renames, with signals live
                if writer is not None:
                    writer.finish()
            check_pending()
            with committing("its outputs were written in full"):  # the renames as one: all new, or all old
                stack.close()
    finally:
        job.rec.close()
    outputs = [p for p in (job.path("png"), job.path("mp4"), job.path("side_by_side")) if p is not None]
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


def render(source: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
           options: RenderOptions | None = None, *, progress: bool = True, score: str | None = None,
           log: Callable[[str], None] | None = print, on_frame: Callable[[RenderedFrame], None] | None = None,
           **fields: Any) -> RenderReport:
    """Plan (every check first) and run a render with `options`, or a `RenderOptions` built from
    `fields` (`render(src, ck, scale=2, png="out")`).

    `checkpoint` None renders with the shipped weights (`egvsr.engine.weights`); `log` gets one line
    naming the weights, the plan, and a `wrote ...` line per output. Writes nothing when any check
    fails. Returns a `RenderReport`; `score` (a protocol name, e.g. "ours") adds PSNR/SSIM per frame
    wherever ground truth exists (degrade mode), with bicubic beside the model.
    """
    from dataclasses import replace

    from egvsr.engine.weights import checkpoint_or_shipped

    progress = check_flag(progress, "progress")
    if options is None:
        options = RenderOptions(**fields)
    elif not isinstance(options, RenderOptions):  # before its fields are read
        raise ConfigError(f"options: expected an egvsr.render.RenderOptions, got {type(options).__name__}")
    elif fields:
        options = replace(options, **fields)
    if not options.has_output() and on_frame is None:
        raise ConfigError("render: give at least one output: `png` DIR, `mp4` FILE or `side_by_side` FILE")
    with checkpoint_or_shipped(checkpoint) as (path, label):
        job = plan_render(source, path, options, score=score or False)
        if log:
            log(f"weights: {label} (model {job.rm.name})")
            log(f"render: {job.describe()}")
        report = run_render(job, progress=progress, score=score, on_frame=on_frame)
    if log:
        per = report.seconds / max(report.frames, 1)
        log(f"render: {counted(report.frames, 'frame')} of {report.out_size[1]}x{report.out_size[0]} in {report.seconds:.1f} s "
            f"({per:.2f} s/frame)")
        for out in report.outputs:
            log(one_line(f"wrote {out}"))
    return report
