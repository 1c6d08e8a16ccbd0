"""How close the EGVSR encoder runs to this CPU's arithmetic rate: GFLOP per pass against a large matmul.

    .venv/bin/python benchmarks/encoder_flops.py [--size 260 346] [--threads 2] [--repeats 3]

One encoder pass (`model.stf`, the part of a render that grows with the LR size) of random weights on a
random 3-frame window. FLOPs: `torch.utils.flop_counter` for the convolutions and matrix products, plus the
attention, which the counter does not see on the CPU: 4·D·n² per window of n tokens and fusion layer (QKᵀ
and AV, D channels), over the windows the model itself cuts. Rate = FLOPs / best time, beside a 2048³ float32 matmul timed in the same process
(the practical peak of these cores), interleaved per repeat, after an untimed round of both. A pass far below that rate would point at
overhead to remove; one close to it can only get faster with fewer FLOPs (docs/render.md).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from _args import int_between, positive_int, refuse  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = (("egvsr-small", 16), ("egvsr-small", 0), ("egvsr", 16), ("egvsr", 0))
MATMUL_N = 2048
MAX_SIDE = 4096  # an LR side far beyond any sensor's; the memory check below refuses most sizes near it
#: a pass's peak over the LR maps the model's estimate counts (`encoder_bytes`): measured 1.9 at 260x346
#: (egvsr, 16x16 windows), 0.9 to 1.2 for the strips
PASS_PEAK_FACTOR = 2.0


def window_tokens(transformer, height: int, width: int) -> list[int]:
    """Token counts of the attention windows the transformer uses on a height x width map: its own
    strip split, or its square spans (`balanced_spans`)."""
    import torch

    from egvsr.models.fusion_transformer import balanced_spans

    if transformer.window_size:
        return [sr * sc for _, nr, sr in balanced_spans(height, transformer.window_size)
                for _, nc, sc in balanced_spans(width, transformer.window_size) for _ in range(nr * nc)]
    return [part.shape[1] for part in transformer.split(torch.empty(1, height * width, 0))]


def attention_gflop(model, height: int, width: int) -> float:
    """QKᵀ and AV FLOPs of every fusion layer: 4 · D · sum over windows of (window tokens)²."""
    from egvsr.models.fusion_transformer import PatchTransformer

    total = 0
    for transformer in (m for m in model.stf.modules() if isinstance(m, PatchTransformer)):
        squares = sum(n * n for n in window_tokens(transformer, height, width))
        total += sum(4 * squares * layer.attn.qkv.in_features for layer in transformer.layers)
    return total / 1e9


def check_memory(height: int, width: int) -> None:
    """Refuse, before any tensor is allocated, an LR size whose inputs (every case's, all held at once)
    and largest encoder pass would not fit in this machine's memory budget."""
    import torch

    from egvsr.fsutil import fmt_size
    from egvsr.models import build_model
    from egvsr.models.call_memory import memory_budget_bytes, sample_tensor_bytes
    from egvsr.models.registry import encoder_bytes

    inputs, work = 2 * 4 * MATMUL_N ** 2, 0
    for name, window in CASES:
        with torch.device("meta"):  # options and estimate only: no weights allocated
            model = build_model({"name": name, "window_size": window})
        opts = model.options
        inputs += sample_tensor_bytes(opts.num_frames, opts.moments * opts.polarities, (height, width), (0, 0))
        work = max(work, int(PASS_PEAK_FACTOR * encoder_bytes(model, (height, width))))
    budget, share = memory_budget_bytes("cpu")
    if inputs + work > budget:
        refuse(f"--size {height} {width}: the inputs and one encoder pass need about {fmt_size(inputs + work)}, "
               f"above the budget of {share}; choose a smaller --size")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int_between(1, MAX_SIDE), nargs=2, default=[260, 346], metavar=("H", "W"),
                    help=f"LR size, sides 1 to {MAX_SIDE} (and within this machine's memory)")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--repeats", type=positive_int, default=3)
    a = ap.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from egvsr.models import build_model

    h, w = a.size
    check_memory(h, w)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    runs = []
    for name, window in CASES:
        model = build_model({"name": name, "window_size": window}).eval()
        lr = torch.rand(1, model.options.num_frames, 3, h, w)
        events = torch.randn(1, model.options.moments, model.options.polarities, h, w)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.stf(lr, events)
        gflop = counter.get_total_flops() / 1e9 + attention_gflop(model, h, w)
        runs.append((name, window, model, lr, events, gflop))
    best = {i: math.inf for i in range(len(runs))}
    matmul = math.inf
    with torch.no_grad():
        for r in range(a.repeats + 1):  # interleaved: matmul, every case, matmul, every case, ...
            for i, (_, _, model, lr, events, _) in enumerate(runs):
                m, s = timed(lambda: x @ y), timed(lambda: model.stf(lr, events))
                if r:  # round 0 is the warm-up of both (the thread pool's start, first allocations)
                    matmul, best[i] = min(matmul, m), min(best[i], s)
    peak = 2 * MATMUL_N ** 3 / matmul / 1e9
    print(f"{os.cpu_count()} cores, {a.threads} threads, LR {h}x{w}, best of {a.repeats}; "
          f"{MATMUL_N}^3 matmul {peak:.0f} GFLOP/s; load average {os.getloadavg()[0]:.2f}\n")
    print("| model | attention windows | GFLOP per pass | seconds | GFLOP/s | of the matmul rate |")
    print("|---|---|---|---|---|---|")
    for i, (name, window, _, _, _, gflop) in enumerate(runs):
        label = f"{window}x{window}" if window else "strips"
        rate = gflop / best[i]
        print(f"| {name} | {label} | {gflop:.1f} | {best[i]:.2f} | {rate:.0f} | {rate / peak:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
