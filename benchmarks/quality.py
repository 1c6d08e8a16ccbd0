"""Quality under a fixed CPU budget: EGVSR and VideoINR trained on sample recordings, scored on unseen clips.

Both models train for the same wall-clock budget on the same generated recordings (configs/egvsr_sample.yaml and
configs/videoinr_sample.yaml), then are scored beside bicubic on sample clips never seen in training, at x2, x4
and x6.5, on two kinds of target: frames at input frame times (video SR) and ground-truth frames between them
(space-time SR). Each model gets the K=3 input frames around the target (VideoINR uses the bracketing pair).

    .venv/bin/python benchmarks/quality.py                     # ~15 min of training on 2 cores + scoring
    .venv/bin/python benchmarks/quality.py --quick             # smoke run (1 min per model)
    .venv/bin/python benchmarks/quality.py --save-checkpoint egvsr/data/egvsr-sample.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=7.5, help="training budget per model (wall clock)")
    ap.add_argument("--quick", action="store_true", help="1 minute per model, fewer test frames")
    ap.add_argument("--workdir", default="experiments/quality")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0, 6.5])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[100, 101])
    ap.add_argument("--frames-per-case", type=int, default=12, help="samples scored per (target kind, scale)")
    ap.add_argument("--models", nargs="+", default=["egvsr", "videoinr"])
    ap.add_argument("--save-checkpoint", help="copy the trained EGVSR weights (EMA-free, fp16) here")
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.frames_per_case = 1.0, 4

    import torch

    from egvsr.engine.config import load_config
    from egvsr.engine.data import resolve_recordings
    from egvsr.engine.eval_run import evaluate_checkpoint
    from egvsr.engine.train import train

    torch.set_num_threads(torch.get_num_threads())
    work = Path(args.workdir)
    cache = work / "samples"
    checkpoints: dict[str, Path] = {}
    timings: dict[str, float] = {}
    for model in args.models:
        overrides = [
            f"name={model}-quality", f"output_root={work}", "train.iterations=1000000",
            f"train.max_minutes={args.minutes}", "train.val_every=100000000", "train.checkpoint_every=100000000",
            f"data.train.sample_cache={cache}", "data.val={}",
        ]
        cfg = load_config(ROOT / "configs" / f"{model}_sample.yaml", overrides)
        start = time.monotonic()
        folder = train(cfg=cfg, progress=False)
        timings[model] = time.monotonic() - start
        checkpoints[model] = folder / "checkpoints" / "last.pt"
        steps = torch.load(checkpoints[model], weights_only=True)["step"]
        print(f"trained {model}: {steps} steps in {timings[model] / 60:.1f} min", flush=True)

    test = resolve_recordings({"recordings": [f"sample:{s}" for s in args.test_seeds],
                               "sample_cache": str(cache), "sample_seconds": 1}, "test")
    results: dict[tuple[str, float, str], tuple[float, float]] = {}
    for queries, label in (("middle", "frame times (video SR)"), ("gt", "between frames (space-time)")):
        for model, ck in checkpoints.items():
            rows = evaluate_checkpoint(ck, test, args.scales, queries=queries, limit=args.frames_per_case,
                                       with_bicubic=(model == args.models[0]), progress=False)
            for r in rows:
                if r["clip"] == "average":
                    name = "bicubic" if r["model"] == "bicubic" else model
                    results[(label, r["scale"], name)] = (r["psnr"], r["ssim"])
    names = ["bicubic", *args.models]
    print(f"\nQuality after {args.minutes:g} min of CPU training per model "
          f"(protocol 'ours': RGB, 4-px border, exact HR crop; {len(args.test_seeds)} unseen sample clips, "
          f"{args.frames_per_case} targets per cell); PSNR dB / SSIM\n")
    print("| target | scale | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label in ("frame times (video SR)", "between frames (space-time)"):
        for s in args.scales:
            cells = []
            for n in names:
                v = results.get((label, s, n))
                cells.append(f"{v[0]:.2f} / {v[1]:.4f}" if v else "-")
            print(f"| {label} | x{s:g} | " + " | ".join(cells) + " |")
    if args.save_checkpoint and "egvsr" in checkpoints:
        save_shipped(checkpoints["egvsr"], Path(args.save_checkpoint))


def save_shipped(src: Path, dst: Path) -> None:
    """Keep only what inference needs (model name, config, fp16 weights, the data options) for shipping."""
    import torch

    from egvsr.engine.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["state_dict"].items()}
    exp = ck.get("experiment") or {}
    payload = {"model": ck["model"], "state_dict": state, "step": ck["step"],
               "experiment": {"name": exp.get("name"), "data": {"train": exp.get("data", {}).get("train", {})}}}
    save_checkpoint(dst, payload, overwrite=True)
    print(f"saved {dst} ({dst.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
