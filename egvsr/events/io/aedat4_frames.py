"""The APS frames of an AEDAT4 recording: DAVIS cameras record them in a `frame` stream beside the
events, so `render`, `eval` and `convert` can use a DV recording as it comes off the camera.

Facts relied on (docs/io.md, "AEDAT4 frames"):
- the `aedat` decoder gives each frame as a dict with `t`, `exposure_begin_t`, `exposure_end_t` (µs),
  `format` ("L" gray, "I;16" 16-bit gray, "RGB"/"RGBA" already converted from the stored BGR/BGRA),
  `width`, `height`, `offset_x`, `offset_y` and `pixels` (uint8 or uint16, (H, W[, C]));
- a frame's time here is the middle of its exposure when every frame of the stream gives a valid one (the
  convention of every frame in this toolkit: the events of the exposure lie around it), else every
  frame's `t` (one convention per stream, never a mix);
- frames of a format the decoder does not know are skipped by it with a warning: the stream is then
  unusable (a missing frame would shift every later one), and said so in one line;
- 16-bit pixels (DAVIS APS: a 10-bit ADC in a uint16) are scaled to 8 bits by the recording's bit depth,
  the smallest of 10, 12 and 16 bits that holds its largest pixel value.

Frames are kept in memory up to `CACHE_BYTES`; beyond that a frame is decoded on demand by a forward
pass that continues from the last frame read (sequential reads cost one pass in all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from egvsr.errors import FormatError
from egvsr.events.checks import first_not_increasing
from egvsr.events.frames import SixteenBitLevel, sixteen_bit_to_uint8

CACHE_BYTES = 256 << 20
_CHANNELS = {"L": 1, "I;16": 1, "RGB": 3, "RGBA": 3}


def exposure_middle(frame: dict[str, Any]) -> int | None:
    """The middle of the frame's exposure (µs), None when the decoder gives no valid exposure
    (0 <= begin <= end, end > 0)."""
    begin, end = int(frame.get("exposure_begin_t", 0)), int(frame.get("exposure_end_t", 0))
    return (begin + end) // 2 if 0 <= begin <= end and end > 0 else None


def to_uint8(pixels: np.ndarray, fmt: str, full_scale: int) -> np.ndarray:
    """(H, W, C) uint8: gray keeps one channel, alpha is dropped, 16 bits are scaled by `full_scale`."""
    img = pixels[..., :3] if fmt == "RGBA" else pixels
    if img.ndim == 2:
        img = img[..., None]
    if img.dtype != np.uint8:
        img = sixteen_bit_to_uint8(img, full_scale)
    return np.ascontiguousarray(img)


class Aedat4Frames:
    """One frame stream: times, shape and pixels gathered during the source's first decoding pass."""

    def __init__(self, path: Path, stream_id: int, packets: Callable[[], Iterator[dict]]) -> None:
        self.path, self.stream_id, self._packets = Path(path), stream_id, packets
        self._times: list[int] | np.ndarray = []  # int64 array from `finish` on
        self._middles: list[int | None] = []
        self._format: str | None = None
        self._raw: list[np.ndarray] | None = []  # pixels (every frame has `_format`)
        self._raw_bytes = 0
        self._shape: tuple[int, int, int] | None = None
        self._problem: str | None = None
        self._level16 = SixteenBitLevel()
        self._cursor: tuple[int, Iterator[dict]] | None = None
        self.full_scale = 255

    def add(self, frame: dict[str, Any]) -> None:
        """Record one decoded frame (first pass); a problem is kept and raised when frames are used."""
        if self._problem is not None:
            return
        fmt, pixels = frame.get("format"), frame.get("pixels")
        if self._format is not None and fmt != self._format:
            self._problem = f"frame {len(self._times)} has the format {fmt!r}, frame 0 {self._format!r} (mixed formats)"
            return
        self._format = fmt
        if fmt not in _CHANNELS or not isinstance(pixels, np.ndarray):
            self._problem = f"frame {len(self._times)} has the unsupported format {fmt!r} (expected gray, RGB or RGBA)"
            return
        shape = (int(pixels.shape[0]), int(pixels.shape[1]), _CHANNELS[fmt])
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            self._problem = (f"frame {len(self._times)} is {shape[1]}x{shape[0]} with {shape[2]} channel(s), "
                             f"frame 0 {self._shape[1]}x{self._shape[0]} with {self._shape[2]}")
            return
        if pixels.dtype == np.uint16:
            self._level16.add(pixels)
        self._times.append(int(frame["t"]))
        self._middles.append(exposure_middle(frame))
        if self._raw is not None:
            self._raw_bytes += pixels.nbytes
            if self._raw_bytes > CACHE_BYTES:
                self._raw = None
            else:
                self._raw.append(pixels)

    def skipped_unknown(self, message: str) -> None:
        """The decoder skipped a frame of a format it does not know (its warning `message`)."""
        if self._problem is None:
            self._problem = (f"the decoder skipped frame {len(self._times)}: {message.split(';')[0]} "
                             "(expected gray, 16-bit gray, BGR or BGRA)")

    def undecodable(self, message: str) -> None:
        """The decoder failed on a frame packet (`message`, e.g. pixels that do not fill the declared
        size); it goes on with the next packet, so the events stay readable but the frames are not."""
        if self._problem is None:
            self._problem = f"the decoder could not read frame {len(self._times)} ({message})"

    def finish(self, width: int, height: int) -> None:
        """Checks that need every frame: size against the events' sensor, strictly increasing times."""
        use_middles = self._middles and all(m is not None for m in self._middles)
        self._times = np.asarray(self._middles if use_middles else self._times, np.int64)
        self.full_scale = self._level16.full_scale
        if self._problem is not None or self._shape is None:
            return
        if self._shape[:2] != (height, width):
            self._problem = (f"its frames are {self._shape[1]}x{self._shape[0]} but its events "
                             f"{width}x{height} (frames and events must share the sensor size)")
            return
        t = self._times
        i = first_not_increasing(t)
        if i >= 0:
            self._problem = (f"frame {i} is at {t[i]} µs, not after frame {i - 1} at {t[i - 1]} µs "
                             "(frame times must increase)")

    def times(self) -> np.ndarray | None:
        """Frame times (int64 µs, strictly increasing), None when the stream has no frame."""
        if self._problem is not None:
            raise FormatError(f"{self.path}: AEDAT4 frame stream {self.stream_id}: {self._problem}")
        return self._times.copy() if len(self._times) else None  # a copy: callers may change theirs

    def shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) every frame has, as gathered by the first pass (`times` refuses a stream it cannot
        use), None when the stream has no frame."""
        return self._shape if self.times() is not None else None

    def read(self, i: int) -> np.ndarray:
        """Frame `i` (a valid index) as uint8 (H, W, C)."""
        pixels = self._raw[i] if self._raw is not None else self._decode_frame(i)["pixels"]
        return to_uint8(pixels, self._format, self.full_scale)

    def _decode_frame(self, i: int) -> dict[str, Any]:
        """Frame `i` by a forward pass, continuing from the last frame read when it lies ahead."""
        if self._cursor is None or self._cursor[0] > i:
            self._cursor = (0, self._packets())
        index, packets = self._cursor
        for frame in packets:
            index += 1
            if index - 1 == i:
                self._cursor = (index, packets)
                return frame
        raise FormatError(f"{self.path}: AEDAT4 frame {i} is no longer in the file (was it changed while open?)")
