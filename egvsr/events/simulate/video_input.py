"""Read the input of `egvsr simulate`: a video file or a folder of frames, with their timestamps.

Folders: images sorted by name (numbers compared as numbers), or the list in `images.txt`
("t_seconds relative/path" per line, the Event Camera Dataset layout). Timestamps come from, in
order: an explicit `fps`; `images.txt`; `timestamps.txt` (seconds, one per frame); `fps.txt` (the
vid2e layout); otherwise `fps` is required. Videos: OpenCV decoding, each frame at its own time in the
video (its timestamp, counted from the first frame's), or at i / fps when `fps` is given; a frame whose time
lies within 1 ms of i / fps at the container's rate is at i / fps exactly (containers round their times).
Frames come out as uint8 (H, W, 3) RGB or (H, W, 1) gray.
"""

from __future__ import annotations

import math
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.cvfile import read_image, video_capture
from egvsr.errors import ConfigError, FormatError, InputFileError
from egvsr.events.checks import INT64_MAX, INT64_MIN, is_frame_rate
from egvsr.events.frames import SixteenBitLevel, check_frame_rate, sixteen_bit_to_uint8
from egvsr.events.io.arguments import check_path
from egvsr.events.io.ced_folder import GRAY_PNG_TYPES, png_header
from egvsr.fsutil import FolderMembers, read_utf8_text
from egvsr.native_stderr import native_messages_held, opencv_warnings_off, stderr_held
from egvsr.process import warn

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"}
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"}  # PIL modes (alpha is dropped)


def _cv2():
    import cv2

    return cv2


def _regular(path: Path, what: str) -> bool:
    """Whether `path` (links followed) is a regular file; False when nothing is there or it is a folder.
    A named pipe, device, socket or link to nothing is refused before anything opens it: reading a pipe
    blocks until someone writes, beyond the reach of signals."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise InputFileError(f"{path}: {what} is a link to nothing; expected a regular file") from None
        return False
    except OSError as exc:
        raise InputFileError(f"{path}: cannot look up {what} ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return stat.S_ISREG(mode)
    raise InputFileError(f"{path}: {what} is not a regular file (a named pipe, device or socket); "
                         "expected a regular file")


def _natural_key(p: Path):
    """Name order with digit runs compared as numbers (img2 < img10). re.split puts the runs at the odd
    places, so places hold the same type in every key (str.isdigit also takes '²', which int() refuses);
    the name itself breaks ties (img01 / img1, Img / img), so the order never depends on the listing's."""
    parts = re.split(r"(\d+)", p.name)
    return [int(s) if i % 2 else s.lower() for i, s in enumerate(parts)], p.name


