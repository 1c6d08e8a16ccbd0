"""Recordings with raw events (our layout, E2VID h5, CED folders, ...) via `egvsr.events.io`.

Frames, ground-truth frames and event windows are read through an `EventSource`, opened lazily once
per process. At open the adapter checks what a VSR sample relies on: frames and events share the
sensor size (read from their declared sizes: no frame is decoded before a dataset or a render has
checked its memory), and frame/ground-truth timestamps strictly increase.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egvsr.datasets.recording import Recording, as_rgb, source_event_span
from egvsr.errors import InputFileError


def _open(path: Path, layout: str | None):
    """The source of `path`; a `layout` given here is one detection already found for this path, so it is
    opened by its reader at once (`open_events(layout=...)` would sniff the file again to check a layout a
    user forced: once more per recording and per worker process)."""
    from egvsr.events.io import open_events
    from egvsr.events.io.layouts import find_layout

    return open_events(path) if layout is None else find_layout(layout).open(path, None)


class SourceRecording(Recording):
    """A recording read through `egvsr.events.io.open_events` (content-detected layout)."""

    has_events = True

    def __init__(self, path: Path, layout: str | None = None) -> None:
        with _open(path, layout) as src:
            self.layout = str(src.layout)
            ft = src.frame_times()
            gt = src.gt_times()
            width, height = int(src.width), int(src.height)
            src.check_frame_sizes()  # from the declared sizes: nothing is decoded at opening
            self.event_span = source_event_span(src)
            self.event_damage = src.damage()
        name = path.name if path.is_dir() else path.stem
        super().__init__(path, name, width, height,
                         np.zeros(0, np.int64) if ft is None else np.asarray(ft), gt)

    def _open_handle(self):
        """This process's source, refused when the recording is no longer the one opened (a worker process
        opens it anew, maybe long after): its frames, ground-truth frames, size or events' ends differ."""
        src = _open(self.path, self.layout)
        try:
            self._check_unchanged(src)
        except BaseException:
            src.close()
            raise
        return src

    def _check_unchanged(self, src) -> None:
        changed = [what for what, now, then in (("frame times", src.frame_times(), self.frame_times),
                                                ("ground-truth times", src.gt_times(), self.gt_times))
                   if not np.array_equal(np.zeros(0, np.int64) if now is None else np.asarray(now, np.int64), then)]
        if (int(src.width), int(src.height)) != (self.width, self.height):
            changed.append("sensor size")
        if source_event_span(src) != self.event_span:
            changed.append("first or last event")
        if changed:
            raise InputFileError(f"{self.path}: changed since it was opened (its {', '.join(changed)} differ); a "
                                 "recording must stay as it is while a dataset reads it: open it again")

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_index(i, self.num_frames, "frame")
        return as_rgb(self._handle().read_frame(i), f"{self.path}: frame {i}")

    def read_gt(self, i: int) -> np.ndarray:
        i = self._check_index(i, len(self.gt_times), "ground-truth frame")
        return as_rgb(self._handle().read_gt(i), f"{self.path}: ground-truth frame {i}")

    def read_events(self, t0: int, t1: int) -> dict[str, np.ndarray]:
        return self._handle().read(*self._window(t0, t1))
