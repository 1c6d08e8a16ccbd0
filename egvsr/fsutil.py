"""Atomic file output: write to a temporary sibling, rename into place only on success.

An interrupted run therefore never leaves a half-written file under the final name, and an existing
file is never replaced unless the caller asked for it.
"""

from __future__ import annotations

import contextlib
import os
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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success rename it to `path`, else delete it.

    The temporary name contains `.egvsr-partial` so leftovers of a killed process are recognisable
    and are never mistaken for a finished output.
    """
    out = check_output_path(path, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=TEMP_MARK, dir=out.parent)
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
    import shutil

    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out}: output folder already exists; choose another path or pass --overwrite"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=TEMP_MARK, dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
