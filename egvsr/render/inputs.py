"""The input side of rendering: open what the user gave, decide the LR geometry, build each window.

Inputs: any recording `open_recording` reads, or a folder of frames with or without an events file.
As-is mode (default) takes the frames as the LR video; degrade mode takes them as HR and builds each
window exactly as `EventVSRDataset` does in evaluation, so ground truth exists. An ROI is in input
pixels (docs/render.md).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egvsr.datasets.degrade import downscale, image_to_tensor
from egvsr.datasets.geometry import CropGeometry, fmt_scale, frame_geometry, hr_size
from egvsr.datasets.items import Targets, window_frame_times, window_times
from egvsr.datasets.opening import open_recording
from egvsr.datasets.recording import Recording, as_rgb, source_event_span
from egvsr.datasets.tensorize import crop_events, event_tensor
from egvsr.errors import ConfigError, EventValidationError, FormatError, InputFileError, SensorSizeUnknownError
from egvsr.events.checks import INT64_MAX, is_integer


# ---- opening ------------------------------------------------------------------------------------
#: what render says of a frame folder whose images differ in size (it has no option to resize them)
MIXED_SIZES = ("render reads frames as they are: resize them to one size first, or make a recording of them "
               "with egvsr simulate --size HxW, which resizes them")


class FolderRecording(Recording):
    """Frames from a folder of images (with their timestamps), events (optional) from a file."""

    layout = "frame folder"

    def __init__(self, folder: Path, events: Path | None = None, fps: float | None = None) -> None:
        from egvsr.events.simulate import open_video
        from egvsr.events.simulate.video_input import states_frame_times

        try:
            video = open_video(folder, fps=fps, resize_advice=MIXED_SIZES, max_time_us=INT64_MAX)
        except ConfigError:
            if fps is not None or states_frame_times(folder):
                raise
            raise ConfigError(f"{folder}: the frames have no timestamps (no images.txt, timestamps.txt or "
                              "fps.txt); pass `fps` to give their frame rate") from None
        if video.kind != "folder":
            raise _video_input(folder)
        self._video = video
        self._events = None if events is None else Path(events)
        self._sensor_size: tuple[int, int] | None = None  # the file's own; the frames' where it states none
        if self._events is not None:
            from egvsr.events.io import open_events

            try:
                src = open_events(self._events)
            except SensorSizeUnknownError:  # frames and events share the sensor: the frames give its size
                self._sensor_size = (video.height, video.width)
                src = open_events(self._events, sensor_size=self._sensor_size)
            with src:
                if (src.height, src.width) != (video.height, video.width):
                    raise FormatError(
                        f"{self._events}: events are {src.width}x{src.height} (WxH) but the frames in "
                        f"{folder} are {video.width}x{video.height}; frames and events must share the "
                        "sensor size"
                    )
                self.event_span = source_event_span(src)
                self.event_damage = src.damage()
        self.has_events = self._events is not None
        super().__init__(folder, folder.name, video.width, video.height, video.timestamps_us)

    @property
    def events_path(self) -> Path:
        return self._events if self._events is not None else self.path

    def _open_handle(self):
        from egvsr.events.io import open_events

        return open_events(self._events, sensor_size=self._sensor_size) if self._events is not None else None

    def read_frame(self, i: int) -> np.ndarray:
        """Frame `i` decoded as `egvsr simulate` reads a frame folder (docs/simulator.md: 16-bit scaled to 8
        bits, float frames by one scale for the folder), as uint8 (H, W, 3) RGB; gray is replicated."""
        i = self._check_index(i, self.num_frames, "frame")
        img = self._video.read(i)
        if img.shape[:2] != (self.height, self.width):
            raise InputFileError(
                f"{self._video.files[i]}: image is {img.shape[1]}x{img.shape[0]}, expected "
                f"{self.width}x{self.height} like the first frame"
            )
        return as_rgb(img, str(self._video.files[i]))

    def read_events(self, t0: int, t1: int) -> dict[str, np.ndarray]:
        if self._events is None:
            raise InputFileError(f"{self.path}: a frame folder has no events; pass `events` FILE")
        return self._handle().read(*self._window(t0, t1))


#: suffixes of the video files `egvsr simulate` reads, which render takes only as a recording made of them
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"})


def _video_input(path: Path) -> ConfigError:
    """The error for a video file given as the input: what render reads instead, and how to get it."""
    return ConfigError(
        f"{path}: a video file is not a render input (frames are read by index, with their times); make a "
        f"recording of it with `egvsr simulate {shlex.quote(str(path))} OUT.h5` (its frames, their times and "
        "simulated events), or extract its frames (e.g. ffmpeg -i in.mp4 frames/%06d.png) and give `fps`"
    )


def _frame_folder(path: Path, fps: float | None) -> bool:
    """A folder read as frames alone (not as a recording): no CED packets, and its frames' times given
    (by `fps` or a timestamps file). A folder of `<ns>.png` frames without either is a CED folder, read
    as `info`, `convert` and `eval` read it (times from the names)."""
    from egvsr.events.simulate import states_frame_times

    return not any(path.glob("*.npy")) and (fps is not None or states_frame_times(path))


def check_fps_applies(path: Path, fps: float | None) -> None:
    """Refuse `fps` unless `path` is a frame folder without frame times: a recording, a CED folder and a
    folder with a timestamps file state their frames' times, which `fps` would silently override or miss."""
    from egvsr.events.simulate.video_input import states_frame_times

    if fps is None:
        return
    if not path.is_dir() or any(path.glob("*.npy")):
        raise ConfigError(f"`fps` {fps!r}: {path} is a recording with its own frame times; `fps` applies "
                          "only to a folder of frames without timestamps")
    if states_frame_times(path):
        raise ConfigError(f"`fps` {fps!r}: the frame folder {path} states its frames' times in a timestamps "
                          "file; `fps` applies only to a folder of frames without timestamps")


