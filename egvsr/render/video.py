"""Writing rendered frames: a PNG folder and MP4 videos (OpenCV), each built atomically.

Every writer is a context manager that writes under a temporary name and renames on a clean exit;
on an error nothing is left under the final name and an existing output is never replaced unless
`overwrite`. MP4 uses the `mp4v` fourcc; MPEG-4 needs even sides, so odd-sized frames are padded by
repeating their last row/column (PNGs always keep the exact size). Frames are encoded on one
background thread per writer (`WriterThread`), in order, at most two frames behind the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from egvsr.errors import ConfigError, MissingDependencyError
from egvsr.fsutil import atomic_directory, atomic_output, check_output_folder, check_output_path

PNG_KIND = "render --png"  # the marker of a PNG frame folder: --overwrite replaces only such a folder


def _cv2():
    import cv2

    return cv2


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> a new contiguous BGR array (what OpenCV writes)."""
    return _cv2().cvtColor(np.ascontiguousarray(rgb), _cv2().COLOR_RGB2BGR)


class WriterThread:
    """Encoding on one background thread, in submission order, at most `depth` frames pending.

    Why: PNG and MPEG-4 encoding (0.2-0.7 s per 2249x1690 frame) then overlaps the model's work on
    the next frame instead of adding to it; OpenCV releases the GIL while it encodes. Memory stays
    bounded (`depth` frames). The first error is raised in the caller, at its next call or at `close`.
    """

    def __init__(self, depth: int = 2) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.depth = max(1, int(depth))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="egvsr-writer")
        self._pending: deque = deque()

    def submit(self, fn, *args) -> None:
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def close(self, drain: bool = True) -> None:
        """Wait for every pending write (`drain`, raising the first error) or cancel them."""
        try:
            while self._pending:
                job = self._pending.popleft()
                if drain:
                    job.result()
                else:
                    job.cancel()
        finally:
            self._pool.shutdown(wait=True)


def to_uint8(img, rows: int = 128, nonfinite: Callable[[], Exception] | None = None) -> np.ndarray:
    """(3, H, W) tensor or (H, W, 3) array in [0, 1] -> uint8 (H, W, 3) RGB (rounded, clamped).

    Converted `rows` rows at a time, so a large frame needs no full-size float temporaries. With
    `nonfinite`, a NaN or infinite value raises the exception it returns (checked on the CPU copy, so
    no device sync is added) instead of turning black or white.
    """
    chw = hasattr(img, "detach")
    h, w = (img.shape[1], img.shape[2]) if chw else (img.shape[0], img.shape[1])
    out = np.empty((h, w, 3), np.uint8)
    for r0 in range(0, h, rows):
        if chw:
            block = img[:, r0:r0 + rows].detach().float().cpu().permute(1, 2, 0).numpy()
        else:
            block = np.asarray(img[r0:r0 + rows], np.float32)
        if nonfinite is not None and not np.isfinite(block).all():
            raise nonfinite()
        block = np.clip(block, 0.0, 1.0) * 255.0 + 0.5
        out[r0:r0 + rows] = block.astype(np.uint8)
    return out


def even_size(h: int, w: int) -> tuple[int, int]:
    """(h, w) rounded up to even sides, as MPEG-4 stores them."""
    return h + (h & 1), w + (w & 1)


def pad_even(img: np.ndarray) -> np.ndarray:
    """Pad an (H, W, 3) image to even sides by repeating the last row / column."""
    h, w = img.shape[:2]
    if not (h & 1 or w & 1):
        return img
    return np.pad(img, ((0, h & 1), (0, w & 1), (0, 0)), mode="edge")


