"""Do noisy events hurt? The shipped model on real frames with more and more background-activity noise.

    .venv/bin/python benchmarks/event_noise.py [--rates 0 1 3 10 30] [--scale 4] [--limit 24]
    .venv/bin/python benchmarks/event_noise.py --rates 0 --hot 5e-4:1000 2e-3:1000 5e-4:5000 2e-3:5000
    .venv/bin/python benchmarks/event_noise.py --rates 0.5 --cps 0.05 0.1 0.6 0.9

Real sensors add events that no brightness change caused: background activity (shot noise, leak) at
0.1 to several Hz per pixel, more in low light. The synthetic training clips reach an isolated-event
share of 0.18 at their 90th percentile, while the real `sample.aedat4` shows 0.27 (docs/datasets.md). Here
`slider_depth` (real DAVIS240C frames, as in `benchmarks/quality.py`) gets events from the simulator at
Cp 0.3 with shot noise at each rate (Hz per pixel); for each rate the table gives the events per pixel per
second, the share of them that are noise (against the noiseless run of the same seed), and PSNR at frame
times and between frames for the model, the same weights with the events zeroed, and bicubic. (The
isolated-event share of `benchmarks/event_statistics.py` is no noise gauge for this busy scene: its signal
events put a neighbour within 1 pixel and 5 ms of most noise events.) Events that help never
fall below the zeroed run; events that hurt are what made the first shipped model worse than bicubic on real
recordings.

`--hot FRACTION:RATE` adds rows for hot pixels: that share of the sensor's pixels fire Poisson trains at RATE
Hz, one polarity each, as the training clips' hot pixels do (docs/datasets.md: up to 5e-4 of the pixels at
20-1000 Hz), added to the noiseless recording of the first rate of `--rates`. `--cps` adds rows at other
contrast thresholds (the training clips draw Cp from 0.1 to 0.6), with the shot noise of the first rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from _args import count, nonnegative_float, positive_float, positive_int, refuse, scale, toolkit_errors  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BASE_SENSOR = dict(cp=0.3, cn_ratio=(1.0, 0.0), sigma=0.03, refractory_us=100.0)


def event_rate(path: Path) -> float:
    """Events per pixel per second of a recording, from its header and time range (no event is read)."""
    from egvsr.events.io import open_events

    with open_events(path) as src:
        span = max(1, int(src.t_last) - int(src.t_first)) * 1e-6
        return src.num_events / (src.width * src.height) / span


def hot_setting(text: str) -> tuple[float, float]:
    """'FRACTION:RATE' as (share of pixels in [0, 1], events per second >= 0)."""
    what = "FRACTION:RATE, a share of pixels from 0 to 1 and a rate in Hz >= 0, e.g. 5e-4:1000"
    try:
        fraction, rate = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (0.0 <= fraction <= 1.0 and 0.0 <= rate < float("inf")):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return fraction, rate


def with_hot_pixels(src: Path, dst: Path, fraction: float, rate: float, seed: int = 5) -> None:
    """Copy of the recording `src` whose events gain hot pixels (drawn as the training clips draw theirs)."""
    import dataclasses

    import h5py

    from egvsr.datasets.synthetic.sensor import draw_sensor, hot_pixel_events
    from egvsr.events.frames import Frames
    from egvsr.events.io import EventWriter, read_events
    from egvsr.events.stream import EventStream

    rng = np.random.default_rng(seed)
    with h5py.File(src, "r") as f:
        frames = Frames(f["frames/images"][:], f["frames/t"][:])
        w, h = int(f.attrs["width"]), int(f.attrs["height"])
    ev = read_events(str(src))
    sensor = dataclasses.replace(draw_sensor(rng), hot_fraction=fraction, hot_rate_hz=rate)
    hx, hy, ht, hp = hot_pixel_events(rng, sensor, h, w, float(frames.t[0]), float(frames.t[-1]))
    order = np.argsort(np.concatenate([ev.t, ht]), kind="stable")
    joined = [np.concatenate([a, b.astype(a.dtype)])[order] for a, b in ((ev.x, hx), (ev.y, hy), (ev.t, ht), (ev.p, hp))]
    with EventWriter(dst, w, h, attrs={"generator": "benchmarks.event_noise.with_hot_pixels"}) as writer:
        writer.write_frames(frames)
        writer.append(EventStream(*joined, w, h))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "egvsr" / "data" / "egvsr-sample.pt"))
    ap.add_argument("--rates", type=nonnegative_float, nargs="+", default=[0.0, 1.0, 3.0, 10.0, 30.0],
                    help="shot noise, events per pixel per second")
    ap.add_argument("--scale", type=scale, default=4.0, help="a scale >= 1, up to the checkpoint's max_scale")
    ap.add_argument("--limit", type=count, default=24, help="targets per cell (0: all)")
    ap.add_argument("--workdir", default="experiments/event_noise",
                    help="folder the simulated recordings are written to and reused from (default: "
                         "experiments/event_noise under the current directory)")
    ap.add_argument("--hot", type=hot_setting, nargs="*", default=[], metavar="FRACTION:RATE",
                    help="hot-pixel rows: that share of the pixels firing at RATE Hz (on the first --rates value)")
    ap.add_argument("--cps", type=positive_float, nargs="*", default=[], metavar="CP",
                    help="rows at these contrast thresholds instead of 0.3 (with the first --rates value)")
    ap.add_argument("--threads", type=positive_int, default=2)
    a = ap.parse_args(argv)

    import torch

    from egvsr.events.simulate.api import simulate_video
    from egvsr.models import build_model
    from quality import SHARED, batches, drop_frames, events_zeroed, load_argument, margin, score

    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found (the real frames this benchmark needs)")
        return 0
    torch.set_num_threads(a.threads)
    model, opts = load_argument(a.checkpoint, "--checkpoint")
    columns = {"EGVSR": model, "events zeroed": events_zeroed(model), "bicubic": build_model("bicubic").eval()}
    cap = min(float(getattr(m, "max_scale", float("inf"))) for m in columns.values())
    if a.scale > cap:
        refuse(f"--scale {a.scale:g}: above the max_scale {cap:g} of the models scored; give a scale up to {cap:g}")
    work = Path(a.workdir)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        refuse(f"--workdir {work}: cannot make the folder ({exc.strerror or exc})")
    start = time.time()
    rows = []
    cp0 = BASE_SENSOR["cp"]
    settings = ([(rate, None, cp0) for rate in a.rates] + [(a.rates[0], hot, cp0) for hot in a.hot]
                + [(a.rates[0], None, cp) for cp in a.cps])
    for rate, hot, cp in settings:
        full = work / (f"slider_depth-shot{rate:g}.h5" if cp == cp0 else f"slider_depth-shot{rate:g}-cp{cp:g}.h5")
        if not full.exists():
            simulate_video(SHARED, full, seed=11, progress=False, shot_noise_hz=rate, **{**BASE_SENSOR, "cp": cp})
        if hot is not None:
            noiseless, full = full, work / f"slider_depth-shot{rate:g}-hot{hot[0]:g}x{hot[1]:g}.h5"
            if not full.exists():
                with_hot_pixels(noiseless, full, *hot)
        dropped = full.with_name(full.stem + "-dropped.h5")
        if not dropped.exists():
            drop_frames(full, dropped)
        cells = {}
        for between, path in ((False, full), (True, dropped)):
            # one recording: each target is labelled as its own clip, so scores and margins are per target
            samples = [{**s, "clip": [f"target-{i}"]}
                       for i, s in enumerate(batches(opts, [str(path)], a.scale, between, a.limit))]
            cells[between] = {name: score(m, samples) for name, m in columns.items()}
        rows.append((rate, hot, cp, event_rate(full), cells))
        print(f"Cp {cp:g}, shot noise {rate:g} Hz{f', hot pixels {hot[0]:g} at {hot[1]:g} Hz' if hot else ''}: done",
              flush=True)
    print(f"\nx{a.scale:g}, {a.limit or 'all'} targets per cell, checkpoint {a.checkpoint}; "
          f"{time.time() - start:.0f} s, load average {os.getloadavg()[0]:.2f}\n")
    print("| Cp | shot noise (Hz/pixel) | hot pixels (share x Hz) | events/pixel/s | noise share | target | EGVSR "
          "| events zeroed | bicubic | vs zeroed | vs bicubic |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    clean = next((r for rate, hot, cp, r, _ in rows if rate == 0 and hot is None and cp == cp0), None)
    for rate, hot, cp, ev_rate, cells in rows:
        share = f"{1 - clean / ev_rate:.2f}" if clean and cp == cp0 else "-"
        hot_text = f"{hot[0]:g} x {hot[1]:g}" if hot else "-"
        for between, per_target in cells.items():
            mean = {n: float(np.mean(list(v.values()))) for n, v in per_target.items()}
            (gz, sz), (gb, sb) = (margin(per_target["EGVSR"], per_target[c]) for c in ("events zeroed", "bicubic"))
            print(f"| {cp:g} | {rate:g} | {hot_text} | {ev_rate:.1f} | {share} | {'between frames' if between else 'frame times'} | "
                  f"{mean['EGVSR']:.2f} | {mean['events zeroed']:.2f} | {mean['bicubic']:.2f} | "
                  f"{gz:+.2f} ± {sz:.2f} | {gb:+.2f} ± {sb:.2f} |")
    return 0


if __name__ == "__main__":
    with toolkit_errors():  # a recording or size the toolkit refuses: its one line
        raise SystemExit(main())