@dataclass
class VideoInput:
    """An opened input: size after resizing, channel count, and per-frame times when known upfront."""

    path: Path
    kind: str  # "video" or "folder"
    width: int
    height: int
    channels: int
    fps: float | None
    timestamps_us: np.ndarray | None  # int64, folders only
    num_frames: int | None
    size: tuple[int, int] | None = None
    files: list[Path] = field(default_factory=list)
    source_size: tuple[int, int] = (0, 0)  # (height, width) before resizing
    #: whether float frames are intensities in [0, 1] (else 0..255), and the frame that decided it
    float_unit: tuple[bool, Path] | None = None
    #: how many leading frames `read` has weighed for `float_unit` (none of them decided it)
    _weighed: int = 0
    #: the white level of the folder's 16-bit frames (`SixteenBitLevel` of all their values), found
    #: when the first one is read
    full_scale16: int | None = None
    #: videos: whether frames are timed by their own timestamps (`fps` not given), else i / fps
    stated_times: bool = False

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (t_us, uint8 image (H, W, C)) in time order."""
        if self.kind == "folder":
            for i, t in enumerate(self.timestamps_us):
                yield int(t), self.read(i)
            return
        yield from self._video_frames()

    def read(self, i: int) -> np.ndarray:
        """Frame `i` of a folder as `frames` yields it, uint8 (H, W, C), whichever frame is read first: float
        frames take the scale that the first frame with a positive value decides in file order, so the earlier
        frames are weighed first while no frame has decided it (`render` reads from any frame on)."""
        path = self.files[i]
        img = _read_image(path)
        if img.dtype not in (np.uint8, np.uint16):
            while self.float_unit is None and self._weighed < i:
                earlier = self.files[self._weighed]
                self._float_factor(_read_image(earlier), earlier)
                self._weighed += 1
        if self.size is None and img.shape[:2] != self.source_size:  # the headers said otherwise
            raise InputFileError(
                f"{path}: image decodes to {img.shape[1]}x{img.shape[0]}, expected {self.source_size[1]}x"
                f"{self.source_size[0]} like the folder's first frame (its header said so)"
            )
        factor = self._float_factor(img, path)
        self._weighed += self._weighed == i  # read in order, each frame is weighed once
        if img.dtype == np.uint16 and self.full_scale16 is None:
            self.full_scale16 = self._sixteen_bit_scale(i, img)
        return self._fit(_to_rgb8(img, self.channels, factor, self.full_scale16 or 65535))

    def _sixteen_bit_scale(self, i: int, img: np.ndarray) -> int:
        """The white level of the folder's 16-bit frames, from the values of them all (frame `i` is `img`; the
        others are decoded once for it): a DAVIS APS frame stored as a 10-bit value in 16 bits reaches 1023, so
        it is scaled by 1023, as AEDAT4 frames are (docs/simulator.md), not left nearly black."""
        level = SixteenBitLevel()
        level.add(img)
        for j, other in enumerate(self.files):
            if j != i and not level.settled:
                pixels = _read_image(other)
                if pixels.dtype == np.uint16:
                    level.add(pixels)
        return level.full_scale

    def _float_factor(self, img: np.ndarray, path: Path) -> float:
        """The factor taking frame `path`'s values to 0..255. 8- and 16-bit frames: 1 (16-bit is
        rescaled by `_to_rgb8`). Float and other integer frames: one scale for the whole recording, so that
        frames do not jump in brightness: 255 when the first frame with a positive value lies in [0, 1],
        else 1; a later frame above 1 then contradicts it and is refused. NaN or infinity is refused."""
        if img.dtype in (np.uint8, np.uint16):
            return 1.0
        if img.dtype.kind == "f" and not np.isfinite(img).all():
            raise InputFileError(f"{path}: the image holds NaN or infinite values; expected finite intensities")
        top = float(img.max(initial=0))
        if self.float_unit is None:
            if top <= 0:  # 0 is 0 on either scale: the next frame decides
                return 1.0
            self.float_unit = (top <= 1.0, path)
        unit, first = self.float_unit
        if unit and top > 1.0:
            raise InputFileError(
                f"{path}: values reach {top:g}, but those of {first.name} lie in [0, 1], so this recording's "
                "float frames were read as intensities in [0, 1]; expected all frames in [0, 1] or all in 0..255"
            )
        return 255.0 if unit else 1.0

    def _video_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        with opencv_warnings_off():  # one decoding thread: FFmpeg's lines on a damaged frame come within `read`
            cap = video_capture(self.path, (_cv2().CAP_PROP_N_THREADS, 1))
        try:
            i, first, last, stated_times, damaged = 0, None, None, self.stated_times, []
            while True:
                with opencv_warnings_off(), stderr_held(into=damaged):  # FFmpeg's lines on each damaged frame
                    ok, bgr = cap.read()
                if not ok:
                    break
                if bgr.shape[:2] != self.source_size:
                    raise InputFileError(
                        f"{self.path}: frame {i} is {bgr.shape[1]}x{bgr.shape[0]}, expected "
                        f"{self.source_size[1]}x{self.source_size[0]} like the first frame"
                    )
                stated = cap.get(_cv2().CAP_PROP_POS_MSEC) if stated_times else None
                if i == 1 and stated == first:  # a reader that does not say frames' times (OpenCV's own MJPEG: 0)
                    stated_times = stated = None
                first = stated if first is None else first
                t = self._frame_time(i, None if stated is None else stated - first)
                if last is not None and t <= last:
                    raise InputFileError(
                        f"{self.path}: frame {i} is at {t / 1e3:.3f} ms by the video's timestamps, not after frame "
                        f"{i - 1} at {last / 1e3:.3f} ms; expected increasing frame times (pass --fps (fps=...) to "
                        "time the frames as i / fps instead)"
                    )
                yield t, self._fit(_to_rgb8(bgr, 3))
                i, last = i + 1, t
        finally:
            cap.release()
        if damaged:
            first_line = damaged[0].decode("utf-8", "replace").strip().splitlines()[0] if damaged[0].strip() else "?"
            warn(f"{self.path}: the decoder reported damage {len(damaged)} time(s) while reading its {i} frames "
                 f"(first: {first_line}); those frames may show it")
        if self.num_frames is not None and i < self.num_frames:
            warn(f"{self.path}: the video states {self.num_frames} frames but only its first {i} decode (a file cut "
                 f"short or damaged?); the recording holds those {i}")

    def _frame_time(self, i: int, stated_ms: float | None) -> int:
        """µs time of video frame `i`: i / fps, or its `stated_ms` (its timestamp in the video counted from the
        first frame's) where that is known and more than `VIDEO_TIME_SLACK_MS` from i / fps (a video of variable
        frame rate: a phone's, an animation's); within it, a container's rounding of a constant rate. A reader
        that gives every frame the first one's time says none: its frames are at i / fps."""
        exact = round(i * 1e6 / self.fps)
        if stated_ms is None or abs(stated_ms * 1e3 - exact) <= VIDEO_TIME_SLACK_MS * 1e3:
            return exact
        if not abs(stated_ms * 1e3) < 2.0**53:
            raise InputFileError(f"{self.path}: frame {i}'s timestamp in the video is {stated_ms!r} ms; expected a "
                                 "time within ±2**53 µs (pass --fps (fps=...) to time the frames as i / fps instead)")
        return round(stated_ms * 1e3)

    def _fit(self, img: np.ndarray) -> np.ndarray:
        if self.size is None or img.shape[:2] == self.size:
            return img
        cv2 = _cv2()
        h, w = self.size
        shrink = h < img.shape[0] or w < img.shape[1]
        out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return out.reshape(h, w, img.shape[2])