def check_outputs(paths: Sequence[str | os.PathLike | None], overwrite: bool,
                  png: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, outputs that exist (unless `overwrite`), that may not be replaced
    (see egvsr.fsutil) or that repeat one another; `png` is the frame folder, `paths` the files."""
    seen: set[Path] = set()
    for p in (png, *paths):
        if p is None:
            continue
        path = Path(p).resolve()
        if path in seen:
            raise ConfigError(f"{p}: the same path is given for two outputs")
        seen.add(path)
        if p is png:
            check_output_folder(p, overwrite, PNG_KIND)
        else:
            check_output_path(p, overwrite)


def seconds_text(t_us: int) -> str:
    """Microseconds as exact decimal seconds ('12.345678'): a float loses microseconds beyond 2**53."""
    t = int(t_us)
    sign, t = ("-", -t) if t < 0 else ("", t)
    return f"{sign}{t // 1_000_000}.{t % 1_000_000:06d}"


class PngFolderWriter(contextlib.AbstractContextManager):
    """Frames as `frame_000000.png` plus `timestamps.txt` (seconds) and `render.json` in one folder."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False, meta: dict | None = None) -> None:
        self.folder = Path(folder)
        self._ctx = atomic_directory(self.folder, overwrite, PNG_KIND)
        self._tmp: Path | None = None
        self._times: list[int] = []
        self.meta = dict(meta or {})
        self._thread: WriterThread | None = None

    def __enter__(self) -> "PngFolderWriter":
        self._tmp = self._ctx.__enter__()
        self._thread = WriterThread()
        return self

    def _encode(self, rgb: np.ndarray, name: Path) -> None:
        if not _cv2().imwrite(str(name), _bgr(rgb)):
            raise ConfigError(f"{self.folder}: OpenCV could not write {name.name}")

    def write(self, rgb: np.ndarray, t_us: int) -> None:
        """Add one uint8 (H, W, 3) RGB frame taken at `t_us` (encoded on the writer thread; the
        caller must not change `rgb` afterwards)."""
        name = self._tmp / f"frame_{len(self._times):06d}.png"
        self._thread.submit(self._encode, rgb, name)
        self._times.append(int(t_us))

    def __exit__(self, exc_type, exc, tb):
        if self._thread is not None:
            try:
                self._thread.close(drain=exc_type is None)
            except BaseException as err:
                self._ctx.__exit__(type(err), err, err.__traceback__)
                raise
        if exc_type is None:
            try:
                (self._tmp / "timestamps.txt").write_text("".join(f"{seconds_text(t)}\n" for t in self._times))
                meta = {**self.meta, "frames": len(self._times), "times_us": self._times}
                (self._tmp / "render.json").write_text(json.dumps(meta, indent=1))
            except BaseException as err:
                self._ctx.__exit__(type(err), err, err.__traceback__)
                raise
        return self._ctx.__exit__(exc_type, exc, tb)


#: MP4 frame rates the mp4v writer takes (measured: 0.007 fps aborts the encoder, 0.008 writes; 65536
#: exceeds MPEG-4's time base); the lower bound keeps a margin above the smallest that writes
MIN_VIDEO_FPS, MAX_VIDEO_FPS = 0.01, 65535


def video_rate_ok(fps: float) -> bool:
    """Whether an MP4 can be written at `fps` frames per second (`MIN_VIDEO_FPS`..`MAX_VIDEO_FPS`)."""
    return MIN_VIDEO_FPS <= fps <= MAX_VIDEO_FPS


def video_rate(fps: float) -> float:
    """`fps` rounded so that MPEG-4's time base (denominator at most 65535) can hold it exactly."""
    for digits in (3, 2, 1, 0):
        r = round(float(fps), digits)
        if r > 0 and round(r * 10**digits) <= 65535:
            return r
    return float(round(fps))


class Mp4Writer(contextlib.AbstractContextManager):
    """An MP4 (mp4v) written through a temporary file, renamed into place on success."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 overwrite: bool = False) -> None:
        if not video_rate_ok(fps):  # outside it OpenCV fails (or aborts the process) at the first frame
            raise ConfigError(f"`video_fps` {fps!r}: expected a frame rate from {MIN_VIDEO_FPS:g} to {MAX_VIDEO_FPS}")
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ConfigError(f"{self.path}: expected a .mp4 file name for the video output")
        self.fps, self.size = video_rate(fps), (int(size[0]), int(size[1]))
        self._ctx = atomic_output(self.path, overwrite)
        self._tmp: Path | None = None
        self._video: Path | None = None
        self._writer = None
        self._thread: WriterThread | None = None
        self.frames = 0

    def __enter__(self) -> "Mp4Writer":
        cv2 = _cv2()
        self._tmp = self._ctx.__enter__()
        self._video = self._tmp.with_name(self._tmp.name + ".mp4")  # OpenCV picks the container by suffix
        h, w = even_size(*self.size)
        self._writer = cv2.VideoWriter(str(self._video), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not self._writer.isOpened():
            self._cleanup()
            err = MissingDependencyError(
                f"{self.path}: this OpenCV build cannot write MP4 (mp4v); write PNG frames (`png`) instead"
            )
            self._ctx.__exit__(type(err), err, None)
            raise err
        self._thread = WriterThread()
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Add one uint8 (H, W, 3) RGB frame of the declared size."""
        if rgb.shape[:2] != self.size:
            raise ConfigError(f"{self.path}: frame of {rgb.shape[:2]} differs from the video size {self.size}")
        self._thread.submit(lambda img: self._writer.write(_bgr(pad_even(img))), rgb)
        self.frames += 1

    def _cleanup(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._video is not None and self._video.exists():
            self._video.unlink()

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._thread is not None:
                thread, self._thread = self._thread, None
                thread.close(drain=exc_type is None)
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            if exc_type is None:
                if not self.frames:
                    raise ConfigError(f"{self.path}: no frames were rendered; nothing to write")
                os.replace(self._video, self._tmp)
        except BaseException as err:
            self._cleanup()
            self._ctx.__exit__(type(err), err, err.__traceback__)
            raise
        self._cleanup()
        return self._ctx.__exit__(exc_type, exc, tb)


def label_panel(img: np.ndarray, text: str, bar: int | None = None) -> np.ndarray:
    """`img` (H, W, 3) uint8 with a white caption bar above it."""
    cv2 = _cv2()
    h, w = img.shape[:2]
    bar = bar or max(14, min(40, w // 12))
    out = np.full((h + bar, w, 3), 255, np.uint8)
    out[bar:] = img
    scale = bar / 36.0
    cv2.putText(out, text, (4, int(bar * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                max(1, int(round(scale * 1.5))), cv2.LINE_AA)
    return out


def blank_panel(h: int, w: int, text: str) -> np.ndarray:
    """A gray (H, W, 3) panel saying `text` (e.g. no ground truth at this time)."""
    cv2 = _cv2()
    img = np.full((h, w, 3), 200, np.uint8)
    scale = max(0.3, w / 500.0)
    cv2.putText(img, text, (4, h // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (80, 80, 80), 1, cv2.LINE_AA)
    return img


def side_by_side(panels: Sequence[tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """Labelled panels of equal size in a row, separated by white gaps."""
    labelled = [label_panel(img, text) for text, img in panels]
    h = labelled[0].shape[0]
    sep = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, p in enumerate(labelled):
        if i:
            parts.append(sep)
        parts.append(p)
    return np.concatenate(parts, axis=1)
