"""Which event normalization makes the model's input robust to event density? (docs/training.md)

Held-out synthetic clips are rendered again with the contrast threshold set to 0.1, 0.2 and 0.4 (every
other setting as drawn) and with every event duplicated; each clip's EGVSR moments tensor (8 bins, x4
LR size) is normalized by each `event_norm` mode, and the table gives the mean relative L1 distance
between the normalized tensors of two settings, ||n(A) - n(B)||_1 / ||n(B)||_1: 0 means the model sees
the same input whatever the sensor's density.

Run: .venv/bin/python benchmarks/event_norm.py [--clips 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's egvsr, not another one installed

from egvsr.datasets.synthetic.clip import render_clip  # noqa: E402
from egvsr.datasets.tensorize import event_tensor  # noqa: E402
from egvsr.events.io import read_events  # noqa: E402
from egvsr.events.stream import EventStream  # noqa: E402
from egvsr.models.event_input import EVENT_NORMS, normalize_events  # noqa: E402
from _args import positive_int  # (this folder is on sys.path when run as a script)

SCALE = 4
CPS = (0.1, 0.2, 0.4)


def moments(path: Path, duplicate: bool = False) -> torch.Tensor:
    import h5py

    with h5py.File(path, "r") as f:
        ft = f["frames/t"][:]
    s = read_events(str(path))
    if duplicate:
        s = EventStream(np.repeat(s.x, 2), np.repeat(s.y, 2), np.repeat(s.t, 2), np.repeat(s.p, 2), s.width, s.height)
    h, w = s.height // SCALE, s.width // SCALE
    return torch.from_numpy(event_tensor(s, int(ft[0]), int(ft[2]), (h, w), "moments", 8))[None]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=positive_int, default=12)
    a = ap.parse_args(argv)
    pairs = {f"Cp {CPS[0]} vs {CPS[1]}": (0, 1), f"Cp {CPS[1]} vs {CPS[2]}": (1, 2), f"Cp {CPS[0]} vs {CPS[2]}": (0, 2),
             "2x duplicated events": (3, 1)}
    dist = {m: {k: [] for k in pairs} for m in EVENT_NORMS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.clips):
            tensors = []
            for cp in CPS:
                p = Path(tmp) / f"c{i}-{cp}.h5"
                render_clip(p, 0, "val", i, sensor_override={"cp": cp, "hot_fraction": 0.0})
                tensors.append(moments(p))
            tensors.append(moments(Path(tmp) / f"c{i}-{CPS[1]}.h5", duplicate=True))
            for m in EVENT_NORMS:
                n = [normalize_events(t, m) for t in tensors]
                for k, (x, y) in pairs.items():
                    dist[m][k].append(float((n[x] - n[y]).abs().sum() / n[y].abs().sum().clamp_min(1e-9)))
    print(f"relative L1 distance of normalized moments tensors, {a.clips} held-out clips, x{SCALE}\n")
    print("| event_norm | " + " | ".join(pairs) + " |")
    print("|---|" + "---|" * len(pairs))
    for m in EVENT_NORMS:
        print(f"| {m} | " + " | ".join(f"{np.mean(dist[m][k]):.3f}" for k in pairs) + " |")


if __name__ == "__main__":
    main()
