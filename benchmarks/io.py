"""Event I/O benchmark: streaming convert (peak RSS), full-read throughput, 1% window reads.

    .venv/bin/python benchmarks/io.py            # 100 million events (needs ~2 GB disk, ~3 GB RAM)
    .venv/bin/python benchmarks/io.py --quick    # 2 million events, a smoke run

Steps: (1) generate an E2VID/event_utils HDF5 file (uncompressed, as that packager writes it) in
chunks; (2) convert it to our layout in a child process and report that process's peak RSS, next
to the naive peer (load all arrays with h5py, write them in one go); (3) read our file fully and
compare with plain h5py reading the same datasets (the floor for this file) and with h5py reading
the uncompressed source; (4) read 1%-of-duration windows and report their cost as a fraction of
the full read; (5) read the real AEDAT4 sample with our reader and with tonic's `read_aedat4`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from egvsr.events.io import open_events  # noqa: E402

W, H = 346, 260
RATE_EV_PER_S = 10e6


def generate_e2vid(path: Path, n: int, seed: int = 0, block: int = 5_000_000) -> None:
    """An E2VID-layout file of `n` events written block by block (bounded memory)."""
    rng = np.random.default_rng(seed)
    t_last = 1_600_000_000.0  # absolute seconds, like ROS time
    with h5py.File(path, "w") as f:
        ds = {
            k: f.create_dataset(f"events/{k}", shape=(n,), dtype=dt, chunks=(1 << 18,))
            for k, dt in (("xs", np.int16), ("ys", np.int16), ("ts", np.float64), ("ps", bool))
        }
        for a in range(0, n, block):
            m = min(block, n - a)
            gaps = rng.exponential(1.0 / RATE_EV_PER_S, m)
            ts = t_last + np.cumsum(gaps)
            ts = np.round(ts * 1e6) / 1e6  # µs resolution, as recorded
            t_last = float(ts[-1])
            edge = (np.sin(ts * 3.0) * 150 + 173).astype(np.int64)  # a moving edge
            ds["xs"][a:a + m] = np.clip(edge + rng.normal(0, 20, m).astype(np.int64), 0, W - 1)
            ds["ys"][a:a + m] = rng.integers(0, H, m)
            ds["ts"][a:a + m] = ts
            ds["ps"][a:a + m] = rng.random(m) < 0.5
        f.attrs["sensor_resolution"] = (H, W)
        f.attrs["num_events"] = n


_CHILD_OURS = """
import resource, sys, time
from egvsr.events.io import convert
a = time.perf_counter()
convert(sys.argv[1], sys.argv[2], progress=False)
print(time.perf_counter() - a, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

_CHILD_NAIVE = """
import resource, sys, time
import h5py, numpy as np
a = time.perf_counter()
with h5py.File(sys.argv[1]) as f:
    x, y = f["events/xs"][()].astype(np.uint16), f["events/ys"][()].astype(np.uint16)
    t = np.rint(f["events/ts"][()] * 1e6).astype(np.int64)
    p = f["events/ps"][()].astype(np.int8) * 2 - 1
with h5py.File(sys.argv[2], "w") as g:
    kw = dict(chunks=(1 << 17,), compression="gzip", compression_opts=1, shuffle=True)
    for k, v in (("x", x), ("y", y), ("t", t), ("p", p)):
        g.create_dataset("events/" + k, data=v, **kw)
print(time.perf_counter() - a, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def run_child(code: str, src: Path, dst: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(src), str(dst)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    secs, rss = out.stdout.split()[-2:]
    return float(secs), int(rss)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        a = time.perf_counter()
        fn()
        times.append(time.perf_counter() - a)
    return min(times)


def read_plain_h5py(path: Path, keys: list[str]) -> None:
    with h5py.File(path) as f:
        for k in keys:
            f[k][()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 million events instead of 100 million")
    ap.add_argument("--events", type=int, default=None, help="override the event count")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--skip-naive", action="store_true", help="skip the load-everything peer (needs ~3 GB)")
    a = ap.parse_args()
    n = a.events or (2_000_000 if a.quick else 100_000_000)
    repeats = 3 if n <= 20_000_000 else 2
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        tmp = Path(tmp)
        src, ours, naive = tmp / "source_e2vid.h5", tmp / "ours.h5", tmp / "naive.h5"
        t0 = time.perf_counter()
        generate_e2vid(src, n)
        print(f"generated {n:,} events in E2VID layout ({src.stat().st_size / 1e9:.2f} GB) "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)

        rows = []
        conv_s, conv_rss = run_child(_CHILD_OURS, src, ours)
        rows.append(("convert E2VID -> ours (streaming)", conv_s, n / conv_s, conv_rss))
        if not a.skip_naive:
            nv_s, nv_rss = run_child(_CHILD_NAIVE, src, naive)
            rows.append(("naive h5py: load all, write all", nv_s, n / nv_s, nv_rss))
            naive.unlink()

        with open_events(ours) as s:
            t_first, t_last = s.t_first, s.t_last
        full = best_of(lambda: open_events(ours).read(), repeats)
        floor = best_of(lambda: read_plain_h5py(ours, [f"events/{k}" for k in "xytp"]), repeats)
        raw = best_of(lambda: read_plain_h5py(src, [f"events/{k}" for k in ("xs", "ys", "ts", "ps")]), repeats)
        span = t_last - t_first
        rng = np.random.default_rng(1)
        win = []
        with open_events(ours) as s:
            for start in rng.uniform(0.0, 0.99, 9):
                w0 = t_first + int(start * span)
                a0 = time.perf_counter()
                got = s.read(w0, w0 + span // 100)
                win.append((time.perf_counter() - a0, len(got)))
        win_s = float(np.median([w[0] for w in win]))
        win_n = int(np.median([w[1] for w in win]))

        print()
        print(f"{'step':<38}{'seconds':>9}{'Mev/s':>9}{'peak RSS':>11}")
        for name, secs, rate, rss in rows:
            print(f"{name:<38}{secs:>9.2f}{rate / 1e6:>9.2f}{rss / 2**20:>8.0f} MiB")
        if len(rows) > 1:
            print(f"  ours/naive: {rows[1][1] / rows[0][1]:.2f}x the speed, "
                  f"{rows[0][3] / rows[1][3]:.2f}x the peak memory")
        print()
        print(f"{'read':<38}{'seconds':>9}{'Mev/s':>9}{'vs ours':>11}")
        for name, secs in (
            ("ours: read_events, full (validated)", full),
            ("plain h5py ds[()] on our file", floor),
            ("plain h5py ds[()] on the E2VID source", raw),
        ):
            print(f"{name:<38}{secs:>9.2f}{n / secs / 1e6:>9.2f}{full / secs:>10.2f}x")
        print(f"1% window (median of 9, ~{win_n:,} events): {win_s * 1e3:.1f} ms = "
              f"{100 * win_s / full:.2f}% of the full read")
        print(f"file sizes: source {src.stat().st_size / n:.2f} B/event, ours {ours.stat().st_size / n:.2f} B/event")

    sample = ROOT.parent / "shared" / "data" / "aedat4" / "sample.aedat4"
    if sample.exists():
        import tonic.io

        ours_s = best_of(lambda: open_events(sample).read(), 5)
        tonic_s = best_of(lambda: tonic.io.read_aedat4(str(sample)), 5)
        m = len(tonic.io.read_aedat4(str(sample)))
        print(f"real AEDAT4 sample ({m:,} events): ours {ours_s * 1e3:.1f} ms, tonic.io.read_aedat4 "
              f"{tonic_s * 1e3:.1f} ms (ours/tonic time {ours_s / tonic_s:.2f}x; ours also validates "
              "and converts to int64 µs / int8 ±1)")
    else:
        print(f"(real AEDAT4 sample not found at {sample}; skipped)")


if __name__ == "__main__":
    main()
