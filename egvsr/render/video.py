"""Writing rendered frames: a PNG folder and MP4 videos (OpenCV), each built atomically.

Every writer is a context manager that writes under a temporary name and renames on a clean exit;
on an error nothing is left under the final name and an existing output is never replaced unless
`overwrite`. MP4 uses the `mp4v` fourcc; MPEG-4 needs even sides, so odd-sized frames are padded by
repeating their last row/column (PNGs always keep the exact size). A video whose frames are all gray is
encoded as gray (its colour planes neutral), so it reads back gray: encoded as colour, a gray frame's
channels came back up to 3/255 apart. Frames are encoded on one
background thread per writer (`WriterThread`), in order, at most two frames behind the caller.
OpenCV does not report a failed write of an MP4 frame (a full disk): the writer stops when its file
system has no space left, and a finished video is read back (`Mp4Writer.check_written`) before it
replaces anything.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from egvsr.cvfile import video_capture, video_writer, write_image
from egvsr.errors import ConfigError, MissingDependencyError, OutputError
from egvsr.fsutil import (atomic_directory, atomic_output, check_output_folder, check_output_path, check_writable,
                          output_error)
from egvsr.native_stderr import native_messages_held
from egvsr.render.disk import disk_full, no_space_error

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

    def submit(self, fn: Callable[..., object], *args: object) -> None:
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


def to_uint8(img: object, rows: int = 128, nonfinite: Callable[[], Exception] | None = None) -> np.ndarray:
    """(3, H, W) tensor or (H, W, 3) array in [0, 1] -> uint8 (H, W, 3) RGB (rounded, clamped).

    Converted `rows` rows at a time, so a large frame needs no full-size float temporaries. The rule is
    docs/render.md's, exactly: clamped to [0, 1], times 255, rounded half up, in float64, which holds the
    product and the half of any float32 value exactly (float32 would round some values just below a
    half up). With `nonfinite`, a NaN or infinite value raises the exception it returns (checked on the
    CPU copy, so no device sync is added) instead of turning black or white.
    """
    chw = hasattr(img, "detach")
    h, w = (img.shape[1], img.shape[2]) if chw else (img.shape[0], img.shape[1])
    out = np.empty((h, w, 3), np.uint8)
    for r0 in range(0, h, rows):
        if chw:
            block = img[:, r0:r0 + rows].detach().float().cpu().permute(1, 2, 0).numpy()
        else:
            block = np.asarray(img[r0:r0 + rows], np.float64)
        if nonfinite is not None and not np.isfinite(block).all():
            raise nonfinite()
        block = np.floor(np.clip(block.astype(np.float64, copy=False), 0.0, 1.0) * 255.0 + 0.5)
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


def check_mp4_name(path: str | os.PathLike, name: str | None = None) -> None:
    """Refuse a video output (the option `name`) not named `.mp4`: OpenCV picks the container by the suffix."""
    if Path(path).suffix.lower() != ".mp4":
        raise ConfigError(f"{'' if name is None else f'`{name}` '}{path}: expected a .mp4 file name for the "
                          "video output")


def check_outputs(paths: Sequence[str | os.PathLike | None], overwrite: bool,
                  png: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, outputs that exist (unless `overwrite`), that may not be replaced
    (see egvsr.fsutil), that repeat one another or whose folder cannot be written (`check_writable`);
    `png` is the frame folder, `paths` the files."""
    seen: set[Path] = set()
    for p in (png, *paths):
        if p is None:
            continue
        try:
            path = Path(p).resolve()
        except (OSError, RuntimeError):  # a link loop (RuntimeError in Python < 3.13): refused as a link below
            path = Path(os.path.abspath(p))
        if path in seen:
            raise ConfigError(f"{p}: the same path is given for two outputs")
        seen.add(path)
        if p is png:
            check_output_folder(p, overwrite, PNG_KIND)
        else:
            check_output_path(p, overwrite)
        check_writable(p)


@contextlib.contextmanager
def _native_held_when(held: bool) -> Iterator[None]:
    """FFmpeg's and libpng's own messages on descriptor 2 held while the body runs (dropped when it
    raises, whose one-line error replaces them), when `held`; else nothing changes. Held only near a
    full disk: holding takes the one descriptor 2 of the process (egvsr.events.simulate.video_input)."""
    if not held:
        yield
        return
    with native_messages_held():
        yield


def seconds_text(t_us: int) -> str:
    """Microseconds as exact decimal seconds ('12.345678'): a float loses microseconds beyond 2**53."""
    t = int(t_us)
    sign, t = ("-", -t) if t < 0 else ("", t)
    return f"{sign}{t // 1_000_000}.{t % 1_000_000:06d}"