#: how far (ms) a video frame's own time may lie from i / fps and still be read as i / fps: containers that keep
#: times in whole milliseconds (Matroska, WebM) round those of a constant frame rate by up to half a millisecond
VIDEO_TIME_SLACK_MS = 1.0


def _to_rgb8(img: np.ndarray, channels: int, factor: float = 1.0, full_scale16: int = 65535) -> np.ndarray:
    """OpenCV image (gray, BGR or BGRA; 8 bit, 16 bit of white level `full_scale16`, or float and 32 bit times
    `factor`, finite) -> uint8 (H, W, channels), RGB order."""
    if img.dtype == np.uint16:
        img = sixteen_bit_to_uint8(img, full_scale16)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * factor, 0, 255).round().astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 4:
        img = img[..., :3]
    if img.shape[2] == 3:
        img = np.ascontiguousarray(img[..., ::-1])
        if channels == 1:
            from egvsr.events.simulate.luminance import LUMA

            img = np.clip(img.astype(np.float32) @ LUMA + 0.5, 0, 255).astype(np.uint8)[..., None]
    elif channels == 3:
        img = np.repeat(img, 3, axis=2)
    return img


def _read_image(path: Path) -> np.ndarray:
    """The image at `path` as OpenCV decodes it (any depth and channel count); libpng's or libtiff's
    complaints about a file it cannot decode give way to the one-line error."""
    _regular(path, "the image")
    with native_messages_held():
        img = read_image(path)
        if img is None:
            raise InputFileError(f"{path}: cannot read this image (missing, corrupt or unsupported format)")
    return img


#: the frame times of a folder `egvsr simulate` takes (its model's time is exact within +-2**53 µs); `render`
#: takes any time of the int64 µs clock (`open_video(max_time_us=...)`)
SIMULATOR_TIME_US = 2**53


