"""Reader for EGVSR's CED folders (yunfanLu/INR-Event-VSR extraction; docs/io.md, Supported layouts).

A folder of `<ros_ns>.png` colour frames and `<ros_ns>.npy` event packets, each an (N, 4) float64
array of `[t_ns, x, y, p]` with p in {0, 1}; names are integer nanoseconds and sort into one
timeline. Opening reads only each packet's .npy header (no file stays open); a window read is
found by bisection and reads only the rows it needs. Sensor size: the first PNG's shape, else the
DAVIS346's 260x346 that CED uses, unless `sensor_size` says otherwise.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np

from egvsr.cvfile import read_image
from egvsr.errors import EventValidationError, FormatError, InputFileError, MissingDependencyError
from egvsr.events.io.declaration import Layout
from egvsr.events.io.source import EventSource, with_channels
from egvsr.fsutil import FolderMembers, listed_members

CED_SENSOR_SIZE = (260, 346)  # (H, W) of the Color DAVIS346
_NAME = re.compile(r"^(\d+)\.(npy|png)$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: signature, IHDR length and tag, then width, height (big-endian), bit depth and colour type
_PNG_HEAD = struct.Struct(">8sI4sIIBB")


def _listing(folder: Path) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    packets, frames = [], []
    with os.scandir(folder) as entries:  # the listing's file types spare a look-up per plain file
        for entry in entries:
            m = _NAME.match(entry.name)
            if m and entry.is_file():
                (packets if m.group(2) == "npy" else frames).append((int(m.group(1)), folder / entry.name))
    return sorted(packets), sorted(frames)


def input_members(folder: Path) -> list[FolderMembers]:
    """What a CED folder input `folder` reads (none when it is no such folder), as the `members` of
    `egvsr.fsutil.refuse_inputs_as_outputs` for the commands reading any event recording."""
    return listed_members(folder, folder_members)


def folder_members(folder: Path) -> FolderMembers:
    """The packets and frames this reader takes from `folder` (links followed), and the names it would
    take from a new file there: for the output checks (egvsr.fsutil.refuse_inputs_as_outputs)."""
    packets, frames = _listing(folder)
    return FolderMembers(tuple(p for _, p in packets + frames), (folder,), _NAME)


def matches(folder: Path) -> bool:
    """A folder with at least one `<ns>.npy` packet or `<ns>.png` frame."""
    packets, frames = _listing(folder)
    return bool(packets or frames)


class _Packet:
    """Where one .npy packet's rows lie on disk; rows are read on demand, never kept open."""

    def __init__(self, path: Path, rows: int, offset: int, dtype: np.dtype, fortran: bool) -> None:
        self.path, self.rows, self.offset, self.dtype, self.fortran = path, rows, offset, dtype, fortran

    def rows_slice(self, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) as an (hi - lo, 4) array."""
        try:
            if self.fortran:  # column-major: rare; load the whole packet
                return np.load(self.path, allow_pickle=False)[lo:hi]
            width = 4 * self.dtype.itemsize
            data = np.fromfile(
                self.path, self.dtype, count=(hi - lo) * 4, offset=self.offset + lo * width
            )
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{self.path}: read failed ({exc})") from None
        if data.size != (hi - lo) * 4:
            raise InputFileError(f"{self.path}: packet is truncated")
        return data.reshape(hi - lo, 4)


#: PNG colour types of gray frames: gray, and gray with alpha (dropped), as a frame folder's gray frames are
GRAY_PNG_TYPES = (0, 4)


def png_shape(path: Path) -> tuple[int, int, int]:
    """(H, W, C) of PNG frame `path` as `read_frame_path` returns it, from its header alone: a frame
    declared far larger than memory is sized without being decoded (C: 1 for gray, with or without alpha,
    else 3)."""
    height, width, _, colour = png_header(path)
    return height, width, 1 if colour in GRAY_PNG_TYPES else 3


def png_header(path: Path) -> tuple[int, int, int, int]:
    """(height, width, bit depth, colour type) from PNG `path`'s header (IHDR), nothing decoded."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_PNG_HEAD.size)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read this PNG frame ({exc.strerror or exc})") from None
    if len(head) < _PNG_HEAD.size or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputFileError(f"{path}: not a readable PNG frame (no PNG header)")
    width, height, depth, colour = _PNG_HEAD.unpack(head)[3:7]
    return int(height), int(width), int(depth), int(colour)


