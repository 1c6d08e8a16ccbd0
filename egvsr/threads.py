"""Thread settings of the `egvsr` process: OpenMP workers that sleep instead of spinning.

Spinning OpenMP workers steal time slices from working threads on a shared machine. The runtime reads
its variables once, when it starts, so the console entry point calls `configure_process_environment()`
before torch or numba load; a value the user set is kept (an empty one is no choice, one the runtimes
cannot take is refused in one line), and importing the library sets nothing (docs/render.md, "Threads").
"""

from __future__ import annotations

import os
from typing import Mapping, MutableMapping, Sequence

from egvsr.errors import ConfigError

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


#: the values OpenMP runtimes take for OMP_WAIT_POLICY (in any case, with spaces around)
WAIT_POLICIES = ("active", "passive")
#: variables whose count of threads the runtimes read (OMP_NUM_THREADS may list one count per nesting level)
THREAD_COUNTS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def given(env: Mapping[str, str], key: str) -> bool:
    """Whether the user chose a value for `key`: an empty (or blank) one chooses nothing, as `${KEY:-...}`
    in scripts/*.sh reads it (the OpenMP runtimes reject it with a warning and keep their default)."""
    return bool(env.get(key, "").strip())


def _count(text: str) -> bool:
    """Whether `text` is a thread count as libgomp reads one: digits (an optional +, spaces around), >= 1."""
    digits = text.strip().removeprefix("+")
    return digits.isascii() and digits.isdigit() and int(digits) >= 1


def check_thread_environment(env: Mapping[str, str]) -> None:
    """Refuse in one line an OMP_WAIT_POLICY, OMP_NUM_THREADS or MKL_NUM_THREADS the runtimes cannot take:
    they would print a warning of their own and go on spinning or with all cores."""
    policy = env.get("OMP_WAIT_POLICY", "")
    if policy.strip() and policy.strip().lower() not in WAIT_POLICIES:
        raise ConfigError(f"environment variable OMP_WAIT_POLICY={policy!r}: expected PASSIVE or ACTIVE "
                          "(or leave it unset: PASSIVE)")
    for key in THREAD_COUNTS:
        text = env.get(key, "")
        counts = text.split(",") if key == "OMP_NUM_THREADS" else [text]
        if text.strip() and not all(_count(c) for c in counts):
            raise ConfigError(f"environment variable {key}={text!r}: expected a whole number of threads >= 1 "
                              "(or leave it unset: torch's default)")


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
    OMP_NUM_THREADS or MKL_NUM_THREADS keeps that (`train.threads` in a config also wins). An empty value
    is no choice (`given`): it is replaced, and an empty OMP_NUM_THREADS is removed (libgomp would warn
    about it). A value the runtimes cannot take is refused
    (`check_thread_environment`, ConfigError) before anything is set. Call it before torch or numba is
    imported: later the runtimes have already read their settings.
    """
    env = os.environ if environ is None else environ
    check_thread_environment(env)
    if "OMP_NUM_THREADS" in env and not given(env, "OMP_NUM_THREADS"):
        del env["OMP_NUM_THREADS"]  # empty: libgomp would warn "Invalid value" at every start
    done: dict[str, str] = {}
    if not given(env, "OMP_WAIT_POLICY"):
        for key, value in PROCESS_ENVIRONMENT.items():
            if not given(env, key):
                env[key] = value
                done[key] = value
    if not any(given(env, key) for key in THREAD_COUNTS):
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average here (Windows has no os.getloadavg): torch's default
            load = 0.0
        n = torch_threads(command_of(argv), os.cpu_count() or 1, load, usable_cores())
        if n is not None:
            env["OMP_NUM_THREADS"] = done["OMP_NUM_THREADS"] = str(n)
    return done
