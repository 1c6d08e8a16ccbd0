"""Event simulator throughput: numba kernel vs the vectorized numpy version of the same model.

Workloads are luminance frames prepared beforehand, so only the simulator is timed: the sample
scene (346x260 by default) at the rate `make_sample` renders it (motion <= 1 px per sub-step) with
two thresholds, at 10 ms steps (several px per step), with v2e's "noisy" leak and shot noise; and,
when ../shared/data/slider_depth exists, its real frames with the flow-interpolated sub-frames
`simulate_video` feeds. Both implementations run in this process, whole sequences alternating,
best of `--repeat`: numba on one thread (CPU seconds, as numpy's) and on `--threads` (default: all,
the simulator's default; wall seconds against numpy's wall seconds); all events are checked equal
(by a digest per step). Then end-to-end times of `make_sample` and `simulate_video`.

    .venv/bin/python benchmarks/simulate.py [--quick] [--size 260x346] [--repeat 5] [--threads N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # idle BLAS threads spin and would count as CPU

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from egvsr.events.simulate import (  # noqa: E402
    EventSimulator, SampleScene, SimulatorConfig, make_sample, simulate_video,
)
from egvsr.events.simulate.budget import BYTES_PER_PIXEL, memory_budget  # noqa: E402
from egvsr.events.simulate.sample import MAX_PX_PER_STEP, MIN_SIDE  # noqa: E402
from egvsr.fsutil import fmt_size  # noqa: E402
from _args import positive_int, refuse, size_hxw, toolkit_errors  # (this folder is on sys.path when run as a script)
from _timing import load_average  # (this folder is on sys.path when run as a script)

SHARED = ROOT.parent / "shared" / "data" / "slider_depth"
MAX_SIDE = 4096  # make_sample's largest side (egvsr/events/simulate/sample.py)


def dense_times(scene: SampleScene, seconds: float, fps: float) -> np.ndarray:
    """Sub-frame times (µs) as make_sample chooses them."""
    edges = np.arange(int(round(seconds * fps)) + 1) * (1e6 / fps)
    out = [edges[0]]
    for ta, tb in zip(edges[:-1], edges[1:]):
        n = scene.steps(ta / 1e6, tb / 1e6, MAX_PX_PER_STEP)
        out.extend(ta + (tb - ta) * j / n for j in range(1, n + 1))
    return np.asarray(out)


def run_once(backend: str, frames, times, config, threads: int = 1) -> tuple[float, float, list]:
    """CPU and wall seconds of this process spent in `feed` over the whole sequence (after its first
    frame), and a digest of each step's events. On a shared machine CPU time does not count the
    time a single-threaded run waited for a core; threaded runs need the wall clock. The events are
    hashed and dropped outside the timed calls, as a streaming consumer (`simulate_video` writing
    chunks) would: keeping every step's arrays alive would time the kernel's page faults on fresh
    memory."""
    h, w = frames[0].shape
    sim = EventSimulator(w, h, config, 0, backend=backend, threads=threads)
    sim.reset(frames[0], times[0])
    cpu = wall = 0.0
    digests = []
    for f, t in zip(frames[1:], times[1:]):
        c0, w0 = time.process_time(), time.perf_counter()
        ev = sim.feed(f, t)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        digests.append(digest(ev))
    return cpu, wall, digests


def digest(ev) -> tuple[int, bytes]:
    """Number of events and a hash of their four arrays, to compare implementations step by step."""
    h = hashlib.blake2b(digest_size=16)
    for a in (ev.x, ev.y, ev.t, ev.p):
        h.update(np.ascontiguousarray(a).tobytes())
    return len(ev), h.digest()


def bench(name, frames, times, config, repeat, threads) -> dict:
    """Whole sequences, the implementations alternating, best of `repeat` each (a busy machine slows
    single runs, not the best one): numba on one thread (CPU time) and on `threads` (wall time),
    numpy (both clocks); the events are compared step by step by digest."""
    for n in {1, threads}:  # JIT / cache load outside the timing
        run_once("numba", frames[:3], times[:3], config, n)
    runs = {"numba-1": ("numba", 1), "numba-n": ("numba", threads), "numpy": ("numpy", 1)}
    cpu = dict.fromkeys(runs, np.inf)
    wall = dict.fromkeys(runs, np.inf)
    out = {}
    for _ in range(repeat):
        for key, (backend, n) in runs.items():
            c, w_s, out[key] = run_once(backend, frames, times, config, n)
            cpu[key], wall[key] = min(cpu[key], c), min(wall[key], w_s)
    same = out["numba-1"] == out["numpy"] and out["numba-n"] == out["numpy"]
    h, w = frames[0].shape
    steps = len(frames) - 1
    work = steps * h * w
    events = sum(n for n, _ in out["numpy"])
    return dict(name=name, size=f"{w}x{h}", steps=steps, events=events, per_step=events / steps / (h * w),
                one=work / cpu["numba-1"], many=work / wall["numba-n"], numpy=work / cpu["numpy"],
                numpy_wall=work / wall["numpy"], same=same)


def slider_subframes(limit: int | None) -> tuple[list, np.ndarray]:
    """slider_depth's real frames with the flow-interpolated sub-frames `simulate_video` feeds."""
    from egvsr.events.simulate import Upsampler, open_video
    from egvsr.events.simulate.luminance import to_luminance

    video = open_video(SHARED)
    up = Upsampler("flow")
    frames, times, prev = [], [], None
    for k, (t, img) in enumerate(video.frames()):
        if limit is not None and k >= limit:
            break
        lum = to_luminance(img, video.height, video.width).reshape(video.height, video.width)
        if prev is not None:
            for tau, sub in up.between(prev[1], lum)[1]:
                frames.append(sub)
                times.append(prev[0] + tau * (t - prev[0]))
        frames.append(lum)
        times.append(float(t))
        prev = (t, lum)
    return frames, np.asarray(times)


