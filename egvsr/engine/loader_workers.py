"""What the training DataLoader's worker processes need: signals left to the main process, and their errors
as the one line the main process would have given.

Workers start by fork or (macOS, Windows, `multiprocessing.set_start_method`) by spawn or forkserver, where
nothing of the main process's signal handling is inherited; a worker that stops (killed by the system for
memory, or by a signal sent to the whole process group) is named in one line, not by torch's traceback.
"""

from __future__ import annotations

import re
import signal
import sys
from typing import Iterable, Iterator

from egvsr.errors import ConfigError, EgvsrError

#: what torch says when a worker process ended without reporting an error of its own
_WORKER_GONE = re.compile(r"DataLoader worker \(pid(?:\(s\))? [^)]*\) (?:is killed by signal: ?(?P<signal>[^.]*)"
                          r"|exited unexpectedly)")


def ignore_terminal_signals(worker_id: int) -> None:
    """`worker_init_fn` of the training loader: a worker leaves Ctrl-C, a closed terminal and a first SIGTERM
    (SIGINT, SIGHUP, SIGTERM: sent to the whole process group by a terminal, `kill -- -PGID` or a batch
    system's job stop) to the main process, which finishes the step, saves and stops the workers. A worker
    would otherwise end at once (a spawned one on its own KeyboardInterrupt, any one on SIGTERM), and the main
    process would stop amid its step on a worker that 'exited unexpectedly', saving nothing. A second SIGTERM
    ends the worker (the main process's `terminate` of a worker that did not stop when told)."""
    for name in ("SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            _set_handler(sig, signal.SIG_IGN)
    _set_handler(signal.SIGTERM, _second_sigterm_ends)


def _set_handler(sig: int, handler) -> None:
    try:
        signal.signal(sig, handler)
    except (ValueError, OSError):  # not the worker's main thread: nothing to change
        pass


def _second_sigterm_ends(signum: int, frame) -> None:
    """A worker's first SIGTERM is ignored; the next one ends it as SIGTERM does by default."""
    _set_handler(signum, signal.SIG_DFL)


def one_line_worker_errors(batches: Iterable) -> Iterator:
    """The batches of a DataLoader, an `EgvsrError` raised in one of its worker processes re-raised as its
    own message (torch re-raises it with 'Caught ... in DataLoader worker process N' and the worker's whole
    traceback as the message). A message of several lines (a library's text quoted in it) is kept whole; an
    error that torch cannot re-create from one message (an `OptionError`: torch raises a RuntimeError
    instead) comes back as an `EgvsrError` of its message."""
    it = iter(batches)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except EgvsrError as exc:
            found = _egvsr_error_in(str(exc))
            if found is not None:
                exc.args = (found,)
            raise exc from None
        except RuntimeError as exc:
            found = _egvsr_error_in(str(exc))
            if found is None:
                raise
            raise EgvsrError(found) from None
        yield batch


def _egvsr_error_in(text: str) -> str | None:
    """The message of the `EgvsrError` that ended a worker's traceback in `text` (torch's RuntimeError), else
    None."""
    if "Original Traceback" not in text:
        return None
    last = None
    for found in re.finditer(r"^((?:egvsr\.)(?:\w+\.)*)(\w+): ", text, re.MULTILINE):
        last = found
    if last is None:
        return None
    cls = getattr(sys.modules.get(last.group(1)[:-1]), last.group(2), None)
    if not (isinstance(cls, type) and issubclass(cls, EgvsrError)):
        return None
    return text[last.end():].rstrip("\n")


def worker_stopped(exc: BaseException, num_workers: int) -> EgvsrError | None:
    """One line naming train.num_workers for a DataLoader worker process that ended without an error of its
    own (killed by the system's out-of-memory killer or by a signal), instead of torch's RuntimeError raised
    wherever the main process was; None for any other error."""
    if not isinstance(exc, RuntimeError) or isinstance(exc, EgvsrError):
        return None
    found = _WORKER_GONE.search(str(exc))
    if found is None:
        return None
    what = found.group(0)
    killed = (found.group("signal") or "").strip()
    hint = _HINTS.get(killed, "")  # none for a signal sent to stop the job
    return ConfigError(f"train.num_workers {num_workers}: the data loading process stopped: {what}{hint}")


_OOM = ("; most often the system's out-of-memory killer: lower train.num_workers, train.batch_size or "
        "data.train.patch_size")
#: what most often ends a worker, by torch's word for the signal ("": it exited without saying why)
_HINTS = {"": _OOM, "Killed": _OOM, "SIGKILL": _OOM,
          "Bus error": "; most often the shared memory that workers hand batches through (/dev/shm) is full: raise "
                       "its size (a container's --shm-size) or lower train.num_workers or train.batch_size"}
