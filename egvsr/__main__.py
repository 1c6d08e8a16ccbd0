"""`python -m egvsr` and the `egvsr` console script: the CLI as the whole process's job.

`egvsr.process.run_console` prepares the process (signals, the thread environment and numba's settings,
before torch or numba load) and only then imports the command line, so that a Ctrl-C during those
imports ends in one line like any other.
"""

import sys
from typing import Sequence


def _command(argv: Sequence[str]) -> int:
    from egvsr.cli import main

    return main(argv)


def console_main() -> int:
    """Entry point of the `egvsr` console script and of `python -m egvsr`."""
    try:
        from egvsr.process import run_console
    except KeyboardInterrupt:  # before anything started (the interpreter's own first steps are out of reach)
        sys.stderr.write("egvsr: interrupted\n")  # one write, as `process.stderr_line` (not loaded yet) does
        return 130
    return run_console(_command)


if __name__ == "__main__":
    sys.exit(console_main())
