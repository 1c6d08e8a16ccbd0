"""`open_recording`: a path -> the `Recording` adapter of its layout, detected from content.

It lives apart from `recording.py` so that the base class never imports its subclasses. The
adapters load on the first call.
"""

from __future__ import annotations

import os
from pathlib import Path

from egvsr.datasets.recording import Recording
from egvsr.errors import InputFileError


def open_recording(path: str | os.PathLike, *, fps: float | None = None,
                   hr_path: str | os.PathLike | None = None) -> Recording:
    """Open any supported recording (content-detected); reads metadata only.

    `fps` sets frame times for layouts without timestamps (EvTexture: frame i at i/fps, 25 by
    default); `hr_path` names the HR file paired with an EvTexture LR file (default: the sibling
    found by replacing the `LRx<n>` folder with `HR`).
    """
    from egvsr.datasets.adapters import ADAPTERS, SourceRecording
    from egvsr.events.io.arguments import check_path
    from egvsr.events.io.detect import detect_layout

    path = check_path(path, "path")  # a recording file or folder: bytes or None is refused naming `path`
    if not path.exists():
        raise InputFileError(f"{path}: recording not found")
    layout = detect_layout(path)
    adapter = ADAPTERS.get(layout)
    if adapter is not None:
        return adapter(path, fps=fps, hr_path=hr_path)
    if hr_path is not None:
        raise InputFileError(
            f"{path}: hr_path is only meaningful for EvTexture LR files (this recording has its own "
            "HR frames and raw events)"
        )
    return SourceRecording(path, layout)



def input_folder_members(folder: Path) -> list:
    """What the readers take from input folder `folder`: a CED folder's packets and frames, a frame
    folder's images (`egvsr.fsutil.listed_members`), for `egvsr.fsutil.refuse_inputs_as_outputs`."""
    from egvsr.events.io.ced_folder import folder_members as ced_members
    from egvsr.events.simulate.video_input import folder_members as frame_members
    from egvsr.fsutil import listed_members

    return listed_members(folder, ced_members, frame_members)
