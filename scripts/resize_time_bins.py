"""Give an EGVSR checkpoint more latent time bins, starting as the same model (a fine-tuning start).

    .venv/bin/python scripts/resize_time_bins.py experiments/egvsr-synthetic-ft4/checkpoints/last.pt \
        experiments/egvsr-synthetic-t5-init.pt --time-bins 5 [--option window_size=19]

The volume projection's new bins are linear interpolations of the old ones (`egvsr_stf.time_bin_matrix`),
so with 3 -> 5 or 3 -> 9 bins the output is unchanged at every (x, y, t) until training moves it. The result
holds model weights only: use it as `train.init_from` with `model.options.time_bins` (and the options given
here) set in the config. Options without weights (`--option window_size=19`, `--option residual_base=linear`)
can be set at the same time; with the checkpoint's own bin count only the options change (the recipe's stage 7:
`--time-bins 5 --option residual_base=linear`). Any other bin count (fewer bins included), an option that
changes the weights, an existing DST without --overwrite, and DST naming SRC or the shipped weights (only
ship_weights.py writes those; both even with --overwrite) are refused.
"""

from __future__ import annotations

from typing import Any

from _checkpoint_cli import check_output, check_record, checkpoint_parser, refuser


def weight_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The weight names and shapes of the model `config` builds (on the meta device: no memory)."""
    import torch

    from egvsr.models import build_model

    with torch.device("meta"):
        return {key: tuple(v.shape) for key, v in build_model(config).state_dict().items()}


def main() -> None:
    ap = checkpoint_parser(__doc__, "a model option without weights, such as window_size=19")
    ap.add_argument("--time-bins", type=int, required=True)
    a = ap.parse_args()
    refuse = refuser(ap)

    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.engine.config import option_overrides
    from egvsr.errors import EgvsrError
    from egvsr.fsutil import refuse_package_data
    from egvsr.models import build_model
    from egvsr.models.egvsr_stf import exact_time_bins, resample_time_bins

    try:
        check_output(a, refuse)
        refuse_package_data([a.dst])  # the shipped weights are written by ship_weights.py only
        options = option_overrides(a.option)
        # the checkpoint's weights as any loader picks them (EMA when the run kept them), checked
        model, ck = model_from_checkpoint(a.src)
        check_record(model, ck, a.src)  # what the output would carry to render, eval and train
        config = dict(model.config)
        if "time_bins" not in config or "stf.to_volume.weight" not in model.state_dict():
            refuse(f"{a.src}: model {config.get('name')!r} has no latent time bins; expected an EGVSR checkpoint")
        old = int(config["time_bins"])
        if not exact_time_bins(old, a.time_bins):
            rule = f"n >= {old} with (n - 1) a multiple of {old - 1}" if old > 1 else "n >= 1"
            refuse(f"--time-bins {a.time_bins}: expected {rule} (the checkpoint has {old} bins), so that the "
                   "model starts unchanged")
        shapes = weight_shapes(config)
        for key, value in options.items():  # options checked; each one alone must keep every weight as it is
            try:
                changed = weight_shapes({**config, key: value}) != shapes
            except EgvsrError as exc:
                refuse(f"--option {key}={value}: {exc}")
            if changed:
                refuse(f"--option {key}={value}: changes the model's weights (their names or shapes); only "
                       "options without weights (such as window_size or residual_base) can be set")
        config.update(options, time_bins=a.time_bins)
        try:  # the new model's size checked (on the meta device) before any weight is made
            weight_shapes(config)
        except EgvsrError as exc:
            refuse(f"--time-bins {a.time_bins}: {exc}")
        state = resample_time_bins(model.state_dict(), old, a.time_bins)
        build_model(config).load_state_dict(state)  # the options together; the weights must fit
        save_checkpoint(a.dst, {"model": {**ck["model"], "config": config}, "state_dict": state, "ema": None,
                                "step": ck.get("step", 0), "experiment": ck.get("experiment") or {}},
                        overwrite=a.overwrite)
    except EgvsrError as exc:
        refuse(str(exc))
    print(f"wrote {a.dst}: time_bins {old} -> {a.time_bins}"
          + (f", {', '.join(a.option)}" if a.option else ""))


if __name__ == "__main__":
    main()
