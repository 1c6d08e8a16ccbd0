"""`egvsr demo`: the whole job on the embedded default, in one folder, in a few minutes on a CPU.

Make a sample recording; take the shipped checkpoint (or `--checkpoint`; without one, train
`egvsr-tiny` briefly, labelled as such); render x4 and x6.5 at twice the frame rate in degrade mode;
print PSNR / SSIM beside bicubic and write the videos, a figure, results.md and log.txt. The folder is
built under a temporary name and renamed at the end (docs/render.md, "`egvsr demo`").
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from egvsr.datasets.geometry import fmt_scale
from egvsr.engine.tables import scores_table, summarize_scores
from egvsr.engine.weights import SHIPPED_NAME, shipped_checkpoint
from egvsr.errors import CheckpointError, ConfigError, EgvsrError
from egvsr.events.checks import is_real
from egvsr.events.io.arguments import check_path
from egvsr.fsutil import (atomic_directory, check_output_folder, counted, check_writable, refuse_inputs_as_outputs,
                          shown)
from egvsr.process import one_line
from egvsr.render.disk import NO_SPACE_ADVICE
from egvsr.render.model import load_render_model

if TYPE_CHECKING:
    from egvsr.render.plan import RenderOptions

DEFAULT_SCALES = (4.0, 6.5)
GT_PER_INTERVAL = 3  # ground-truth frames of the sample between input frames
FALLBACK_FRAMES = 3  # input frames per window of the fallback model


class StageLog:
    """Prints lines, keeps them for log.txt, and times named stages."""

    def __init__(self, echo: Callable[[str], None] | None = print) -> None:
        self.lines: list[str] = []
        self.timings: list[tuple[str, float]] = []
        self.echo = echo

    def __call__(self, text: str, echo: bool = True) -> None:
        """Keep `text` for log.txt and print it (unless `echo` is False: printed later, or never)."""
        self.lines.append(text)
        if self.echo and echo:
            self.echo(text)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        self(f"[{name}] ...")
        yield
        dt = time.monotonic() - t0
        self.timings.append((name, dt))
        self(f"[{name}] done in {dt:.1f} s")


@dataclass
class DemoResult:
    """Where the demo wrote, its PSNR/SSIM rows, stage timings and which model it used."""

    folder: Path
    rows: list[dict]
    timings: list[tuple[str, float]]
    model_note: str
    files: list[Path] = field(default_factory=list)


def train_fallback(sample: Path, folder: Path, minutes: float, device: str, progress: bool,
                   size: tuple[int, int], log: Callable[[str], None] | None = print) -> Path:
    """Train `egvsr-tiny` on the sample for `minutes`; return its checkpoint (last.pt). `log`: where the
    trainer's lines go."""
    from egvsr.engine.config import DEFAULTS, merge
    from egvsr.engine.train import train

    patch = int(max(8, min(24, min(size) // 4)))
    user = {
        "name": "fallback-egvsr-tiny", "seed": 0, "device": device, "output_root": str(folder),
        "model": {"name": "egvsr-tiny", "options": {}},
        "data": {"train": {"recordings": [str(sample)], "num_frames": FALLBACK_FRAMES, "bins": 8, "patch_size": patch,
                           "scale_range": [1.0, 4.0]}, "val": {}},
        "train": {"iterations": 1_000_000, "batch_size": 4, "lr": 1e-3, "schedule": "constant",
                  "max_minutes": float(minutes), "log_every": 20, "val_every": 10**9,
                  "checkpoint_every": 10**9, "keep_checkpoints": 1},
    }
    cfg = merge(copy.deepcopy(DEFAULTS), user)
    exp = train(cfg=cfg, progress=progress, log=log)
    return Path(exp) / "checkpoints" / "last.pt"


class FigureData:
    """Keeps what the figure needs from the render of one chosen time."""

    def __init__(self, t_us: int, at_frame: bool = False) -> None:
        self.t_us = int(t_us)
        self.at_frame = bool(at_frame)  # an input frame's time (the figure's title says which)
        self.by_scale: dict[float, dict] = {}

    def hook(self, scale: float, layout: Any) -> Callable:
        def on_frame(fr) -> None:
            if fr.t_us != self.t_us:
                return
            from egvsr.render.run import as_float

            ft = fr.inputs.frame_times[0].cpu().numpy()
            tn = float(fr.inputs.normalize(np.array([fr.t_us]))[0, 0])
            k = int(np.argmin(np.abs(ft - tn)))
            self.by_scale[scale] = {
                "ours": as_float(fr.ours), "bicubic": as_float(fr.bicubic), "gt": fr.gt,
                "lr": as_float(fr.inputs.lr[0, k]), "geom": layout.geom,
            }
        return on_frame


def choose_time(frame_times: np.ndarray, out_times: np.ndarray, gt_times: Sequence[float] | np.ndarray = ()) -> int:
    """An in-between output time with ground truth (one of `gt_times`) near the middle of the clip; a frame
    time (whose input frame is its ground truth) where no in-between output time has any."""
    frames = set(np.asarray(frame_times).tolist())
    between = [t for t in out_times.tolist() if t not in frames and t in set(np.asarray(gt_times).tolist())]
    pool = between or [t for t in out_times.tolist() if t in frames] or out_times.tolist()
    return int(pool[len(pool) // 2])


def write_figure(fig: FigureData, sample: Path, path: Path, model_name: str, interval_us: float) -> Path:
    """Rows per scale: event overlay, LR, bicubic, ours, ground truth on one sensor crop: the same sensor
    pixels in every row and every panel (`figure_crops`)."""
    from egvsr.events.io import read_events
    from egvsr.plots.compare import crop_rows

    half = int(interval_us // 2)
    events = read_events(sample, fig.t_us - half, fig.t_us + half)
    rows, (bh, bw) = figure_crops(fig, events, model_name)
    when = "an input frame time" if fig.at_frame else "between input frames"
    title = f"sample recording, t = {fig.t_us / 1e3:.1f} ms ({when}), crop {bw}x{bh} px of the HR output"
    return crop_rows(rows, path, title=title)


def figure_crops(fig: FigureData, events: Any, model_name: str) -> tuple[list, tuple[int, int]]:
    """The figure's rows and its crop's (height, width). One crop in sensor pixels, where `events` (the
    sensor's) are densest within the part of the sensor that every scale's output covers (each scale's
    whole-frame crop is centred and of its own size), so each row shows the same pixels. The LR panel
    shows the input pixel nearest to each output pixel's centre (the geometry's pixel-centre map), so at
    a scale whose LR pixels do not tile the crop it shows the crop's region, not the whole LR pixels
    around it."""
    from egvsr.datasets.tensorize import crop_events
    from egvsr.plots.compare import crop, pick_crop
    from egvsr.plots.events import event_image

    scales = sorted(fig.by_scale)
    geoms = [fig.by_scale[s]["geom"] for s in scales]
    # centred crops of one sensor: their intersection holds at least one pixel
    y0, x0 = max(g.y0 for g in geoms), max(g.x0 for g in geoms)
    y1, x1 = min(g.y0 + g.H for g in geoms), min(g.x0 + g.W for g in geoms)
    counts = np.zeros((events.height, events.width))
    np.add.at(counts, (events.y.astype(np.int64), events.x.astype(np.int64)), 1.0)
    size = (max(16, (y1 - y0) // 3), max(16, (x1 - x0) // 3))
    sy, sx, bh, bw = pick_crop(counts[y0:y1, x0:x1], size)
    sy, sx = sy + y0, sx + x0
    rows = []
    for s, g in zip(scales, geoms):
        d = fig.by_scale[s]
        box = (sy - g.y0, sx - g.x0, bh, bw)
        overlay = event_image(crop_events(events, g), background=(d["gt"] * 255).astype(np.uint8))
        lr = d["lr"]
        ly, lx = g.nearest_lr_pixels()
        ly, lx = ly[box[0]:box[0] + bh], lx[box[1]:box[1] + bw]
        rows.append((f"x{fmt_scale(s)}", [
            ("events ±½ interval", crop(overlay, box)),
            (f"LR input ({lr.shape[1]}x{lr.shape[0]})", lr[ly][:, lx]),
            ("bicubic", crop(d["bicubic"], box)),
            (model_name, crop(d["ours"], box)),
            ("ground truth", crop(d["gt"], box)),
        ]))
    return rows, (bh, bw)


def _render_options(scale: float, sub: Path, fps_factor: int, chunk_size: int, dev) -> RenderOptions:
    """The demo's render of one scale: degrade mode, the videos in `sub`, bicubic beside ours."""
    from egvsr.render.plan import RenderOptions

    return RenderOptions(scale=scale, fps_factor=fps_factor, degrade=True, mp4=sub / "video.mp4",
                         side_by_side=sub / "side_by_side.mp4", chunk_size=chunk_size, device=str(dev),
                         baseline=True)


def scale_folder(scale: float) -> str:
    """The demo's folder of one scale's videos: `x` and the scale exactly as the tables show it (`fmt_scale`),
    so that distinct scales never share a folder (`:g` wrote 6.5 and 6.5000001 both as x6.5)."""
    return f"x{fmt_scale(float(scale))}" if is_real(scale) else f"x{scale}"  # (not a number: refused by the plan)


def _missing_shipped() -> str:
    return (f"the shipped checkpoint egvsr/data/{SHIPPED_NAME} is not in this install "
            "(see README: how to train it with configs/)")


def check_before_work(out: Path, checkpoint: str | Path | None, shipped: Path | None, fallback: bool, rm: Any, *,
                      seed: int, seconds: float, size: tuple[int, int], fps: float, scales: Sequence[float],
                      fps_factor: int, chunk_size: int, dev: Any) -> None:
    """Every check the demo can make before it makes the sample: a model to use, the sample's options,
    memory and disk space, and each render's scale, output size and memory (planned from the sample's
    known size and times). `rm`: the model when known before the sample (given or shipped), else None."""
    from egvsr.events.simulate.sample import check_output_space, check_sample_options, sample_times
    from egvsr.render.plan import plan_outputs

    if checkpoint is None and shipped is None and not fallback:
        raise CheckpointError(f"{_missing_shipped()}; pass --checkpoint FILE, or drop --no-fallback to train a "
                              "tiny model")
    sample = out / "sample.h5"
    # the demo command sets only --seconds of its sample: the advice names no other option
    seconds, (h, w), fps, gt = check_sample_options(sample, seed, seconds, size, fps, GT_PER_INTERVAL,
                                                    adjustable=("seconds",))
    frame_t, gt_t = sample_times(seconds, fps, gt)
    check_window(seconds, fps, len(frame_t), rm)
    seen: list[float] = []
    for s in scales:
        scale = rm.check_scale(s) if rm is not None else s
        if is_real(s) and float(s) in seen:  # its render would go to the same folder as the first's
            raise ConfigError(f"`scales`: scale {fmt_scale(float(s))} is given twice; give each scale once")
        seen += [float(s)] if is_real(s) else []
        options = _render_options(s, out / scale_folder(s), fps_factor, chunk_size, dev)
        plan_outputs(sample, w, h, frame_t, gt_t, scale, rm, options, dev,
                     fewer_frames=f"the demo renders all of its {seconds:g} s sample at x{fmt_scale(s)}: use fewer "
                                  "`seconds`")
    # last: the limits above hold on any machine, while free space differs between machines (and a
    # read-only file system has none to give: said as such first)
    check_writable(out)
    check_output_space(sample, seed, seconds, (h, w), fps, gt, adjustable=("seconds",))


def check_window(seconds: float, fps: float, frames: int, rm: Any) -> None:
    """Refuse a sample with fewer input frames than the model's window (`rm`: the model, None for the
    fallback), naming the demo's `seconds` and the least that gives enough (not the sample file, which
    does not exist yet)."""
    need = max(2, rm.num_frames) if rm is not None else FALLBACK_FRAMES
    if frames < need:
        name = repr(rm.name) if rm is not None else "egvsr-tiny (the fallback)"
        raise ConfigError(
            f"`seconds` {seconds:g} gives {frames} input frames at {fps:g} fps; model {name} renders from windows "
            f"of {need} consecutive frames, so it needs at least {need}: use `seconds` >= {(need - 1) / fps:g}")


def run_demo(
    output: str | os.PathLike = "demo_output",
    checkpoint: str | os.PathLike | None = None,
    *,
    seconds: float = 0.32,
    size: tuple[int, int] = (260, 346),
    fps: float = 25.0,
    seed: int = 0,
    scales: Sequence[float] = DEFAULT_SCALES,
    fps_factor: int = 2,
    fallback: bool = True,
    fallback_minutes: float = 1.0,
    device: str = "auto",
    chunk_size: int = 65536,
    overwrite: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
) -> DemoResult:
    """Run the demo into `output` (see the module doc); returns the table rows and timings."""
    from egvsr.engine.distributed import resolve_device
    from egvsr.events.simulate import make_sample
    from egvsr.render.plan import plan_render
    from egvsr.render.run import run_render

    out = check_path(output, "output")
    if checkpoint is not None:
        check_path(checkpoint, "checkpoint")
    # before any work: the checkpoint is no part of the folder an --overwrite replaces, and only an
    # earlier demo folder is replaced (the CLI checks the first too; a library caller gets it here)
    refuse_inputs_as_outputs([checkpoint], (), [out])
    check_output_folder(out, overwrite, "demo")
    log = StageLog(echo)
    started = time.monotonic()
    dev = resolve_device(device, where="`device`")  # the CLI names it --device
    # a given checkpoint (or the shipped one) is loaded (safely) and checked before any work, so a bad
    # file fails at once; so are the sample and every render, from what is known before the sample
    with shipped_checkpoint() as shipped:
        known = checkpoint if checkpoint is not None else shipped
        preloaded = load_render_model(known, dev) if known is not None else None
        check_before_work(out, checkpoint, shipped, fallback, preloaded, seed=seed, seconds=seconds, size=size, fps=fps,
                          scales=scales, fps_factor=fps_factor, chunk_size=chunk_size, dev=dev)
        with atomic_directory(out, overwrite, "demo") as tmp:  # the shipped file stays valid throughout
            with _named_as_output(tmp, out):
                sample = tmp / "sample.h5"
                with log.stage("sample"):
                    make_sample(sample, seed=seed, seconds=seconds, size=size, fps=fps,
                                gt_per_interval=GT_PER_INTERVAL, progress=progress)
                    log(f"sample recording: {size[1]}x{size[0]}, {seconds:g} s at {fps:g} fps, {GT_PER_INTERVAL} "
                        "ground-truth frames per interval (sample.h5)")
                with log.stage("checkpoint"):
                    ck, note = _pick_checkpoint(checkpoint, shipped, fallback_minutes, sample, tmp, str(dev),
                                                progress, size, log, lambda text: log(as_output(text, tmp, out)))
                    rm = preloaded if preloaded is not None else load_render_model(ck, dev)
                    log(f"model: {rm.name} ({note}); window K={rm.num_frames}, events {events_text(rm.repr)}")
                probe_times = None
                rows: list[dict] = []
                files: list[Path] = [sample]
                fig = None
                for s in scales:
                    sub = tmp / scale_folder(s)
                    with log.stage(f"render x{fmt_scale(s)}"):
                        job = plan_render(sample, ck, _render_options(s, sub, fps_factor, chunk_size, dev), model=rm)
                        if probe_times is None:
                            probe_times = job.times
                            t_fig = choose_time(job.rec.frame_times, job.times, job.rec.gt_times)
                            fig = FigureData(t_fig, at_frame=t_fig in set(job.rec.frame_times.tolist()))
                        log(f"  {job.describe()}")
                        report = run_render(job, progress=progress, score="ours", on_frame=fig.hook(s, job.layout))
                        log(f"  {counted(report.frames, 'frame')} in {report.seconds:.1f} s "
                            f"({report.seconds / max(report.frames, 1):.2f} s/frame, scoring included)")
                        rows.extend(summarize_scores(report.scores, s))
                        files += [sub / "video.mp4", sub / "side_by_side.mp4"]
                text = scores_table(rows)
                log("")
                log("PSNR / SSIM against ground truth (protocol 'ours': RGB, 4-pixel border excluded):")
                for line in text.splitlines():
                    log(line)
                with log.stage("figure"):
                    ft = np.asarray(_frame_times(sample))
                    write_figure(fig, sample, tmp / "figure.png", rm.name, float(np.median(np.diff(ft))))
                    files.append(tmp / "figure.png")
                log(f"total {time.monotonic() - started:.1f} s; stages: "
                    + ", ".join(f"{n} {t:.1f} s" for n, t in log.timings))
                header = (f"# egvsr demo\n\nModel: {rm.name} ({note}).\nSample: {size[1]}x{size[0]}, {seconds:g} s "
                          f"at {fps:g} fps; rendered at {fps_factor}x the input frame rate.\n\n")
                (tmp / "results.md").write_text(shown(header + text), encoding="utf-8")  # not the locale's
                files += [tmp / "results.md", tmp / "log.txt"]
                names = [f.relative_to(tmp).as_posix() for f in files] + (["fallback/"] if known is None else [])
                wrote = one_line(f"wrote {out}/: " + ", ".join(names))
                log(wrote, echo=False)  # in log.txt; printed once the folder is in place
                (tmp / "log.txt").write_text(shown("\n".join(log.lines) + "\n"), encoding="utf-8")
    if log.echo:
        log.echo(wrote)
    files = [out / f.relative_to(tmp) for f in files]
    return DemoResult(out, rows, log.timings, note, files)


def events_text(spec: dict | None) -> str:
    """A model's event representation as the log shows it: 'moments (bins 8, polarity split, ...)'."""
    if not spec:
        return "none"
    rest = ", ".join(f"{k} {v}" for k, v in spec.items() if k != "representation")
    return f"{spec.get('representation', '?')} ({rest})" if rest else str(spec.get("representation", "?"))


def as_output(text: str, tmp: Path, out: Path) -> str:
    """`text` with the temporary folder `tmp` named as the output folder `out` it becomes."""
    return text.replace(str(tmp.absolute()), str(out.absolute())).replace(str(tmp), str(out))


@contextlib.contextmanager
def _named_as_output(tmp: Path, out: Path) -> Iterator[None]:
    """An error raised while the demo builds its folder names the folder (`out`, not its temporary name
    `tmp`) and advises the demo's own option, not render's."""
    try:
        yield
    except EgvsrError as exc:
        from egvsr.render.plan import SMALLER

        text = as_output(str(exc), tmp, out)
        # render's advice in the words of the demo's own option (it has no frame range, ROI or scale option)
        for theirs, ours in ((SMALLER, "use fewer `seconds`"),
                             (NO_SPACE_ADVICE, "free some space, write elsewhere or use fewer `seconds`")):
            text = text.replace(theirs, ours)
        if text == str(exc):
            raise
        raise type(exc)(text) from None


def _frame_times(sample: Path) -> np.ndarray:
    from egvsr.events.io import open_events

    with open_events(sample) as src:
        return src.frame_times()


def _pick_checkpoint(checkpoint, shipped, minutes, sample, tmp, device, progress, size, log, train_log):
    """(checkpoint, note): the given one, the shipped one, or a tiny model trained now (`check_before_work`
    has refused a missing shipped checkpoint without a fallback; `train_log` takes the trainer's lines)."""
    if checkpoint is not None:
        return Path(checkpoint), f"checkpoint {checkpoint}"
    if shipped is not None:
        return shipped, f"shipped checkpoint egvsr/data/{SHIPPED_NAME}"
    log(f"NOTE: {_missing_shipped()}.")
    log(f"NOTE: falling back to training egvsr-tiny on the sample for {minutes:g} min; its numbers are a "
        "smoke test, not the shipped model's quality.")
    ck = train_fallback(sample, tmp / "fallback", minutes, device, progress, size, train_log)
    return ck, f"fallback egvsr-tiny trained {minutes:g} min in this run"