def decimal_seconds_to_us(text: str) -> int | None:
    """The decimal seconds `text` (finite, as `float` reads it) in whole µs, exactly: the decimal as written
    times 10**6, rounded to the nearest µs (a tie to the even µs, as numpy rounds), in integers, so a time on
    any clock (`render` writes its timestamps.txt in exact µs, also beyond 2**53 µs) reads back as written,
    where float64 seconds hold whole µs only up to about 2**52 µs. None beyond the int64 µs range."""
    if not abs(float(text)) < 2.0**64 / 1e6:  # (screened in floats first: 1e999999 would be a huge integer)
        return None
    try:
        sign, digits, exponent = Decimal(text.strip().replace("_", "")).as_tuple()
        us = int(Decimal((sign, digits, exponent + 6)).to_integral_value(rounding=ROUND_HALF_EVEN))
    except ArithmeticError:  # an exponent beyond the decimal module's (1e-99999999999999999999): float says 0
        us = round(float(text) * 1e6)
    return us if INT64_MIN <= us <= INT64_MAX else None


def _parse_seconds(path: Path, want_path: bool) -> list[tuple[str, str | None, int]]:
    """(time in seconds, path or None, line number) per line of a time file; with `want_path` the path is the rest of
    the line after the time, so image names may hold spaces. Without it, a line holds one time and maybe a
    '#' comment: a second column ("index seconds", "start end") is refused, not read as the first.
    The time is the line's own text, as `float` reads it (`decimal_seconds_to_us` gives its exact µs)."""
    rows = []
    for no, line in enumerate(read_utf8_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        try:
            t = float(parts[0])
        except ValueError:
            t = float("nan")
        extra = len(parts) > 1 and not parts[1].startswith("#")
        if not math.isfinite(t) or (len(parts) < 2 if want_path else extra):
            expected = "'t_seconds path'" if want_path else "one time in seconds"
            raise FormatError(f"{path}, line {no}: expected {expected} per line, got {line!r}")
        rows.append((parts[0], parts[1] if want_path else None, no))
    return rows


def _check_increasing(path: Path, times: np.ndarray, lines: list[int]) -> None:
    """Refuse µs `times` that do not strictly increase, naming the file's `lines` they come from (blank and
    comment lines counted, as an editor counts them)."""
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise InputFileError(
            f"{path}: timestamps must strictly increase, but line {lines[i]} ({times[i] / 1e6:.6f} s) "
            f"does not come after line {lines[i - 1]} ({times[i - 1] / 1e6:.6f} s)"
        )


#: subfolders holding a frame folder's images when it has none itself, in the order they are tried
IMAGE_SUBFOLDERS = ("images", "imgs", "frames")

#: The name of a frame folder's image: an image suffix in any case, not hidden (a leading dot: macOS's
#: `._frame.png` copies on other file systems, editors' temporaries, as for shell patterns `*.png`); the one
#: rule for reading a folder (`_folder_images`) and for what a new file in it would be (`folder_members`).
_IMAGE_NAME = re.compile(r"(?!\.).+(" + "|".join(re.escape(x) for x in sorted(IMAGE_SUFFIXES)) + ")",
                         re.IGNORECASE | re.ASCII | re.DOTALL)


def _folder_images(folder: Path) -> list[Path]:
    """The images of a frame folder (or of its images/, imgs/ or frames/), in natural name order; an
    image name that is not a regular file (a pipe, a device, a link to nothing) is refused. Hidden names
    are no frames (`_IMAGE_NAME`)."""
    with os.scandir(folder) as entries:  # the listing's file types spare a look-up per plain file
        files = [folder / e.name for e in entries if _IMAGE_NAME.fullmatch(e.name)
                 and (e.is_file(follow_symlinks=False) or _regular(folder / e.name, "the image"))]
    if not files:
        for sub in IMAGE_SUBFOLDERS:
            if (folder / sub).is_dir():
                return _folder_images(folder / sub)
    return sorted(files, key=_natural_key)


_PIL_GUARD_LOCK = threading.Lock()


def _image_header(path: Path) -> tuple[tuple[int, int], str]:
    """((width, height), PIL mode) from an image's header, without decoding its pixels.

    PIL's decompression-bomb guard (a warning above ~89 Mpx, an error above ~179 Mpx) is off while
    the header is read: no pixels are decoded here, and the callers' own frame-size and memory
    checks decide with a one-line message whether frames that large can be used.
    """
    from PIL import Image

    with _PIL_GUARD_LOCK, warnings.catch_warnings():
        # PIL warns of a corrupt TIFF directory before it fails: the one-line error below says it all
        warnings.simplefilter("ignore")
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as im:
                size, mode, png = im.size, im.mode, im.format == "PNG"
            # PIL opens a 16-bit gray PNG with alpha as "RGBA": the PNG's colour type says gray, as for CED frames
            return size, "LA" if png and png_header(path)[3] in GRAY_PNG_TYPES and mode not in GRAY_MODES else mode
        except (OSError, ValueError) as exc:
            found = _tiff_header(path)  # a TIFF PIL cannot decode may still be one OpenCV reads
            if found is None:
                raise InputFileError(f"{path}: cannot read this image ({exc})") from None
            return found
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _tiff_header(path: Path) -> tuple[tuple[int, int], str] | None:
    """((width, height), "L" for gray or "RGB") from a TIFF's first directory, or None when it is no
    readable TIFF: for the sample formats OpenCV decodes and PIL does not open (float RGB, 64-bit float)."""
    from PIL import TiffImagePlugin

    try:
        with open(path, "rb") as f:
            head = f.read(16)
            ifd = TiffImagePlugin.ImageFileDirectory_v2(head[:16] if head[2:3] == b"\x2b" else head[:8])
            f.seek(ifd.next)
            ifd.load(f)
        width, height = int(ifd[256]), int(ifd[257])
        photometric = ifd.get(262, 1)  # 0, 1: gray (min is white / black); RGB, palette, ...: color
        if ifd.get(274, 1) in (5, 6, 7, 8):  # stored turned a quarter: OpenCV (and PIL) decode it upright
            width, height = height, width
    except Exception:  # any malformed header is "no TIFF": the caller reports PIL's reason
        return None
    return ((width, height), "L" if photometric in (0, 1) else "RGB") if width > 0 and height > 0 else None


#: what to do about a frame folder whose images differ in size, said by `open_video` unless the caller says
#: otherwise (a caller that cannot resize, such as rendering, gives its own advice)
RESIZE_ADVICE = "pass `size` to resize them all"


def _probe_sizes(files: list[Path], resized: bool, advice: str = RESIZE_ADVICE) -> tuple[int, int, int]:
    """(height, width, channels) of the first image, gray (1) when all are (headers only); mixed sizes
    raise (with `advice`) unless the frames are `resized` to one size as they are read."""
    first = None
    gray = True
    for f in files:
        size, mode = _image_header(f)
        if first is None:
            first = (size, f)
        elif size != first[0] and not resized:
            raise InputFileError(
                f"{f}: image is {size[0]}x{size[1]} but {first[1].name} is {first[0][0]}x{first[0][1]}; "
                f"all frames of a folder must have the same size ({advice})"
            )
        gray = gray and mode in GRAY_MODES
    return first[0][1], first[0][0], 1 if gray else 3


def _check_frame_rate(fps: float, count: int, source: str, stated: bool) -> None:
    """`check_frame_rate`; a rate the input `stated` (its container, fps.txt; `source` names it) is refused with
    the way round it: `fps` overrides it."""
    check_frame_rate(fps, count, source, "; pass --fps (fps=...) to give the real rate" if stated else "")


#: files of a frame folder that give its frames' times (in this order of priority, after an explicit fps)
FRAME_TIME_FILES = ("images.txt", "timestamps.txt", "fps.txt")


def states_frame_times(folder: str | Path) -> bool:
    """Whether a frame folder holds a file giving its frames' times (`FRAME_TIME_FILES`)."""
    return any((Path(folder) / name).is_file() for name in FRAME_TIME_FILES)


def _time_file(folder: Path, name: str) -> Path | None:
    """`folder / name` when it is a regular file, None when absent; refused when it is another kind."""
    path = folder / name
    return path if _regular(path, "the frame-time file") else None


def folder_members(folder: Path) -> FolderMembers:
    """The files a frame folder input reads (the images listed in images.txt, else its images, and the
    files giving their times), where a new image would be read too, and the names of the frame-time files and
    image subfolders, whose appearance would change what is read: for the output checks
    (egvsr.fsutil.refuse_inputs_as_outputs). A listing, nothing decoded."""
    times = tuple(p for p in (_time_file(folder, name) for name in FRAME_TIME_FILES) if p is not None)
    reserved = tuple(folder / name for name in FRAME_TIME_FILES + IMAGE_SUBFOLDERS)
    if (folder / "images.txt") in times:
        listed = tuple(folder / p for _, p, _ in _parse_seconds(folder / "images.txt", True))
        return FolderMembers(listed + times, reserved=reserved)
    files = _folder_images(folder)
    return FolderMembers(tuple(files) + times, tuple({folder, *(f.parent for f in files)}), _IMAGE_NAME, reserved)


def _open_folder(folder: Path, fps: float | None,
                 max_time_us: int = SIMULATOR_TIME_US) -> tuple[list[Path], np.ndarray, float | None]:
    fps_given = fps is not None
    listing = _time_file(folder, "images.txt")
    if listing is not None:
        rows = _parse_seconds(listing, want_path=True)
        files = [folder / p for _, p, _ in rows]
        missing = [f for f in files if not _regular(f, "the image")]
        if missing:
            what = "is a folder, not an image" if missing[0].is_dir() else "does not exist"
            raise InputFileError(f"{listing}: lists {missing[0]}, which {what}")
    else:
        files = _folder_images(folder)
        rows = None
        stamps = _time_file(folder, "timestamps.txt")
        if stamps is not None and fps is None:
            rows = _parse_seconds(stamps, want_path=False)
            if len(rows) != len(files):
                raise FormatError(
                    f"{stamps}: has {len(rows)} timestamps but the folder has {len(files)} images; "
                    "expected one time in seconds per frame"
                )
        elif _time_file(folder, "fps.txt") is not None and fps is None:
            text = read_utf8_text(folder / "fps.txt").strip()
            try:
                fps = float(text.split()[0])
            except (ValueError, IndexError):
                raise FormatError(f"{folder / 'fps.txt'}: expected a frame rate, got {text!r}") from None
            if not (math.isfinite(fps) and fps > 0):
                raise FormatError(f"{folder / 'fps.txt'}: expected a positive frame rate, got {text!r}")
    if not files:
        raise InputFileError(
            f"{folder}: no images found (expected .png/.jpg/... frames, in the folder or in images/)"
        )
    if fps is not None:
        source = "`fps`" if fps_given else str(folder / "fps.txt")
        _check_frame_rate(fps, len(files), source, stated=not fps_given)
        times_us = np.round(np.arange(len(files)) * (1e6 / fps)).astype(np.int64)
    elif rows is not None:
        stamps_file = listing if listing is not None else folder / "timestamps.txt"
        exact = [decimal_seconds_to_us(t) for t, _, _ in rows]
        for us, (t, _, no) in zip(exact, rows):
            if us is None or abs(us) > max_time_us:
                what = ("±2**53 µs (285 years), where the simulator's time is no longer exact" if
                        max_time_us == SIMULATOR_TIME_US else "the int64 microsecond range")
                raise FormatError(f"{stamps_file}, line {no}: time {t} s is beyond {what}; "
                                  "expected frame times in seconds")
        times_us = np.asarray(exact, np.int64)
        _check_increasing(stamps_file, times_us, [no for _, _, no in rows])
        _warn_unlikely_seconds(stamps_file, times_us / 1e6)
    else:
        raise ConfigError(
            f"{folder}: the frames have no timestamps (no images.txt, timestamps.txt or fps.txt); "
            "pass --fps (fps=...) to give their frame rate"
        )
    return files, times_us, fps


#: frames further apart than this (seconds, the median interval) are taken for times in another unit
UNLIKELY_FRAME_INTERVAL_S = 1000.0


def _warn_unlikely_seconds(stamps_file: Path, seconds: np.ndarray) -> None:
    """Warn when a time file's frames lie a median of more than `UNLIKELY_FRAME_INTERVAL_S` apart: almost surely
    µs or ns (DSEC's `timestamps.txt` holds µs) read as seconds, which puts nearly every event in the first
    frame interval, in silence when the events' clock starts near 0."""
    if len(seconds) > 1:
        gap = float(np.median(np.diff(seconds)))
        if gap > UNLIKELY_FRAME_INTERVAL_S:
            warn(f"{stamps_file}: its frames are a median {gap:g} s apart, read as seconds; if these times are "
                 "µs or ns, divide them by 1e6 or 1e9 (frame times are in seconds)")


def check_video_args(src: object, fps: object, size: object) -> tuple[Path, float | None, tuple[int, int] | None]:
    """`open_video`'s arguments as (path, fps, (H, W)), each refused in one line naming it when it is
    not a path, a positive frame rate, or a pair of positive whole sides."""
    check_path(src, "src", "a video file or frame folder path")
    if fps is not None and not is_frame_rate(fps):
        raise ConfigError(f"fps: expected a positive frame rate, got {fps!r}")
    if size is not None:
        sides = tuple(size) if isinstance(size, (tuple, list)) else ()
        if len(sides) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                      for v in sides):
            raise ConfigError(f"size: expected (height, width), two whole numbers >= 1, got {size!r}")
        size = (int(sides[0]), int(sides[1]))
    return Path(src), None if fps is None else float(fps), size


