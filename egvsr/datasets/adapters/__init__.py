"""Adapters from on-disk layouts to `Recording`; `open_adapter` picks one by content.

EvTexture h5 files (frames + precomputed voxels, no events) are read here with h5py; every layout
with raw events (ours, E2VID h5, CED folders, ...) goes through `egvsr.events.io.open_events`.
"""

from __future__ import annotations

import os
from pathlib import Path

from egvsr.errors import InputFileError


def open_adapter(path: Path, *, fps: float | None = None,
                 hr_path: str | os.PathLike | None = None):
    """Open `path` with the adapter that recognises its content."""
    if not path.exists():
        raise InputFileError(f"{path}: recording not found")
    from egvsr.datasets.adapters.evtexture import EvTextureRecording, is_evtexture

    if is_evtexture(path):
        return EvTextureRecording(path, fps=fps, hr_path=hr_path)
    if hr_path is not None:
        raise InputFileError(
            f"{path}: hr_path is only meaningful for EvTexture LR files (this recording has its own "
            "HR frames and raw events)"
        )
    from egvsr.datasets.adapters.event_source import SourceRecording

    return SourceRecording(path)
