"""`Frames`: intensity frames with strictly increasing int64 µs timestamps.

Images are uint8, shape (N, H, W, C) with C = 1 (gray) or 3 (RGB order, never BGR in memory).
Here too: the memory estimate of input frames (`frames_memory_bytes`, `check_frames_memory`) that
datasets, `render` and `convert` check before a frame is decoded (a file may declare frames of any size),
and the one rule for times between frames (`interval_points`) that the ground truth of `make_sample` and
the in-between times of `render --fps-factor` share, so that they meet.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from egvsr.errors import ConfigError, EventValidationError, InputFileError
from egvsr.events.checks import as_array, check_increasing_times, int64_times
from egvsr.fsutil import fmt_size


def source_event_span(src: Any) -> tuple[int, int] | None:
    """(first, last) event time in µs of an open `EventSource` (its two ends only), None when it has none."""
    return None if src.num_events == 0 else (int(src.t_first), int(src.t_last))


def events_outside_frames(events_path: os.PathLike | str, event_span: tuple[int, int] | None,
                          frame_times: np.ndarray,
                          frames_path: os.PathLike | str | None = None) -> str | None:
    """A one-line notice when every event tensor of a recording with raw events would be zero: it holds no
    events (`event_span` None), or none within its frames' span [first frame, last frame) (`event_span`: the
    first and last event times, µs), almost surely events and frames on different clocks. None otherwise.
    `frames_path` names the frames' file when it is not the events' (render, eval and voxelize print the
    same line)."""
    if frame_times is None or len(frame_times) < 2:
        return None
    if event_span is None:
        return (f"{events_path}: holds no events, so the event tensors will be zero and the model renders "
                "what it renders from the frames alone")
    (e0, e1), f0, f1 = event_span, int(frame_times[0]), int(frame_times[-1])
    if f0 <= e1 and e0 < f1:
        return None
    frames = "" if frames_path is None or str(frames_path) == str(events_path) else f" in {frames_path}"
    return (f"{events_path}: no event falls within the frames' span (events {e0}..{e1} µs, frames{frames} "
            f"{f0}..{f1} µs), so the event tensors will be zero; are the clocks of events and frames aligned?")


@dataclass(frozen=True, eq=False)
class Frames:
    """N frames (uint8, N×H×W×C, RGB or gray) and their timestamps (int64 µs, strictly increasing)."""

    images: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        images = as_array(self.images, "frames.images")
        t = as_array(self.t, "frames.t")
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise EventValidationError(
                f"frames.images: expected shape (N, H, W, C) with C 1 or 3, got {images.shape}"
            )
        if images.dtype != np.uint8:
            raise EventValidationError(f"frames.images: expected uint8, got dtype {images.dtype}")
        if t.ndim != 1 or t.shape[0] != images.shape[0]:
            raise EventValidationError(
                f"frames.t: expected {images.shape[0]} timestamps, got shape {t.shape}"
            )
        if t.dtype.kind not in "iu":
            raise EventValidationError(
                f"frames.t: expected integer microseconds (int64), got dtype {t.dtype}"
            )
        t = int64_times(t, "frames.t")
        check_increasing_times(t, "frames.t")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "t", t)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.images.shape[2])

    @property
    def channels(self) -> int:
        """Colour channels: 3 (RGB) or 1 (gray)."""
        return int(self.images.shape[3])


def _interval_split(frame_times: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(floor, remainder), each (intervals, n - 1): t_k + floor(i·d_k / n) and i·d_k mod n for i = 1..n-1,
    d_k = t_{k+1} - t_k, in exact integers (Python integers where i·d_k would not fit int64)."""
    t = np.asarray(frame_times, np.int64)
    i = np.arange(1, int(n), dtype=np.int64)
    # d_k or i·d_k would overflow int64 (frames more than 2**63 µs apart wrap `np.diff` negative): the
    # span of all the times bounds every |d_k|, and Python integers hold any product
    if len(t) > 1 and int(t.max()) - int(t.min()) >= (2**62) // int(n):
        t, i = t.astype(object), i.astype(object)
    d = np.diff(t)
    num = d[:, None] * i[None, :]
    return t[:-1, None] + num // int(n), num % int(n)


def interval_points(frame_times: np.ndarray, n: int) -> np.ndarray:
    """(intervals, n - 1) int64 µs: the i/n points (i = 1..n-1) of each interval between consecutive
    `frame_times`, the exact t_k + i·(t_{k+1} - t_k)/n rounded to the nearest µs, a tie to the even µs.

    The one rule for `make_sample`'s ground truth and `render`'s in-between times (they must meet), in
    integer arithmetic: exact on any clock and for any frame rate. Ties to even is numpy's rounding, which
    make-sample applied in float before, so it writes the times it wrote, except where float error had
    moved a tie (n not a power of two, e.g. 13 fps with 13 ground-truth frames per interval) by 1 µs.
    """
    n = int(n)
    if n < 2:
        return np.zeros((max(len(frame_times) - 1, 0), 0), np.int64)
    floor, r = _interval_split(frame_times, n)
    up = (2 * r > n) | ((2 * r == n) & (floor % 2 != 0))
    return (floor + up).astype(np.int64)


