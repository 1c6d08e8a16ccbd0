"""Turn a training checkpoint into the shipped weights: model name, options, fp16 weights, the data options.

    .venv/bin/python scripts/ship_weights.py experiments/egvsr-synthetic-ft/checkpoints/last.pt \
        egvsr/data/egvsr-sample.pt --overwrite

Optimizer, scheduler and RNG states are dropped (they are only needed to resume); fp16 halves the file and
changes rendered PSNR by less than 0.01 dB (docs/training.md). `--option window_size=16` sets a model option
that has no weights (how the model is evaluated, not what it learned) in the shipped file. An existing DST is
replaced only with --overwrite, and never when it is SRC (the checkpoint would lose what it resumes from); a
weight beyond float16's range (it would be stored as inf) is refused naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from _checkpoint_cli import check_output, check_record, checkpoint_parser, refuser

if TYPE_CHECKING:
    from torch import Tensor


def half_weights(state: dict[str, Tensor], where: Path) -> dict[str, Tensor]:
    """`state` with floating-point tensors in float16; a value float16 would store as inf is refused
    (`EgvsrError`) naming `where`, its key and the value, before anything is written."""
    import torch

    from egvsr.errors import CheckpointError

    out = {}
    for key, value in state.items():
        if value.is_floating_point():
            half = value.half()
            if bool(torch.isinf(half).any()):
                big = float(value.flatten()[value.abs().argmax()])
                raise CheckpointError(f"{where}: weight {key!r} holds {big:g}, beyond float16's range "
                                      f"(+-{torch.finfo(torch.float16).max:g}); it would be stored as inf")
            value = half
        out[key] = value
    return out


def main() -> None:
    ap = checkpoint_parser(__doc__, "a model option without weights to store, such as window_size=16")
    a = ap.parse_args()
    refuse = refuser(ap)

    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.engine.config import option_overrides
    from egvsr.errors import EgvsrError

    try:
        check_output(a, refuse)
        options = option_overrides(a.option)
        # the options are checked and the weights must still fit (EMA weights when the run kept them)
        model, ck = model_from_checkpoint(a.src, overrides=options)
        check_record(model, ck, a.src)  # what render and eval would refuse in the shipped file
        state = half_weights(model.state_dict(), a.src)
        exp = ck.get("experiment") or {}
        payload = {"model": {"name": ck["model"]["name"], "config": model.config}, "state_dict": state,
                   "experiment": {"name": exp.get("name"), "data": {"train": (exp.get("data") or {}).get("train") or {}},
                                  "eval": exp.get("eval", {})}}
        if "step" in ck:  # a checkpoint never trained here (save_untrained, import-checkpoint) has none
            payload["step"] = ck["step"]
        save_checkpoint(a.dst, payload, overwrite=a.overwrite)
    except EgvsrError as exc:
        refuse(str(exc))
    step = f"step {ck['step']}" if "step" in ck else "no training step recorded"
    print(f"wrote {a.dst} ({a.dst.stat().st_size / 1e6:.2f} MB, {step})")


if __name__ == "__main__":
    main()
