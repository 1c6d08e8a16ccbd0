"""`egvsr simulate` and `egvsr train` called directly, before and after a change, interleaved.

    .venv/bin/python benchmarks/direct.py --before /path/to/old/checkout [--repeats 3]

Each command runs as a user runs it (`python -m egvsr ...`, no OpenMP settings in the environment) from
the old checkout and from this one, in turn (A B A B), so both see the same load; printed: median,
range and ratio of the whole command's wall time, and the 1-minute load average.
  simulate  ../shared/data/slider_depth (87 real frames, flow-interpolated) -> an egvsr .h5
  train     configs/egvsr_sample.yaml, 20 steps (egvsr-tiny, batch 4, 16x16 LR patches), no validation
            and no periodic checkpoint within them; the sample recordings are made once beforehand (not timed)
Before the timed runs each command runs once untimed from each checkout: numba compiles into each
checkout's own cache, so warming one alone would time the other's compilation.
`egvsr render` has its own benchmark (benchmarks/render.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _args import checkout, choice_list, positive_int  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SLIDER = ROOT.parent / "shared" / "data" / "slider_depth"
THREAD_VARS = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
COMMANDS = ("simulate", "train")


def command(name: str, tmp: Path, tag: str) -> list[str]:
    """The `egvsr` arguments of one timed run of `name` (one of COMMANDS)."""
    if name == "simulate":
        return ["simulate", str(SLIDER), str(tmp / f"{tag}.h5"), "--overwrite", "--no-progress"]
    cache = tmp / "samples"
    return ["train", str(ROOT / "configs" / "egvsr_sample.yaml"), "--no-progress",
            "--set", f"name={tag}", "--set", f"output_root={tmp / 'runs'}", "--set", "train.iterations=20",
            "--set", "train.val_every=100000", "--set", "train.checkpoint_every=100000", "--set", "train.log_every=20",
            "--set", f"data.train.sample_cache={cache}", "--set", f"data.val.sample_cache={cache}"]


def run(tree: Path, args: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONPATH"] = str(tree)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "egvsr", *args], capture_output=True, text=True, env=env, cwd=tree)
    if proc.returncode:
        raise SystemExit(f"{args[0]} in {tree} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every argument checked (the old checkout too) before the first warm-up run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=checkout, required=True, help="an old checkout (e.g. from git archive)")
    ap.add_argument("--repeats", type=positive_int, default=3)
    ap.add_argument("--commands", type=choice_list(COMMANDS), default=list(COMMANDS),
                    help=f"comma-separated, of {', '.join(COMMANDS)} (default: both)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    variants = [("before", a.before), ("after", ROOT)]
    print(f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("\n| command | before s [range] | after s [range] | speed-up (before / after time) | load avg |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in a.commands:
            if name == "simulate" and not SLIDER.is_dir():
                print(f"| simulate | skipped: {SLIDER} not found | | | |")
                continue
            for label, tree in variants:  # each checkout's own numba caches (and the sample recordings), untimed
                run(tree, command(name, folder, f"warm-up-{label}"))
            times: dict[str, list[float]] = {v: [] for v, _ in variants}
            loads = []
            for i in range(a.repeats):
                for label, tree in variants:
                    times[label].append(run(tree, command(name, folder, f"{label}-{i}")))
                loads.append(os.getloadavg()[0])
            med = {k: statistics.median(v) for k, v in times.items()}
            cells = [f"{med[k]:.1f} [{min(v):.1f}-{max(v):.1f}]" for k, v in times.items()]
            print(f"| {name} | {cells[0]} | {cells[1]} | {med['before'] / med['after']:.2f}x | "
                  f"{min(loads):.1f}-{max(loads):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