def open_input(source: str | os.PathLike, events: str | os.PathLike | None = None,
               fps: float | None = None) -> Recording:
    """A recording, or (with `events`) a frame folder plus an events file, or a bare frame folder."""
    path = Path(source)
    if not path.exists():
        raise InputFileError(f"{path}: input not found (expected a recording or a folder of frames)")
    if events is not None and path.is_dir() and any(path.glob("*.npy")):
        raise ConfigError(f"`events` {events}: {path} is a CED recording folder, with its own events (.npy "
                          "packets) and frame times (the file names); `events` applies only to a folder of "
                          "frames without events: leave it out")
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        raise _video_input(path)
    check_fps_applies(path, fps)
    if events is not None:
        if not Path(events).exists():
            raise InputFileError(f"{events}: events file not found (`events`)")
        if not path.is_dir():
            raise ConfigError(f"{path}: with `events` the input must be a folder of frames")
        return FolderRecording(path, Path(events), fps)
    if path.is_dir() and _frame_folder(path, fps):
        return FolderRecording(path, None, fps)
    try:
        rec = open_recording(path, fps=fps)
    except (InputFileError, EventValidationError):
        if not path.is_dir() or any(path.glob("*.npy")):
            raise
        return FolderRecording(path, None, fps)  # numbered frames, not <ns>.png: says how to time them
    if rec.lr_scale is not None:
        raise ConfigError(
            f"{path}: this file pairs fixed LR frames with precomputed voxels (EvTexture layout); rendering "
            "needs raw events to bin at any scale; use `egvsr eval` for these files"
        )
    if rec.num_frames == 0:  # too few frames for the model's windows: `plan_outputs` says how many it needs
        raise ConfigError(
            f"{path}: recording has {rec.num_frames} frame(s); rendering needs frames "
            "(give a folder of frames as INPUT with `events` FILE for an events-only recording)"
        )
    return rec


