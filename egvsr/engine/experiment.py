"""The on-disk layout of one experiment, `<output_root>/<name>/`, and its one-run-at-a-time lock.

`config.yaml` (the resolved config), `checkpoints/{last,step-N,best}.pt`, `logs/{train,val}.csv` and
`train.lock`, an advisory `flock` held by the running `egvsr train` (the kernel drops it when its holder
dies, so a killed run's lock is simply taken over; on Windows, which has no flock, a byte-range lock of
`msvcrt`, which the system drops the same way). A folder with `last.pt` is resumed; a new run refuses
a folder holding files of another run unless `overwrite`, and never replaces its inputs: the config given,
nor a `train.init_from` checkpoint in its own `checkpoints/`. A symbolic link at a file `train` writes is
refused, never written through (docs/training.md).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path
from typing import Iterator

from egvsr.errors import ConfigError, OutputError, OutputExistsError
from egvsr.fsutil import check_output_path, is_inside, pread_at, pwrite_at, refuse_package_data, same_file


#: where Windows' byte-range lock lies in train.lock: far past the holder's line, which another process reads
#: (such a lock keeps other processes from reading the bytes it covers)
_WINDOWS_LOCK_BYTE = 1 << 30


def _lock_module():
    """`fcntl` (flock), else `msvcrt` (Windows' byte-range locks), else None: no lock to be had."""
    for name in ("fcntl", "msvcrt"):
        try:
            return __import__(name)
        except ImportError:
            continue
    return None


def _try_lock(locks, fd: int, shared: bool = False) -> None:
    """Lock `fd` without waiting: BlockingIOError while another holds it, another OSError where the file
    system takes no lock. `shared` asks flock for a shared lock; Windows' locks are never shared, so there
    even a look (`check_not_running`) takes the lock for a moment."""
    if hasattr(locks, "flock"):
        locks.flock(fd, (locks.LOCK_SH if shared else locks.LOCK_EX) | locks.LOCK_NB)
        return
    os.lseek(fd, _WINDOWS_LOCK_BYTE, os.SEEK_SET)
    try:
        locks.locking(fd, locks.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)):  # held by another
            raise BlockingIOError(errno.EAGAIN, "locked by another process") from None
        raise


def _let_go(locks, fd: int) -> None:
    """Release `fd`'s lock and close it (closing alone releases a flock; Windows' lock is released first)."""
    if not hasattr(locks, "flock"):
        with contextlib.suppress(OSError):
            os.lseek(fd, _WINDOWS_LOCK_BYTE, os.SEEK_SET)
            locks.locking(fd, locks.LK_UNLCK, 1)
    os.close(fd)


class ExperimentBusyError(ConfigError):
    """Another live `egvsr train` holds the experiment's lock: what is in the folder is that run's."""


