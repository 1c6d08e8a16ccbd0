"""Event I/O benchmark: streaming convert (peak RSS), full-read throughput, 1% window reads.

    .venv/bin/python benchmarks/io.py            # 100 million events (needs ~2 GB disk, ~3 GB RAM)
    .venv/bin/python benchmarks/io.py --quick    # 2 million events, a smoke run

    .venv/bin/python benchmarks/io.py --events 20000000 --rounds 3   # issue 20's comparison

Steps: (1) generate an E2VID/event_utils HDF5 file (uncompressed, as that packager writes it) in
chunks; (2) convert it to our layout in a child process and report that process's peak RSS, next
to the naive peer (load all arrays with h5py, convert, write them in one go with our compression),
the two interleaved (A B A B) for `--rounds` rounds, each child timing its conversion after an untimed
one of the source's first 1000 events (numba's cache loads, h5py's first write); (3) read the E2VID source with our reader
(validated, converted to int64 µs / int8 ±1) against h5py plus the same numpy conversion,
interleaved (`--rounds` rounds, at least 3); (4) read our file fully (validated; gzip decoded on worker
threads) against plain h5py reading the same datasets, as many rounds; (5) read 1%-of-duration windows and report their cost as a fraction of the
full read; (6) write the events as a Prophesee EVT2 `.raw` and decode it with our numpy decoder
against expelliarmus' chunked decoding (what our reader used before), both with our time unwrapping,
interleaved, and read it fully with our reader (validated); (7) read the real AEDAT4 sample with our
reader and with tonic's `read_aedat4`.
Ratios are peer time / our time (above 1: we are faster), the median [range] of the rounds' ratios; the
load average is printed with them. The files and reads need about 20 bytes per event of scratch disk and
of memory (a count beyond either is refused before any event is generated).
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
from _args import positive_int, refuse, writable_dir  # (this folder is on sys.path when run as a script)
from _budget import check_fits  # (this folder is on sys.path when run as a script)
from _timing import interleaved, load_average, timed  # (this folder is on sys.path when run as a script)

W, H = 346, 260
RATE_EV_PER_S = 10e6
#: scratch bytes per event held at once: the E2VID source (13), our converted file and the peer's (about
#: 2.4 each, gzip) and later, the peer's gone, the EVT2 `.raw` (4)
DISK_BYTES_PER_EVENT = 20
#: peak bytes per event in memory: the naive peer's conversion (measured 1957 MiB at 100 M events); our
#: full reads alone (--skip-naive) hold at least their result, x and y uint16, t int64, p int8
MEMORY_BYTES_PER_EVENT, READ_BYTES_PER_EVENT = 20, 13


def generate_e2vid(path: Path, n: int, seed: int = 0, block: int = 5_000_000) -> None:
    """An E2VID-layout file of `n` events written block by block (bounded memory)."""
    rng = np.random.default_rng(seed)
    t_last = 1_600_000_000.0  # absolute seconds, like ROS time
    with h5py.File(path, "w") as f:
        ds = {
            k: f.create_dataset(f"events/{k}", shape=(n,), dtype=dt, chunks=(min(1 << 18, n),))
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


# Each child first runs its own conversion once, untimed, on the source's first 1000 events (both sides alike:
# numba's kernels loaded from their cache, about 0.5 s, and h5py's first write), then times the real one.
_CHILD_WARM_UP = """
import os, resource, sys, time
import h5py, numpy as np
src, dst = sys.argv[1], sys.argv[2]
warm_src, warm_dst = dst + ".warm-up-source.h5", dst + ".warm-up.h5"
with h5py.File(src) as f, h5py.File(warm_src, "w") as g:
    n = min(1000, f["events/ts"].shape[0])
    for k in ("xs", "ys", "ts", "ps"):
        g.create_dataset("events/" + k, data=f["events/" + k][:n])
    g.attrs.update(f.attrs)
    g.attrs["num_events"] = n
