"""What `egvsr` does as a process: signals, last-resort error lines, a quiet exit.

SIGINT, SIGTERM and SIGHUP become `Terminated` (a `KeyboardInterrupt`), so a terminated command cleans
up as Ctrl-C does, and the signal is remembered (`check_pending()`) where Python would drop it; a signal
ignored when the process started (`nohup`'s SIGHUP, a background job's SIGINT) stays ignored. Errors
no part of the toolkit anticipated end as one `egvsr: error:` line. Before torch or numba load, the
console entry opens closed standard descriptors on the null device (`standard_descriptors`), sets the
thread environment (`egvsr.threads`), checks NUMBA_NUM_THREADS and NUMBA_THREADING_LAYER, finds numba and matplotlib writable
folders (`numba_cache_folder`, `matplotlib_config_folder`) and makes stdout and stderr print any text; a
library import does none of this.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import os
import signal
import stat
import sys
from typing import Callable, Iterator, Mapping, MutableMapping, Sequence

from egvsr.errors import ConfigError, EgvsrError

#: commands after which everything alive leaves the collector's view: the exit-time collection then
#: skips numba's large object graph (voxelize: exit in 0.03 s instead of 0.27 s). Objects are still
#: freed by reference counting; done only when egvsr is the process's command, never for a library caller.
FREEZE_AT_EXIT = ("voxelize",)

HANDLED = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
_pending: list[int] = []  # signals received by this process's handlers
_ignored_at_start: list[set[int]] = []  # the handled signals ignored when install_signal_handlers first ran


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


def _ignored_now() -> set[int]:
    return {sig for sig in HANDLED if signal.getsignal(sig) == signal.SIG_IGN}


def handled_signals() -> tuple[int, ...]:
    """The signals egvsr turns into `Terminated` (or defers): `HANDLED` less those ignored when the
    process started, which stay ignored (`nohup egvsr train ... &` keeps running after logout)."""
    ignored = _ignored_at_start[0] if _ignored_at_start else _ignored_now()
    return tuple(sig for sig in HANDLED if sig not in ignored)


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP unwind (main thread only; elsewhere a no-op), unless ignored when the
    process started. SIGXFSZ is ignored, so a write past `ulimit -f` fails with EFBIG and gets the
    one-line output error instead of killing us."""
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    atexit.unregister(_ignore_at_the_end)
    atexit.register(_ignore_at_the_end)  # early: exit functions run last-registered first
    if not _ignored_at_start:
        _ignored_at_start.append(_ignored_now())
    try:
        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        for sig in handled_signals():
            signal.signal(sig, _raise_terminated)
    except (ValueError, OSError):  # not the main thread, or not allowed here
        return


def interrupt_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """Exit status and one-line message of an interrupted run."""
    done = getattr(exc, "egvsr_done", None)  # set by `held_signals(done=...)`: the outputs are in place
    if isinstance(exc, Terminated) and exc.signum != signal.SIGINT:
        name = signal.Signals(exc.signum).name
        if done:
            return 128 + exc.signum, f"egvsr: terminated by {name} after {done}"
        return 128 + exc.signum, f"egvsr: terminated by {name}; no partial output was left under the final name"
    if done:
        return 130, f"egvsr: interrupted after {done}"
    return 130, "egvsr: interrupted; no partial output was left under the final name"


@contextlib.contextmanager
def held_signals(done: str | None = None) -> Iterator[None]:
    """Defer SIGINT, SIGTERM and SIGHUP over a few quick steps that must happen together (the renames that
    commit several outputs as one): a signal that arrives meanwhile is delivered right after them. When the
    steps completed, the interrupt it raises carries `done` (what is now in place, e.g. "out.h5 was written
    in full"), so the run's last line says so rather than that nothing was left (`interrupt_status`).
    Outside the main thread (where no handler runs anyway) nothing is deferred."""
    held: list[int] = []
    try:
        previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum))
                    for sig in handled_signals()}
    except ValueError:  # not the main thread
        yield
        return
    completed = False
    try:
        yield
        completed = True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        if held:
            try:
                signal.raise_signal(held[0])  # to the handler that was in place: Terminated, as usual
            except KeyboardInterrupt as exc:
                if completed and done and not hasattr(exc, "egvsr_done"):
                    exc.egvsr_done = done  # type: ignore[attr-defined]
                raise


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
        stderr_line(message)
    return status


