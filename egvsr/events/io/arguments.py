"""Checks of the arguments the readers and writers take: flags, integers, file paths and input files.

Each refuses a bad value with one line naming the argument (`ConfigError`) or the file
(`InputFileError`), before anything is read or written. Kept here, below every reader and writer,
so that `convert`, `voxelize_file` and the tonic converters judge their arguments alike.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from egvsr.errors import ConfigError, InputFileError
from egvsr.fsutil import printable


def check_path(value: object, what: str = "path", expected: str = "a file path") -> Path:
    """`value` (a str or os.PathLike naming a file) as a Path; anything else, an empty path (`Path("")` is
    the current folder, which nobody means by it; the command line refuses it too) or a path holding a
    NUL byte (no file can be named so), is one `ConfigError` naming the argument `what` (and, for a value
    of the wrong type, what it should name: `expected`)."""
    if not isinstance(value, (str, os.PathLike)) or not isinstance(os.fspath(value), str):
        raise ConfigError(f"{what}: expected {expected} (str or os.PathLike), got {type(value).__name__}")
    if os.fspath(value) == "":
        raise ConfigError(f"{what}: the path is empty; expected the name of a file or folder")
    if "\0" in os.fspath(value):
        raise ConfigError(f"{what} '{printable(value)}': holds a NUL byte, which no file name can; "
                          "expected a file path")
    return Path(value)


def check_exists(path: Path) -> None:
    """Refuse a missing `path`, or one the system cannot look up (a name longer than the file system
    allows, a folder on the way that may not be searched), as `InputFileError` naming it."""
    try:
        found = path.exists()
    except OSError as exc:
        raise InputFileError(f"{printable(path)}: cannot be looked up ({exc.strerror or exc}); "
                             "expected an existing file or folder") from None
    if not found:
        raise InputFileError(f"{printable(path)}: no such file or folder")


def check_not_special(path: Path, expected: str = "an event recording file") -> None:
    """Refuse, without opening it, a `path` that is neither a regular file nor a folder (a FIFO, socket or
    device): reading a FIFO waits for a writer forever. `expected` says what the caller reads."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # opening it reports why
    kinds = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"))
    kind = next((name for test, name in kinds if test(mode)), None)
    if kind is not None:
        raise InputFileError(f"{printable(path)}: is a {kind}, not a regular file or folder; expected "
                             f"{expected} (it is not opened)")
