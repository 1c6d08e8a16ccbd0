"""Voxelization speed: our numba kernels beside tonic, a numpy bincount version and a streaming bound.

Run: .venv/bin/python benchmarks/voxelize.py [--quick] [--no-e2e] [--no-jit]

Prints events/s for a (default) 10-million-event, 346x260, 5-bin voxel grid: ours on 1 thread and on
all threads, tonic 1.7 `ToVoxelGrid` (int8 polarity, its correct-output configuration), a numpy
`bincount` version with our window semantics, and a numba pass that only reads the four arrays.
Then numba's JIT and cache-load times (fresh processes), and an end-to-end `egvsr voxelize` of a
generated file (default 100 M events; written under $EGVSR_BENCH_TMP, else the temp folder) against
the in-memory kernel on the same windows. Counts beyond the machine's memory or that folder's free disk
are refused before any array is made.
Timings are medians of --repeat runs after one warm-up each, the implementations called in turn (A B C A B C,
so all see the same load; the load average is printed); the machine is shared, so expect noise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from egvsr.events import EventStream  # noqa: E402
from egvsr.events.represent import event_moments, voxel_grid, voxel_grids  # noqa: E402
from _args import positive_int, refuse, writable_dir  # (this folder is on sys.path when run as a script)
from _budget import check_fits  # (this folder is on sys.path when run as a script)
from _timing import interleaved, load_average  # (this folder is on sys.path when run as a script)

W, H, B = 346, 260, 5
#: bytes per event of the in-memory runs: the four arrays (13) and tonic's structured copy (13), measured
MEMORY_BYTES_PER_EVENT = 26
#: bytes per event of the end-to-end file (uncompressed x, y, t, p) and of its full read in memory
FILE_BYTES_PER_EVENT = 13


def e2e_output_bytes(n: int) -> int:
    """Bytes of the end-to-end run's four voxelized outputs: 1 s windows over n / 1e6 seconds."""
    return 4 * (n // 1_000_000 + 2) * B * H * W * 4


def check_sizes(events: int, e2e_events: int | None) -> None:
    """Refuse, before any array is made, an event count the machine's memory (or, end to end, the scratch
    folder: EGVSR_BENCH_TMP or the temp folder) cannot hold."""
    check_fits(f"--events {events:,}", events * MEMORY_BYTES_PER_EVENT, advice="choose fewer --events")
    if e2e_events is not None:
        scratch = os.environ.get("EGVSR_BENCH_TMP") or None
        if scratch is not None:
            try:
                writable_dir(scratch)
            except argparse.ArgumentTypeError as exc:
                refuse(f"EGVSR_BENCH_TMP: {exc}")
        check_fits(f"--e2e-events {e2e_events:,}", e2e_events * FILE_BYTES_PER_EVENT,
                   e2e_events * FILE_BYTES_PER_EVENT + e2e_output_bytes(e2e_events), scratch,
                   "choose fewer --e2e-events, or --no-e2e")


def make_arrays(n: int, seconds: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, W, n).astype(np.uint16)
    y = rng.integers(0, H, n).astype(np.uint16)
    t = np.sort(rng.integers(0, int(seconds * 1e6), n)).astype(np.int64)
    p = (rng.integers(0, 2, n) * 2 - 1).astype(np.int8)
    return x, y, t, p


@numba.njit(cache=True, nogil=True)
def stream_pass(x, y, t, p):
    """Streaming bound: one pass that reads the four arrays and does nothing else."""
    s = 0
    for i in range(x.shape[0]):
        s += np.int64(x[i]) + np.int64(y[i]) + t[i] + np.int64(p[i])
    return s


def bincount_voxel(x, y, t, p, bins, t0, t1):
    """numpy-only voxel grid with our semantics (window [t0, t1), [0, bins - 1], floor capped)."""
    m = (t >= t0) & (t < t1)
    tn = (bins - 1) * (t[m] - t0) / float(t1 - t0)
    ti = np.minimum(tn.astype(np.int64), bins - 2)
    fr = tn - ti
    pv = p[m].astype(np.float64)
    pix = y[m].astype(np.int64) * W + x[m]
    size = (bins + 1) * H * W
    g = np.bincount(ti * (H * W) + pix, pv * (1 - fr), size)
    g += np.bincount((ti + 1) * (H * W) + pix, pv * fr, size)
    return g[: bins * H * W].reshape(bins, H, W).astype(np.float32)


def timed(contenders: dict, repeat: int, reset=None) -> dict[str, tuple[float, float, float]]:
    """Per contender, (median wall s, min wall s, median process CPU s) over `repeat` runs after a warm-up
    each; the contenders run in turn (A B C A B C, `interleaved`), so all see the same load. `reset(name)`,
    if given, runs untimed before each call (removing the contender's previous output)."""
    reset = reset or (lambda name: None)

    def clocked(name, fn):
        def run() -> tuple[float, float]:
            reset(name)
            a, c = time.perf_counter(), time.process_time()
            fn()
            return time.perf_counter() - a, time.process_time() - c
        return run

    runs = {name: clocked(name, fn) for name, fn in contenders.items()}
    interleaved(runs, 1)  # the warm-up
    got = interleaved(runs, repeat)
    return {name: (statistics.median(w for w, _ in r), min(w for w, _ in r), statistics.median(c for _, c in r))
            for name, r in got.items()}


def thread_cpu() -> dict[str, tuple[int, int]]:
    """Per-thread (ns on CPU, ns runnable but waiting for a CPU) from /proc (Linux), else {}."""
    out = {}
    task = Path("/proc/self/task")
    if not task.is_dir():
        return out
    for tid in os.listdir(task):
        try:
            run, wait, _ = (task / tid / "schedstat").read_text().split()
            out[tid] = (int(run), int(wait))
        except (OSError, ValueError):
            pass
    return out


def scaling(fn1, fnn, repeat: int) -> None:
    """Second-core check that survives a shared machine: besides wall times, per-thread CPU time.

    The longest per-thread CPU time of the N-thread run is its critical path: the wall time it
    would take if every thread had its own core (our threads never wait for each other except at
    the end). Runqueue wait shows how much CPU other processes took from us."""
    def per_thread(fn):
        def run() -> tuple[float, float, float, float]:
            before, a = thread_cpu(), time.perf_counter()
            fn()
            wall, after = time.perf_counter() - a, thread_cpu()
            per = [after[k][0] - before.get(k, (0, 0))[0] for k in after]
            wait = sum(after[k][1] - before.get(k, (0, 0))[1] for k in after)
            return wall, sum(per) / 1e9, max(per) / 1e9, wait / 1e9
        return run

    runs = {"1 thread": per_thread(fn1), "all threads": per_thread(fnn)}
    interleaved(runs, 1)  # the warm-up
    rows = [(name, min(r, key=lambda v: v[0])) for name, r in interleaved(runs, repeat).items()]  # A B A B
    print(f"{'voxel_grid (best of runs)':<28} {'wall s':>8} {'CPU s':>7} {'longest thread':>15} "
          f"{'runqueue wait':>14}")
    for name, (wall, cpu, crit, wait) in rows:
        print(f"{name:<28} {wall:>8.4f} {cpu:>7.4f} {crit:>15.4f} {wait:>14.4f}")
    one, many = rows[0][1], rows[1][1]
    print(f"second core: measured wall {times_ratio(one[0], many[0])}; critical path "
          f"{times_ratio(one[1], many[2])} (1-thread CPU time / longest thread of the all-thread run)")


def times_ratio(a: float, b: float) -> str:
    """a / b as '1.23x', or 'n/a' where b reads 0: runs too short for the clock (per-thread CPU time
    advances in scheduler ticks of several ms), which say nothing about the ratio."""
    return f"{a / b:.2f}x" if b > 0 else "n/a (too short to time)"


def table(rows, ref: tuple[float, float]) -> None:
    """Rates from the median wall time; `vs tonic` compares wall rates, `cpu vs tonic` CPU time
    (robust to other processes on a shared machine, meaningful for the single-thread rows); both are
    tonic's time / this row's (above 1: this row is faster)."""
    print("vs tonic = tonic's time / this row's, wall and CPU (above 1: faster than tonic)")
    print(f"{'implementation':<52} {'median s':>9} {'min s':>8} {'cpu s':>7} {'Mev/s':>8} "
          f"{'vs tonic':>9} {'cpu vs tonic':>13}")
    for name, n, (med, best, cpu) in rows:
        rate = n / med / 1e6
        ratio = f"{rate / ref[0]:.1f}x" if ref[0] else "-"
        cratio = f"{ref[1] / cpu:.1f}x" if ref[1] and cpu else "-"
        print(f"{name:<52} {med:>9.4f} {best:>8.4f} {cpu:>7.3f} {rate:>8.1f} {ratio:>9} {cratio:>13}")


def jit_times() -> None:
    """First-call time in fresh processes: cold (empty cache dir) and warm (cache written)."""
    code = (
        "import time, numpy as np; a = time.perf_counter();"
        "from egvsr.events import EventStream; from egvsr.events.represent import voxel_grid;"
        "b = time.perf_counter();"
        "s = EventStream(np.array([1], np.uint16), np.array([1], np.uint16), np.array([5]),"
        " np.array([1], np.int8), 346, 260);"
        "voxel_grid(s, 5, 0, 10, threads=1); c = time.perf_counter();"
        "from egvsr.events.represent import batched; batched.MIN_PARALLEL_WORK = 1;"
        "import numba; voxel_grid(s, 5, 0, 10, threads=numba.config.NUMBA_NUM_THREADS);"
        "d = time.perf_counter();"
        "print(f'{b - a:.2f} {c - b:.2f} {d - c:.2f}')"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                               check=True)
            out.append([float(v) for v in r.stdout.split()])
    print("numba JIT (fresh processes, first voxel_grid call; seconds):")
    print(f"  import egvsr.events.represent: {out[0][0]:.2f}")
    print(f"  cold (compile): serial {out[0][1]:.2f}, parallel {out[0][2]:.2f}")
    print(f"  warm (cache=True load): serial {out[1][1]:.2f}, parallel {out[1][2]:.2f}")


def window_edges(t_first: int, t_last: int, step: int) -> np.ndarray:
    """The edges of the windows `egvsr voxelize --window-ms` places: (t_last - t_first) // step + 1 windows
    of `step` µs from the first event, the last event inside the last one (also where the span is a
    whole number of windows, or a single instant)."""
    return t_first + step * np.arange((t_last - t_first) // step + 2, dtype=np.int64)


def end_to_end(n: int, seconds: float, window_ms: float, repeat: int) -> None:
    """Generate an n-event file, voxelize it with the CLI, compare with the in-memory kernel."""
    from egvsr.events.io import EventWriter

    nthreads = numba.config.NUMBA_NUM_THREADS
    with tempfile.TemporaryDirectory(dir=os.environ.get("EGVSR_BENCH_TMP") or None) as d:
        src = Path(d) / "big.h5"
        a = time.perf_counter()
        step = 1 << 24
        span = int(seconds * 1e6)
        rng = np.random.default_rng(1)
        # times: sorted uniform over [0, span), generated in order block by block
        edges = np.linspace(0, span, -(-n // step) + 1).astype(np.int64)
        with EventWriter(src, W, H, compression={}) as w:
            for k, i in enumerate(range(0, n, step)):
                m = min(step, n - i)
                t = np.sort(rng.integers(edges[k], edges[k + 1], m)).astype(np.int64)
                x = rng.integers(0, W, m).astype(np.uint16)
                y = rng.integers(0, H, m).astype(np.uint16)
                p = (rng.integers(0, 2, m) * 2 - 1).astype(np.int8)
                w.append(EventStream(x, y, t, p, W, H, validate=False))
        gen = time.perf_counter() - a
        print(f"\nend to end: {n / 1e6:g} M events, {src.stat().st_size / 1e9:.2f} GB uncompressed "
              f"egvsr .h5 (written in {gen:.0f} s), --window-ms {window_ms:g}, {nthreads} threads")
        from egvsr.events.io import egvsr_h5, open_events, read_events
        from egvsr.events.represent import read_tensors, voxelize_file
        from egvsr.events.represent import voxelize as vx

        s = read_events(src)
        b = window_edges(int(s.t[0]), int(s.t[-1]), int(window_ms * 1000))
        want = voxel_grids(s, B, b)

        @contextlib.contextmanager
        def raw_reads(raw: bool):  # h5py for every read when off (the reader's switch)
            egvsr_h5.RAW_READS = raw
            try:
                yield
            finally:
                egvsr_h5.RAW_READS = True

        def read_only(raw: bool = True) -> None:  # the reads and checks of voxelize, nothing else
            with raw_reads(raw), open_events(src) as source:
                for _ in source.iter_chunks(vx.CHUNK_EVENTS, reuse=vx.PREFETCH + 2):
                    pass

        # every run writes a new output file (as a user writing a new result does): each contender's
        # previous output is deleted before its run, outside the timing (replacing an existing 180 MB
        # output would add its deletion, ~0.07 s here, to the time)
        outputs = {name: Path(d) / f"out-{i}.h5" for i, name in enumerate(("cli", "startup", "process", "process h5py"))}

        def reset(name: str) -> None:
            if name in outputs:
                outputs[name].unlink(missing_ok=True)

        def in_process(raw: bool = True) -> None:
            with raw_reads(raw):
                voxelize_file(src, outputs["process" if raw else "process h5py"], "voxel", B, window_ms=window_ms,
                              progress=False)

        def cli(path: Path = src, out: Path = outputs["cli"]) -> None:
            cmd = [sys.executable, "-m", "egvsr", "voxelize", str(path), str(out), "--repr", "voxel", "--bins",
                   str(B), "--window-ms", f"{window_ms:g}", "--no-progress"]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            if proc.returncode:  # its "wrote ..." line would break the table; its error is shown
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")

        tiny = Path(d) / "tiny.h5"
        with EventWriter(tiny, W, H, compression={}) as w:
            w.append(EventStream(np.zeros(1000, np.uint16), np.zeros(1000, np.uint16),
                                 np.arange(1000, dtype=np.int64) * 1000, np.ones(1000, np.int8), W, H))

        def startup() -> None:  # the same command on a 1000-event file: interpreter, imports, numba set-up
            cli(tiny, outputs["startup"])

        got_times = timed({"memory": lambda: voxel_grids(s, B, b), "reading": read_only,
                           "reading h5py": lambda: read_only(False), "process": in_process,
                           "process h5py": lambda: in_process(False), "cli": cli, "startup": startup},
                          repeat, reset)
        del s
        mem, cli_run, fixed = got_times["memory"], got_times["cli"], got_times["startup"]
        mem_rate = n / max(mem[0], 1e-9) / 1e6
        got = read_tensors(outputs["cli"])[0]
        h5py_out = outputs["process h5py"]
        print(f"(median and best of {repeat} runs of each, in turn; load average {load_average():.1f})")
        print(f"{'':<56} {'median s':>9} {'min s':>8} {'Mev/s':>8}")
        rows = [("in-memory voxel_grids (same windows, all threads)", mem),
                ("reading + checks only (as voxelize: views of the file)", got_times["reading"]),
                ("  the same through h5py (copies; RAW_READS off)", got_times["reading h5py"]),
                ("voxelize_file in process (open .. file closed)", got_times["process"]),
                ("  the same through h5py (RAW_READS off)", got_times["process h5py"]),
                ("egvsr voxelize CLI, as measured (process start .. exit)", cli_run),
                ("  of which fixed start-up (same CLI, 1000 events)", fixed),
                ("  CLI minus its start-up: the throughput part",
                 tuple(a - b for a, b in zip(cli_run, fixed)))]
        for name, (med, best, _) in rows:
            if "start-up" in name and "minus" not in name:  # a fixed cost, not a rate over the n events
                print(f"{name:<56} {med:>9.3f} {best:>8.3f}")
                continue
            if med <= 0:  # a difference of two timings within their noise (a small --e2e-events)
                print(f"{name:<56} {med:>9.3f} {best:>8.3f} {'n/a':>8}   (too short to time)")
                continue
            rate = n / med / 1e6
            print(f"{name:<56} {med:>9.3f} {best:>8.3f} {rate:>8.1f}   "
                  f"{100 * rate / mem_rate:>4.0f}% of in-memory")
        other = read_tensors(h5py_out)[0]
        scale = float(np.abs(want).max(initial=0))
        if got.shape != want.shape or got.shape != other.shape:  # no difference to take: say which is off
            print(f"outputs: CLI vs in-memory kernel: False (shapes: CLI {tuple(got.shape)}, in-memory "
                  f"{tuple(want.shape)}, h5py read path {tuple(other.shape)})")
            return
        close = np.allclose(got, want, rtol=1e-5, atol=1e-5)
        print(f"outputs: CLI vs in-memory kernel: {close}"
              f" (max |diff| {float(np.abs(got - want).max()):.1e}, values up to {scale:.0f}; bit-identical: "
              f"{np.array_equal(got, want)}); views vs h5py read path: max |diff| "
              f"{float(np.abs(got - other).max()):.1e} (bit-identical: {np.array_equal(got, other)}; chunk "
              "boundaries follow the file's storage with views, and float32 sums of a window split "
              "across chunks round differently)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 M events, 5 M end to end, 2 repeats (where not given)")
    ap.add_argument("--events", type=positive_int, default=None, help="events of the in-memory runs (default 10 M)")
    ap.add_argument("--repeat", type=positive_int, default=None, help="timed runs of each (default 5)")
    ap.add_argument("--e2e-events", type=positive_int, default=None, help="events of the end-to-end file (default 100 M)")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--no-jit", action="store_true")
    a = ap.parse_args(argv)
    quick = {"events": 1_000_000, "e2e_events": 5_000_000, "repeat": 2}
    full = {"events": 10_000_000, "e2e_events": 100_000_000, "repeat": 5}
    for key in full:  # --quick sets what the command line leaves out, never what it gives
        if getattr(a, key) is None:
            setattr(a, key, (quick if a.quick else full)[key])
    check_sizes(a.events, None if a.no_e2e else a.e2e_events)
    n, nthreads = a.events, numba.config.NUMBA_NUM_THREADS
    x, y, t, p = make_arrays(n, 10.0)
    s = EventStream(x, y, t, p, W, H)
    t0, t1 = 0, 10_000_000
    print(f"{n / 1e6:g} M uniform events, {W}x{H}, {B} bins, window [0, 10 s); numpy "
          f"{np.__version__}, numba {numba.__version__}, {nthreads} threads available")
    frames = np.arange(0, 10_000_001, 40_000)  # 250 inter-frame windows at 25 fps
    contenders = {
        "streaming bound (numba: read x, y, t, p once)": lambda: stream_pass(x, y, t, p),
        "ours voxel_grid, 1 thread": lambda: voxel_grid(s, B, t0, t1, threads=1),
        f"ours voxel_grid, {nthreads} threads": lambda: voxel_grid(s, B, t0, t1, threads=nthreads),
        "numpy bincount voxel (same semantics)": lambda: bincount_voxel(x, y, t, p, B, t0, t1),
    }
    tonic_name = "tonic 1.7 ToVoxelGrid (int8 p; copies input)"
    try:
        from tonic.transforms import ToVoxelGrid

        ev = np.zeros(n, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "i1")])
        ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, (p > 0)
        tv = ToVoxelGrid(sensor_size=(W, H, 2), n_time_bins=B)
        contenders[tonic_name] = lambda: tv(ev)
    except ImportError:
        print("tonic not installed: no tonic row")
    contenders.update({
        "ours event_moments (32 moments), 1 thread": lambda: event_moments(s, 32, t0, t1, threads=1),
        f"ours event_moments (32 moments), {nthreads} threads": lambda: event_moments(s, 32, t0, t1, threads=nthreads),
        "ours voxel_grid at 65x86 (LR splat), 1 thread": lambda: voxel_grid(s, B, t0, t1, 65, 86, threads=1),
        "ours voxel_grids, 250 windows (25 fps), 1 thread": lambda: voxel_grids(s, B, frames, threads=1),
        f"ours voxel_grids, 250 windows (25 fps), {nthreads} threads":
            lambda: voxel_grids(s, B, frames, threads=nthreads),
    })
    times = timed(contenders, a.repeat)
    contenders.pop(tonic_name, None)  # its input copy is freed
    ev = None
    rows = [(name, n, times[name]) for name in times]
    tt = times.get(tonic_name)
    tonic_ref = (n / tt[0] / 1e6, tt[2]) if tt else (0.0, 0.0)
    ref = bincount_voxel(x, y, t, p, B, t0, t1)
    diff = float(np.abs(voxel_grid(s, B, t0, t1) - ref).max())
    print(f"\nmedian and best of {a.repeat} runs of each, in turn after a warm-up; load average {load_average():.1f}")
    table(rows, tonic_ref)
    print(f"\nmax |ours - bincount| = {diff:.1e}\n")
    scaling(lambda: voxel_grid(s, B, t0, t1, threads=1),
            lambda: voxel_grid(s, B, t0, t1, threads=nthreads), a.repeat)
    del s, x, y, t, p
    if not a.no_jit:
        print()
        jit_times()
    if not a.no_e2e:
        end_to_end(a.e2e_events, a.e2e_events / 1e6, 1000.0, a.repeat)


if __name__ == "__main__":
    main()