step(warm_src, warm_dst)
os.remove(warm_src), os.remove(warm_dst)
a = time.perf_counter()
step(src, dst)
print(time.perf_counter() - a, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

_CHILD_OURS = """
from egvsr.events.io import convert
def step(src, dst):
    convert(src, dst, progress=False)
""" + _CHILD_WARM_UP

_CHILD_NAIVE = """
import h5py, numpy as np
def step(src, dst):
    with h5py.File(src) as f:
        x, y = f["events/xs"][()].astype(np.uint16), f["events/ys"][()].astype(np.uint16)
        t = np.rint(f["events/ts"][()] * 1e6).astype(np.int64)
        p = f["events/ps"][()].astype(np.int8) * 2 - 1
    with h5py.File(dst, "w") as g:
        kw = dict(chunks=(min(1 << 17, len(t)),), compression="gzip", compression_opts=1, shuffle=True)
        for k, v in (("x", x), ("y", y), ("t", t), ("p", p)):
            g.create_dataset("events/" + k, data=v, **kw)
""" + _CHILD_WARM_UP


def run_child(code: str, src: Path, dst: Path, name: str) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of one conversion in a child process; one that fails (the naive peer
    killed for memory) ends the script in one line, its scratch files removed."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(src), str(dst)],
        capture_output=True, text=True, cwd=ROOT,
    )
    if out.returncode:
        why = "killed (out of memory?)" if out.returncode < 0 else f"exit {out.returncode}"
        last = (out.stderr.strip().splitlines() or [""])[-1]
        refuse(f"the {name} conversion failed: {why}{': ' + last if last else ''}"
               + ("; --skip-naive leaves the naive peer out" if name == "naive" else ""))
    secs, rss = out.stdout.split()[-2:]
    return float(secs), int(rss)


def read_all(path: Path):
    with open_events(path) as source:
        return source.read()


def read_e2vid_numpy(path: Path) -> tuple:
    """The peer of our E2VID reader: h5py reads, then the same conversion in numpy (unvalidated)."""
    with h5py.File(path) as f:
        x, y = f["events/xs"][()], f["events/ys"][()]
        t = np.rint(f["events/ts"][()] * 1e6).astype(np.int64)
        p = f["events/ps"][()].astype(np.int8) * 2 - 1
    return x, y, t, p


def ratio_line(name: str, ours: list[float], peer: list[float]) -> str:
    r = [p / o for o, p in zip(ours, peer)]
    return (f"{name:<44}{np.median(ours):>8.3f}{np.median(peer):>9.3f}{np.median(r):>9.2f}x"
            f"  [{min(r):.2f}-{max(r):.2f}]")


def write_evt2_from(src: Path, dst: Path, block: int = 5_000_000) -> None:
    """The E2VID file's events as an EVT2 `.raw` (times from the first event's µs), block by block."""
    high, t_first = -1, None
    with h5py.File(src) as f, open(dst, "wb") as out:
        out.write(f"% evt 2.0\n% format EVT2;height={H};width={W}\n% end\n".encode())
        ev, n = f["events"], f["events/ts"].shape[0]
        for a in range(0, n, block):
            t = np.rint(ev["ts"][a:a + block] * 1e6).astype(np.int64)
            t_first = int(t[0]) if t_first is None else t_first
            t -= t_first
            x, y = ev["xs"][a:a + block].astype(np.int64), ev["ys"][a:a + block].astype(np.int64)
            cd = (ev["ps"][a:a + block].astype(np.int64) << 28) | ((t & 0x3F) << 22) | (x << 11) | y
            highs = t >> 6
            new = np.r_[highs[0] != high, highs[1:] != highs[:-1]]
            words = np.insert(cd, np.flatnonzero(new), (0x8 << 28) | (highs[new] & 0xFFFFFFF))
            words.astype("<u4").tofile(out)
            high = int(highs[-1])


def decode_evt2_ours(path: Path) -> None:
    """What our reader decodes an EVT2 file into (x, y, unwrapped t, p ±1), without its checks."""
    from egvsr.events.io import evt2, prophesee_header
    from egvsr.events.io.prophesee import MAX_HEADER_BYTES, unwrap_times

    offset = len(prophesee_header.read_header(path, MAX_HEADER_BYTES))  # the payload follows the `%` lines
    state: list[int] = []
    for _, _, t, _ in evt2.decode_file(path, offset):
        unwrap_times(t, 34, state)


