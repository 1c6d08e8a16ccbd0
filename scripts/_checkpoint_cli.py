"""The command line the checkpoint scripts share (ship_weights.py, resize_time_bins.py): SRC, DST, --option,
--overwrite, one-line refusals, and the output checks made before SRC is loaded."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, NoReturn


def checkpoint_parser(doc: str, option_help: str) -> argparse.ArgumentParser:
    """A parser of `SRC DST [--option KEY=VALUE ...] [--overwrite]`, described by `doc`'s first line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help=option_help)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing DST (never SRC itself)")
    return ap


def refuser(ap: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    """`refuse(message)`: one line on stderr and exit status 2, as argparse refuses a bad argument."""

    def refuse(message: str) -> NoReturn:
        ap.exit(2, f"{ap.prog}: error: {message}\n")

    return refuse


def check_output(a: argparse.Namespace, refuse: Callable[[str], NoReturn]) -> None:
    """Before SRC is loaded: DST naming SRC (the same path, a link or a hard link) is refused even with
    --overwrite (the checkpoint would lose what it resumes from), an existing DST without it."""
    from egvsr.fsutil import check_output_path, same_file

    if a.src.exists() and same_file(a.dst, a.src):
        refuse(f"{a.dst}: output is the input checkpoint; choose another output path (even with --overwrite)")
    check_output_path(a.dst, a.overwrite)


def check_record(model, ck: dict, src: Path) -> None:
    """Refuse (`EgvsrError` naming SRC and the key) what SRC records beside its weights that the file written
    from it would carry to render, eval and train: a training config whose `experiment`, `experiment.data` or
    `experiment.data.train` is no mapping or whose input options do not fit the model (render and eval
    refuse it), and a `step` that is no whole number >= 0 (train refuses it)."""
    from egvsr.engine.checkpoint_model import derive_inputs, input_options
    from egvsr.errors import CheckpointError

    derive_inputs(model, input_options(ck, str(src)), str(src))
    step = ck.get("step", 0)
    if type(step) is not int or step < 0:
        raise CheckpointError(f"{src}: its 'step' entry is {step!r}, expected a whole number >= 0")
