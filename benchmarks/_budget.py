"""Sizes a benchmark checks before it spends memory or disk (they run as scripts, so this folder is on
sys.path): a count of events far beyond the machine ends the script in one line (`_args.refuse`) before
anything is generated, instead of filling the scratch disk or failing at an allocation with a traceback."""

from __future__ import annotations

import os
import tempfile

from _args import refuse  # (this folder is on sys.path when run as a script)
from egvsr.events.simulate.budget import memory_budget  # the scripts put their checkout first on sys.path
from egvsr.fsutil import fmt_size, free_bytes


def check_fits(what: str, memory: float, disk: float = 0, folder: str | os.PathLike | None = None,
               advice: str = "") -> None:
    """Refuse in one line (`what: ...; advice`) a run whose `memory` bytes exceed `memory_budget()` or whose
    `disk` bytes exceed what is free in `folder` (default: the temp folder)."""
    tail = f"; {advice}" if advice else ""
    budget = memory_budget()
    if memory > budget:
        refuse(f"{what}: needs about {fmt_size(memory)} of memory, more than the {fmt_size(budget)} this machine "
               f"allows{tail}")
    folder = tempfile.gettempdir() if folder is None else folder
    free = free_bytes(folder) if disk else None
    if free is not None and disk > free:
        refuse(f"{what}: needs about {fmt_size(disk)} of disk in {folder}, more than the {fmt_size(free)} free "
               f"there{tail}")