def decode_evt2_expelliarmus(path: Path) -> None:
    """The same with expelliarmus' chunks, as our reader decoded EVT2 before its own decoder."""
    from expelliarmus import Wizard

    from egvsr.events.io.prophesee import unwrap_times

    state: list[int] = []
    for ev in Wizard(encoding="evt2", fpath=path, chunk_size=1 << 20).read_chunk():
        unwrap_times(ev["t"], 34, state), ev["p"].astype(np.int8) * 2 - 1


def read_plain_h5py(path: Path, keys: list[str]) -> None:
    with h5py.File(path) as f:
        for k in keys:
            f[k][()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, the scratch folder checked before any event is generated."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 million events instead of 100 million")
    ap.add_argument("--events", type=positive_int, default=None, help="override the event count")
    ap.add_argument("--dir", type=writable_dir, default=None, help="an existing scratch folder (default: a temp dir)")
    ap.add_argument("--skip-naive", action="store_true", help="skip the load-everything peer (needs ~3 GB)")
    ap.add_argument("--rounds", type=positive_int, default=2, help="interleaved rounds of the convert comparison (the read and decode comparisons run at least 3)")
    return ap.parse_args(argv)


def check_sizes(n: int, folder: Path | None, skip_naive: bool) -> None:
    """Refuse, before any event is generated, a count whose files would not fit in the scratch folder or
    whose full reads (and the naive peer's) would not fit in memory."""
    check_fits(f"--events {n:,}", n * (READ_BYTES_PER_EVENT if skip_naive else MEMORY_BYTES_PER_EVENT),
               n * DISK_BYTES_PER_EVENT, folder, "choose fewer --events" + ("" if folder else " or a --dir"))


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    n = a.events or (2_000_000 if a.quick else 100_000_000)
    check_sizes(n, a.dir, a.skip_naive)
    read_rounds = max(a.rounds, 3)
    repeats = 3 if n <= 20_000_000 else 2
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        tmp = Path(tmp)
        src, ours, naive = tmp / "source_e2vid.h5", tmp / "ours.h5", tmp / "naive.h5"
        t0 = time.perf_counter()
        generate_e2vid(src, n)
        print(f"generated {n:,} events in E2VID layout ({src.stat().st_size / 1e9:.2f} GB) "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)

        load0 = load_average()
        conv: dict[str, list[float]] = {"ours": [], "naive": []}
        rss: dict[str, int] = {}
        for _ in range(a.rounds):
            for name, code, dst in (("ours", _CHILD_OURS, ours), ("naive", _CHILD_NAIVE, naive)):
                if a.skip_naive and name == "naive":
                    continue
                dst.unlink(missing_ok=True)
                secs, peak = run_child(code, src, dst, name)
                conv[name].append(secs)
                rss[name] = max(rss.get(name, 0), peak)
        naive.unlink(missing_ok=True)
        read_all(src), read_e2vid_numpy(src)  # warm-up: numba's cache, the page cache
        read_times = interleaved({"ours": timed(lambda: read_all(src)),
                                  "peer": timed(lambda: read_e2vid_numpy(src))}, read_rounds)
        read_all(ours), read_plain_h5py(ours, [f"events/{k}" for k in "xytp"])  # warm-up: its own kernels
        own_times = interleaved({"ours": timed(lambda: read_all(ours)),
                                 "peer": timed(lambda: read_plain_h5py(ours, [f"events/{k}" for k in "xytp"]))},
                                read_rounds)
        load1 = load_average()

        print()
        print(f"{n:,} events, interleaved rounds: {a.rounds} of the conversions, {read_rounds} of the reads; "
              f"load average {load0:.1f} -> {load1:.1f}")
        print(f"{'median seconds':<44}{'ours':>8}{'peer':>9}{'peer/ours':>10}")
        if conv["naive"]:
            print(ratio_line("convert E2VID -> ours (peer: load all, write)", conv["ours"], conv["naive"]))
            print(f"  peak RSS: ours {rss['ours'] / 2**20:.0f} MiB (bounded, streaming), "
                  f"peer {rss['naive'] / 2**20:.0f} MiB (grows with the file)")
        else:
            print(f"convert E2VID -> ours: {np.median(conv['ours']):.3f} s, peak RSS {rss['ours'] / 2**20:.0f} MiB")
        print(ratio_line("read E2VID (peer: h5py + numpy conversion)", read_times["ours"], read_times["peer"]))
        print(ratio_line("read our file (peer: plain h5py, unchecked)", own_times["ours"], own_times["peer"]))

        with open_events(ours) as s:
            t_first, t_last = s.t_first, s.t_last
        reads = interleaved({"ours": timed(lambda: read_all(ours)),
                             "floor": timed(lambda: read_plain_h5py(ours, [f"events/{k}" for k in "xytp"])),
                             "raw": timed(lambda: read_plain_h5py(src, [f"events/{k}" for k in ("xs", "ys", "ts", "ps")]))},
                            repeats)
        full, floor, raw = (min(reads[k]) for k in ("ours", "floor", "raw"))
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
        print(f"{'read, best of ' + str(repeats) + ' interleaved':<38}{'seconds':>9}{'Mev/s':>9}{'peer/ours':>11}")
        for name, secs in (
            ("ours: read_events, full (validated)", full),
            ("plain h5py ds[()] on our file", floor),
            ("plain h5py ds[()] on the E2VID source", raw),
        ):
            print(f"{name:<38}{secs:>9.2f}{n / secs / 1e6:>9.2f}{secs / full:>10.2f}x")
        print(f"1% window (median of 9, ~{win_n:,} events): {win_s * 1e3:.1f} ms = "
              f"{100 * win_s / full:.2f}% of the full read")
        print(f"file sizes: source {src.stat().st_size / n:.2f} B/event, ours {ours.stat().st_size / n:.2f} B/event")

        raw_evt2 = tmp / "events.raw"
        write_evt2_from(src, raw_evt2)
        decode_evt2_ours(raw_evt2), decode_evt2_expelliarmus(raw_evt2)  # warm-up: the page cache
        evt2_times = interleaved({"ours": timed(lambda: decode_evt2_ours(raw_evt2)),
                                  "peer": timed(lambda: decode_evt2_expelliarmus(raw_evt2))}, read_rounds)
        evt2_full = min(interleaved({"ours": timed(lambda: read_all(raw_evt2))}, repeats)["ours"])
        print()
        print(f"{'median seconds':<44}{'ours':>8}{'peer':>9}{'peer/ours':>10}")
        print(ratio_line("decode EVT2 .raw (peer: expelliarmus)", evt2_times["ours"], evt2_times["peer"]))
        print(f"  read EVT2 .raw fully with our reader (validated): {evt2_full:.3f} s, "
              f"{n / evt2_full / 1e6:.2f} Mev/s")

    sample = ROOT.parent / "shared" / "data" / "aedat4" / "sample.aedat4"
    if not sample.exists():
        print(f"(real AEDAT4 sample not found at {sample}; skipped)")
        return
    try:
        import tonic.io
    except ImportError:
        print("(tonic not installed: the real AEDAT4 sample's comparison is skipped)")
        return
    m = len(tonic.io.read_aedat4(str(sample)))  # also the warm-up: the page cache
    read_all(sample)
    aedat = interleaved({"ours": timed(lambda: read_all(sample)),
                         "tonic": timed(lambda: tonic.io.read_aedat4(str(sample)))}, 5)
    ours_s, tonic_s = min(aedat["ours"]), min(aedat["tonic"])
    print(f"real AEDAT4 sample ({m:,} events), best of 5 interleaved, load average {load_average():.1f}: ours "
          f"{ours_s * 1e3:.1f} ms, tonic.io.read_aedat4 {tonic_s * 1e3:.1f} ms (peer/ours {tonic_s / ours_s:.2f}x; "
          "ours also validates and converts to int64 µs / int8 ±1)")


if __name__ == "__main__":
    main()
