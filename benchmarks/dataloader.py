"""Would data loading starve training? Samples/s of EventVSRDataset beside one training step.

Builds a sample recording (`egvsr.events.simulate.make_sample`, else a synthetic file of random
events and textured frames), then measures, for 64x64 LR patches at x4 with K = 3 frames and 32
ON/OFF moments:

- our loader (`EventVSRDataset` + `ScaleBatchSampler` + `collate_samples`) with 0 and 2 workers;
- the strongest peer runnable here: EGVSR's recipe in numpy + torch in the same process (count
  moments at sensor resolution with `np.add.at`, bilinear `F.interpolate` to LR, cv2 bicubic LR);
  the peer and our loaders run in turn (A B A B, `--rounds`), so they see the same load;
- one training step (forward + Charbonnier loss + backward + Adam) of the default model
  (`build_model("egvsr")`) on a batch of the same samples, when egvsr.models is importable.

Usage: .venv/bin/python benchmarks/dataloader.py [--quick] [--batch 4] [--batches 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from egvsr.datasets import EventVSRDataset, ScaleBatchSampler, collate_samples  # noqa: E402
from _args import positive_int, refuse  # (this folder is on sys.path when run as a script)
from _timing import interleaved, load_average  # (this folder is on sys.path when run as a script)

SCALE, PATCH, K, MOMENTS = 4.0, 64, 3, 32


def make_recording(folder: Path, quick: bool) -> tuple[Path, str]:
    """A recording in our layout: the simulator's sample scene if available, else synthetic."""
    path = folder / "sample.h5"
    seconds = 0.6 if quick else 2.0
    try:
        from egvsr.events.simulate import make_sample

        make_sample(path, seed=0, seconds=seconds, size=(260, 346), fps=25.0, gt_per_interval=3,
                    progress=False)
        return path, f"make_sample(seed=0, {seconds:g} s, 346x260, 25 fps)"
    except (ImportError, AttributeError):
        pass
    import cv2

    from egvsr.events.frames import Frames
    from egvsr.events.io import write_events
    from egvsr.events.stream import EventStream

    rng = np.random.default_rng(0)
    n_frames, rate = int(seconds * 25) + 1, 2_000_000  # CED-like event rate (events/s)
    ft = (np.arange(n_frames) * 40_000).astype(np.int64)
    imgs = np.stack([cv2.resize(rng.random((65, 87, 3)).astype(np.float32), (346, 260)) for _ in ft])
    frames = Frames((np.clip(imgs, 0, 1) * 255).astype(np.uint8), ft)
    n = int(rate * seconds)
    ev = EventStream(rng.integers(0, 346, n).astype(np.uint16), rng.integers(0, 260, n).astype(np.uint16),
                     np.sort(rng.integers(0, int(ft[-1]) + 1, n)).astype(np.int64),
                     (rng.integers(0, 2, n) * 2 - 1).astype(np.int8), 346, 260)
    write_events(path, ev, frames=frames)
    return path, f"synthetic: {n} random events over {seconds:g} s, 346x260, 25 fps"


def loader_run(ds: EventVSRDataset, workers: int, batch: int, batches: int):
    """A call that returns (seconds, samples) of `batches` batches of our loader in steady state: start-up
    and JIT run here, untimed; before each timed run the batches the workers prefetched meanwhile (while
    another contender ran) are drained, untimed. The samples are counted as delivered: an epoch's last
    batch holds the rest of the dataset (fewer than `batch` where its size is no multiple of it, and the
    whole dataset where `batch` exceeds it)."""
    sampler = ScaleBatchSampler(len(ds), batch, (SCALE, SCALE), seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_samples,
                                         num_workers=workers, persistent_workers=workers > 0)
    it = iter(_cycle(loader, sampler))
    next(it)  # start-up and JIT

    def run() -> tuple[float, int]:
        for _ in range(2 * workers):  # what the workers prefetched (2 batches each)
            next(it)
        t, samples = time.perf_counter(), 0
        for _ in range(batches):
            samples += len(next(it)["lr"])
        return time.perf_counter() - t, samples

    return run


