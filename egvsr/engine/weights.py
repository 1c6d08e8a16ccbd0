"""Which weights a command uses: the checkpoint given, or the one shipped in the package.

`egvsr render`, `egvsr eval` and `egvsr demo` run without a checkpoint argument on the weights that ship
as `egvsr/data/egvsr-sample.pt` (found through importlib.resources, so an installed wheel works too);
`describe_weights` is the line each command prints so a user always knows which weights were used.
"""

from __future__ import annotations

import contextlib
import os
from importlib import resources
from pathlib import Path
from typing import Iterator

from egvsr.errors import CheckpointError
from egvsr.events.io.arguments import check_path

SHIPPED_NAME = "egvsr-sample.pt"
SHIPPED_LABEL = f"egvsr/data/{SHIPPED_NAME}"


@contextlib.contextmanager
def shipped_checkpoint() -> Iterator[Path | None]:
    """The packaged checkpoint as a real file path (None when this install has none)."""
    ref = resources.files("egvsr").joinpath("data").joinpath(SHIPPED_NAME)
    if not ref.is_file():
        yield None
        return
    with resources.as_file(ref) as path:
        yield Path(path)


@contextlib.contextmanager
def checkpoint_or_shipped(checkpoint: str | os.PathLike | None, argument: str = "CHECKPOINT"
                          ) -> Iterator[tuple[Path, str]]:
    """(path, label) of `checkpoint`, or of the shipped weights when it is None.

    The label says which weights these are ("shipped weights egvsr/data/..." or the path given)."""
    if checkpoint is not None:
        yield check_path(checkpoint, argument), str(checkpoint)
        return
    with shipped_checkpoint() as shipped:
        if shipped is None:
            raise CheckpointError(
                f"{argument}: not given, and this install has no shipped weights ({SHIPPED_LABEL}); "
                "pass a checkpoint written by `egvsr train`"
            )
        yield shipped, f"shipped weights {SHIPPED_LABEL}"


def describe_weights(label: str, ck: dict) -> str:
    """One line naming the weights used: where they come from, the model, and its training step."""
    model = ck.get("model", {}).get("name", "?") if isinstance(ck.get("model"), dict) else "?"
    step = ck.get("step")
    return f"weights: {label} (model {model}" + (f", step {step}" if isinstance(step, int) else "") + ")"
