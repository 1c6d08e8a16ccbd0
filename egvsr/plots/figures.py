"""Figure helpers shared by the plots: a pyplot-free Figure and an atomic PNG save."""

from __future__ import annotations

import os
from pathlib import Path

from egvsr.fsutil import atomic_output


def new_figure(width_in: float, height_in: float, dpi: int = 110):
    """A matplotlib `Figure` not registered with pyplot (no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=dpi)


def save_png(fig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `fig` as a PNG to `path` atomically; refuses an existing file unless `overwrite`."""
    with atomic_output(path, overwrite) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