def _pixel_or_minus_one(v: np.ndarray) -> np.ndarray:
    """Float coordinates as int64, each one that is not a whole number (fractional, NaN, infinite,
    beyond +-2**62) as -1: outside any sensor."""
    with np.errstate(invalid="ignore"):
        ok = (np.abs(v) < 2.0**62) & (v == np.floor(v))
    return np.where(ok, v, -1).astype(np.int64)


def ns_to_us(t_ns: np.ndarray) -> np.ndarray:
    """float64 nanoseconds (|t| < 2**63) -> int64 µs, floored (ns // 1000) as the frames' names are
    (`frame_times`): one rule for both, so an event before a frame never lands at or after it. Each float is
    read to its own precision: one within half its spacing below a whole µs is that µs (a unix-clock 1.5e18 ns
    is held to 256 ns, so a camera's whole µs times 1000 often lands just below it). Computed exactly: with the
    division's remainder below 2**52 ns, in integers above (where every float is one)."""
    t = np.asarray(t_ns, np.float64)
    half = np.spacing(np.abs(t)) / 2
    big = np.abs(t) >= 2.0**52
    if big.all():  # the usual unix-clock stamps: integers only
        return _floor_us(t, half)
    q, r = np.divmod(t, 1000.0)
    out = (q + (r + half >= 1000.0)).astype(np.int64)
    out[big] = _floor_us(t[big], half[big])
    return out


def _floor_us(t: np.ndarray, half: np.ndarray) -> np.ndarray:
    """`ns_to_us` of floats that are whole numbers (|t| >= 2**52), in int64 arithmetic."""
    return (t.astype(np.int64) + half.astype(np.int64)) // 1000


