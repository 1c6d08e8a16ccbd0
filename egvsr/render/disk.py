"""Disk space of render outputs: the least space PNG frames and MP4s can take (checked before any work,
as `egvsr.fsutil.check_writable` checks their folders), and telling a write that failed for want of
space from other failures (OpenCV reports neither why a write failed nor, for MP4 frames, that it did)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from egvsr.errors import OutputError
from egvsr.fsutil import fmt_size, free_bytes


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


#: the advice of `no_space_error` (a caller with options that shrink its output adds its own: `egvsr demo`)
NO_SPACE_ADVICE = "free some space or write elsewhere"


def no_space_error(out: str | os.PathLike, folder: str | os.PathLike, free: int | None, doing: str) -> OutputError:
    """The one-line error of an output that ran out of disk space while `doing`."""
    left = "" if free is None else f", {fmt_size(free)} free"
    return OutputError(f"{out}: no space left on the disk holding {Path(folder).absolute()} while {doing}"
                       f"{left}; nothing was written (an existing output is kept): {NO_SPACE_ADVICE}")