def interval_bounds(frame_times: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(floor, ceil) int64 µs of the exact i/n points of `interval_points`: a point rounded either way.
    `render` takes a stored ground-truth time at the other one (a file written by an older rule)."""
    floor, r = _interval_split(frame_times, max(int(n), 1))
    return floor.astype(np.int64), (floor + (r != 0)).astype(np.int64)


def check_frame_rate(fps: float, count: int, source: str, advice: str = "") -> None:
    """Frame times i / fps (a layout or folder that stores none) must be whole, distinct microseconds within
    ±2**53 µs: at most 1,000,000 fps, and `count` frames within 2**53 µs. A `ConfigError` names `source` (what
    gave the rate) and ends with `advice`."""
    if fps > 1e6:
        raise ConfigError(f"{source} {fps!r}: expected at most 1,000,000 frames per second "
                          f"(frame times are whole microseconds){advice}")
    if (count - 1) * (1e6 / fps) >= 2.0**53:
        raise ConfigError(f"{source} {fps!r}: {count} frames at this rate last beyond 2**53 µs (285 years); "
                          f"expected a frame rate in frames per second{advice}")


#: the bit depths of 16-bit frames, smallest first: a DAVIS APS frame is a 10-bit ADC value in a uint16, other
#: sensors give 12 bits, and a full 16-bit image uses them all
SIXTEEN_BIT_DEPTHS = (10, 12, 16)


#: how many distinct values (all multiples of 16) tell 16-bit frames shifted to the top of the word from right-aligned
#: ones that happen to be multiples of 16 (a uniform 10-bit test frame of 512, a few levels << 2): a real image
#: has noise
SHIFTED_LEVELS = 8


class SixteenBitLevel:
    """The white level of a recording's 16-bit frames, from all their values (`add` each frame): 2**b - 1 for
    the smallest b of `SIXTEEN_BIT_DEPTHS` that holds the largest value, so a 10-bit DAVIS frame stored as its
    ADC value is scaled by 1023 (read as 16 bits it would be nearly black, at most 4 of 255); but 65535 where
    every value is a multiple of 16 and at least `SHIFTED_LEVELS` distinct values occur: values shifted to the
    top of the 16 bits (libcaer's DAVIS frames, ROS `mono16`: the 10-bit value << 6), which a dark recording
    keeps below 4096. One level for the whole recording, so brightness never jumps between frames."""

    def __init__(self) -> None:
        self.largest = 0
        self.bits = 0  # every value OR-ed together
        self._shifted: set[int] = set()  # distinct values while all are multiples of 16 (up to SHIFTED_LEVELS)

    def add(self, pixels: np.ndarray) -> None:
        """Take one 16-bit frame's values into account."""
        a = np.asarray(pixels)
        if not a.size:
            return
        self.largest = max(self.largest, int(a.max()))
        self.bits |= int(np.bitwise_or.reduce(a, axis=None))
        if self.bits & 0xF:
            self._shifted.clear()
        elif len(self._shifted) < SHIFTED_LEVELS:
            self._shifted.update(np.unique(a).tolist())

    @property
    def settled(self) -> bool:
        """Whether more frames can no longer change `full_scale` (a value needs all 16 bits)."""
        return self.largest >= 2**SIXTEEN_BIT_DEPTHS[-2]

    @property
    def full_scale(self) -> int:
        """The white level of the frames added so far (1023 for none, or all zero)."""
        if len(self._shifted) >= SHIFTED_LEVELS:
            return 2**SIXTEEN_BIT_DEPTHS[-1] - 1
        return next(2**b - 1 for b in SIXTEEN_BIT_DEPTHS if self.largest < 2**b or b == SIXTEEN_BIT_DEPTHS[-1])


def sixteen_bit_to_uint8(pixels: np.ndarray, full_scale: int) -> np.ndarray:
    """uint16 `pixels` as uint8: v * 255 / `full_scale` rounded to the nearest level (exact integers; no value
    lies halfway for the levels of `SixteenBitLevel`), clipped at 255; looked up in a table, so no temporary
    larger than the result is made (a frame may be as large as memory allows)."""
    return _sixteen_bit_table(int(full_scale))[np.asarray(pixels).astype(np.uint16, copy=False)]


@functools.lru_cache(maxsize=4)
def _sixteen_bit_table(full: int) -> np.ndarray:
    v = np.arange(2**16, dtype=np.int64)
    table = np.minimum((v * 255 + full // 2) // full, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


#: bytes per pixel of an input frame as decoded: uint8 RGB, plus the gray plane it is replicated from
DECODED_BYTES_PER_PIXEL = 4
#: bytes per pixel of a frame (or crop) held as a float32 RGB tensor
TENSOR_BYTES_PER_PIXEL = 12


def frames_memory_bytes(height: int, width: int, tensor_pixels: int = 0) -> int:
    """Peak bytes of reading input frames of height x width, decoded whole one at a time, while float32
    RGB tensors of `tensor_pixels` pixels in all (whole frames, crops or LR frames, as the reader keeps
    them) are held. The one estimate of the input side that `EventVSRDataset` and `egvsr render` check
    before any frame is decoded."""
    return DECODED_BYTES_PER_PIXEL * int(height) * int(width) + TENSOR_BYTES_PER_PIXEL * int(tensor_pixels)


def check_frames_memory(path: str | os.PathLike, height: int, width: int, need: int, budget: int,
                        budget_text: str, advice: str) -> None:
    """Refuse input frames of height x width that need `need` bytes (`frames_memory_bytes`) above
    `budget` (described by `budget_text`), in one line naming the file, the frame size and both figures."""
    if need > budget:
        raise InputFileError(
            f"{path}: its {width}x{height} frames need about {fmt_size(need)} of memory at once, above the "
            f"budget of {fmt_size(budget)} ({budget_text}); {advice}"
        )
