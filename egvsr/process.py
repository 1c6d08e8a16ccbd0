"""What `egvsr` does as a process: signals, last-resort error lines, a quiet exit.

SIGINT, SIGTERM and SIGHUP become `Terminated` (a `KeyboardInterrupt`), so a terminated command cleans
up as Ctrl-C does, and the signal is remembered (`check_pending()`) where Python would drop it. Errors
no part of the toolkit anticipated end as one `egvsr: error:` line. The thread environment is set before
torch or numba load (`egvsr.threads`).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import os
import signal
import sys
from typing import Callable, Iterator, Sequence

#: commands after which everything alive leaves the collector's view: the exit-time collection then
#: skips numba's large object graph (voxelize: exit in 0.03 s instead of 0.27 s). Objects are still
#: freed by reference counting; done only when egvsr is the process's command, never for a library caller.
FREEZE_AT_EXIT = ("voxelize",)

HANDLED = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
_pending: list[int] = []  # signals received by this process's handlers


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM or SIGHUP: unwind (cleaning temporary outputs) and exit 128+N."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    _pending.append(signum)
    raise Terminated(signum)


def check_pending() -> None:
    """Raise `Terminated` if a handled signal arrived, even one whose exception Python dropped."""
    if _pending:
        raise Terminated(_pending[0])


def _unraisable(hook):
    """`sys.unraisablehook` that stays silent about a dropped `Terminated` (it is remembered instead)."""
    def quiet(info) -> None:
        if not isinstance(info.exc_value, Terminated):
            hook(info)
    return quiet


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP unwind (main thread only; elsewhere a no-op). SIGXFSZ is ignored, so a
    write past `ulimit -f` fails with EFBIG and gets the one-line output error instead of killing us."""
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    atexit.unregister(_ignore_at_the_end)
    atexit.register(_ignore_at_the_end)  # early: exit functions run last-registered first
    try:
        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        for sig in HANDLED:
            signal.signal(sig, _raise_terminated)
    except (ValueError, OSError):  # not the main thread, or not allowed here
        return


def interrupt_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """Exit status and one-line message of an interrupted run."""
    if isinstance(exc, Terminated) and exc.signum != signal.SIGINT:
        name = signal.Signals(exc.signum).name
        return 128 + exc.signum, f"egvsr: terminated by {name}; no partial output was left under the final name"
    return 130, "egvsr: interrupted; no partial output was left under the final name"


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Defer SIGINT, SIGTERM and SIGHUP over a few quick steps that must happen together (the renames that
    commit several outputs as one): a signal that arrives meanwhile is delivered right after them. Outside
    the main thread (where no handler runs anyway) nothing is deferred."""
    held: list[int] = []
    try:
        previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in HANDLED}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        if held:
            signal.raise_signal(held[0])  # to the handler that was in place: Terminated, as usual


def mark_reported(exc: KeyboardInterrupt) -> KeyboardInterrupt:
    """Mark an interrupt whose command already printed its own last line (a training run says where it
    stopped and how to resume): `report_interrupt` then prints nothing more."""
    exc.egvsr_reported = True  # type: ignore[attr-defined]
    return exc


def report_interrupt(exc: KeyboardInterrupt) -> int:
    """Print the one line of an interrupted run (unless the command printed its own, `mark_reported`) and
    return its exit status. The signal is then handled: `check_pending` on the way out does not report it
    a second time."""
    status, message = interrupt_status(exc)
    _pending.clear()
    if not getattr(exc, "egvsr_reported", False):
        print(message, file=sys.stderr)
    return status


def warn(message: str) -> None:
    """One `egvsr: warning:` line on stderr: the command goes on, but its input is probably not what the
    user meant (stdout keeps the results alone)."""
    print(f"egvsr: warning: {message}", file=sys.stderr)


def last_resort_message(exc: BaseException) -> str:
    """One line for an error no check anticipated (a file system, memory or text-decoding failure)."""
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller input, size or batch"
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot decode text as {exc.encoding} (byte {exc.start}); expected a UTF-8 text file"
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else "file system"
        why = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        return f"{name}: {why}"
    return f"{type(exc).__name__}: {exc}"


#: Share of a machine's (or accelerator's) memory that a planned allocation may take; the rest is left for
#: what size estimates do not count (the interpreter, libraries, other processes).
PLANNED_MEMORY_SHARE = 0.8


def physical_memory() -> int:
    """Bytes of physical memory of this machine; 0 when the system does not say."""
    try:
        return max(0, int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE")))
    except (AttributeError, ValueError, OSError):
        return 0


_OUT_OF_MEMORY = ("can't allocate memory", "insufficient memory", "out of memory", "failed to allocate",
                  "std::bad_alloc")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure reported by a library in its own type (torch's RuntimeError
    "DefaultCPUAllocator: can't allocate memory", CUDA's OutOfMemoryError, OpenCV's "Insufficient
    memory"), which would otherwise reach the user as a traceback."""
    if isinstance(exc, MemoryError):
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda's
        return True
    if isinstance(exc, RuntimeError) or type(exc).__name__ == "error":  # torch; cv2.error
        text = str(exc).lower()
        return any(k in text for k in _OUT_OF_MEMORY)
    return False