class Experiment:
    """Paths of one experiment folder."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.dir = Path(root) / name
        self.checkpoints = self.dir / "checkpoints"
        self.logs = self.dir / "logs"
        self.config = self.dir / "config.yaml"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"

    @property
    def lock_path(self) -> Path:
        return self.dir / "train.lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this experiment's lock for the block; refuse while another live run holds it.

        The lock is the file at `lock_path` while it is there: a lock taken on a file that was removed or
        replaced meanwhile (a run that never reached its first checkpoint removes its folder, the lock
        included, while it holds it) is let go and taken again on the file now there, so two runs never
        hold locks on two different files."""
        locks = _lock_module()
        if locks is None:  # neither flock nor Windows' locks: no lock
            yield
            return
        while True:
            fd = self._open_lock()
            try:
                self._take_lock(locks, fd)
                if self._locks_the_file_there(fd):
                    break
            except BaseException:
                os.close(fd)
                raise
            _let_go(locks, fd)  # the file was removed or replaced while we waited: lock the one there now
        try:
            os.ftruncate(fd, 0)
            pwrite_at(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            yield
        finally:
            _let_go(locks, fd)  # the file stays (removing it would race a new holder)

    def _open_lock(self) -> int:
        check_output_path(self.lock_path, overwrite=True)  # a link, folder or device there is refused
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except OSError as exc:
            raise OutputError(f"{self.lock_path}: cannot create the experiment's lock file "
                              f"({exc.strerror or exc}); check output_root") from None

    def _take_lock(self, locks, fd: int) -> None:
        """Lock `fd` (`locks`: `_lock_module`), refusing in one line while another run holds it, or where the
        file system takes no lock."""
        try:
            _try_lock(locks, fd)
        except BlockingIOError:  # EWOULDBLOCK: another run holds it
            raise self._busy(fd) from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP...: no lock to be had here, not a run holding it
            raise OutputError(
                f"{self.lock_path}: cannot lock the experiment's lock file ({exc.strerror or exc}): its file "
                "system takes no locks (a network file system without a lock service?), so one run at a time "
                "cannot be ensured there; choose an output_root on a local disk") from None

    def _busy(self, fd: int) -> ExperimentBusyError:
        """The refusal while another run holds the lock of `fd`, naming the holder its file names."""
        try:
            holder = pread_at(fd, 200, 0).decode("utf-8", "replace").strip() or "an unknown process"
        except OSError:
            holder = "an unknown process"
        return ExperimentBusyError(f"{self.dir}: another `egvsr train` ({holder}) is running this experiment; "
                                   "wait for it to finish, stop it, or use another experiment name")

    def check_not_running(self) -> None:
        """Refuse while another run holds the lock (a look at it, let go at once; nothing is made): what a
        check of the folder finds then is that run's, not files left by an earlier one."""
        locks = _lock_module()
        if locks is None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # none there yet (or no file to open): the lock itself decides
            return
        try:
            _try_lock(locks, fd, shared=True)
        except BlockingIOError:
            raise self._busy(fd) from None
        except OSError:
            return
        finally:
            _let_go(locks, fd)

    def _locks_the_file_there(self, fd: int) -> bool:
        """Whether the file `fd` locks is still the one at `lock_path`."""
        try:
            there, held = os.stat(self.lock_path, follow_symlinks=False), os.fstat(fd)
        except OSError:
            return False
        return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)

    def check_folders(self) -> None:
        """Refuse at start-up, not after training, a file where a folder of the experiment must be (the
        experiment folder, its checkpoints/ or logs/, or a level of output_root above it), and an experiment
        inside the package's data folder (its shipped weights are render's, eval's and demo's default)."""
        refuse_package_data([self.last])
        for path, what in ((self.dir, "the experiment folder"), (self.checkpoints, "its checkpoints folder"),
                           (self.logs, "its logs folder")):
            if path.exists() and not path.is_dir():
                raise OutputError(f"{path}: is a file, expected {what}")
        for level in self.dir.parents:
            if level.exists():
                if not level.is_dir():
                    raise OutputError(f"{level}: is a file, expected a folder (a level of output_root)")
                return

    def missing_levels(self) -> list[Path]:
        """The folders above the experiment folder that do not exist yet, deepest first: the levels of
        output_root that a run creates, and removes again when it fails before its first checkpoint."""
        missing = []
        for level in self.dir.parents:
            if level.exists() or level.is_symlink():
                break
            missing.append(level)
        return missing

    def discard_unstarted(self, levels: list[Path] = ()) -> None:
        """Remove what a run that failed before its first checkpoint created in a new experiment folder
        (its lock, config.yaml, empty checkpoints/ and logs/) and the empty folders above it in `levels`
        (`missing_levels`, taken before it ran): only those, and only while no checkpoint exists; anything
        else keeps the folder."""
        try:
            if any(self.checkpoints.iterdir()) if self.checkpoints.is_dir() else False:
                return
            for sub in (self.checkpoints, self.logs):
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()
            for f in (self.config, self.lock_path):  # each on its own: Windows removes no file held open, the lock
                with contextlib.suppress(OSError):
                    f.unlink(missing_ok=True)
            self.dir.rmdir()  # fails (and keeps it) when anything else is there
        except OSError:  # kept; or never made (a name the file system refuses): the levels still go
            pass
        for level in levels:  # the levels of output_root the run made, each only while empty
            try:
                level.rmdir()  # fails (and keeps it and the levels above) while the experiment folder is there
            except OSError:
                if os.path.lexists(level):
                    break
                # never made (the run failed below it, e.g. at a name too long for the file system): go on up

    def existing_outputs(self) -> list[Path]:
        """What a run writes that is already here: config.yaml, checkpoints/*.pt and anything in logs/
        (train.lock is only the lock and does not count)."""
        found = [self.config] if self.config.exists() or self.config.is_symlink() else []
        if self.checkpoints.is_dir():
            found += sorted(self.checkpoints.glob("*.pt"))
        if self.logs.is_dir():
            found += sorted(self.logs.iterdir())
        return found

    def check_new_run(self, config_path: str | Path | None, overwrite: bool = False,
                      init_from: str | None = None) -> None:
        """Refuse, before any work and before touching the folder, a new run (no last.pt: nothing to
        resume) that would replace or mix with what is here: its inputs always (the config at config.yaml,
        an `init_from` checkpoint in checkpoints/, where the run replaces best.pt and step-N.pt), and any
        other file it writes unless `overwrite`. A resume (last.pt present) passes."""
        if self.last.exists():
            return
        if config_path is not None and same_file(config_path, self.config):
            raise OutputExistsError(
                f"{self.config}: is the config given to `egvsr train`, and a new run writes its resolved config "
                f"there; copy it out of {self.dir} (e.g. into configs/) and train from the copy (an input is "
                "never replaced, even with --overwrite)")
        if init_from and init_from != "shipped" and is_inside(Path(init_from), self.checkpoints):
            raise ConfigError(
                f"train.init_from: {init_from} lies in {self.checkpoints}, where a new run replaces or removes "
                f"best.pt and step-N.pt; copy it out of {self.dir} and set train.init_from to the copy (an input "
                "is never replaced, even with --overwrite)")
        found = self.existing_outputs()
        if found and not overwrite:
            self.check_not_running()  # a live run's own files: say that it runs, not that files are left
            raise OutputExistsError(
                f"{found[0]}: already exists, and {self.dir} has no checkpoints/last.pt to resume, so a new run "
                "would replace or mix with another run's files; use another experiment name, or pass "
                "--overwrite (overwrite=True in Python) to start afresh there")

    def writes_config(self, config_path: str | Path | None) -> bool:
        """False when config.yaml is the config file given: an input is never replaced (on a resume;
        a new run refuses it)."""
        return config_path is None or not same_file(config_path, self.config)

    def check_outputs(self, config_path: str | Path | None) -> None:
        """Refuse, before any work, a symbolic link (or a folder or device) at a file `train` writes or
        rewrites here: train.lock, config.yaml (unless it is the config given), last.pt, best.pt, any
        step-N.pt and the CSV logs. Links are never written through nor replaced (docs/io.md)."""
        paths = [self.lock_path, self.last, self.best, self.logs / "train.csv", self.logs / "val.csv"]
        if self.writes_config(config_path):
            paths.append(self.config)
        if self.checkpoints.is_dir():
            paths += sorted(self.checkpoints.glob("step-*.pt"))
        for path in paths:
            check_output_path(path, overwrite=True)

    def make(self) -> list[Path]:
        """Make checkpoints/ and logs/; return those that were not there (`discard_new_run` removes them)."""
        made = [d for d in (self.checkpoints, self.logs) if not d.is_dir()]
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        return made

    def discard_new_run(self, made: list[Path], wrote_config: bool) -> None:
        """Remove config.yaml (when the new run wrote it) and the folders it `made`, each only while empty,
        after the run ended before its first checkpoint (its logs remove themselves: `MetricLog.discard`).
        Never another file, so the folder is as the run found it and the same command can start again."""
        with contextlib.suppress(OSError):
            if wrote_config:
                self.config.unlink(missing_ok=True)
            for folder in made:
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    def step_checkpoint_steps(self) -> list[int]:
        """The steps of the `step-N.pt` files here, in order (how a checkpoint written before runs tracked
        their own step files is resumed: its folder was the run's own)."""
        steps = []
        for p in self.checkpoints.glob("step-*.pt"):
            digits = p.stem[len("step-"):]
            if digits.isdigit():
                steps.append(int(digits))
        return sorted(steps)

    def prune(self, steps: list[int]) -> None:
        """Delete the periodic checkpoints of `steps` (ones this run wrote: never another run's files)."""
        for step in steps:
            self.step_checkpoint(step).unlink(missing_ok=True)