def open_video(src: str | Path, fps: float | None = None,
               size: tuple[int, int] | None = None, resize_advice: str = RESIZE_ADVICE,
               max_time_us: int = SIMULATOR_TIME_US) -> VideoInput:
    """Open a video file or frame folder; `fps` overrides stored times; `size` = (H, W) to resize to
    (frames of a folder may then differ in size: each is resized as it is read); `resize_advice`: what
    the error on a folder of mixed sizes tells to do; `max_time_us`: the largest |time| a folder's time
    file may state (the simulator's 2**53 µs by default; `INT64_MAX` for any µs clock)."""
    path, fps, size = check_video_args(src, fps, size)
    if not path.exists():
        raise InputFileError(
            f"{path}: no such file or folder (expected a video file or a folder of frames)"
        )
    if path.is_dir():
        files, times_us, fps = _open_folder(path, fps, max_time_us)
        h, w, c = _probe_sizes(files, resized=size is not None, advice=resize_advice)
        out_h, out_w = size or (h, w)
        return VideoInput(path, "folder", out_w, out_h, c, fps, times_us, len(files), size, files,
                          (h, w))
    _regular(path, "the input")
    first, rate, count = _probe_video(path)
    fps_given = fps is not None
    if fps is None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"{path}: the video does not state its frame rate; pass --fps (fps=...)")
        _check_frame_rate(float(rate), count or 1, f"{path}: its stated frame rate", stated=True)
        fps = float(rate)
    else:
        _check_frame_rate(float(fps), count or 1, "`fps`", stated=False)
    h, w = first.shape[:2]
    out_h, out_w = size or (h, w)
    return VideoInput(path, "video", out_w, out_h, 3, float(fps), None, count, size, [], (h, w),
                      stated_times=not fps_given)


