"""Sizes a benchmark checks before it spends memory or disk (they run as scripts, so this folder is on
sys.path): a count of events far beyond the machine ends the script in one line (`_args.refuse`) before
anything is generated, instead of filling the scratch disk or failing at an allocation with a traceback."""

from __future__ import annotations

import os
import tempfile

from _args import refuse  # (this folder is on sys.path when run as a script)


def memory_budget() -> int:
    """Bytes a benchmark may plan to hold: the toolkit's share of this machine's memory (16 GB if unknown)."""
    from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory

    return int(PLANNED_MEMORY_SHARE * (physical_memory() or 16 << 30))


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes of the file system of `folder` for this user, None when unknown."""
    from egvsr.fsutil import free_bytes as free

    return free(folder)


def check_fits(what: str, memory: float, disk: float = 0, folder: str | os.PathLike | None = None,
               advice: str = "") -> None:
    """Refuse in one line (`what: ...; advice`) a run whose `memory` bytes exceed `memory_budget()` or whose
    `disk` bytes exceed what is free in `folder` (default: the temp folder)."""
    from egvsr.fsutil import fmt_size

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
