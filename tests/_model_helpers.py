"""Helpers shared by the model tests."""

from __future__ import annotations

import torch


def give_residual_head_weights(model):
    """EGVSR's residual head starts at zero (no gradient flows past it until it moves); give it weights."""
    from egvsr.models.egvsr import EGVSROptions

    if isinstance(model.options, EGVSROptions) and model.options.residual_bicubic:
        torch.nn.init.normal_(model.stir.decoder[-1].weight, std=0.1)
    return model


def save_untrained_with_head(name: str, path, seed: int = 0):
    """`save_untrained` with the residual head given weights: an untrained EGVSR with a zero head
    renders plain bicubic, so its events and network would not reach the output a test compares."""
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.engine.checkpoint_model import model_from_checkpoint
    from egvsr.render.model import save_untrained

    path = save_untrained(name, path, seed)
    model, ck = model_from_checkpoint(path)
    ck["state_dict"] = give_residual_head_weights(model).state_dict()
    return save_checkpoint(path, ck, overwrite=True)


def run_script(name: str, *args: str) -> tuple[int, str, str]:
    """`scripts/NAME ARGS...` run in this process (no interpreter start: torch is loaded already) as
    (exit status, stdout, stderr); a traceback fails the test instead of reading as a refusal."""
    import contextlib
    import io
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / name
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, [str(script), *map(str, args)]
    sys.path.insert(0, str(script.parent))  # as `python scripts/NAME` puts the script's folder first
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
        sys.path.remove(str(script.parent))
    return code, out.getvalue(), err.getvalue()


def shipped_weights_link(folder):
    """A hard link in `folder` to the shipped checkpoint (an output naming the shipped weights whose
    replacement, when a refusal fails, replaces the link and never the package's file); skips where none
    can be made."""
    import pytest

    from egvsr.fsutil import SHIPPED_CHECKPOINT

    if not SHIPPED_CHECKPOINT.is_file():
        pytest.skip("this install has no shipped weights")
    link = folder / "shipped.pt"
    try:
        link.hardlink_to(SHIPPED_CHECKPOINT)
    except OSError:
        pytest.skip("no hard link to the shipped checkpoint can be made here")
    return link