def one_line(text: object) -> str:
    """`text` for a one-line message: characters that do not print (a newline, a tab, a terminal escape,
    a NUL byte) escaped as Python writes them (`\\n`, `\\x1b`), so that a name cannot split the line. A
    surrogate escape (a file name's byte that is not UTF-8) is kept: the stream writes it as that byte, or as
    `\\xNN` (`printing_any_text`)."""
    return "".join(c if c.isprintable() or "\ud800" <= c <= "\udfff" else c.encode("unicode_escape").decode("ascii")
                   for c in str(text))


def stderr_line(line: str) -> None:
    """`line` and its newline on stderr in one write: print's separate write of the newline let the lines of
    processes sharing stderr (the ranks of a torchrun job, each refusing the same config) run together."""
    print(line + "\n", end="", file=sys.stderr)


def warn(message: str) -> None:
    """One `egvsr: warning:` line on stderr: the command goes on, but its input is probably not what the
    user meant (stdout keeps the results alone)."""
    stderr_line(f"egvsr: warning: {one_line(message)}")


def last_resort_message(exc: BaseException) -> str:
    """One line for an error no check anticipated (a file system, memory or text-encoding failure, or
    stdout that takes no more text)."""
    if is_out_of_memory(exc):
        return "out of memory; try a smaller input, size or batch"
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot decode text as {exc.encoding} (byte {exc.start}); expected a UTF-8 text file"
    if isinstance(exc, UnicodeEncodeError):
        char = exc.object[exc.start:exc.start + 1].encode("unicode_escape").decode("ascii")
        return f"cannot encode the character '{char}' as {exc.encoding}; expected text {exc.encoding} can hold"
    if isinstance(exc, OSError) and getattr(exc, "egvsr_stdout", False):
        return f"printing to stdout failed: {exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))}"
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
#: HDF5's allocation failures, which h5py raises as OSError ("Can't synchronously write data (memory
#: allocation failed for chunk)"): not a file-system problem.
_HDF5_OUT_OF_MEMORY = ("memory allocation failed",)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure reported by a library in its own type (torch's RuntimeError
    "DefaultCPUAllocator: can't allocate memory", CUDA's OutOfMemoryError, OpenCV's "Insufficient
    memory"), or HDF5's as h5py's OSError (or ENOMEM), which would otherwise reach the user as a traceback
    or as a file-system error."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOMEM or any(k in str(exc).lower() for k in _HDF5_OUT_OF_MEMORY)
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
        for sig in handled_signals():
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


# ---- the console entry: before torch and numba load -------------------------------------------------
def standard_descriptors() -> None:
    """Descriptors 0, 1 and 2 open, and sys.stdout / sys.stderr streams: one the caller closed
    (`egvsr ... >&-`, `2>&-`) is opened on the null device. Otherwise the next file the process opens takes
    its number (an output the command writes, an input), and what native code writes there (FFmpeg's and
    libpng's messages to 2, anything printed to 1) lands in that file; and with no sys.stderr, Python prints
    an error line meant for it to stdout, among the results."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError as exc:
            if exc.errno != errno.EBADF:
                continue
        try:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # the lowest free number is fd itself when those below it are open
                os.dup2(null, fd)
                os.close(null)
            os.set_inheritable(fd, True)  # as a standard descriptor is, for child processes
        except OSError:
            return
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:  # Python found the descriptor closed when it started
            with contextlib.suppress(OSError, ValueError):
                setattr(sys, name, open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False))


def whole_number_variable(env: Mapping[str, str], name: str, default: int, least: int, most: int | None = None,
                          what: str = "a whole number", advice: str = "") -> int:
    """The environment variable `name` as a whole number in `least`..`most` (`default` when unset), or one
    line naming it and its value (`what` the number is, then `advice`: how to mend it)."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least or most is not None and value > most:
        bound = f">= {least}" if most is None else f"in {least}..{most}"
        raise ConfigError(f"environment variable {name}={text!r}: expected {what} {bound}{advice}")
    return value


def check_numba_threads(environ: MutableMapping[str, str] | None = None) -> None:
    """Refuse in one line a NUMBA_NUM_THREADS that is not a whole number >= 1: numba would stop its
    import with a traceback (0, negative) or a page-long warning (not a number)."""
    whole_number_variable(os.environ if environ is None else environ, "NUMBA_NUM_THREADS", 1, 1,
                          what="a whole number of threads", advice=" (or leave it unset: all cores)")


#: NUMBA_THREADING_LAYER's values (numba reads them in any case), and the layers NUMBA_THREADING_LAYER_PRIORITY
#: orders (all three, in any order)
NUMBA_LAYERS = ("default", "safe", "threadsafe", "forksafe", "tbb", "omp", "workqueue")
NUMBA_NAMED_LAYERS = ("tbb", "omp", "workqueue")


def check_numba_threading_layer(environ: Mapping[str, str] | None = None) -> None:
    """Refuse in one line a NUMBA_THREADING_LAYER or NUMBA_THREADING_LAYER_PRIORITY numba cannot take: it
    would stop the first parallel kernel with a traceback. (A layer numba knows but cannot load here, such
    as `tbb` without the tbb package, is found only then: `numba_layer_message`.)"""
    env = os.environ if environ is None else environ
    layer = env.get("NUMBA_THREADING_LAYER")
    if layer is not None and layer.lower() not in NUMBA_LAYERS:
        raise ConfigError(f"environment variable NUMBA_THREADING_LAYER={layer!r}: expected one of "
                          f"{', '.join(NUMBA_LAYERS)} (or leave it unset: default)")
    order = env.get("NUMBA_THREADING_LAYER_PRIORITY")
    if order is not None and sorted(order.split()) != sorted(NUMBA_NAMED_LAYERS):
        raise ConfigError(f"environment variable NUMBA_THREADING_LAYER_PRIORITY={order!r}: expected "
                          f"{' '.join(NUMBA_NAMED_LAYERS)} in some order (or leave it unset)")


_NO_NUMBA_LAYER = ("No threading layer could be loaded", "threading layer requested",
                   "THREADING_LAYER_PRIORITY invalid")


def numba_layer_message(exc: BaseException, environ: Mapping[str, str] | None = None) -> str | None:
    """The line for numba's failure to start the threading layer the environment asks for (numba's
    ValueError, also as a DataLoader worker's); None for any other error."""
    text = str(exc)
    if not isinstance(exc, ValueError) or not any(k in text for k in _NO_NUMBA_LAYER):
        return None
    layer = (os.environ if environ is None else environ).get("NUMBA_THREADING_LAYER", "default")
    need = " (it needs the tbb package: pip install tbb)" if "TBB" in text else ""
    return (f"environment variable NUMBA_THREADING_LAYER={layer!r}: numba cannot load that threading layer "
            f"here{need}; expected a layer this installation has, e.g. workqueue (or leave it unset)")


def _writable_folder(folder: str) -> bool:
    """Whether a file can be created in `folder` (made if missing), the test numba's cache runs."""
    import tempfile  # here: the console entry imports this module before it can report a Ctrl-C

    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _private_temp_folder(name: str) -> str | None:
    """A folder `name` in the temporary folder that only this user can write (numba loads pickles from
    its cache: another user's folder there is never used), made if missing; a fresh one (removed at exit)
    when the name is taken; None when the temporary folder takes none."""
    import shutil
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else None  # None: Windows, whose temporary folder is the user's
    try:
        base = tempfile.gettempdir()
    except OSError:  # no writable temporary folder at all (a read-only system or container)
        return None
    folder = os.path.join(base, f"{name}-{uid}" if uid is not None else name)
    with contextlib.suppress(OSError):  # it exists (checked below), or cannot be made
        os.mkdir(folder, 0o700)
    try:
        st = os.lstat(folder)
        # (Windows has no owners or modes to check: its stat says 0 and 0o777 for every folder)
        private = uid is None or st.st_uid == uid and not st.st_mode & 0o022
        if stat.S_ISDIR(st.st_mode) and private and _writable_folder(folder):
            return folder
        fresh = tempfile.mkdtemp(prefix=f"{name}-")
    except OSError:
        return None
    atexit.register(shutil.rmtree, fresh, True)
    return fresh


def numba_cache_folder(environ: MutableMapping[str, str] | None = None, package: str | None = None) -> str | None:
    """Give numba a writable cache folder where it has none, so that its cached kernels compile: on a
    read-only install (no writable `__pycache__` beside the package), without a writable NUMBA_CACHE_DIR
    and user cache folder (`numba_user_cache`: ~/.cache/numba on Linux), NUMBA_CACHE_DIR is set to a
    folder of this user's in the temporary folder (returned; None when nothing was set). Numba raises
    "cannot cache function ...: no locator available" otherwise; a library user on such an install sets
    NUMBA_CACHE_DIR (docs/representations.md)."""
    env = os.environ if environ is None else environ
    given = env.get("NUMBA_CACHE_DIR")
    package = package or os.path.dirname(os.path.abspath(__file__))
    if given and _writable_folder(given) or _writable_folder(os.path.join(package, "__pycache__")):
        return None
    user = numba_user_cache(env)
    if user is not None and _writable_folder(user):
        return None
    folder = _private_temp_folder("egvsr-numba-cache")
    if folder is not None:
        env["NUMBA_CACHE_DIR"] = folder
    return folder


def home_folder(env: Mapping[str, str]) -> str | None:
    """The user's home folder: HOME, else the system's record (Windows: USERPROFILE); None when neither
    says (HOME unset for a user without a password entry: '~' stays as it is, and a folder made at it would
    be `./~` in the current folder)."""
    home = env.get("HOME") or os.path.expanduser("~")
    return home if os.path.isabs(home) else None


def numba_user_cache(env: Mapping[str, str], platform: str | None = None) -> str | None:
    """The folder numba caches kernels in when the package's own `__pycache__` takes none (its appdirs'
    user cache folder): `~/.cache/numba` (or XDG_CACHE_HOME's) on Linux, `~/Library/Caches/numba` on macOS,
    `%LOCALAPPDATA%\\numba\\Cache` on Windows; None where there is none (no home, no LOCALAPPDATA)."""
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        return os.path.join(local, "numba", "Cache") if local else None
    home = home_folder(env)
    if platform == "darwin":
        return os.path.join(home, "Library", "Caches", "numba") if home else None
    base = env.get("XDG_CACHE_HOME", os.path.join(home, ".cache") if home else None)
    return os.path.join(base, "numba") if base is not None else None


def matplotlib_user_folders(env: Mapping[str, str], platform: str | None = None) -> tuple[str, ...] | None:
    """The folders matplotlib keeps its settings and font cache in without MPLCONFIGDIR: on Linux
    `~/.config/matplotlib` and `~/.cache/matplotlib` (or XDG_CONFIG_HOME's and XDG_CACHE_HOME's), on Windows
    `~/.matplotlib` where it is a folder, else `%LOCALAPPDATA%\\matplotlib` (`~/.matplotlib` without
    LOCALAPPDATA), elsewhere (macOS) `~/.matplotlib`; None where there is none (no home)."""
    platform = sys.platform if platform is None else platform
    home = home_folder(env)
    if platform.startswith(("linux", "freebsd")):
        config, cache = env.get("XDG_CONFIG_HOME"), env.get("XDG_CACHE_HOME")
        if home is None and not (config and cache):
            return None
        return (os.path.join(config or os.path.join(home, ".config"), "matplotlib"),
                os.path.join(cache or os.path.join(home, ".cache"), "matplotlib"))
    if platform == "win32":
        if home is not None and os.path.isdir(os.path.join(home, ".matplotlib")):
            return (os.path.join(home, ".matplotlib"),)
        local = env.get("LOCALAPPDATA")
        if local:
            return (os.path.join(local, "matplotlib"),)
    return (os.path.join(home, ".matplotlib"),) if home is not None else None


def _usable_folder(folder: str) -> bool:
    """Whether `folder` is a writable folder or could be made as one, found without making it (matplotlib's
    own test: its symbolic links resolved, `os.access`)."""
    path = os.path.realpath(folder)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def matplotlib_config_folder(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Give matplotlib a writable config and cache folder where it has none: without a usable
    MPLCONFIGDIR, and where the folders matplotlib uses without it (`matplotlib_user_folders`: on Linux
    ~/.config/matplotlib and ~/.cache/matplotlib) cannot be written (a read-only or missing home),
    MPLCONFIGDIR is set to a folder of this user's in the temporary folder, kept between runs (returned;
    None when nothing was set). matplotlib would otherwise print two warning lines on every command that
    draws (`show`, `eval`, `demo`) and rebuild its font cache each time in a fresh temporary folder."""
    env = os.environ if environ is None else environ
    given = env.get("MPLCONFIGDIR")
    if given:
        if _usable_folder(given):
            return None
    else:
        folders = matplotlib_user_folders(env)
        if folders is not None and all(_usable_folder(folder) for folder in folders):
            return None
    folder = _private_temp_folder("egvsr-matplotlib")
    if folder is not None:
        env["MPLCONFIGDIR"] = folder
    return folder


def printing_any_text() -> None:
    """stdout and stderr that print any text: one that cannot encode a character (`LC_ALL=C` with
    PYTHONUTF8=0 cannot encode 'µ'; a UTF-8 stdout in strict mode, a file name that is not UTF-8) shows
    it as `\\xNN`/`\\uNNNN` instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        try:
            "µ".encode(stream.encoding, errors or "strict")
            fine = errors not in (None, "strict")
        except (UnicodeError, LookupError, TypeError, AttributeError):
            fine = False
        if not fine:
            with contextlib.suppress(AttributeError, ValueError, OSError):  # not a text stream, closed
                stream.reconfigure(errors="backslashreplace")


class _Stdout:
    """The command's sys.stdout: the stream itself, except that the OSError of a write or flush that fails
    (/dev/full, a closed terminal) is marked as coming from stdout, so that its line says so."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            exc.egvsr_stdout = True  # type: ignore[attr-defined]
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            exc.egvsr_stdout = True  # type: ignore[attr-defined]
            raise

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


_NO_CACHE_FOLDER = ("cannot cache function", "no locator available")

#: import name -> the name pip installs it under, where the two differ (pyproject.toml's dependencies)
PIP_NAMES = {"cv2": "opencv-python-headless", "yaml": "pyyaml", "PIL": "pillow", "skimage": "scikit-image",
             "sklearn": "scikit-learn"}
#: import name -> the egvsr extra that installs it (pyproject.toml's optional-dependencies)
EXTRAS = {"hdf5plugin": "dsec", "tonic": "tonic", "tensorboard": "tensorboard", "skimage": "train",
          "sklearn": "train"}


def missing_package_message(exc: BaseException) -> str | None:
    """The line for a package outside egvsr that a command imports and that is missing (a `--no-deps`
    install, an extra not installed, a dependency removed since): which package and the pip command that
    installs it; None for any other error (a module of egvsr itself missing is a broken egvsr)."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    top = (name or "").partition(".")[0]
    if not top or top == "egvsr":
        return None
    pip = PIP_NAMES.get(top, top)
    if name != top and top in sys.modules:  # the package is there, without the module this egvsr imports
        return f"package {top!r} has no module {name!r}; expected a complete, current {pip}: pip install -U {pip}"
    extra = f" (or: pip install 'egvsr[{EXTRAS[top]}]')" if top in EXTRAS else ""
    return f"package {top!r} is not installed; this command needs it: pip install {pip}{extra}"


def _prepare(argv: Sequence[str]) -> None:
    """What the console entry does before the command, in order: signals (a Ctrl-C from here on is one
    line), the thread environment and numba's and matplotlib's settings (before they load), printable streams."""
    from egvsr.threads import configure_process_environment

    install_signal_handlers()
    configure_process_environment(argv=argv)
    check_numba_threads()
    check_numba_threading_layer()
    numba_cache_folder()
    matplotlib_config_folder()
    printing_any_text()


def run_console(main: Callable[..., int], argv: Sequence[str] | None = None) -> int:
    """Run `main(argv)` as the whole process's job, with the guarantees above; `argv` defaults to
    `sys.argv[1:]`. `main` may import the command line itself: a Ctrl-C during those imports is one line."""
    from egvsr.threads import command_of

    argv = sys.argv[1:] if argv is None else list(argv)
    status = None  # known once the command has finished uninterrupted
    standard_descriptors()  # first: before any file is opened
    stdout = sys.stdout
    try:
        _prepare(argv)
        if stdout is not None:
            sys.stdout = _Stdout(stdout)
        code = main(argv)
        check_pending()  # a signal whose exception was dropped: the run was still interrupted
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit, so that a failure is one line
        status = code
        return status
    except BrokenPipeError:  # the reader of our output went away (`egvsr info F | head`): end quietly
        _drop_stdout()
        return 1
    except EgvsrError as exc:  # the process's own settings (NUMBA_NUM_THREADS)
        stderr_line(f"egvsr: error: {one_line(exc)}")
        return 2
    except (OSError, MemoryError, UnicodeError) as exc:
        if getattr(exc, "egvsr_stdout", False):
            _drop_stdout()  # what stdout still holds would fail again at exit
        stderr_line(f"egvsr: error: {one_line(last_resort_message(exc))}")
        return 2
    except Exception as exc:  # noqa: BLE001 - only an allocator's failure is turned into one line
        if _pending:  # the signal's `Terminated`, wrapped by a library (numba: SystemError) on its way up
            return report_interrupt(Terminated(_pending[0]))
        missing = missing_package_message(exc) or numba_layer_message(exc)
        if missing is not None:
            stderr_line(f"egvsr: error: {one_line(missing)}")
            return 2
        if isinstance(exc, RuntimeError) and all(k in str(exc) for k in _NO_CACHE_FOLDER):
            stderr_line("egvsr: error: numba found no writable folder for its compiled code (the package's "
                        "__pycache__, ~/.cache, the temporary folder); set NUMBA_CACHE_DIR to a writable folder")
            return 2
        if not is_out_of_memory(exc):
            raise
        stderr_line(f"egvsr: error: {last_resort_message(MemoryError())}")
        return 2
    except KeyboardInterrupt as exc:  # outside the command (imports, argument parsing)
        return report_interrupt(exc)
    finally:
        if isinstance(sys.stdout, _Stdout):
            sys.stdout = stdout
        if command_of(argv) in FREEZE_AT_EXIT:
            gc.freeze()
        quiet_exit(status)
