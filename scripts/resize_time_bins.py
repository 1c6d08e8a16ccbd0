"""Give an EGVSR checkpoint more latent time bins, starting as the same model (a fine-tuning start).

    .venv/bin/python scripts/resize_time_bins.py experiments/egvsr-synthetic-ft4/checkpoints/last.pt \
        experiments/egvsr-synthetic-t5-init.pt --time-bins 5 [--option window_size=19]

The volume projection's new bins are linear interpolations of the old ones (`egvsr_stf.time_bin_matrix`),
so with 3 -> 5 or 3 -> 9 bins the output is unchanged at every (x, y, t) until training moves it. The result
holds model weights only: use it as `train.init_from` with `model.options.time_bins` (and the options given
here) set in the config. Options without weights (`--option window_size=19`, `--option residual_base=linear`)
can be set at the same time; with the checkpoint's own bin count only the options change (the recipe's stage 7:
`--time-bins 5 --option residual_base=linear`).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--time-bins", type=int, required=True)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a model option without weights, such as window_size=19")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args()
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.engine.config import option_overrides
    from egvsr.errors import EgvsrError
    from egvsr.models import build_model
    from egvsr.models.egvsr_stf import resample_time_bins

    try:  # the checkpoint's weights as any loader picks them (EMA when the run kept them), checked
        model, ck = model_from_checkpoint(a.src)
        config = dict(model.config)
        old = int(config["time_bins"])
        if a.time_bins < 1 or (old > 1 and (a.time_bins - 1) % (old - 1)):
            raise SystemExit(f"--time-bins {a.time_bins}: expected n with (n - 1) a multiple of {old - 1} "
                             f"(the checkpoint has {old} bins), so that the model starts unchanged")
        config.update(option_overrides(a.option), time_bins=a.time_bins)
        state = resample_time_bins(model.state_dict(), old, a.time_bins)
        build_model(config).load_state_dict(state)  # options checked; the weights must fit
        save_checkpoint(a.dst, {"model": {**ck["model"], "config": config}, "state_dict": state, "ema": None,
                                "step": ck.get("step", 0), "experiment": ck.get("experiment") or {}},
                        overwrite=a.overwrite)
    except EgvsrError as exc:
        raise SystemExit(f"egvsr: error: {exc}") from None
    print(f"wrote {a.dst}: time_bins {old} -> {a.time_bins}"
          + (f", {', '.join(a.option)}" if a.option else ""))


if __name__ == "__main__":
    main()