# ---- geometry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """What the model encodes (`lr_size`), which LR box is output (`core`) and at what size.

    `geom` maps sensor pixels to the LR tensor (identity in as-is mode). `core` = (y0, x0, h, w) in
    LR pixels; `out_size` = (floor(s*h), floor(s*w)) of the core.
    """

    degrade: bool
    scale: float
    geom: CropGeometry
    core: tuple[int, int, int, int]
    out_size: tuple[int, int]

    @property
    def lr_size(self) -> tuple[int, int]:
        return self.geom.h, self.geom.w


def check_roi(roi: object, width: int, height: int) -> tuple[int, int, int, int] | None:
    """ROI (x, y, w, h) inside a width x height frame, or a ConfigError saying how it is outside."""
    if roi is None:
        return None
    try:
        values = list(roi)
    except TypeError:
        values = []
    if len(values) != 4 or not all(is_integer(v) for v in values):
        raise ConfigError(f"`roi` {roi!r}: expected four integers X Y W H (input pixels)")
    x, y, w, h = (int(v) for v in values)
    if w < 1 or h < 1:
        raise ConfigError(f"`roi` {x} {y} {w} {h}: width and height must be at least 1 pixel")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ConfigError(
            f"`roi` {x} {y} {w} {h}: the box x {x}..{x + w}, y {y}..{y + h} is outside the "
            f"{width}x{height} input frame (expected 0 <= x, x + w <= {width}, 0 <= y, y + h <= {height})"
        )
    return x, y, w, h


def plan_layout(width: int, height: int, scale: float, degrade: bool = False,
                roi: tuple[int, int, int, int] | None = None) -> Layout:
    """The LR geometry for an input of width x height at `scale` (see the module doc)."""
    x, y, w, h = check_roi(roi, width, height) or (0, 0, width, height)
    if degrade:
        if scale < 1:
            raise ConfigError(f"`scale` {fmt_scale(scale)}: `degrade` downscales by the scale, so it must be >= 1")
        try:
            g = frame_geometry(h, w, scale)
        except ConfigError:
            where, more = ((f"`roi` {x} {y} {w} {h} (a {w}x{h} region)", " or a larger `roi`") if roi is not None
                           else (f"the {w}x{h} input", ""))
            raise ConfigError(f"`scale` {fmt_scale(scale)} with `degrade`: {where} is smaller than one LR pixel at "
                              f"this scale; expected a scale at most {min(w, h)}{more}") from None
        geom = CropGeometry(y + g.y0, x + g.x0, g.H, g.W, g.h, g.w)
        return Layout(True, scale, geom, (0, 0, g.h, g.w), (g.H, g.W))
    out = hr_size(h, w, scale)
    if min(out) < 1:
        raise ConfigError(
            f"`scale` {fmt_scale(scale)}: the output of a {w}x{h} input would be {out[1]}x{out[0]}; "
            "expected at least one output pixel per side"
        )
    geom = CropGeometry(0, 0, height, width, height, width)
    return Layout(False, scale, geom, (y, x, h, w), out)


# ---- one window -----------------------------------------------------------------------------------
@dataclass
class WindowInputs:
    """Model inputs of one window (batch of 1) and its span in µs."""

    lr: torch.Tensor           # (1, K, 3, h, w)
    events: torch.Tensor | None  # (1, M, P, h, w)
    frame_times: torch.Tensor  # (1, K) normalized
    t0: int
    t1: int

    def normalize(self, times_us: np.ndarray) -> torch.Tensor:
        """Query times (µs) -> (1, T) in [-1, 1] over this window."""
        return torch.from_numpy(window_times(times_us, self.t0, self.t1))[None]


class WindowBuilder:
    """Builds `WindowInputs` for window starts, caching the LR frames that consecutive windows share."""

    def __init__(self, rec: Recording, layout: Layout, k: int, repr_options: dict,
                 device: torch.device | str = "cpu") -> None:
        self.rec, self.layout, self.k, self.repr = rec, layout, int(k), dict(repr_options)
        self.device = torch.device(device)
        self._frames: dict[int, torch.Tensor] = {}
        self.targets = Targets(rec, True, True) if layout.degrade else None
        self.gt_times = set(self.targets.times.tolist()) if self.targets is not None else set()

    def _lr_frame(self, i: int) -> torch.Tensor:
        if i not in self._frames:
            g = self.layout.geom
            img = self.rec.read_frame(i)
            if self.layout.degrade:
                rows, cols = g.hr_slices()
                t = downscale(image_to_tensor(img[rows, cols])[None], (g.h, g.w), True)[0]
            else:
                t = image_to_tensor(img)
            self._frames[i] = t
            for old in [j for j in self._frames if j < i - self.k]:
                del self._frames[old]
        return self._frames[i]

    def window(self, start: int) -> WindowInputs:
        """Inputs of the K frames starting at input frame `start`."""
        idx = range(start, start + self.k)
        ft = self.rec.frame_times[start:start + self.k]
        t0, t1 = int(ft[0]), int(ft[-1])
        lr = torch.stack([self._lr_frame(i) for i in idx])[None].to(self.device)
        events = None
        if self.repr:
            stream = crop_events(self.rec.read_events(t0, t1), self.layout.geom)
            ev = event_tensor(stream, t0, t1, self.layout.lr_size, **self.repr)
            events = torch.from_numpy(ev)[None].to(self.device)
        where = f"{self.rec.path}: input frames {start}..{start + self.k - 1}"
        ftn = torch.from_numpy(window_frame_times(ft, where))[None].to(self.device)
        return WindowInputs(lr, events, ftn, t0, t1)

    def ground_truth(self, t_us: int) -> np.ndarray | None:
        """The HR target (H, W, 3) float64 in [0, 1] at time `t_us` (degrade mode), else None."""
        if self.targets is None or int(t_us) not in self.gt_times:
            return None
        kind, i = self.targets.lookup(int(t_us))
        img = self.rec.read_frame(i) if kind == "frame" else self.rec.read_gt(i)
        rows, cols = self.layout.geom.hr_slices()
        return img[rows, cols].astype(np.float64) / 255.0
