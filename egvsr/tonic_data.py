"""tonic samples that carry frames, as `Recording`s (for `EventVSRDataset` and `egvsr render`'s Python API).

Of tonic's datasets only `DAVISDATA` returns frames with timestamps; it shifts events and frames to
start at 0 separately, so pass `frame_offset_us` to restore their alignment (docs/io.md, "tonic").
`TonicRecording(events, frames, frame_times, sensor_size)` works for any such in-memory data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from egvsr.datasets.recording import Recording, as_rgb
from egvsr.errors import EventValidationError


class TonicRecording(Recording):
    """An in-memory recording: a tonic event array, frames (N, H, W[, C]) uint8 and their µs times."""

    layout = "tonic"
    has_events = True

    def __init__(self, events: np.ndarray, frames: np.ndarray, frame_times: np.ndarray,
                 sensor_size: tuple[int, ...], name: str = "tonic", frame_offset_us: int = 0) -> None:
        from egvsr.events.io.tonic_arrays import from_tonic

        self.stream = from_tonic(events, sensor_size)
        self.frames = np.asarray(frames)
        if self.frames.ndim not in (3, 4) or self.frames.dtype != np.uint8:
            raise EventValidationError(
                f"{name}: frames: expected uint8 (N, H, W) or (N, H, W, C), got {self.frames.dtype} {self.frames.shape}"
            )
        if self.frames.shape[1:3] != (self.stream.height, self.stream.width):
            raise EventValidationError(
                f"{name}: frames are {self.frames.shape[2]}x{self.frames.shape[1]} (WxH) but sensor_size is "
                f"{self.stream.width}x{self.stream.height}; frames and events must share the sensor size"
            )
        times = np.asarray(frame_times)
        if times.dtype.kind == "f":
            times = np.floor(times).astype(np.int64)
        if len(times) != len(self.frames):
            raise EventValidationError(f"{name}: {len(self.frames)} frames but {len(times)} frame timestamps")
        super().__init__(Path(f"<{name}>"), name, self.stream.width, self.stream.height,
                         times.astype(np.int64) + int(frame_offset_us))

    def _open_handle(self) -> Any:
        return self

    def _close_handle(self, handle: Any) -> None:
        pass

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_index(i, self.num_frames, "frame")
        return as_rgb(self.frames[i], f"{self.name}: frame {i}")

    def read_events(self, t0: int, t1: int):
        return self.stream.slice(int(t0), int(t1))


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
