"""Progress bars for every long step (training, evaluation, rendering, conversion, simulation, clip generation).

One rule for every command: a tqdm bar on stderr that appears only once a step has run for
`DELAY_S` seconds (short steps stay quiet), and none at all when progress is off. The command line
turns progress off for `--no-progress` and when stderr is not a terminal (`wanted`).
"""

from __future__ import annotations

import sys
from typing import Any

#: seconds a step runs before its bar appears (tests set 0)
DELAY_S = 2.0


def wanted(no_progress: bool = False) -> bool:
    """Whether the command line shows progress: not `--no-progress`, and stderr is a terminal."""
    if no_progress:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


class _Silent:
    """Stand-in for a disabled bar."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def bar(total: int | None, desc: str, enabled: bool, unit: str = "it", leave: bool = False, **kwargs: Any) -> Any:
    """A tqdm bar on stderr (shown after `DELAY_S` seconds), or a silent stand-in; `kwargs` go to tqdm."""
    if not enabled:
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=leave,
                delay=DELAY_S, **kwargs)