def _recording_text(path: Path) -> str | None:
    """The error for an event recording (an HDF5 file or a known event layout) given where a video is read,
    which OpenCV cannot decode: simulate makes events from a video or frame folder, never from a recording's
    frames. None for any other file."""
    from egvsr.events.io.detect import sniff_layout

    layout = sniff_layout(path)
    if layout is None:
        return None
    what = "an HDF5 file" if layout == "hdf5" else f"an event recording (layout {layout!r})"
    return (f"{path}: is {what}, not a video; expected a video file (.mp4, .avi, ...) or a folder of frames "
            "(for a recording's frames: write them to a folder with a timestamps.txt of their times)")


def _probe_video(path: Path) -> tuple[np.ndarray, float, int | None]:
    """(first frame, stated frame rate, stated frame count or None) of a video file; one line when
    OpenCV cannot decode a frame (FFmpeg's own messages about it are held back)."""
    cv2 = _cv2()
    with native_messages_held():
        cap = video_capture(path)
        try:
            ok, first = cap.read() if cap.isOpened() else (False, None)
            if not ok or first is None:
                raise InputFileError(_recording_text(path) or (
                    f"{path}: cannot read this file as a video (OpenCV could not decode a frame); "
                    "expected a video file (.mp4, .avi, ...) or a folder of frames"
                ))
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)  # 0, -1 or NaN where the container does not say
            return first, cap.get(cv2.CAP_PROP_FPS), int(count) if math.isfinite(count) and count >= 1 else None
        finally:
            cap.release()
