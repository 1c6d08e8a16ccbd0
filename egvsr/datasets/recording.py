"""`Recording`: lazy, fork-safe access to one aligned event/RGB recording.

A recording has HR frames with int64 µs timestamps, optionally ground-truth frames at extra times
(space-time SR), and either raw events (our layout, E2VID h5, CED folders; read through
`egvsr.events.io`) or precomputed LR frames and voxels (EvTexture h5). Metadata (sizes and times)
is read once when opened (`egvsr.datasets.open_recording`); file handles are opened on first use in
each process, so a Recording can be handed to forked or spawned DataLoader workers without sharing
an h5py handle between processes.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Any

import numpy as np

from egvsr.errors import EventValidationError, IndexRangeError, IndexTypeError, InputFileError
from egvsr.events.checks import check_increasing_times
from egvsr.events.stream import EventStream, window_time
from egvsr.events.frames import events_outside_frames, source_event_span  # noqa: F401 - re-exported


def check_times(times: np.ndarray, what: str) -> np.ndarray:
    """Return `times` as int64 (N,), raising if they are not strictly increasing (names `what`)."""
    t = np.asarray(times)
    if t.ndim != 1 or t.dtype.kind not in "iu":
        raise EventValidationError(f"{what}: expected 1-D integer µs timestamps, got {t.dtype} {t.shape}")
    t = t.astype(np.int64, copy=False)
    check_increasing_times(t, what, decreasing="unsorted (decreasing)")
    return t


class Recording:
    """One recording: HR frames + times, optional GT frames, and raw events or LR voxels.

    Attributes: `path`, `name`, `layout`, `width`, `height` (HR frame size), `frame_times`
    (int64 µs), `gt_times` (int64 µs, possibly empty), `has_events` (raw events available),
    `lr_scale` (int for recordings that ship their own LR frames and event tensors, else None).
    """

    layout: str = "?"
    has_events: bool = False
    #: frame times come from an `fps` given at opening (the layout stores none); others state their own
    takes_fps: bool = False
    lr_scale: int | None = None
    #: (first, last) event time in µs, read from the event source's ends at open; None: no raw events or none
    event_span: tuple[int, int] | None = None
    #: the event source's `damage()` at open (a file cut short: its whole words are read), else None
    event_damage: str | None = None

    def __init__(self, path: Path, name: str, width: int, height: int,
                 frame_times: np.ndarray, gt_times: np.ndarray | None = None) -> None:
        self.path = Path(path)
        self.name = name
        self.width = int(width)
        self.height = int(height)
        self.frame_times = check_times(frame_times, f"{self.path}: frame timestamps")
        gt = np.zeros(0, np.int64) if gt_times is None else gt_times
        self.gt_times = check_times(gt, f"{self.path}: ground-truth timestamps")
        self._handles: dict[int, Any] = {}

    # ---- per-process handles ------------------------------------------------------------------
    def _open_handle(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close_handle(self, handle: Any) -> None:
        close = getattr(handle, "close", None)
        if close is not None:
            close()

    def _handle(self) -> Any:
        """This process's open handle (opened on first use; never one inherited through fork)."""
        pid = os.getpid()
        h = self._handles.get(pid)
        if h is None:
            h = self._open_handle()
            self._handles[pid] = h
        return h

    def close(self) -> None:
        """Close this process's handle (handles inherited from a parent are left alone)."""
        h = self._handles.pop(os.getpid(), None)
        if h is not None:
            self._close_handle(h)

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {self.layout}, {self.width}x{self.height}, "
                f"{self.num_frames} frames, {len(self.gt_times)} gt)")

    @property
    def events_path(self) -> Path:
        """The file the events come from (the recording itself unless events are given beside frames)."""
        return self.path

    def events_outside_frames(self) -> str | None:
        """A one-line notice when the recording has raw events but every event tensor would be zero: it has
        none, or none within its frames' span [first frame, last frame) (from the events' first and last
        times only, nothing more is read; almost surely events and frames on different clocks). None
        otherwise, and for recordings without raw events."""
        if not self.has_events:
            return None
        return events_outside_frames(self.events_path, self.event_span, self.frame_times, self.path)

    # ---- data ---------------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        """How many frames the recording has."""
        return int(self.frame_times.shape[0])

    def read_frame(self, i: int) -> np.ndarray:
        """HR frame `i` as uint8 (H, W, 3) RGB (gray is replicated)."""
        raise NotImplementedError

    def read_gt(self, i: int) -> np.ndarray:
        """Ground-truth frame `i` (at `gt_times[i]`) as uint8 (H, W, 3) RGB."""
        raise InputFileError(f"{self.path}: this recording has no ground-truth frames (/gt)")

    def read_events(self, t0: int | float | None, t1: int | float | None) -> EventStream:
        """Raw events with t0 <= t < t1 µs as an `EventStream` (sensor size = frame size); floats round up
        and None is unbounded, as in `EventSource.read`."""
        raise InputFileError(
            f"{self.path}: layout {self.layout!r} stores no raw events (only precomputed tensors)"
        )

    def read_lr_frame(self, i: int) -> np.ndarray:
        """LR frame `i` (recordings with `lr_scale` only) as uint8 (h, w, 3) RGB."""
        raise InputFileError(f"{self.path}: layout {self.layout!r} has no stored LR frames")

    def read_voxels(self, i: int, direction: str = "forward") -> np.ndarray:
        """Precomputed float32 (B, h, w) voxel of the interval frame i → i+1 (`lr_scale` only)."""
        raise InputFileError(f"{self.path}: layout {self.layout!r} has no precomputed voxels")

    def _check_index(self, i: int, n: int, what: str) -> int:
        """`i` as an index 0 <= i < n, as `EventSource` reads frames: a bool, float, str or None is an
        `IndexTypeError`, never truncated; one outside the range an `IndexRangeError` (docs/io.md)."""
        try:
            index = None if isinstance(i, (bool, np.bool_)) else operator.index(i)
        except TypeError:
            index = None
        if index is None:
            raise IndexTypeError(f"{self.path}: {what} index {i!r}: expected an integer, got {type(i).__name__}")
        if not 0 <= index < n:
            raise IndexRangeError(f"{self.path}: {what} index {index} out of range, expected 0..{n - 1}")
        return index

    @staticmethod
    def _window(t0: int | float | None, t1: int | float | None) -> tuple[int | None, int | None]:
        """The bounds of `read_events` as `EventSource.read` and `EventStream.slice` take them: integer µs,
        floats rounded up (t >= 1.5 means t >= 2), None unbounded, a bound beyond int64 not clamped (t1 = 2**63
        keeps an event at 2**63 - 1); NaN, str or bool is a `ConfigError` naming t0 or t1."""
        return tuple(None if v is None else window_time(name, v) for name, v in (("t0", t0), ("t1", t1)))


def warn_event_damage_and_coverage(recordings: "list[Recording]") -> None:
    """Warn, one line each on stderr, of each recording's event damage (a file cut short: `warn_damage`) and of
    events that miss its frames (`Recording.events_outside_frames`)."""
    from egvsr.events.io.source import warn_damage
    from egvsr.process import warn

    for rec in recordings:
        if rec.has_events:
            warn_damage(rec.events_path, rec.event_damage)
        notice = rec.events_outside_frames()
        if notice:
            warn(notice)


def as_rgb(img: np.ndarray, where: str) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) uint8 → (H, W, 3) uint8."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3) or a.dtype != np.uint8:
        raise InputFileError(
            f"{where}: expected a uint8 image (H, W), (H, W, 1) or (H, W, 3), got {a.dtype} {a.shape}"
        )
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a
