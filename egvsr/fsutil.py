"""Atomic file output: write to a temporary sibling, rename into place only on success.

An interrupted run therefore never leaves a half-written file under the final name, and an existing
file is never replaced unless the caller asked for it. Temporary names carry the writer's host and
process id (`.NAME.HOST-pidPID.XXXX.egvsr-partial`), so the leftovers of a killed writer (`kill -9`
runs no cleanup) are removed by the next run on the same host that writes the same output, while a
live writer's file (or one from another host sharing the folder) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from egvsr.errors import OutputExistsError

TEMP_MARK = ".egvsr-partial"


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Return `path` as a Path, raising `OutputExistsError` if it exists and `overwrite` is false."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out}: output already exists; choose another path or pass --overwrite (overwrite=True)"
        )
    if out.is_dir():
        raise OutputExistsError(f"{out}: output path is a directory, expected a file path")
    return out


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def _temp_prefix(out: Path) -> str:
    """Start of this host's temporary names for `out`; the process id follows."""
    return f".{out.name}.{_host()}-pid"


def _alive(pid: int) -> bool:
    """True when process `pid` exists (or cannot be probed: then it is assumed alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: someone else's live process
        return True
    return True


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings of `path` left by writers on this host that no longer run."""
    out = Path(path)
    prefix = _temp_prefix(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.iterdir():
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(TEMP_MARK)):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:  # raced with another cleaner, or not ours to remove: leave it
            continue
        removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success rename it to `path`, else delete it.

    The temporary name contains `.egvsr-partial` so leftovers of a killed process are recognisable
    and are never mistaken for a finished output.
    """
    out = check_output_path(path, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                    dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if out.exists() and not overwrite:  # appeared while we were writing
            raise OutputExistsError(f"{out}: output appeared while writing; not overwritten")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Like `atomic_output` for a folder of files: build it under a temporary name, then rename."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out}: output folder already exists; choose another path or pass --overwrite"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