def frame_digits(frames: int | None) -> int:
    """Digits of the PNG frame numbers: 6, or as many as the last index of `frames` takes, so that every
    name has the same width and the names sort (by name, as `ls` or a glob does) in file order."""
    return max(6, len(str(int(frames) - 1))) if frames else 6


class PngFolderWriter(contextlib.AbstractContextManager):
    """Frames as `frame_000000.png` plus `timestamps.txt` (seconds) and `render.json` in one folder.

    `frames`, the number of frames to come, widens the numbers beyond 6 digits where it takes more
    (`frame_digits`)."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False, meta: dict | None = None,
                 frames: int | None = None) -> None:
        self.folder = Path(folder)
        self.digits = frame_digits(frames)
        self._ctx = atomic_directory(self.folder, overwrite, PNG_KIND)
        self._tmp: Path | None = None
        self._times: list[int] = []
        self.meta = dict(meta or {})
        self._thread: WriterThread | None = None
        self._finished = False

    def __enter__(self) -> "PngFolderWriter":
        self._tmp = self._ctx.__enter__()
        self._thread = WriterThread()
        return self

    def _encode(self, rgb: np.ndarray, name: Path) -> None:
        need = rgb.nbytes  # a PNG frame can take its raw size: less free than that, the disk may fill
        near_full, _ = disk_full(self._tmp, 2 * need)
        with _native_held_when(near_full):  # the disk may fill: the write fails, said below
            try:
                written = write_image(name, _bgr(rgb), raise_oserror=True)
            except OSError as exc:
                raise self._write_error(name, need, exc) from None
            if not written:
                raise self._write_error(name, need)

    def _write_error(self, name: Path, need: int, exc: OSError | None = None) -> OutputError:
        """Why frame `name` could not be written: no space left (less free than the frame's raw size), the
        write's own OSError `exc` (a quota, a file size limit, a device error), or OpenCV's failure to
        encode it (it does not say why)."""
        full, free = disk_full(self._tmp, need)
        if full:
            return no_space_error(self.folder, self._tmp.parent, free, f"writing {name.name}")
        if exc is not None:
            return output_error(self.folder, exc)
        return OutputError(f"{self.folder}: OpenCV could not write {name.name}")

    def write(self, rgb: np.ndarray, t_us: int) -> None:
        """Add one uint8 (H, W, 3) RGB frame taken at `t_us` (encoded on the writer thread; the
        caller must not change `rgb` afterwards)."""
        name = self._tmp / f"frame_{len(self._times):0{self.digits}d}.png"
        self._thread.submit(self._encode, rgb, name)
        self._times.append(int(t_us))

    def finish(self) -> None:
        """Write what is still queued, and the times: all but the rename, which leaving the block does
        (a caller committing several outputs together finishes each first, then commits them at once)."""
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.close(drain=True)
        if not self._finished:
            self._write_times()
            self._finished = True

    def __exit__(self, exc_type, exc, tb):
        if self._thread is not None:
            try:
                self._thread.close(drain=exc_type is None)
            except BaseException as err:
                self._ctx.__exit__(type(err), err, err.__traceback__)
                raise
        if exc_type is None and not self._finished:
            try:
                self._write_times()
            except BaseException as err:
                self._ctx.__exit__(type(err), err, err.__traceback__)
                raise
        return self._ctx.__exit__(exc_type, exc, tb)

    def _write_times(self) -> None:
        """`timestamps.txt` and `render.json` beside the frames; a write that fails is one OutputError."""
        meta = {**self.meta, "frames": len(self._times), "times_us": self._times}
        files = {"timestamps.txt": "".join(f"{seconds_text(t)}\n" for t in self._times),
                 "render.json": json.dumps(meta, indent=1)}
        for name, text in files.items():
            try:
                (self._tmp / name).write_text(text)
            except OSError as exc:
                full, free = disk_full(self._tmp, len(text.encode()))
                if full or exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise no_space_error(self.folder, self._tmp.parent, free, f"writing {name}") from None
                raise OutputError(f"{self.folder}: cannot write {name} ({exc.strerror or exc})") from None


#: MP4 frame rates the mp4v writer takes (measured: 0.007 fps aborts the encoder, 0.008 writes; 65536
#: exceeds MPEG-4's time base); the lower bound keeps a margin above the smallest that writes
MIN_VIDEO_FPS, MAX_VIDEO_FPS = 0.01, 65535


def video_rate_ok(fps: float) -> bool:
    """Whether an MP4 can be written at `fps` frames per second (`MIN_VIDEO_FPS`..`MAX_VIDEO_FPS`)."""
    return MIN_VIDEO_FPS <= fps <= MAX_VIDEO_FPS


def video_rate(fps: float) -> float:
    """`fps` to the most decimals (3 at most, what OpenCV's writer keeps) that MPEG-4's time base holds
    exactly: the rate in lowest terms needs at most 65535 time units a second (74.998 is 37499/500 and
    is kept; 65.537 is 65537/1000, so 65.54 = 3277/50)."""
    for digits in (3, 2, 1, 0):
        r = round(float(fps), digits)
        if r > 0 and Fraction(round(r * 10**digits), 10**digits).numerator <= 65535:
            return r
    return float(round(fps))


#: the largest side of an MP4 (MPEG-4 part 2 codes a side in 13 bits; FFmpeg refuses 8192 and above)
MAX_MP4_SIDE = 8191


def check_video_size(name: str, h: int, w: int) -> None:
    """Refuse, before any work, a video output `name` (`mp4`, `side_by_side`) whose frames of h x w
    (padded to even sides) are wider or taller than MPEG-4 holds."""
    eh, ew = even_size(int(h), int(w))
    if max(eh, ew) > MAX_MP4_SIDE:
        padded = "" if (eh, ew) == (h, w) else f" ({ew}x{eh} once padded to the even sides MPEG-4 needs)"
        raise ConfigError(
            f"`{name}`: its frames of {w}x{h} pixels{padded} are wider or taller than {MAX_MP4_SIDE}, the largest "
            "side an MPEG-4 (mp4v) video holds; write PNG frames (`png`) instead, or use a smaller `scale` "
            "or an `roi`")


def is_gray(rgb: np.ndarray) -> bool:
    """Whether an (H, W, 3) image has three equal channels."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


class Mp4Writer(contextlib.AbstractContextManager):
    """An MP4 (mp4v) written through a temporary file, renamed into place on success, once it reads back
    with every frame (`check_written`).

    Gray or colour is decided by the frames: the first one gray opens a gray encoder, and a colour frame
    after gray ones re-encodes those (read back from the gray file) in colour and goes on in colour, so
    a video is gray exactly when all its frames are (those re-encoded frames lose a little quality).
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 overwrite: bool = False) -> None:
        if not video_rate_ok(fps):  # outside it OpenCV fails (or aborts the process) at the first frame
            raise ConfigError(f"`video_fps` {fps!r}: expected a frame rate from {MIN_VIDEO_FPS:g} to {MAX_VIDEO_FPS}")
        self.path = Path(path)
        check_mp4_name(self.path)
        self.fps, self.size = video_rate(fps), (int(size[0]), int(size[1]))
        self._ctx = atomic_output(self.path, overwrite)
        self._tmp: Path | None = None
        self._video: Path | None = None
        self._writer = None
        self._thread: WriterThread | None = None
        self.frames = 0
        self.gray: bool | None = None  # decided by the first frame (writer thread)
        self._encoded = 0
        self._finished = False

    def _open(self, path: Path, color: bool):
        h, w = even_size(*self.size)
        return video_writer(path, "mp4v", self.fps, (w, h), color)

    def __enter__(self) -> "Mp4Writer":
        self._tmp = self._ctx.__enter__()
        self._video = self._tmp.with_name(self._tmp.name + ".mp4")  # OpenCV picks the container by suffix
        self._writer = self._open(self._video, True)  # opened now: a build that cannot write MP4 is told early
        if not self._writer.isOpened():
            self._cleanup()
            err = MissingDependencyError(
                f"{self.path}: this OpenCV build cannot write MP4 (mp4v); write PNG frames (`png`) instead"
            )
            self._ctx.__exit__(type(err), err, None)
            raise err
        self._thread = WriterThread()
        return self

    @property
    def frame_bytes(self) -> int:
        """Bytes of one uncompressed (padded) frame: free space below this is a full disk to the writer."""
        h, w = even_size(*self.size)
        return h * w * 3

    def _encode(self, rgb: np.ndarray) -> None:
        """Write one frame (writer thread). FFmpeg reports a failed write only on stderr, so the writer
        stops with an OutputError once no space is left; its "Failed to write frame" is then dropped."""
        near_full, _ = disk_full(self._tmp, 4 * self.frame_bytes)
        with _native_held_when(near_full):
            gray = is_gray(rgb)
            if self.gray is None:
                self.gray = gray
                if gray:  # nothing written yet: the same file again, as gray
                    self._writer.release()
                    self._writer = self._open(self._video, False)
                    if not self._writer.isOpened():  # a build without gray MPEG-4: colour, as before
                        self._writer, self.gray = self._open(self._video, True), False
            elif self.gray and not gray:
                self._to_color()
            frame = pad_even(rgb)
            self._writer.write(np.ascontiguousarray(frame[..., 0]) if self.gray else _bgr(frame))
            self._encoded += 1
            full, free = disk_full(self._tmp, 1)
            if full:
                raise no_space_error(self.path, self._tmp.parent, free, "writing the video")

    def _to_color(self) -> None:
        """Go on in colour: the gray frames so far are read back and encoded again into a colour file."""
        self._writer.release()
        gray_video, self._video = self._video, self._tmp.with_name(self._tmp.name + ".color.mp4")
        self._writer, self.gray = self._open(self._video, True), False
        cap = video_capture(gray_video)
        count = 0
        try:
            while count < self._encoded:
                ok, bgr = cap.read()
                if not ok:
                    break
                self._writer.write(bgr)
                count += 1
        finally:
            cap.release()
            gray_video.unlink()
        if count != self._encoded:
            raise OutputError(f"{self.path}: the video's first {self._encoded} gray frames read back as {count} "
                              "when it turned to colour (the encoder failed); nothing was written")

    def write(self, rgb: np.ndarray) -> None:
        """Add one uint8 (H, W, 3) RGB frame of the declared size."""
        if rgb.shape[:2] != self.size:
            raise ConfigError(f"{self.path}: frame of {rgb.shape[:2]} differs from the video size {self.size}")
        self._thread.submit(self._encode, rgb)
        self.frames += 1

    def check_written(self) -> None:
        """Refuse a finished video that does not read back with every frame written (OpenCV reports no
        failed write): for want of disk space (less than one uncompressed frame free), or the encoder's."""
        cap = video_capture(self._video)
        try:
            count = int(cap.get(_cv2().CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()
        if count == self.frames:
            return
        full, free = disk_full(self._tmp, self.frame_bytes)
        if full:
            raise no_space_error(self.path, self._tmp.parent, free, "writing the video")
        if _at_file_size_limit(self._video):
            raise output_error(self.path, OSError(errno.EFBIG, os.strerror(errno.EFBIG)))
        raise OutputError(f"{self.path}: the video written reads back with {count} of its {self.frames} frames "
                          "(the encoder failed); nothing was written (an existing output is kept)")

    def _cleanup(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._video is not None and self._video.exists():
            self._video.unlink()

    def _close(self, check: bool) -> None:
        """Close the video and (`check`) read it back; near a full disk FFmpeg's messages about the
        failed close are held, and dropped with the error that replaces them."""
        near_full, _ = disk_full(self._tmp, 4 * self.frame_bytes)
        with _native_held_when(near_full):
            self._writer.release()
            self._writer = None
            if check and self.frames:
                self.check_written()

    def finish(self) -> None:
        """Encode what is still queued and close the video: all but the rename, which leaving the block
        does (a caller committing several outputs together finishes each first, then commits them at once)."""
        if self._finished:
            return
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.close(drain=True)
        if self._writer is not None:
            self._close(check=True)
        if not self.frames:
            raise ConfigError(f"{self.path}: no frames were rendered; nothing to write")
        os.replace(self._video, self._tmp)
        self._finished = True

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._thread is not None:
                thread, self._thread = self._thread, None
                thread.close(drain=exc_type is None)
            if self._writer is not None:
                self._close(check=exc_type is None)
            if exc_type is None and not self._finished:
                if not self.frames:
                    raise ConfigError(f"{self.path}: no frames were rendered; nothing to write")
                os.replace(self._video, self._tmp)
        except BaseException as err:
            self._cleanup()
            self._ctx.__exit__(type(err), err, err.__traceback__)
            raise
        self._cleanup()
        return self._ctx.__exit__(exc_type, exc, tb)


def _at_file_size_limit(path: Path) -> bool:
    """Whether `path` has grown to this process's file size limit (`ulimit -f`): a write past it failed
    (FFmpeg reports none), so the video is cut short there."""
    try:
        import resource
    except ImportError:  # no such limit (Windows)
        return False
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        return soft != resource.RLIM_INFINITY and path.stat().st_size >= soft
    except OSError:
        return False


def _bar_height(w: int) -> int:
    """Height of the caption bar above a panel `w` pixels wide."""
    return max(14, min(40, w // 12))


def side_by_side_size(h: int, w: int, panels: int, gap: int = 4) -> tuple[int, int]:
    """(H, W) of the frame `side_by_side` makes of `panels` labelled panels of h x w."""
    return int(h) + _bar_height(int(w)), int(panels) * int(w) + (int(panels) - 1) * gap


def label_panel(img: np.ndarray, text: str, bar: int | None = None) -> np.ndarray:
    """`img` (H, W, 3) uint8 with a white caption bar above it."""
    cv2 = _cv2()
    h, w = img.shape[:2]
    bar = bar or _bar_height(w)
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
