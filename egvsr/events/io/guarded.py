"""`GuardedFile`: the file under an HDF5 output, which turns a full disk into a clean, late error.

HDF5 reports a failed write (disk full, quota) from wherever it happened, retries it at every flush and
may crash the process. Given this file object instead, HDF5 never sees the failure: the first one is
recorded in `failure`, later writes are kept in memory or dropped, and the writer polls `failure` after
each block and stops with one error line (docs/io.md).
"""

from __future__ import annotations

import io
import os

from egvsr.fsutil import pread_at, pwrite_at

#: Writes after a failure at most this large are kept (HDF5 metadata, which it may read back).
_KEEP_BYTES = 1 << 20


class GuardedFile(io.RawIOBase):
    """A new (truncated) binary file at `path`, for `h5py.File(GuardedFile(path), "w")`."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        # O_BINARY: Windows opens a descriptor in text mode otherwise, writing every 0x0A byte as 0x0D 0x0A
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
        self._pos = 0
        self._size = 0
        self.failure: OSError | None = None
        self._kept: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, b: bytes | bytearray | memoryview) -> int:
        data = memoryview(b).cast("B")
        done = 0
        if self.failure is None:
            try:
                while done < len(data):
                    done += pwrite_at(self._fd, data[done:], self._pos + done)  # only HDF5 moves this fd
            except OSError as exc:
                self.failure = exc
        if done < len(data) and len(data) - done <= _KEEP_BYTES:
            self._kept[self._pos + done] = bytes(data[done:])
        self._pos += len(data)
        self._size = max(self._size, self._pos)
        return len(data)

    def readinto(self, b: bytearray | memoryview) -> int:
        view = memoryview(b).cast("B")
        got = os.preadv(self._fd, [view], self._pos) if hasattr(os, "preadv") else self._pread_copy(view)
        view[got:] = bytes(len(view) - got)  # beyond the end: zeros, as HDF5's own drivers give
        for off, chunk in self._kept.items():  # writes that never reached the file
            lo, hi = max(off, self._pos), min(off + len(chunk), self._pos + len(view))
            if lo < hi:
                view[lo - self._pos:hi - self._pos] = chunk[lo - off:hi - off]
        self._pos += len(view)
        return len(view)

    def _pread_copy(self, view: memoryview) -> int:
        """Read into `view` at this position through a copy (no os.preadv: macOS before 11, Windows); the
        bytes there, which the file may end before."""
        got = 0
        while got < len(view):
            data = pread_at(self._fd, len(view) - got, self._pos + got)
            if not data:
                break
            view[got:got + len(data)] = data
            got += len(data)
        return got

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.failure is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.failure = exc
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing is buffered here (every write goes straight to the file)."""

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()
