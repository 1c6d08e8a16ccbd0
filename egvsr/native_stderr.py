"""What native code (OpenCV, FFmpeg, libpng, expelliarmus) prints on its own, held or quieted around our calls, so
that a failure a command explains in one line is not preceded by the library's lines."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def opencv_warnings_off() -> Iterator[None]:
    """OpenCV's own warnings off (errors kept) for the body only: the level is process-wide, so the
    caller's level comes back after, and a program that imports egvsr keeps its own setting."""
    import cv2

    log = getattr(cv2.utils, "logging", None)
    if log is not None:
        get, put, error = log.getLogLevel, log.setLogLevel, log.LOG_LEVEL_ERROR
    else:  # OpenCV 4.8 (>= 4.8 is declared) has them at the top level; its LOG_LEVEL_ERROR is 2
        get, put, error = cv2.getLogLevel, cv2.setLogLevel, 2
    before = get()
    put(min(before, error))
    try:
        yield
    finally:
        put(before)


_STDERR_LOCK = threading.RLock()  # one holder of descriptor 2 at a time (nested: the inner one restores the outer)


@contextmanager
def native_messages_held(replay: bool = True) -> Iterator[None]:
    """Hold what native code (FFmpeg's "moov atom not found", libpng's errors inside OpenCV) writes to
    file descriptor 2 while the body runs: written out after a body that returns (dropped with
    `replay=False`, for files of ours whose harmless warnings the user cannot act on), dropped after one
    that raises, whose one-line error says what went wrong. OpenCV has no switch for FFmpeg's or
    libpng's own messages that holds for one call only (OPENCV_FFMPEG_LOGLEVEL is read once per
    process, its log level does not reach them), hence the descriptor (`stderr_held`)."""
    with _STDERR_LOCK, opencv_warnings_off(), stderr_held(replay):
        yield


@contextmanager
def stderr_held(replay: bool = True, drop: tuple[bytes, ...] = (), into: list | None = None) -> Iterator[None]:
    """Descriptor 2 held while the body runs, as `native_messages_held` does, without touching OpenCV
    (for other native decoders); `drop`: messages left out of what is written out after the body (each
    with the newline that follows it, if any), the rest kept; `into`: a list that gets what was held (bytes,
    when anything was) instead of its being written out, for the caller to sum up. The descriptor is restored
    before the body's exception goes on. Without a temporary file or a descriptor 2, the body just runs."""
    with _STDERR_LOCK:
        try:
            held = tempfile.TemporaryFile()
        except OSError:
            held = None
        saved = _redirect_stderr(held)
        done = False
        try:
            yield
            done = True
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
                if done and into is not None:
                    _caught(held, into)
                elif done and replay:
                    _replay(held, drop)
            if held is not None:
                held.close()


def _redirect_stderr(held) -> int | None:
    """Point descriptor 2 at the file `held`; the saved descriptor, or None where that cannot be done."""
    if held is None:
        return None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return None
    os.dup2(held.fileno(), 2)
    return saved


def _caught(held, into: list) -> None:
    """Append what `held` caught to `into`, when it caught anything (best effort)."""
    try:
        held.seek(0)
        data = held.read()
    except OSError:
        return
    if data:
        into.append(data)


def _replay(held, drop: tuple[bytes, ...] = ()) -> None:
    """Write what `held` caught, less the `drop` messages, to descriptor 2 (best effort: stderr may be gone)."""
    try:
        held.seek(0)
        data = held.read()
        for message in drop:
            data = data.replace(message + b"\n", b"").replace(message, b"")
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass
