"""Figure helpers shared by the plots: a pyplot-free Figure and an atomic PNG save."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from egvsr.fsutil import atomic_output


def new_figure(width_in: float, height_in: float, dpi: int = 110):
    """A matplotlib `Figure` not registered with pyplot (no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=dpi)


@contextlib.contextmanager
def writing(out: str | os.PathLike) -> Iterator[None]:
    """A write of output `out` (to its temporary) that fails with an OSError (a full disk, a quota, a file
    size limit, raised by matplotlib, PIL or Python) as the house's one-line `OutputError` naming `out`
    (docs/io.md), not a traceback."""
    try:
        yield
    except OSError as exc:
        from egvsr.events.io.h5util import output_error

        raise output_error(Path(out), exc) from None


def save_png(fig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `fig` as a PNG to `path` atomically; refuses an existing file unless `overwrite`."""
    with atomic_output(path, overwrite) as tmp, writing(path):
        fig.savefig(tmp, format="png")
    return Path(path)
