"""Turn a training checkpoint into the shipped weights: model name, options, fp16 weights, the data options.

    .venv/bin/python scripts/ship_weights.py experiments/egvsr-synthetic-ft/checkpoints/last.pt \
        egvsr/data/egvsr-sample.pt

Optimizer, scheduler and RNG states are dropped (they are only needed to resume); fp16 halves the file and
changes rendered PSNR by less than 0.01 dB (docs/training.md). `--option window_size=16` sets a model option
that has no weights (how the model is evaluated, not what it learned) in the shipped file.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a model option without weights to store, such as window_size=16")
    a = ap.parse_args()
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.engine.config import option_overrides

    options = option_overrides(a.option)
    # the options are checked and the weights must still fit (EMA weights when the run kept them)
    model, ck = model_from_checkpoint(a.src, overrides=options)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    exp = ck.get("experiment") or {}
    payload = {"model": {"name": ck["model"]["name"], "config": model.config}, "state_dict": state, "step": ck["step"],
               "experiment": {"name": exp.get("name"), "data": {"train": exp.get("data", {}).get("train", {})},
                              "eval": exp.get("eval", {})}}
    save_checkpoint(a.dst, payload, overwrite=True)
    print(f"wrote {a.dst} ({a.dst.stat().st_size / 1e6:.2f} MB, step {ck['step']})")


if __name__ == "__main__":
    main()
