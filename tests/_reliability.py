"""Shared helpers of the reliability tests (fuzzing, interruption, bad-input catalogue).

Not a test module (no `test_` prefix): imported (as `tests._reliability`) by the fuzzing,
interruption, resource and bad-input tests.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from hypothesis import HealthCheck, settings

from egvsr.errors import EgvsrError

ROOT = Path(__file__).resolve().parents[1]

#: EGVSR_FUZZ_EXAMPLES=N runs every fuzz test with N random examples (a longer bug hunt); unset, the
#: suite runs a small, derandomized (so reproducible) set.
FUZZ_EXAMPLES = int(os.environ.get("EGVSR_FUZZ_EXAMPLES", "0") or 0)
#: A fuzz test taking longer than this is treated as hung: faulthandler writes every thread's stack to
#: WATCHDOG_LOG and ends the process (a hang inside numba, h5py or a C decoder cannot be interrupted
#: otherwise; pytest's captured stderr would be lost with the process, hence the file).
HANG_SECONDS = 120
WATCHDOG_LOG = Path(tempfile.gettempdir()) / f"egvsr-watchdog-{os.getpid()}.log"
_log_file = None


def fuzz_settings(examples: int, deadline_s: float = 10.0) -> settings:
    """Hypothesis settings: few derandomized examples in the suite, more when asked for."""
    return settings(
        max_examples=FUZZ_EXAMPLES or examples,
        deadline=timedelta(seconds=deadline_s),
        derandomize=not FUZZ_EXAMPLES,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@contextlib.contextmanager
def watchdog(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Abort the test process, with every thread's traceback in WATCHDOG_LOG, if the block runs past
    `seconds`."""
    global _log_file
    if _log_file is None:
        _log_file = open(WATCHDOG_LOG, "w")  # noqa: SIM115 - kept open for faulthandler's C thread
        atexit.register(_drop_empty_log)  # a watchdog exit skips atexit: the log with the stacks stays
    faulthandler.dump_traceback_later(seconds, exit=True, file=_log_file)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _drop_empty_log() -> None:
    if _log_file is not None:
        _log_file.close()
        if WATCHDOG_LOG.exists() and WATCHDOG_LOG.stat().st_size == 0:
            WATCHDOG_LOG.unlink()


def check_message(exc: EgvsrError, *needles: str) -> str:
    """The error's message, asserted to be one non-empty line containing every needle."""
    msg = str(exc)
    assert msg.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in msg, f"message spans lines: {msg!r}"
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


def cli_env() -> dict[str, str]:
    """Environment of a CLI subprocess: one thread each, the checkout importable, no stray ranks."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)
    return env


def cli(*args: str) -> list[str]:
    """The command line of `egvsr ARGS...` run with this interpreter."""
    return [sys.executable, "-m", "egvsr", *map(str, args)]