class CedFolderSource(EventSource):
    """An open CED folder."""

    layout = "ced"
    keys = {"x": "column 1 (x)", "y": "column 2 (y)", "t": "column 0 (t_ns)", "p": "column 3 (p)"}

    def __init__(self, folder: Path, sensor_size: tuple[int, int] | None = None) -> None:
        packets, frames = _listing(folder)
        self._packets = [self._load(path) for _, path in packets]
        counts = [pk.rows for pk in self._packets]
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self._frames = frames
        self._any_colour: bool | None = None  # whether any PNG declares colour (`frame_shape`)
        if sensor_size is None:
            sensor_size = png_shape(frames[0][1])[:2] if frames else CED_SENSOR_SIZE
        super().__init__(folder, sensor_size[1], sensor_size[0], int(self._offsets[-1]))
        self.keys = {k: f"packets' {v}" for k, v in type(self).keys.items()}

    @staticmethod
    def _load(path: Path) -> "_Packet":
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f".npy format version {version} (expected 1.0 or 2.0)")
                offset = fh.tell()
        except Exception as exc:  # noqa: BLE001 - numpy's header parser (ast) raises many types on damage
            raise InputFileError(
                f"{path}: not a readable .npy event packet ({type(exc).__name__}: {exc})"
            ) from None
        if 0 in shape:  # empty (not np.prod: (2**62, 4) wraps to 0 in int64 and a damaged count read as empty)
            return _Packet(path, 0, offset, np.dtype(np.float64), False)
        if len(shape) != 2 or shape[1] != 4 or dtype.kind not in "fiu":
            raise FormatError(
                f"{path}: packet has shape {shape} dtype {dtype}, expected (N, 4) float64 "
                "rows of [t_ns, x, y, p]"
            )
        if path.stat().st_size < offset + shape[0] * 4 * dtype.itemsize:
            raise InputFileError(f"{path}: packet is truncated (expected {shape[0]} rows)")
        return _Packet(path, int(shape[0]), offset, dtype, bool(fortran))

    # ---- events -------------------------------------------------------------------------------
    def _columns(self, i0: int, i1: int, cols) -> np.ndarray:
        """Rows [i0, i1) of the virtual concatenation of all packets, only the given columns."""
        if i1 <= i0:
            return np.zeros((0, len(cols)), np.float64)
        a = int(np.searchsorted(self._offsets, i0, side="right")) - 1
        b = int(np.searchsorted(self._offsets, i1, side="left"))
        parts = []
        for j in range(a, b):
            lo = max(i0 - int(self._offsets[j]), 0)
            hi = min(i1 - int(self._offsets[j]), self._packets[j].rows)
            if hi > lo:
                parts.append(self._packets[j].rows_slice(lo, hi)[:, cols].astype(np.float64))
        return np.concatenate(parts) if parts else np.zeros((0, len(cols)), np.float64)

    def _times(self, t_ns: np.ndarray, i0: int) -> np.ndarray:
        """Column 0 (float ns) as int64 µs; NaN, infinite or out-of-range stamps name the event."""
        with np.errstate(invalid="ignore"):
            ok = np.abs(t_ns) < 2.0**63  # int64 µs range, with room: NaN compares False
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise EventValidationError(
                f"{self.path}: {self.keys['t']} of event {i0 + bad} is {float(t_ns[bad])!r}, expected a "
                "finite time in nanoseconds"
            )
        return ns_to_us(t_ns)

    def _read_t(self, i0, i1):
        return self._times(self._columns(i0, i1, [0])[:, 0], i0)

    def _read_p(self, i0, i1):
        return self._signed_polarity(self._columns(i0, i1, [3])[:, 0], "01f", i0)

    def _read_arrays(self, i0, i1):
        rows = self._columns(i0, i1, [0, 1, 2, 3])
        x = self._coords(rows[:, 1], "x", self.width, i0)
        y = self._coords(rows[:, 2], "y", self.height, i0)
        return x, y, self._times(rows[:, 0], i0), self._signed_polarity(rows[:, 3], "01f", i0)

    def _read_raw(self, i0, i1):
        """As `_read_arrays`, but x and y unchecked: int64, a non-integral or non-finite one as -1 (for
        `info`, which counts coordinates outside the sensor instead of stopping at the first)."""
        rows = self._columns(i0, i1, [0, 1, 2, 3])
        x, y = (_pixel_or_minus_one(rows[:, k]) for k in (1, 2))
        return x, y, self._times(rows[:, 0], i0), self._signed_polarity(rows[:, 3], "01f", i0)

    def _coords(self, v: np.ndarray, name: str, limit: int, i0: int) -> np.ndarray:
        ok = (v >= 0) & (v < limit) & (v == np.floor(v))  # also rejects NaN
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise EventValidationError(
                f"{self.path}: {self.keys[name]} of event {i0 + bad} is {float(v[bad])!r}, expected an "
                f"integer pixel 0 <= {name} < {limit} of the {self.width}x{self.height} sensor"
            )
        return v.astype(np.uint16)

    def _signed_polarity(self, p, encoding, i0):
        if encoding != "01f":
            return super()._signed_polarity(p, encoding, i0)
        ok = (p == 0) | (p == 1)
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise EventValidationError(
                f"{self.path}: {self.keys['p']} of event {i0 + bad} is {float(p[bad])!r}, expected 0 or 1"
            )
        return (p.astype(np.int8) * 2 - 1).astype(np.int8)

    # ---- frames -------------------------------------------------------------------------------
    def frame_times(self) -> np.ndarray | None:
        """Each PNG's name (ns) // 1000 as int64 µs (events are floored alike: `ns_to_us`); a name beyond the
        int64 µs range, or two PNGs in one µs (`0.png` and `1.png`, `0123.png` and `123.png`), make the frames
        unusable (`FormatError`)."""
        if not self._frames:
            return None
        for ns, path in self._frames:
            if ns // 1000 >= 2**63:
                raise FormatError(
                    f"{self.path}: frame '{path.name}' is named {ns} ns, beyond the int64 microsecond range; "
                    "expected the frame's time in nanoseconds"
                )
        t = np.array([ns // 1000 for ns, _ in self._frames], np.int64)
        same = np.flatnonzero(np.diff(t) <= 0)
        if same.size:
            i = int(same[0]) + 1
            raise FormatError(
                f"{self.path}: frame times must strictly increase; '{self._frames[i - 1][1].name}' and "
                f"'{self._frames[i][1].name}' are both at {int(t[i])} µs (a frame's time is its name in ns // 1000)"
            )
        return t

    def frame_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of every frame as read, from the PNG headers: C is 3 when any PNG declares colour (a
        gray one among them is then given 3 equal channels), so one recording has one channel count. Every
        header is read on the first call, so a PNG of more than 8 bits, or of another size than the first,
        makes the frames unusable here (and in `info`) rather than when that frame is reached."""
        if not self._frames:
            return None
        h, w, c = png_shape(self._frames[0][1])
        if self._any_colour is None:
            self._any_colour = self._scan_headers((h, w))
        return h, w, 3 if self._any_colour else c

    def _scan_headers(self, size: tuple[int, int]) -> bool:
        """Whether any PNG declares colour; a PNG of more than 8 bits per sample (the readers give 8-bit
        frames) or whose size is not the first PNG's `size` (one recording has one frame size) is refused.
        An unreadable header is left to be refused when its frame is read."""
        colour = False
        for _, path in self._frames:
            try:
                h, w, depth, kind = png_header(path)
            except InputFileError:
                continue
            if depth > 8:
                raise FormatError(f"{path}: frame is {depth}-bit (its PNG header says so), expected 8-bit frames")
            if (h, w) != size:
                raise FormatError(
                    f"{self.path}: frame '{path.name}' is {w}x{h}, but the first frame '{self._frames[0][1].name}' "
                    f"is {size[1]}x{size[0]}; all frames of a recording must have one size")
            colour |= kind not in GRAY_PNG_TYPES
        return colour

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_frame_index(i, len(self._frames), "frame")
        path = self._frames[i][1]
        h, w, _ = png_shape(path)  # checked before decoding: a PNG may declare any size
        if (h, w) != (self.height, self.width):
            raise FormatError(f"{path}: frame is {w}x{h}, expected the sensor size {self.width}x{self.height}")
        return with_channels(self.read_frame_path(path), self.frame_shape()[2])

    @staticmethod
    def read_frame_path(path: Path) -> np.ndarray:
        """A PNG as uint8 (H, W, C) RGB or gray (cv2 loads BGR; converted here; gray with alpha, which cv2
        loads as BGRA, stays gray)."""
        try:
            import cv2  # noqa: F401 - OpenCV decodes the frames (egvsr.cvfile)
        except ImportError:
            raise MissingDependencyError(
                f"{path}: reading CED frames needs OpenCV: pip install opencv-python-headless"
            ) from None
        img = read_image(path)
        if img is None:
            raise InputFileError(f"{path}: not a readable PNG frame")
        if img.dtype != np.uint8:
            raise FormatError(f"{path}: frame is {img.dtype}, expected 8-bit")
        if img.ndim == 2:
            return img[..., None]
        if png_header(path)[3] in GRAY_PNG_TYPES:
            return np.ascontiguousarray(img[..., :1])
        if img.shape[2] == 4:
            img = img[..., :3]
        return np.ascontiguousarray(img[..., ::-1])


LAYOUT = Layout(
    "ced", "EGVSR CED folder (<ns>.npy packets of [t_ns, x, y, p] and <ns>.png frames)",
    sniff=matches, open=CedFolderSource, looks_at="folder",
)
