"""Peak memory of rendering x6.5 of a 260x346 input (output 1690x2249), the output itself apart.

    .venv/bin/python benchmarks/render_memory.py            # 260x346 -> 1690x2249, egvsr (random weights)
    .venv/bin/python benchmarks/render_memory.py --quick    # 40x52 -> 260x338, egvsr-tiny (smoke run)

Every row runs in a fresh interpreter. The worker loads the model, builds the window's inputs from a
real recording (a `make_sample` clip of the input size: LR frames as-is, event tensor), renders a
tiny warm-up, then reads its resident memory: the *baseline*. It then renders one output frame and
reads `ru_maxrss`: *peak*. "peak before" is `ru_maxrss` at the baseline: when it is below *peak*,
the peak belongs to the render, not to setting it up. "render" = peak - baseline; "output" = the
frame itself (float32 model output 3xHxW plus its uint8 copy for writing); "rest" = render -
output, i.e. the encoder and decoding working set. Workers run with glibc's mmap threshold fixed
(`MALLOC_MMAP_THRESHOLD_`, see `MMAP_THRESHOLD`) so that a row repeats to within a few MB.

Rows:
  engine   `egvsr.render.run.iter_render` (as `egvsr render` runs it: window inputs, chunked
           decoding, uint8 conversion) at the default chunk size, whole frame and with `--tile`
           (the encoder then sees one padded LR tile at a time);
  chunked  `model.render` at two chunk sizes: "rest" must not grow with the number of chunks;
  naive    the peer in the same process: `model(...)` (forward under no_grad: every output pixel
           decoded at once), the plain-PyTorch way; ratio = naive render / engine render.
A randomly initialised model is enough: memory does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import rss_mb  # (this folder is on sys.path when run as a script)
from _args import positive_int  # (this folder is on sys.path when run as a script)
from _timing import load_average  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's egvsr (the workers get it as PYTHONPATH), not another installed
FULL = {"size": (260, 346), "scale": 6.5, "model": "egvsr", "chunks": [16384, 262144], "tile": 128}
QUICK = {"size": (40, 52), "scale": 6.5, "model": "egvsr-tiny", "chunks": [4096, 65536], "tile": 16}
DEFAULT_CHUNK = 65536
# glibc raises its mmap threshold as large blocks are freed, after which big tensors come from the heap
# and peak RSS varies by +-20% between identical runs; a fixed threshold maps and unmaps every large
# tensor exactly, and the same row then repeats to within a few MB.
MMAP_THRESHOLD = 128 * 1024


def worker(spec: dict) -> dict:
    """One measurement in this fresh process (see the module doc)."""
    import numpy as np
    import torch

    from egvsr.render.run import iter_render, to_uint8
    from egvsr.render.inputs import WindowBuilder, open_input, plan_layout
    from egvsr.render.model import load_render_model

    torch.set_num_threads(spec["threads"])
    rm = load_render_model(spec["checkpoint"], "cpu")
    rec = open_input(spec["recording"])
    layout = plan_layout(rec.width, rec.height, spec["scale"])
    t_mid = np.array([int(rec.frame_times[1])], np.int64)
    builder = WindowBuilder(rec, layout, rm.num_frames, rm.repr)
    w = builder.window(0)
    q = w.normalize(t_mid)
    h, wd = layout.out_size
    tiny = (slice(None), slice(None), slice(None), slice(0, 9), slice(0, 11))
    rm.model.render(w.lr[tiny], q, (18, 22), events=w.events[tiny], frame_times=w.frame_times)  # warm-up
    base = rss_mb()
    pre_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if spec["variant"] == "engine":
        for fr in iter_render(rec, rm, layout, t_mid, chunk_size=spec["chunk"], tile=spec.get("tile", 0)):
            frame = to_uint8(fr.ours)
        out_bytes = 3 * h * wd * 4 + frame.nbytes
    elif spec["variant"] == "chunked":
        out = rm.model.render(w.lr, q, (h, wd), events=w.events, frame_times=w.frame_times,
                              chunk_size=spec["chunk"])
        frame = to_uint8(out[0, 0])
        out_bytes = out.numel() * 4 + frame.nbytes
    else:
        with torch.no_grad():
            out = rm.model(w.lr, q, (h, wd), events=w.events, frame_times=w.frame_times)
        frame = to_uint8(out[0, 0])
        out_bytes = out.numel() * 4 + frame.nbytes
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert frame.shape[:2] == (h, wd)
    return {"base_mb": base, "pre_peak_mb": pre_peak, "peak_mb": peak, "out_mb": out_bytes / 2**20,
            "seconds": seconds, "out_size": [h, wd],
            "chunks": -(-h * wd // spec["chunk"]) if spec["chunk"] else 1}


def run_worker(spec: dict) -> dict:
    """`worker(spec)` in a fresh interpreter; its result or {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["killed (out of memory?)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row(label: str, r: dict) -> str:
    """One case's table row; the output size HxW, as the input size in the title."""
    if "error" in r:
        return f"| {label} | - | - | {r['error']} | | | | | | |"
    render = r["peak_mb"] - r["base_mb"]
    return (f"| {label} | {r['chunks']} | {r['out_size'][0]}x{r['out_size'][1]} | {r['base_mb']:,.0f} | "
            f"{r['pre_peak_mb']:,.0f} | {r['peak_mb']:,.0f} | {render:,.0f} | {r['out_mb']:,.1f} | "
            f"{render - r['out_mb']:,.0f} | {r['seconds']:.1f} |")


def prepare(cfg: dict, folder: Path) -> tuple[Path, Path]:
    """A 3-frame sample recording of the input size and a randomly initialised checkpoint."""
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    rec = make_sample(folder / "input.h5", seed=0, seconds=0.08, size=cfg["size"], fps=25.0,
                      gt_per_interval=0, progress=False)
    ck = save_untrained(cfg["model"], folder / "model.pt")
    return rec, ck


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small input and tiny model (smoke run)")
    ap.add_argument("--threads", type=positive_int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--no-naive", action="store_true", help="skip the whole-frame forward peer")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    cfg = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="egvsr-render-mem-") as tmp:
        rec, ck = prepare(cfg, Path(tmp))
        common = {"recording": str(rec), "checkpoint": str(ck), "scale": cfg["scale"], "threads": args.threads}
        runs = [("engine (iter_render)", {"variant": "engine", "chunk": DEFAULT_CHUNK}),
                (f"engine, --tile {cfg['tile']}", {"variant": "engine", "chunk": DEFAULT_CHUNK, "tile": cfg["tile"]})]
        runs += [(f"model.render chunk {c}", {"variant": "chunked", "chunk": c}) for c in cfg["chunks"]]
        if not args.no_naive:
            runs.append(("naive forward (no_grad)", {"variant": "naive", "chunk": 0}))
        h, w = cfg["size"]
        print(f"# render memory: {cfg['model']} (random weights), {h}x{w} -> x{cfg['scale']:g}, one output frame, "
              f"{args.threads} torch threads, load average {load_average():.1f}; baseline = RSS after model load, "
              "inputs and a tiny warm-up")
        print("| case | chunks | output HxW | baseline MB | peak before MB | peak MB | render = peak - baseline MB | "
              "output MB | rest MB | time s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        results = {}
        for label, spec in runs:
            r = run_worker({**common, **spec})
            results[label] = r
            print(row(label, r), flush=True)
        ours = results.get("engine (iter_render)", {})
        peer = results.get("naive forward (no_grad)", {})
        if "error" not in ours and peer and "error" not in peer:
            a = ours["peak_mb"] - ours["base_mb"]
            b = peer["peak_mb"] - peer["base_mb"]
            print(f"\nnaive forward / engine render memory: {b / max(a, 1e-3):.2f}x "
                  f"({b:,.0f} MB vs {a:,.0f} MB above baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
