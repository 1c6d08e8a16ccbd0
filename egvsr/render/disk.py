"""Disk space and writable folders of render outputs: the least space PNG frames and MP4s can take
(checked before any work), and telling a write that failed for want of space from other failures
(OpenCV reports neither why a write failed nor, for MP4 frames, that it did)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from egvsr.errors import OutputError
from egvsr.fsutil import fmt_size, free_bytes, output_path


def existing_folder(path: str | os.PathLike) -> Path:
    """The folder an output at `path` is created in, or its nearest ancestor that exists (the one whose
    file system and permissions decide whether it can be written)."""
    p = output_path(path).absolute().parent
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output whose folder cannot be made or written: a file where a folder
    must be, a read-only file system or a folder without write permission."""
    folder = existing_folder(path)
    parent = output_path(path).absolute().parent
    if not folder.is_dir():
        why = "it is not a folder" if folder == parent else f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        why = "the file system is read-only" if read_only else f"permission denied to write in {folder}"
    else:
        return
    raise OutputError(f"{path}: cannot create the output in {parent} ({why}); choose another path")


#: the least disk space a PNG frame file takes: one block of the file system (ext4, xfs, tmpfs: 4 KB)
PNG_FILE_BYTES = 4096
#: deflate's (PNG's) best compression ratio: a PNG frame holds at least its filtered rows / this
DEFLATE_MAX_RATIO = 1032


def least_png_bytes(frames: int, h: int, w: int) -> int:
    """A lower bound of the disk space of `frames` PNG frames of h x w: one file-system block each, or
    the frame's filtered rows at deflate's best ratio when that is larger."""
    return int(frames) * max(PNG_FILE_BYTES, math.ceil(int(h) * (3 * int(w) + 1) / DEFLATE_MAX_RATIO))


def least_mp4_bytes(frames: int, h: int, w: int) -> int:
    """A lower bound of the size of an MP4 (MPEG-4 part 2) of `frames` frames of h x w: one bit per
    16x16 macroblock per frame (a skipped block) plus its 4-byte entry in the sample size table."""
    blocks = -(-int(h) // 16) * -(-int(w) // 16)  # the same for the even sides MPEG-4 stores
    return int(frames) * (math.ceil(blocks / 8) + 4)


def disk_full(folder: str | os.PathLike, need: int) -> tuple[bool, int | None]:
    """Whether the file system of `folder` has fewer than `need` bytes free (False where unknown), and
    the free bytes: what tells a write that failed for want of space from other failures."""
    free = free_bytes(folder)
    return free is not None and free < need, free


def no_space_error(out: str | os.PathLike, folder: str | os.PathLike, free: int | None, doing: str) -> OutputError:
    """The one-line error of an output that ran out of disk space while `doing`."""
    left = "" if free is None else f", {fmt_size(free)} free"
    return OutputError(f"{out}: no space left on the disk holding {Path(folder).absolute()} while {doing}"
                       f"{left}; nothing was written (an existing output is kept): free some space or "
                       "write elsewhere")
