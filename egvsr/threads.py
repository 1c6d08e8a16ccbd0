"""Thread settings of the `egvsr` process: OpenMP workers that sleep instead of spinning.

Spinning OpenMP workers steal time slices from working threads on a shared machine. The runtime reads
its variables once, when it starts, so the console entry point calls `configure_process_environment()`
before torch or numba load; a value the user set is kept, and importing the library sets nothing
(docs/render.md, "Threads").
"""

from __future__ import annotations

import os
from typing import MutableMapping, Sequence

# variable -> value: passive waiting for the GNU (libgomp, torch's and numba's on Linux wheels) and the
# Intel/LLVM OpenMP runtimes (KMP_BLOCKTIME: ms a worker spins before sleeping; MKL under Intel OpenMP)
PROCESS_ENVIRONMENT = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "KMP_BLOCKTIME": "0",
}


# commands whose torch work is many small parallel regions (training steps on small patches): a
# parallel region ends only when every thread had its time slice, so threads beyond the cores that other
# processes leave free wait on each other. Render and eval work on whole frames and keep torch's default
# (docs/render.md, "Threads", gives the measurements; benchmarks/threads.py).
FREE_CORES_ONLY = ("train",)


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first argument that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: `taskset`, a container's or a batch job's
    cpuset), which is what torch's default thread count follows; the machine's where the system does
    not say."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def torch_threads(command: str | None, cores: int, load: float, usable: int | None = None) -> int | None:
    """torch threads for `command` given the machine's `cores` and 1-minute load average (before this
    process runs) and the cores this process may use (`usable`, default all), or None for torch's
    default: for training, the cores the load leaves free, at most the usable ones (at least one)."""
    if command not in FREE_CORES_ONLY:
        return None
    usable = cores if usable is None else max(1, min(usable, cores))
    free = min(usable, cores - int(load + 0.5))
    return max(1, free) if usable > 1 and free < usable else None


def configure_process_environment(environ: MutableMapping[str, str] | None = None,
                                  argv: Sequence[str] = ()) -> dict[str, str]:
    """Set `PROCESS_ENVIRONMENT` where `environ` (default `os.environ`) has no value, and for a `train`
    command started on a busy machine torch threads for the free cores only (OMP_NUM_THREADS, see
    `torch_threads`); returns what was set.

    A user who chose OMP_WAIT_POLICY keeps that choice for every runtime, and one who set
    OMP_NUM_THREADS or MKL_NUM_THREADS keeps that (`train.threads` in a config also wins). Call it
    before torch or numba is imported: later the runtimes have already read their settings.
    """
    env = os.environ if environ is None else environ
    done: dict[str, str] = {}
    if "OMP_WAIT_POLICY" not in env:
        for key, value in PROCESS_ENVIRONMENT.items():
            if key not in env:
                env[key] = value
                done[key] = value
    if not ({"OMP_NUM_THREADS", "MKL_NUM_THREADS"} & set(env)):
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average here (Windows has no os.getloadavg): torch's default
            load = 0.0
        n = torch_threads(command_of(argv), os.cpu_count() or 1, load, usable_cores())
        if n is not None:
            env["OMP_NUM_THREADS"] = done["OMP_NUM_THREADS"] = str(n)
    return done
