"""Thread settings of the `egvsr` process: OpenMP workers that sleep instead of spinning.

Why: after each parallel region torch's and numba's OpenMP workers busy-wait for the next one (GNU
libgomp spins up to ~300k iterations unless told otherwise, Intel/LLVM OpenMP 200 ms). When another
process holds a core, a spinning worker steals the time slices the working threads need: measured on a
shared 2-core machine, `egvsr render` 2.4x, `train` about 5x and `simulate` up to 10x slower.

The OpenMP runtime reads these variables once, when it starts (at `import torch`, or numba's first
parallel kernel), so the console entry point calls `configure_process_environment()` before anything
imports torch or numba. A value the user set is kept. Importing the `egvsr` library sets nothing:
library users set the variables themselves (docs/render.md, "Threads").
"""

from __future__ import annotations

import os
from typing import MutableMapping

# variable -> value: passive waiting for the GNU (libgomp, torch's and numba's on Linux wheels) and the
# Intel/LLVM OpenMP runtimes (KMP_BLOCKTIME: ms a worker spins before sleeping; MKL under Intel OpenMP)
PROCESS_ENVIRONMENT = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "KMP_BLOCKTIME": "0",
}


def configure_process_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set `PROCESS_ENVIRONMENT` where `environ` (default `os.environ`) has no value; returns what was set.

    A user who chose OMP_WAIT_POLICY keeps that choice for every runtime (nothing is set then). Call it
    before torch or numba is imported: later the runtimes have already read their settings.
    """
    env = os.environ if environ is None else environ
    done: dict[str, str] = {}
    if "OMP_WAIT_POLICY" in env:
        return done
    for key, value in PROCESS_ENVIRONMENT.items():
        if key not in env:
            env[key] = value
            done[key] = value
    return done
