"""Quality under a fixed CPU budget: EGVSR and VideoINR trained on sample recordings, scored on unseen clips.

Both models train at the same time, one process and one torch thread each, for the same CPU time (default
15 CPU-minutes each: about 15 minutes of wall clock on 2 cores), from configs/egvsr_sample.yaml and
configs/videoinr_sample.yaml. The budget is CPU time of the training process (`train.max_cpu_minutes`), so
other work on a shared machine delays the run but does not change how much training each model gets. The
cosine schedule spans the steps the budget allows, estimated by timing a few steps of each model first.
They are then scored beside bicubic on sample clips never seen in training, at x2, x4 and x6.5, on two kinds
of target: frames at input frame times (video SR) and ground-truth frames between them (space-time SR).
Each model gets the K=3 input frames around the target (VideoINR uses the bracketing pair).

    .venv/bin/python benchmarks/quality.py                     # 15 CPU-min per model, both at once, + scoring
    .venv/bin/python benchmarks/quality.py --quick             # smoke run (1 CPU-minute per model)
    .venv/bin/python benchmarks/quality.py --save-checkpoint egvsr/data/egvsr-sample.pt
    .venv/bin/python benchmarks/quality.py --set egvsr:train.lr=2e-3   # a config override for one model
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seconds_per_step(config: Path, overrides: list[str], steps: int = 4) -> float:
    """CPU seconds of one training step (the trainer's own step, one thread), timed after a warm-up."""
    import tempfile

    from egvsr.engine.config import load_config
    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config, [*overrides, "name=calibration", f"output_root={tmp}",
                                   f"train.iterations={steps + 1}"])
        trainer = Trainer(cfg, init_distributed("cpu"), progress=False)
        times = []
        for batch in trainer._loader():
            t0 = time.process_time()
            trainer._train_step(batch)
            times.append(time.process_time() - t0)
    return sum(times[1:]) / max(1, len(times) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-minutes", type=float, default=15.0, help="training budget per model (CPU time)")
    ap.add_argument("--quick", action="store_true", help="1 CPU-minute per model, fewer test frames")
    ap.add_argument("--workdir", default="experiments/quality")
    ap.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0, 6.5])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[100, 101])
    ap.add_argument("--frames-per-case", type=int, default=24, help="samples scored per (target kind, scale)")
    ap.add_argument("--models", nargs="+", default=["egvsr", "videoinr"])
    ap.add_argument("--eval-only", action="store_true", help="score the checkpoints of the last run again")
    ap.add_argument("--save-checkpoint", help="copy the trained EGVSR weights (fp16) here")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="MODEL:KEY=VALUE",
                    help="config override for one model (egvsr:train.lr=1e-3), repeatable")
    args = ap.parse_args()
    if args.quick:
        args.cpu_minutes, args.frames_per_case = 1.0, 4

    import torch

    from egvsr.engine.data import resolve_recordings

    work = Path(args.workdir)
    cache = work / "samples"
    # generate every recording once, before the training processes could race to make them
    train_spec = {"recordings": [f"sample:{s}" for s in range(1, 7)], "sample_cache": str(cache),
                  "sample_seconds": 2}
    resolve_recordings(train_spec, "train")
    test = resolve_recordings({"recordings": [f"sample:{s}" for s in args.test_seeds],
                               "sample_cache": str(cache), "sample_seconds": 1}, "test")
    torch.set_num_threads(1)
    checkpoints = {m: work / f"{m}-quality" / "checkpoints" / "last.pt" for m in args.models}
    if not args.eval_only:
        train_all(args, work, cache, checkpoints)
    torch.set_num_threads(os.cpu_count() or 1)
    score(args, test, checkpoints)
    if args.save_checkpoint and "egvsr" in checkpoints:
        save_shipped(checkpoints["egvsr"], Path(args.save_checkpoint))


def train_all(args, work: Path, cache: Path, checkpoints: dict[str, Path]) -> None:
    """Train every model at once, one single-threaded process each, under the same CPU budget."""
    import torch

    for model in args.models:  # a fresh run each time (an experiment folder would otherwise resume)
        shutil.rmtree(work / f"{model}-quality", ignore_errors=True)
    procs, plans = {}, {}
    for model in args.models:
        config = ROOT / "configs" / f"{model}_sample.yaml"
        mine = [o.split(":", 1)[1] for o in args.overrides if o.split(":", 1)[0] == model]
        base = [f"data.train.sample_cache={cache}", "data.val={}", *mine]
        per_step = seconds_per_step(config, base)
        steps = max(10, int(args.cpu_minutes * 60 / per_step))
        plans[model] = (per_step, steps)
        print(f"{model}: {per_step:.2f} CPU-s per step -> {steps} steps in {args.cpu_minutes:g} CPU-min",
              flush=True)
        overrides = [f"name={model}-quality", f"output_root={work}", f"train.iterations={steps}",
                     f"train.max_cpu_minutes={args.cpu_minutes}", "train.threads=1",
                     "train.val_every=100000000", "train.checkpoint_every=100000000", *base]
        cmd = [sys.executable, "-m", "egvsr", "train", str(config), "--no-progress"]
        for o in overrides:
            cmd += ["--set", o]
        env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT))
        procs[model] = (subprocess.Popen(cmd, env=env), time.monotonic())
    for model, (proc, started) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"training {model} failed (exit {proc.returncode})")
        steps = torch.load(checkpoints[model], weights_only=True)["step"]
        print(f"trained {model}: {steps} of {plans[model][1]} planned steps, "
              f"{(time.monotonic() - started) / 60:.1f} min wall", flush=True)


def score(args, test: list[str], checkpoints: dict[str, Path]) -> None:
    """PSNR/SSIM of every model and bicubic on both kinds of target; print the table."""
    from egvsr.engine.eval_run import evaluate_checkpoint

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
    print(f"\nQuality after {args.cpu_minutes:g} CPU-minutes of training per model "
          f"(protocol 'ours': RGB, 4-px border, exact HR crop; {len(args.test_seeds)} unseen sample clips, "
          f"{args.frames_per_case} targets per cell, spread over the clips); PSNR dB / SSIM\n")
    print("| target | scale | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label in ("frame times (video SR)", "between frames (space-time)"):
        for s in args.scales:
            cells = []
            for n in names:
                v = results.get((label, s, n))
                cells.append(f"{v[0]:.2f} / {v[1]:.4f}" if v else "-")
            print(f"| {label} | x{s:g} | " + " | ".join(cells) + " |")


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
