"""`egvsr render` end to end, before and after a change: interleaved runs, same output checked.

    .venv/bin/python benchmarks/render.py --before /path/to/old/checkout [--repeats 3] [--frames 2]
    .venv/bin/python benchmarks/render.py --stages            # where the time goes (this checkout)

A 346x260 sample recording (`make_sample`, 0.32 s at 25 fps) is rendered at x6.5 (2249x1690 output)
to a PNG folder by `python -m egvsr render`, called directly as a user would, for an `egvsr-small`
(the shipped width) and an `egvsr` (paper size) checkpoint with random weights (the residual head
perturbed so the network's output counts). Variants, called in turn (A B C A B C ...) so they share
the machine's load:
  before          the old checkout, environment as the user's (no OpenMP settings)
  before+passive  the old checkout with OMP_WAIT_POLICY=PASSIVE (what `scripts/*.sh` did)
  after           this checkout, the same checkpoint rendered with `--window-size S` (square attention
                  windows, default 16; 0 keeps the strips and so the before numbers)
Each variant renders once untimed first (numba compiles into each checkout's own cache; the page cache).
Reported: median seconds per output frame of the whole command (start-up included) and of the
render itself (the command's own "in X s" line), the 1-minute load average, and the largest uint8
difference of the frames between before and after. `--stages` profiles one `egvsr render` of this
checkout (and of `--before`'s) in-process through the CLI's `main` (cProfile, main thread: the writer
thread's encoding shows as the time spent waiting for it; model loading and planning count in the total),
after one unprofiled render per checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _args import checkout, choice_list, count, int_between, positive_int, scale_up_to  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
STAGES = {  # label: (file suffixes, this checkout's and the older layout's; function names) of a stage
    "inputs (frames, event tensor)": (("render/inputs.py", "engine/render_input.py"), "window"),
    "encoder": (("models/egvsr.py",), "encode"),
    "per-time LR work": (("models/egvsr.py",), "prepare_time"),
    "decoding": (("models/egvsr.py",), "decode_rows|decode"),
    "to uint8": (("render/video.py", "engine/render_video.py"), "to_uint8"),
    "PNG writing (main thread)": (("render/video.py", "engine/render_video.py"), "write|close|__exit__"),
}


# options newer than the `--before` checkout: left out of its checkpoint (their defaults are the old behaviour)
NEW_OPTIONS = ("mlp_activation", "window_size")
MODELS = {"egvsr-small (shipped width)": "egvsr-small", "egvsr (paper size)": "egvsr"}
SECONDS, FPS = 0.32, 25.0  # the sample recording: frames at 0, 40, ..., 320 ms
SAMPLE_FRAMES = round(SECONDS * FPS) + 1
MAX_SCALE = 16.0  # the presets' max_scale (egvsr/models/egvsr.py), which the checkpoints keep


def make_inputs(folder: Path) -> dict:
    """The sample recording and, per model, a checkpoint with random weights (the residual head
    perturbed so the network's output counts) that both checkouts load: without the newer options."""
    import torch

    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.events.simulate import make_sample
    from egvsr.models import build_model

    rec = folder / "sample.h5"
    make_sample(rec, seed=0, seconds=SECONDS, size=(260, 346), fps=FPS, progress=False)
    out: dict = {"recording": rec}
    for label, preset in MODELS.items():
        torch.manual_seed(0)
        model = build_model(preset)
        with torch.no_grad():
            for p in model.stir.decoder[-1].parameters():
                p.normal_(0, 0.02)
        config = {k: v for k, v in model.config.items() if k not in NEW_OPTIONS}
        config["name"] = "egvsr"  # the family with explicit options: older checkouts lack newer preset names
        out[label] = save_checkpoint(folder / f"{preset}.pt", {"model": {"name": "egvsr", "config": config},
                                                                "state_dict": model.state_dict(), "ema": None,
                                                                "experiment": {}})
    return out


def render_argv(rec: Path | str, ckpt: Path | str, out: Path, frames: int, scale: float, args: list[str]) -> list[str]:
    """`egvsr render` arguments of one benchmark render: input frames 0..frames-1 to a PNG folder."""
    return ["render", str(rec), str(ckpt), "--scale", str(scale), "--first-frame", "0", "--last-frame",
            str(frames - 1), "--png", str(out), "--overwrite", "--no-progress", *args]


def run_cli(tree: Path, env_extra: dict, rec: Path, ckpt: Path, out: Path, frames: int, scale: float,
            args: list[str]) -> tuple[float, float]:
    """(whole command seconds, render seconds from its log line) of one `python -m egvsr render ... ARGS`."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(env_extra, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "egvsr", *render_argv(rec, ckpt, out, frames, scale, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    m = re.search(r"frames of \S+ in ([\d.]+) s", proc.stdout)
    return wall, float(m.group(1)) if m else float("nan")


def frame_difference(a: Path, b: Path) -> tuple[int, float]:
    """Largest uint8 difference and share of differing values between two PNG folders."""
    import cv2
    import numpy as np

    worst, differ, total = 0, 0, 0
    for fa in sorted(a.glob("frame_*.png")):
        x = cv2.imread(str(fa)).astype(np.int16)
        y = cv2.imread(str(b / fa.name)).astype(np.int16)
        d = np.abs(x - y)
        worst, differ, total = max(worst, int(d.max())), differ + int((d > 0).sum()), total + d.size
    return worst, differ / max(total, 1)


def stages_worker(rec: str, ckpt: str, frames: int, scale: float, window_size: int | None = None) -> dict:
    """cProfile one `egvsr render` run in-process (the CLI's `main`, which every checkout has); cumulative
    seconds per stage."""
    import cProfile
    import pstats

    import torch  # noqa: F401  (imported before the clock starts, as the CLI has it imported by then)

    from egvsr.cli import main as cli_main

    with tempfile.TemporaryDirectory() as tmp:
        argv = render_argv(rec, ckpt, Path(tmp) / "out", frames, scale,
                           [] if window_size is None else ["--window-size", str(window_size)])
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        status = cli_main(argv)
        prof.disable()
        total = time.perf_counter() - t0
    if status:
        raise SystemExit(f"egvsr {' '.join(argv)} exited with {status}")
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    out = {"total": total}
    for label, (suffixes, names) in STAGES.items():
        pattern = re.compile(f"^({names})$")

        def inside(f: str, n: str) -> bool:
            return f.endswith(suffixes) and bool(pattern.match(n))

        out[label] = sum(v[3] for (f, _, n), v in stats.items()
                         if inside(f, n) and not any(inside(c[0], c[2]) for c in v[4]))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every argument checked (the old checkout too) before the inputs are made."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=checkout, help="an old checkout to compare with (e.g. from git archive)")
    ap.add_argument("--repeats", type=positive_int, default=3)
    # a render runs from one input frame to the next: two input frames at least, and the sample's at most
    ap.add_argument("--frames", type=int_between(2, SAMPLE_FRAMES), default=2,
                    help=f"output frames per render (input frames 0..N-1; 2 to {SAMPLE_FRAMES}, the sample's frames)")
    ap.add_argument("--scale", type=scale_up_to(MAX_SCALE), default=6.5,
                    help=f"1 to {MAX_SCALE:g}, the max_scale of the benchmark's models")
    ap.add_argument("--models", type=choice_list(MODELS.values()), default=list(MODELS.values()),
                    help=f"comma-separated presets, of {', '.join(MODELS.values())} (default: both)")
    ap.add_argument("--window-size", type=count, default=16,
                    help="square attention windows of the after checkpoint (0: the strips, same numbers as before)")
    ap.add_argument("--stages", action="store_true", help="profile where the time goes in this checkout")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.worker:
        print(json.dumps(stages_worker(**json.loads(a.worker))))
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder)
        labels = {preset: label for label, preset in MODELS.items()}
        models = [labels[m] for m in a.models]
        print(f"{os.cpu_count()} cores, x{a.scale:g} of 346x260, {a.frames} output frames per render, "
              f"after: window_size {a.window_size}, load average at start {os.getloadavg()[0]:.1f}")
        if a.stages:
            print("\n| model | " + " | ".join(STAGES) + " | total s |")
            print("|---|" + "---|" * (len(STAGES) + 1))
            trees = [("after", ROOT)] + ([("before", a.before)] if a.before else [])

            def profile(name: str, label: str, tree: Path) -> dict:
                spec = dict(rec=str(inputs["recording"]), ckpt=str(inputs[name]), frames=a.frames, scale=a.scale,
                            window_size=None if label == "before" else a.window_size)
                env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
                env.update(PYTHONPATH=str(tree), OMP_WAIT_POLICY="PASSIVE")
                proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                                      capture_output=True, text=True, cwd=tree)
                if proc.returncode:
                    raise SystemExit(proc.stderr[-2000:])
                return json.loads(proc.stdout.strip().splitlines()[-1])

            for label, tree in trees:  # untimed: each checkout's numba cache (its own), the page cache
                profile(models[0], label, tree)
            for name in models:
                for label, tree in trees:
                    r = profile(name, label, tree)
                    print(f"| {name}, {label} | " + " | ".join(f"{r[k]:.2f}" for k in STAGES)
                          + f" | {r['total']:.2f} |", flush=True)
            return 0
        variants = [("after", ROOT, {}, ["--window-size", str(a.window_size)])]
        if a.before:
            variants = [("before", a.before, {}, []),
                        ("before+passive", a.before, {"OMP_WAIT_POLICY": "PASSIVE"}, [])] + variants
        first = variants[0][0]  # the speed-ups are its whole-command time / each variant's (above 1: faster)
        print(f"\n| model | variant | s/frame, whole command | s/frame, render | speed-up vs {first} (command) | load avg |")
        print("|---|---|---|---|---|---|")
        for name in models:
            runs: dict[str, list[tuple[float, float]]] = {v[0]: [] for v in variants}
            loads = []
            for label, tree, env, args in variants:  # untimed: each checkout's numba cache, the page cache
                run_cli(tree, env, inputs["recording"], inputs[name], folder / label, a.frames, a.scale, args)
            for _ in range(a.repeats):
                for label, tree, env, args in variants:
                    runs[label].append(run_cli(tree, env, inputs["recording"], inputs[name], folder / label,
                                               a.frames, a.scale, args))
                loads.append(os.getloadavg()[0])
            base = statistics.median(w for w, _ in runs[first])
            for label, *_ in variants:
                wall = statistics.median(w for w, _ in runs[label])
                inner = statistics.median(r for _, r in runs[label])
                print(f"| {name} | {label} | {wall / a.frames:.2f} | {inner / a.frames:.2f} | "
                      f"{base / wall:.2f}x | {min(loads):.1f}-{max(loads):.1f} |", flush=True)
            if a.before:
                worst, share = frame_difference(folder / "before", folder / "after")
                print(f"| {name} | before vs after frames | max uint8 difference {worst}, "
                      f"{share:.2e} of values differ | | | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
