"""tonic samples that carry frames, as `Recording`s for `EventVSRDataset` (`egvsr.render.render` takes a file
path, not an in-memory recording: write one with `egvsr.events.io.write_events` first).

Of tonic's datasets only `DAVISDATA` returns frames with timestamps; it shifts events and frames to
start at 0 separately, so pass `frame_offset_us` to restore their alignment (docs/io.md, "tonic").
`TonicRecording(events, frames, frame_times, sensor_size)` works for any such in-memory data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from egvsr.datasets.recording import Recording, as_rgb
from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.checks import INT64_MAX, INT64_MIN, as_array


class TonicRecording(Recording):
    """An in-memory recording: a tonic event array, frames (N, H, W[, C]) uint8 and their µs times."""

    layout = "tonic"
    has_events = True

    def __init__(self, events: np.ndarray, frames: np.ndarray, frame_times: np.ndarray,
                 sensor_size: tuple[int, ...], name: str = "tonic", frame_offset_us: int = 0) -> None:
        from egvsr.events.io.tonic_arrays import from_tonic

        self.stream = from_tonic(events, sensor_size)
        self.frames = as_array(frames, f"{name}: frames")
        if (self.frames.ndim not in (3, 4) or self.frames.dtype != np.uint8
                or (self.frames.ndim == 4 and self.frames.shape[3] not in (1, 3))):
            raise EventValidationError(
                f"{name}: frames: expected uint8 (N, H, W) or (N, H, W, C) with C 1 (gray) or 3 (RGB), got "
                f"{self.frames.dtype} {self.frames.shape}"
            )
        if self.frames.shape[1:3] != (self.stream.height, self.stream.width):
            raise EventValidationError(
                f"{name}: frames are {self.frames.shape[2]}x{self.frames.shape[1]} (WxH) but sensor_size is "
                f"{self.stream.width}x{self.stream.height}; frames and events must share the sensor size"
            )
        times = _integer_times(as_array(frame_times, f"{name}: frame timestamps"), name)
        if len(times) != len(self.frames):
            raise EventValidationError(f"{name}: {len(self.frames)} frames but {len(times)} frame timestamps")
        super().__init__(Path(f"<{name}>"), name, self.stream.width, self.stream.height,
                         _offset_times(times, frame_offset_us, name))
        t = self.stream.t  # validated non-decreasing: its ends are the span (as `source_event_span` reads them)
        self.event_span = (int(t[0]), int(t[-1])) if len(t) else None

    def _open_handle(self) -> Any:
        return self

    def _close_handle(self, handle: Any) -> None:
        pass

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_index(i, self.num_frames, "frame")
        return as_rgb(self.frames[i], f"{self.name}: frame {i}")

    def read_events(self, t0: int | float | None, t1: int | float | None) -> Any:
        """Events with t0 <= t < t1 µs, bounds as every `Recording` takes them (floats rounded up, NaN, str or
        bool refused naming t0 or t1; t1 = 2**63 keeps an event at 2**63 - 1)."""
        return self.stream.slice(*self._window(t0, t1))


def _integer_times(times: np.ndarray, name: str) -> np.ndarray:
    """Frame times as integers (float µs floored); a NaN, infinite or beyond-int64 float is refused by name
    (a cast would turn it into -2**63, reported as a decreasing time). Times of another shape than (N,) are
    left as they are, for the recording to refuse (a cast of their NaN would warn first)."""
    if times.dtype.kind != "f" or times.ndim != 1:
        return times
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(np.abs(times) < 2.0**63))
    if len(bad):
        i = int(bad[0])
        v = float(times[i])
        raise EventValidationError(f"{name}: frame timestamp {i} is {'NaN' if v != v else v}, expected a finite "
                                   "time in µs within the int64 range")
    return np.floor(times).astype(np.int64)


def _offset_times(times: np.ndarray, offset, name: str) -> np.ndarray:
    """`times + offset` as int64 µs; an offset that is not a whole number, or that pushes a time out of the
    int64 range (where it would wrap around), is refused naming frame_offset_us."""
    try:
        if isinstance(offset, (bool, np.bool_)) or int(offset) != offset:
            raise TypeError
        offset = int(offset)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}: frame_offset_us {offset!r}: expected a whole number of µs") from None
    t = np.asarray(times)
    if t.ndim != 1 or t.dtype.kind not in "iu" or not t.size:
        return t  # check_times refuses anything but 1-D integers
    if int(t.max()) > INT64_MAX:
        i = int(np.argmax(t))
        raise EventValidationError(f"{name}: frame timestamp {i} is {int(t[i])}, beyond the int64 µs range")
    lo, hi = int(t.min()) + offset, int(t.max()) + offset
    if not (INT64_MIN <= lo and hi <= INT64_MAX):
        raise ConfigError(f"{name}: frame_offset_us {offset} puts frame times at {lo if lo < INT64_MIN else hi} µs, "
                          f"beyond the int64 range; expected frame times plus offset within ±2**63 µs")
    return t.astype(np.int64) + np.int64(offset)


def from_davis_sample(data: tuple, sensor_size: tuple[int, ...] = (240, 180, 2), name: str = "davis",
                      frame_offset_us: int = 0) -> TonicRecording:
    """A `TonicRecording` from the data of one `tonic.datasets.DAVISDATA` sample: (events, imu, images)."""
    try:
        events, _imu, images = data
        frames, ts = images["frames"], images["ts"]
    except (TypeError, ValueError, KeyError, IndexError):
        raise EventValidationError(
            f"{name}: expected DAVISDATA's data tuple (events, imu, images) with images['frames'] and "
            "images['ts']"
        ) from None
    return TonicRecording(events, frames, ts, sensor_size, name=name, frame_offset_us=frame_offset_us)