def check_memory(h: int, w: int, frames: int) -> None:
    """Refuse, before any frame is rendered, a size whose prepared frames (float32, all held at once) and
    simulator state would not fit in the simulator's memory budget."""
    need = (4 * frames + BYTES_PER_PIXEL) * h * w
    if need > memory_budget():
        refuse(f"--size {h}x{w}: its {frames} prepared frames and the simulator need about {fmt_size(need)}, more "
               f"than the {fmt_size(memory_budget())} this machine allows; choose a smaller --size")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (0.2 s of scene; best of 1 unless --repeat)")
    ap.add_argument("--size", type=size_hxw(MIN_SIDE, MAX_SIDE), default=(260, 346),
                    help=f"HxW of the scene, sides {MIN_SIDE} to {MAX_SIDE} (default 260x346)")
    ap.add_argument("--repeat", type=positive_int, default=None, help="best of this many runs (default 5)")
    ap.add_argument("--threads", type=positive_int, default=None, help="numba threads of the threaded runs (default: all)")
    a = ap.parse_args(argv)
    threads = a.threads or numba.get_num_threads()
    h, w = a.size
    seconds = 0.2 if a.quick else 1.0
    repeat = a.repeat or (1 if a.quick else 5)  # --quick never overrides a --repeat given
    scene = SampleScene(0, h, w)
    td = dense_times(scene, seconds, 25.0)
    tc = np.arange(int(seconds * 100) + 1) * 10_000.0
    check_memory(h, w, len(td) + len(tc))
    dense = [scene.render(t / 1e6, rgb=False) for t in td]
    coarse = [scene.render(t / 1e6, rgb=False) for t in tc]
    rows = [
        bench("scene, dense, Cp 0.15", dense, td, SimulatorConfig(cp=0.15), repeat, threads),
        bench("scene, dense, Cp 0.3", dense, td, SimulatorConfig(cp=0.3), repeat, threads),
        bench("scene, 10 ms steps, Cp 0.15", coarse, tc, SimulatorConfig(cp=0.15), repeat, threads),
        bench("scene, dense, + leak + shot", dense, td,
              SimulatorConfig(cp=0.15, leak_hz=0.1, shot_noise_hz=5.0), repeat, threads),
    ]
    if SHARED.is_dir():
        sf, st = slider_subframes(12 if a.quick else None)
        rows.append(bench("slider_depth, flow-upsampled", sf, st, SimulatorConfig(cp=0.25), repeat, threads))
    else:
        print(f"(real frames {SHARED} not found: the slider_depth row and its end-to-end run are skipped)")
    print(f"\nsimulator throughput, Mpix-frames per second (pixels x sub-frames), best of {repeat} (implementations "
          f"in turn), load average {load_average():.1f}: numba on 1 thread per CPU second and on {threads} threads "
          "per wall second, numpy (one thread) per CPU second; ratios = numpy's time / numba's (above 1: numba "
          "faster): 'ratio cpu' of the 1-thread run against numpy's CPU time, 'ratio wall' of the "
          f"{threads}-thread run against numpy's wall time")
    many = f"{threads} thr wall"
    print(f"{'workload':<30} {'size':>8} {'steps':>6} {'events':>10} {'ev/px/step':>10} {'1 thr cpu':>9} "
          f"{many:>{max(11, len(many))}} {'numpy cpu':>9} {'ratio cpu':>9} {'ratio wall':>10} {'equal':>6}")
    for r in rows:
        print(f"{r['name']:<30} {r['size']:>8} {r['steps']:>6} {r['events']:>10,} "
              f"{r['per_step']:>10.3f} {r['one'] / 1e6:>9.1f} {r['many'] / 1e6:>{max(11, len(many))}.1f} "
              f"{r['numpy'] / 1e6:>9.1f} {r['one'] / r['numpy']:>8.1f}x {r['many'] / r['numpy_wall']:>9.1f}x "
              f"{str(r['same']):>6}")

    print("\nend to end (wall clock, includes rendering, compression and writing)")
    with tempfile.TemporaryDirectory() as tmp:
        for secs in ([0.5] if a.quick else [2.0, 5.0]):
            out = Path(tmp) / f"sample_{secs}.h5"
            t0 = time.perf_counter()
            make_sample(out, seed=0, seconds=secs, size=(h, w), progress=False, threads=threads)
            dt = time.perf_counter() - t0
            print(f"make_sample {secs:>4.1f} s clip {w}x{h}: {dt:6.2f} s "
                  f"({out.stat().st_size / 1e6:.1f} MB)")
        if SHARED.is_dir() and not a.quick:
            out = Path(tmp) / "slider.h5"
            t0 = time.perf_counter()
            simulate_video(SHARED, out, cp=0.2, progress=False, threads=threads)
            dt = time.perf_counter() - t0
            print(f"simulate_video slider_depth (87 frames 240x180, flow upsampling): {dt:6.2f} s")


if __name__ == "__main__":
    with toolkit_errors():  # a size make_sample or simulate_video refuses: their one line
        main()
