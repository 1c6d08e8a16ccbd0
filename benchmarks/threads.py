"""torch thread count under load: 1 thread against all cores, interleaved in one process.

    .venv/bin/python benchmarks/threads.py [--repeats 5] [--workloads render,train]

Why: on a shared machine a parallel region with 2 threads ends only when both threads have had their
time slice, so when other processes hold the cores fewer threads can be faster. Each workload runs
alternately with `torch.set_num_threads(1)` and `(cores)` (A B A B), so both see the same load; the
1-minute load average is printed beside each pair. OpenMP waits passively (set here as the console
entry point does, before torch loads).

Workloads: `render`: one `model.render` call of egvsr-tiny on a 260x346 input at x6.5 (encoder and
one decoded frame); `train`: one optimizer step of egvsr-tiny on a batch of 4 samples of 48x48 LR
patches at x4 (forward, backward, Adam).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from egvsr.threads import configure_process_environment  # noqa: E402
from _args import choice_list, positive_int  # (this folder is on sys.path when run as a script)

configure_process_environment()


def render_workload():
    import torch

    from egvsr.models import build_model

    torch.manual_seed(0)
    model = build_model("egvsr-tiny").eval()
    m, p = model.event_shape
    lr, ev = torch.rand(1, 3, 3, 260, 346), torch.rand(1, m, p, 260, 346)
    t = torch.zeros(1, 1)
    return lambda: model.render(lr, t, (1690, 2249), events=ev)


def train_workload():
    import torch

    from egvsr.models import build_model

    torch.manual_seed(0)
    model = build_model("egvsr-tiny").train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    m, p = model.event_shape
    lr, ev = torch.rand(4, 3, 3, 48, 48), torch.rand(4, m, p, 48, 48)
    t, target = torch.zeros(4, 1), torch.rand(4, 1, 3, 192, 192)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (model(lr, t, (192, 192), events=ev) - target).abs().mean()
        loss.backward()
        opt.step()

    return step


WORKLOADS = {"render": render_workload, "train": train_workload}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=positive_int, default=5)
    ap.add_argument("--workloads", type=choice_list(WORKLOADS), default=list(WORKLOADS),
                    help=f"comma-separated, of {', '.join(WORKLOADS)} (default: both)")
    a = ap.parse_args(argv)
    import torch

    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    print(f"torch {torch.__version__}, {cores} cores, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print("| workload | " + " | ".join(f"{n} thread(s) s" for n in counts) + " | 1-thread speed-up | load avg (1 min) |")
    print("|---|" + "---|" * (len(counts) + 2))
    for name in a.workloads:
        run = WORKLOADS[name]()
        with torch.no_grad() if name == "render" else torch.enable_grad():
            run()  # warm-up
            times: dict[int, list[float]] = {n: [] for n in counts}
            loads = []
            for _ in range(a.repeats):
                for n in counts:
                    torch.set_num_threads(n)
                    t0 = time.perf_counter()
                    run()
                    times[n].append(time.perf_counter() - t0)
                loads.append(os.getloadavg()[0])
        med = {n: statistics.median(v) for n, v in times.items()}
        print(f"| {name} | " + " | ".join(f"{med[n]:.2f}" for n in counts)
              + f" | {med[cores] / med[1]:.2f}x | {min(loads):.1f}-{max(loads):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
