"""Speed and peak memory of every model, beside an official-style peer at the same size.

    .venv/bin/python benchmarks/models.py            # CED sizes: 65x86 -> x4, x6.5; 260x346 -> x6.5
    .venv/bin/python benchmarks/models.py --quick    # small smoke run
    .venv/bin/python benchmarks/models.py --models egvsr,egvsr-large --threads 2 --repeats 7 --small-only

Time: ours and the peer are built in one process and called alternately (A B A B, so both see the same
load on a shared machine): median wall time of `--repeats` calls per output frame, the median and range
of the per-pair ratios, the median of the process CPU time (`time.process_time`, all threads) and the
1-minute load average, after a warm-up call on a tiny input and one at full size. torch uses
`--threads` (default all cores), batch 1, one query time (`--times` for more). On the large case
(260x346 LR) each variant is called once, in its memory run.
Memory: each variant runs once more in a fresh subprocess; "peak" is its `ru_maxrss` (torch's CPU
allocations are invisible to tracemalloc) and "delta" is that peak minus the resident memory after the
model and inputs were built, i.e. what the call itself needed, output included. On CUDA:
`torch.cuda.max_memory_allocated`, with and without AMP (`torch.autocast`, float16).

Peers:
  egvsr*   the official-compatible mode (`egvsr-official`) at the same size (n_feats, widths, bins),
           computed as the authors' code computes it: TF as 2N+1 full-resolution trilinear grid_samples
           (`tf_mode="naive"`), attention with explicit score matrices (`attention="math"`), nn.Fold
           summing, the whole frame decoded at once (`forward` under no_grad). It stands in for the
           released code (same numbers, tests/models/test_official_egvsr.py); same input and output sizes.
  videoinr "naive": the official decoding: the full-resolution spatial feature map materialized and
           warped with grid_sample (`reference_forward`); skipped where it would need > --peer-max-gb.
  bicubic  `F.interpolate(mode="bicubic")` of the nearest frame.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _memory import rss_mb  # (this folder is on sys.path when run as a script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from egvsr.threads import PROCESS_ENVIRONMENT  # noqa: E402
from _args import count, positive_float, positive_int, refuse  # (this folder is on sys.path when run as a script)

for _key, _value in PROCESS_ENVIRONMENT.items():  # passive OpenMP waiting, as the `egvsr` command sets it
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parents[1]
FULL_CASES = [("65x86", (65, 86), 4.0), ("65x86", (65, 86), 6.5), ("260x346", (260, 346), 6.5)]
QUICK_CASES = [("17x22", (17, 22), 4.0), ("17x22", (17, 22), 6.5), ("33x44", (33, 44), 6.5)]
FULL_MODELS = ["bicubic", "egvsr", "egvsr-large", "videoinr"]
LARGE_LR_PIXELS = 10_000
# docs/models.md (EGVSR options): the released EGVSR on a CPU (2 threads, another machine), for context.
OFFICIAL_CPU_MS = {("egvsr", 4.0): 3076, ("egvsr", 6.5): 4249, ("egvsr-large", 4.0): 4807,
                   ("egvsr-large", 6.5): 5639}


def official_config(config: dict) -> dict:
    """The official-compatible mode at the size of our EGVSR `config`, computed as the authors' code
    computes it: naive TF (2N+1 full-resolution 3-D samples), score-matrix attention, summed fold."""
    keep = {k: v for k, v in config.items() if k not in ("name", "event_norm", "ignore_events", "window_size")}
    return {**keep, "name": "egvsr-official", "fold": "sum", "attention": "math", "tf_mode": "naive",
            "output_activation": "relu", "residual_bicubic": False, "local_ensemble": False}


def setup(spec: dict):
    """Models (ours and its peer), inputs and a `call(variant)` for one spec."""
    import torch
    import torch.nn.functional as F

    from egvsr.models import build_model

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    overrides = {"window_size": spec["window_size"]} if spec.get("window_size") is not None else {}
    ours = build_model(spec["model"], **overrides).eval().to(device)
    naive = ours
    if spec["model"].startswith("egvsr"):
        naive = build_model(official_config(ours.config)).eval().to(device)
    h, w = spec["lr"]
    out_size = (math.floor(spec["scale"] * h), math.floor(spec["scale"] * w))
    k = ours.num_frames or 2
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, k, 3, h, w, generator=g).to(device)
    m, p = ours.event_shape if ours.uses_events else (1, 1)
    events = torch.poisson(torch.full((1, m, p, h, w), 0.3), generator=g).to(device)
    n = spec["times"]
    times = (torch.linspace(-0.5, 0.5, n) if n > 1 else torch.zeros(1)).view(1, -1).to(device)

    def run(variant: str, lr=lr, events=events, size=out_size):
        if variant == "ours":
            return ours.render(lr, times, size, events=events)
        if spec["model"] == "bicubic":
            frame = F.interpolate(lr[:, k // 2], size=size, mode="bicubic", align_corners=False).clamp(0, 1)
            return frame.unsqueeze(1).expand(-1, n, -1, -1, -1)
        if spec["model"].startswith("videoinr"):
            return naive.reference_forward(lr, times, size)
        return naive(lr, times, size, events=events)

    def call(variant: str, tiny: bool = False) -> tuple[float, float]:
        """Wall and process-CPU milliseconds per output frame of one call (tiny: a 9x11 warm-up)."""
        args = dict(lr=lr[..., :9, :11], events=events[..., :9, :11], size=(18, 22)) if tiny else {}
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=spec["amp"]):
            out = run(variant, **args)
        if device.type == "cuda":
            torch.cuda.synchronize()
        assert tiny or tuple(out.shape[-2:]) == out_size
        return (time.perf_counter() - t0) * 1000 / n, (time.process_time() - c0) * 1000 / n

    return call, out_size


def time_worker(spec: dict) -> dict:
    """Alternate calls of the variants in one process; runs (ms per frame) per variant."""
    call, _ = setup(spec)
    variants = spec["variants"]
    for v in variants:
        call(v, tiny=True)
    first = max(call(v)[0] for v in variants)
    repeats = min(spec["repeats"], 3) if first > 10_000 else spec["repeats"]
    runs: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    ratios, loads = [], []
    for _ in range(repeats):  # A B A B: both variants see the same load
        for v in variants:
            runs[v].append(call(v))
        if len(variants) == 2:
            ratios.append(runs[variants[1]][-1][0] / runs[variants[0]][-1][0])
        loads.append(os.getloadavg()[0])
    return {"runs": runs, "ratios": ratios, "loads": loads}


def memory_worker(spec: dict) -> dict:
    """One call of one variant in this fresh process: peak and baseline memory, and its time."""
    import torch

    call, out_size = setup(spec)
    variant = spec["variants"][0]
    call(variant, tiny=True)
    result = {"base_mb": rss_mb()}
    if spec["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
        result["cuda_base_mb"] = torch.cuda.memory_allocated() / 2**20
    result["ms"] = call(variant)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if spec["device"] == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def subprocess_json(spec: dict) -> dict:
    """Run a worker in a fresh interpreter; its JSON result or {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peer_too_big(model: str, out_size: tuple[int, int], limit_gb: float) -> bool:
    """Rough float32 estimate of the official-style whole-frame decoding's largest working set."""
    per_pixel = 1500 if model.startswith("videoinr") else 400  # live floats per output pixel
    return out_size[0] * out_size[1] * per_pixel * 4 / 2**30 > limit_gb


def measure(spec: dict, with_peer: bool) -> dict[str, dict]:
    """Time (interleaved) and memory (fresh processes) of "ours" and, if asked, "naive"."""
    variants = ["ours", "naive"] if with_peer else ["ours"]
    results = {v: subprocess_json({**spec, "mode": "memory", "variants": [v]}) for v in variants}
    big = spec["lr"][0] * spec["lr"][1] > LARGE_LR_PIXELS
    timing = {"runs": {v: [r["ms"]] for v, r in results.items() if "error" not in r}} if big else \
        subprocess_json({**spec, "mode": "time", "variants": variants})
    for v in variants:
        if "error" in timing:
            results[v] = {"error": timing["error"]}
        elif "error" not in results[v]:
            results[v]["runs"] = timing["runs"][v]
    results["ratios"], results["loads"] = timing.get("ratios", []), timing.get("loads", [])
    return results


def fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None or x != x else f"{x:,.{digits}f}"


def row(label: str, big: tuple[int, int], scale: float, model: str, amp: bool, res: dict, device: str) -> str:
    key, base = ("cuda_peak_mb", "cuda_base_mb") if device == "cuda" else ("peak_mb", "base_mb")
    ours, peer = res["ours"], res.get("naive", {"error": "skipped"})

    def mem(r):
        return r["error"] if "error" in r else f"{fmt(r[key])} ({fmt(r[key] - r[base])})"

    def med(r, i):
        return statistics.median(x[i] for x in r["runs"])

    def ms(r):
        return "-" if "error" in r else f"{fmt(med(r, 0))} ({fmt(med(r, 1))})"

    ratio = mratio = "-"
    if "error" not in ours and "error" not in peer:
        pairs = res.get("ratios") or [med(peer, 0) / med(ours, 0)]
        ratio = (f"{statistics.median(pairs):.2f}x [{min(pairs):.2f}-{max(pairs):.2f}] "
                 f"({med(peer, 1) / med(ours, 1):.2f}x)")
        d_ours, d_peer = ours[key] - ours[base], peer[key] - peer[base]
        mratio = f"{d_peer / d_ours:.2f}x" if min(d_ours, d_peer) >= 5 else "- (< 5 MB)"
    loads = res.get("loads") or [float("nan")]
    return (f"| {label} -> {big[0]}x{big[1]} (x{scale:g}) | {model} | {'yes' if amp else 'no'} | {ms(ours)} | "
            f"{mem(ours)} | {ms(peer)} | {mem(peer)} | {ratio} | {mratio} | {min(loads):.1f}-{max(loads):.1f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, two repeats (smoke run)")
    ap.add_argument("--models", default=None, help="comma-separated registered models")
    ap.add_argument("--repeats", type=positive_int, default=None, help="timed calls per variant (default 3)")
    ap.add_argument("--threads", type=positive_int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--times", type=positive_int, default=1, help="query times per call (ms are per output frame)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--peer-max-gb", type=positive_float, default=6.0, help="skip naive peers estimated above this")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--small-only", action="store_true", help="only the 65x86 cases (the issue-20 comparison)")
    ap.add_argument("--window-size", type=count, default=None,
                    help="EGVSR models only: square attention windows of this side (0: row-major strips)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        spec = json.loads(a.worker)
        print(json.dumps(time_worker(spec) if spec["mode"] == "time" else memory_worker(spec)))
        return 0

    import torch

    from egvsr.models import PRESETS

    models = [m.strip() for m in a.models.split(",")] if a.models else FULL_MODELS
    unknown = [m for m in models if m not in PRESETS]
    if unknown:  # before any worker: each would exit 1 with the same error, row after row
        refuse(f"--models {unknown[0]!r}: unknown model; expected comma-separated names of {', '.join(PRESETS)}")
    if a.device == "cuda" and not torch.cuda.is_available():
        refuse("--device cuda: torch sees no CUDA device on this machine; use --device cpu or auto")
    cases = QUICK_CASES if a.quick else FULL_CASES
    if a.small_only:
        cases = cases[:2]
    repeats = a.repeats or (2 if a.quick else 3)
    devices = ["cpu"]
    if a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available()):
        devices = ["cuda"] if a.device == "cuda" else ["cpu", "cuda"]
    print(f"torch {torch.__version__}, {a.threads} threads, cpu_count {os.cpu_count()}, devices {devices}, "
          f"{a.times} query time(s) per call, {repeats} timed calls per variant, EGVSR attention windows: "
          + ("the presets'" if a.window_size is None else f"window_size {a.window_size}"))
    for device in devices:
        print(f"\n## {device}" + (" (AMP = torch.autocast float16)" if device == "cuda" else ""))
        head = ("| LR -> out | model | AMP | ours ms/frame wall (CPU) | ours peak MB (delta) | "
                "peer ms/frame wall (CPU) | peer peak MB (delta) | speed-up wall [range] (CPU) | memory ratio | "
                "load avg |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for label, lr, scale in cases:
            big = (math.floor(scale * lr[0]), math.floor(scale * lr[1]))
            for model in models:
                for amp in ([False, True] if device == "cuda" else [False]):
                    spec = dict(model=model, lr=lr, scale=scale, threads=a.threads, device=device, amp=amp,
                                times=a.times, repeats=repeats,
                                window_size=a.window_size if model.startswith("egvsr") else None)
                    with_peer = not a.no_peers and not peer_too_big(model, big, a.peer_max_gb)
                    print(row(label, big, scale, model, amp, measure(spec, with_peer), device), flush=True)
    print("\nms: medians of wall time and of process CPU time (all threads; steadier than wall time on a "
          "shared machine). speed-up = peer / ours: median [range] of the ratios of interleaved pairs (A B A B, "
          "one process); memory ratio = peer delta / ours delta (>1: ours smaller); load avg = 1-minute load "
          "average during the timed calls.")
    print("Released EGVSR on a CPU (docs/models.md, 2 threads, another machine): "
          + ", ".join(f"{m} x{s:g} {ms:,} ms" for (m, s), ms in OFFICIAL_CPU_MS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
