"""Every file OpenCV reads or writes goes through here, whatever the file's name.

OpenCV takes a file name as UTF-8 text and crashes the process (a segmentation fault, no cleanup) on a
Python str holding a byte that is not UTF-8 (Linux names are bytes; Python keeps such a byte as a
surrogate escape, `\\udcff`). So images are never opened by OpenCV itself: their bytes are read and
written here and only decoded or encoded by OpenCV (`cv2.imdecode`, `cv2.imencode`: the same codecs, PNG,
JPEG, TIFF, ... with the same results as `imread`/`imwrite`). Videos must be opened by OpenCV: a name
that is not UTF-8 is opened through a link with an ASCII name in a private temporary folder, removed as
soon as OpenCV has opened the file; where no such link can be made, the file is refused in one line.
OpenCV is imported on first use only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from typing import Any, Iterator

import numpy as np

from egvsr.errors import InputFileError, OutputError
from egvsr.fsutil import shown

#: how `read_image` decodes: as stored (any depth and channel count), or as 8-bit BGR
READ_MODES = ("unchanged", "color")


def _cv2():
    import cv2

    return cv2


def opencv_name(path: str | os.PathLike) -> str | None:
    """The text to give OpenCV for `path`, or None when its name is not UTF-8 (OpenCV would crash)."""
    try:
        return os.fsencode(path).decode("utf-8")
    except UnicodeError:
        return None


def read_image(path: str | os.PathLike, mode: str = "unchanged") -> np.ndarray | None:
    """The image at `path` as `cv2.imread` gives it (BGR order; `mode` "unchanged": as stored, "color":
    8-bit BGR), or None when it cannot be read or decoded, as `imread` does. Only a regular file is read:
    a named pipe, device or socket (which would block or never end) is None without waiting on it."""
    if mode not in READ_MODES:
        raise ValueError(f"mode {mode!r}: expected one of {READ_MODES}")
    cv2 = _cv2()
    flags = {"unchanged": cv2.IMREAD_UNCHANGED, "color": cv2.IMREAD_COLOR}[mode]
    try:  # O_NONBLOCK: opening a pipe with no writer returns at once (a regular file ignores the flag)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return None
    try:
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            data = f.read()
    except OSError:
        return None
    if not data:  # imdecode refuses an empty buffer with an exception
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


def write_image(path: str | os.PathLike, image: np.ndarray, raise_oserror: bool = False) -> bool:
    """Write `image` (BGR order) at `path` in the format its suffix names, as `cv2.imwrite` does; False
    when it cannot be encoded or written (an unknown suffix raises `cv2.error`, as `imwrite` does);
    `raise_oserror`: a write that fails raises its OSError (which says why: a quota, a file size limit)."""
    suffix = os.path.splitext(os.fsdecode(path))[1]
    if not suffix.isascii():  # no codec has such a name
        return False
    ok, data = _cv2().imencode(suffix, image)
    if not ok:
        return False
    try:
        with open(path, "wb") as f:
            f.write(data.tobytes())
    except OSError:
        if raise_oserror:
            raise
        return False
    return True


@contextlib.contextmanager
def _opencv_path(path: str | os.PathLike, error: type[Exception]) -> Iterator[str]:
    """A name OpenCV can open for `path`: its own when UTF-8, else a link to it with an ASCII name in
    a private temporary folder, removed when the block ends (OpenCV has opened the file by then).
    `error` (InputFileError or OutputError) names the file when no link can be made."""
    name = opencv_name(path)
    if name is not None:
        yield name
        return
    suffix = os.path.splitext(os.fsdecode(path))[1]
    link = None
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix="egvsr-opencv-")
        link = os.path.join(folder, "file" + (suffix if suffix.isascii() else ""))
        if opencv_name(link) is None:
            raise OSError(0, f"the temporary folder {shown(folder)} is not UTF-8 either")
        os.symlink(os.path.abspath(os.fsencode(path)), link)
    except OSError as exc:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise error(f"{shown(path)}: OpenCV cannot open a file whose name is not UTF-8, and no link to it "
                    f"with another name could be made ({exc.strerror or exc}); rename the file") from None
    try:
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def video_capture(path: str | os.PathLike, params: tuple[int, ...] = ()) -> Any:
    """`cv2.VideoCapture` of the video file at `path`, whatever its name; `params`: OpenCV's open parameters
    (pairs of `cv2.CAP_PROP_*` and value, e.g. `(cv2.CAP_PROP_N_THREADS, 1)`)."""
    cv2 = _cv2()
    with _opencv_path(path, InputFileError) as name:
        return cv2.VideoCapture(name, cv2.CAP_ANY, [int(v) for v in params]) if params else cv2.VideoCapture(name)


def video_writer(path: str | os.PathLike, fourcc: str, fps: float, size: tuple[int, int], color: bool = True) -> Any:
    """`cv2.VideoWriter` writing `path` (container by its suffix) with codec `fourcc` (e.g. "mp4v") at
    `fps`, frames of `size` (width, height), whatever the file's name; `color` False: one-channel frames."""
    cv2 = _cv2()
    with _opencv_path(path, OutputError) as name:
        return cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*fourcc), fps, size, bool(color))