_exit_status: list[int] = []  # the finished command's status, once run_console has it


def quiet_exit(status: int | None = None) -> None:
    """After the command, while the interpreter exits: ignore Ctrl-C; SIGTERM/SIGHUP end the process at
    once with the command's `status` (its outputs are committed: dying by the signal would report a finished
    run as killed), or by the signal where there is no status (the command failed unexpectedly)."""
    if isinstance(status, int):
        _exit_status[:] = [status]
    else:
        status = None
    try:
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_IGN if sig == signal.SIGINT else
                          _end_now if status is not None else signal.SIG_DFL)
    except (ValueError, OSError):
        pass


def _end_now(signum, frame) -> None:
    """SIGTERM/SIGHUP after the command finished: flush what it printed and exit with its status."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed, broken or busy stream: its text is lost either way
            stream.flush()
    os._exit(_exit_status[0])


def _ignore_at_the_end() -> None:
    """At exit, after the other exit functions: the interpreter's last steps (module teardown) run no
    Python handler, so a finished command's SIGTERM/SIGHUP is ignored there rather than killing it."""
    if _exit_status:
        with contextlib.suppress(ValueError, OSError):
            for sig in HANDLED:
                signal.signal(sig, signal.SIG_IGN)


def _drop_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_console(main: Callable[..., int], argv: Sequence[str] | None = None) -> int:
    """Run `main(argv)` as the whole process's job, with the guarantees above; `argv` defaults to
    `sys.argv[1:]`."""
    from egvsr.threads import command_of, configure_process_environment

    argv = sys.argv[1:] if argv is None else list(argv)
    configure_process_environment(argv=argv)
    install_signal_handlers()
    status = None  # known once the command has finished uninterrupted
    try:
        code = main(argv)
        check_pending()  # a signal whose exception was dropped: the run was still interrupted
        status = code
        return status
    except BrokenPipeError:  # the reader of our output went away (`egvsr info F | head`): end quietly
        _drop_stdout()
        return 1
    except (OSError, MemoryError, UnicodeDecodeError) as exc:
        print(f"egvsr: error: {last_resort_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - only an allocator's failure is turned into one line
        if _pending:  # the signal's `Terminated`, wrapped by a library (numba: SystemError) on its way up
            return report_interrupt(Terminated(_pending[0]))
        if not is_out_of_memory(exc):
            raise
        print(f"egvsr: error: {last_resort_message(MemoryError())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # outside the command (argument parsing, imports)
        return report_interrupt(exc)
    finally:
        if command_of(argv) in FREEZE_AT_EXIT:
            gc.freeze()
        quiet_exit(status)
