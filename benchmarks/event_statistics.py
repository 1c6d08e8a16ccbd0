"""A real sensor's event statistics beside the synthetic data engine's (docs/datasets.md).

The real recording is `../shared/data/aedat4/sample.aedat4` (a DVXplorer, 320x240, events only). For it and
for N synthetic training clips, per recording: events per pixel per second, the ON share, the share of
isolated events (no other event within 1 pixel and 5 ms: background-activity noise), the share of pixels
firing over 20x the median active pixel's count (hot pixels), and per-pixel inter-event times (median and
10th/90th percentiles). Synthetic figures are given as the 10th-90th percentile range over clips.

Run: .venv/bin/python benchmarks/event_statistics.py [--clips 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from _args import positive_int  # (this folder is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AEDAT = ROOT.parent / "shared" / "data" / "aedat4" / "sample.aedat4"
STATISTICS = ("events/pixel/s", "ON share", "isolated share", "hot pixels (share)", "inter-event ms p10",
              "inter-event ms p50", "inter-event ms p90")


@numba.njit(cache=True)
def _isolated(x, y, t, width, height, window):
    """Count events with no other event (earlier or later) within 1 pixel and `window` µs."""
    last = np.full((height + 2, width + 2), -(1 << 62), np.int64)
    has_prev = np.zeros(x.size, np.bool_)
    for i in range(x.size):
        xi, yi = x[i] + 1, y[i] + 1
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                if t[i] - last[yi + dy, xi + dx] <= window:
                    has_prev[i] = True
        last[yi, xi] = t[i]
    nxt = np.full((height + 2, width + 2), 1 << 62, np.int64)
    n = 0
    for i in range(x.size - 1, -1, -1):
        xi, yi = x[i] + 1, y[i] + 1
        near = has_prev[i]
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                if nxt[yi + dy, xi + dx] - t[i] <= window:
                    near = True
        nxt[yi, xi] = t[i]
        n += not near
    return n


def stats(s) -> dict:
    """The statistics of one EventStream (see module doc); NaN for each of a recording without events."""
    n, area = len(s.t), s.width * s.height
    if n == 0:
        return dict.fromkeys(STATISTICS, float("nan"))
    dur = max(1, int(s.t[-1] - s.t[0])) * 1e-6
    pix = s.y.astype(np.int64) * s.width + s.x
    counts = np.bincount(pix, minlength=area)
    active = counts[counts > 0]
    order = np.lexsort((s.t, pix))
    dt = np.diff(s.t[order])[np.diff(pix[order]) == 0]
    q = np.percentile(dt, [10, 50, 90]) / 1e3 if dt.size else [np.nan] * 3
    return {  # the keys are STATISTICS
        "events/pixel/s": n / area / dur,
        "ON share": float(np.mean(s.p > 0)),
        "isolated share": _isolated(s.x.astype(np.int64), s.y.astype(np.int64), s.t, s.width, s.height, 5000) / n,
        "hot pixels (share)": float(np.mean(counts > 20 * np.median(active))),
        "inter-event ms p10": q[0], "inter-event ms p50": q[1], "inter-event ms p90": q[2],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=positive_int, default=40)
    a = ap.parse_args(argv)
    from egvsr.datasets.synthetic import render_clip
    from egvsr.events.io import read_events

    rows = {}
    if AEDAT.exists():
        rows["real (DVXplorer sample.aedat4)"] = stats(read_events(str(AEDAT)))
    else:
        print(f"(real recording {AEDAT} not found: synthetic clips only)")
    synth = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.clips):
            synth.append(stats(read_events(str(render_clip(Path(tmp) / f"{i}.h5", 0, "train", i)))))
    print(table(rows, synth))


def table(real: dict[str, dict], synth: list[dict]) -> str:
    """The markdown table: a column per real recording (none where the sample is missing), then the
    synthetic clips' p10-p90 range."""
    lines = ["| " + " | ".join(["statistic", *real, f"synthetic, p10-p90 over {len(synth)} clips"]) + " |",
             "|---|" + "---|" * (len(real) + 1)]
    for k in STATISTICS:
        vals = np.array([d[k] for d in synth])
        lo, hi = np.nanpercentile(vals, [10, 90]) if not np.isnan(vals).all() else (np.nan, np.nan)
        lines.append("| " + " | ".join([k, *(f"{r[k]:.4g}" for r in real.values()), f"{lo:.4g} - {hi:.4g}"]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