def _cycle(loader, sampler):
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def naive_run(stack: contextlib.ExitStack, path: Path, n: int):
    """EGVSR-style sample building in numpy + torch: full-res counts, bilinear to LR (peer). A call that
    returns the seconds of `n` samples (the recording stays open in `stack`)."""
    import cv2
    import torch.nn.functional as F

    from egvsr.events.io import open_events

    rng = np.random.default_rng(0)
    src = stack.enter_context(open_events(path))
    ft = src.frame_times()
    H0, W0 = src.height, src.width
    Hc = Wc = int(PATCH * SCALE)

    def one() -> None:
        s = int(rng.integers(0, len(ft) - K + 1))
        y0, x0 = int(rng.integers(0, H0 - Hc + 1)), int(rng.integers(0, W0 - Wc + 1))
        t0, t1 = int(ft[s]), int(ft[s + K - 1])
        frames = [src.read_frame(i)[y0 : y0 + Hc, x0 : x0 + Wc] for i in range(s, s + K)]
        lr = [cv2.resize(f, (PATCH, PATCH), interpolation=cv2.INTER_CUBIC) for f in frames]
        ev = src.read(t0, t1)
        keep = (ev.x >= x0) & (ev.x < x0 + Wc) & (ev.y >= y0) & (ev.y < y0 + Hc)
        b = np.minimum(((ev.t[keep] - t0) * MOMENTS) // max(t1 - t0, 1), MOMENTS - 1)
        counts = np.zeros((MOMENTS, 2, Hc, Wc), np.float32)
        np.add.at(counts, (b, (ev.p[keep] < 0).astype(np.int64), ev.y[keep].astype(np.int64) - y0,
                           ev.x[keep].astype(np.int64) - x0), 1.0)
        F.interpolate(torch.from_numpy(counts), size=(PATCH, PATCH), mode="bilinear", align_corners=False)
        torch.from_numpy(np.stack(lr)).float().div(255)
        torch.from_numpy(np.stack(frames)).float().div(255)

    one()

    def run() -> tuple[float, int]:
        t = time.perf_counter()
        for _ in range(n):
            one()
        return time.perf_counter() - t, n

    return run


def samples_per_second(runs: list[tuple[float, int]]) -> float:
    """Samples per second of a contender's median round, each round's rate from the samples it delivered."""
    return statistics.median(samples / seconds for seconds, samples in runs)


def train_step_time(batch_data: dict, repeats: int, device: str) -> tuple[float, str] | None:
    """Median seconds of one training step of the default model over `repeats` steps after an untimed one
    (its first step pays one-time set-up: a cold step would make the loader's headroom look larger), or
    None if models are missing."""
    try:
        from egvsr.models import build_model
    except ImportError as exc:
        print(f"(model step skipped: egvsr.models not importable: {exc})")
        return None
    dev = torch.device(device)
    model = build_model("egvsr").to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = {k: v.to(dev) for k, v in batch_data.items() if isinstance(v, torch.Tensor)}
    hr = data["hr"]
    times = []
    for _ in range(max(repeats, 1) + 1):  # the first: the warm-up
        t = time.perf_counter()
        out = model(data["lr"], data["times"], tuple(hr.shape[-2:]), events=data["events"],
                    frame_times=data["frame_times"])
        loss = torch.sqrt((out - hr) ** 2 + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    n_params = sum(p.numel() for p in model.parameters())
    return statistics.median(times[1:]), f"egvsr default ({n_params / 1e6:.2f}M), {dev.type}"


def _row(what: str, rate: float, peer: float | None) -> None:
    ratio = f"{rate / peer:6.2f}x" if peer else " " * 7
    print(f"| {what:<58} | {rate:9.3g} | {1e3 / rate:9.3g} | {ratio} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, the device checked before the loaders run (CUDA must be present to be asked for)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--batch", type=positive_int, default=4)
    ap.add_argument("--batches", type=positive_int, default=None, help="batches timed per loader setting and round")
    ap.add_argument("--rounds", type=positive_int, default=None,
                    help="interleaved rounds of the peer and our loaders (default 3, --quick 1)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="device of the training step (auto: cuda where present, else cpu)")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        refuse("--device cuda: torch sees no CUDA device on this machine; use --device cpu or auto")
    return a


def main(argv=None) -> None:
    a = parse_args(argv)
    batches = a.batches or (6 if a.quick else 30)
    rounds = a.rounds or (1 if a.quick else 3)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, torch threads {threads}, "
          f"load average {load_average():.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path, what = make_recording(Path(tmp), a.quick)
        print(f"recording: {what}")
        ds = EventVSRDataset([path], patch_size=PATCH, scale_range=(SCALE, SCALE), num_frames=K,
                             representation="moments", bins=MOMENTS)
        samples = batches * a.batch
        with contextlib.ExitStack() as stack:
            for th in sorted({threads, 1}, reverse=True):  # main-process loading at each thread count
                torch.set_num_threads(th)
                contenders = {f"peer: EGVSR recipe, numpy+torch, 0 workers, {th} thr": naive_run(stack, path, samples),
                              f"EventVSRDataset, 0 workers, {th} thr": loader_run(ds, 0, a.batch, batches)}
                if th == 1:  # the workers' loader beside the 1-thread peer, each worker on 1 thread
                    contenders["EventVSRDataset, 2 workers (1 thr each)"] = loader_run(ds, 2, a.batch, batches)
                rates = {what: samples_per_second(v) for what, v in interleaved(contenders, rounds).items()}
                peer = next(iter(rates.values()))
                rows += [(what, rate, peer) for what, rate in rates.items()]
                del contenders  # the workers' loader ends here
            torch.set_num_threads(threads)
        loads = load_average()
        sampler = ScaleBatchSampler(len(ds), a.batch, (SCALE, SCALE), seed=1)
        batch = collate_samples([ds[k] for k in next(iter(sampler))])
        step = train_step_time(batch, 1 if a.quick else 2, device)
    print()
    print(f"LR {PATCH}x{PATCH} patches at x{SCALE:g} (HR {int(PATCH * SCALE)}x{int(PATCH * SCALE)}), "
          f"K={K} frames, {MOMENTS} ON/OFF moments, batch {a.batch}; samples/s from the median of {rounds} "
          f"interleaved round(s) of {batches} batches, load average {loads:.1f}; 'vs peer' = our samples/s / the "
          "peer's at the same torch thread count (above 1: ours faster)")
    print(f"| {'what':<58} | {'samples/s':>9} | {'ms/sample':>9} | {'vs peer':>7} |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 11}|{'-' * 9}|")
    for what, rate, ref in rows:
        _row(what, rate, ref)
    if step is None:
        print("| training step: not measured (egvsr.models unavailable) |")
        return
    sec, name = step
    step_samples = len(batch["lr"])  # the whole dataset where --batch exceeds it
    consume = step_samples / sec
    _row(f"training step: {name}", consume, None)
    print()
    for what, rate, _ in rows:
        if what.startswith("EventVSRDataset"):
            verdict = "keeps up" if rate >= consume else "would STARVE training"
            print(f"{what}: {rate:.3g} samples/s vs training {consume:.3g} samples/s "
                  f"({sec:.3g} s/step of {step_samples}): {rate / consume:.3g}x headroom, {verdict}")


if __name__ == "__main__":
    main()
