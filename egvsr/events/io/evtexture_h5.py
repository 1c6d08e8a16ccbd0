"""Recognises EvTexture's per-clip HDF5 files (frames plus precomputed voxels, no raw events).

Such a file is a dataset recording, not an event recording: `egvsr.datasets.open_recording` reads
it (`datasets/adapters/evtexture.py`); opening it for events says so in one line. It is declared
here so that one detector, shared by both, knows the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import h5py

from egvsr.errors import FormatError
from egvsr.events.io.declaration import Layout


def matches(f: h5py.File) -> bool:
    """`images` and `voxels_f` groups and no raw `events`."""
    return "images" in f and "voxels_f" in f and "events" not in f


def open_source(path: Path, sensor_size: tuple[int, int] | None = None) -> NoReturn:
    """Refused: the file stores no events to read."""
    raise FormatError(
        f"{path}: an EvTexture clip (frames and precomputed voxels) stores no raw events; read it as a "
        "dataset recording (egvsr.datasets.open_recording) instead"
    )


LAYOUT = Layout(
    "evtexture", "EvTexture clip HDF5 (images/%06d, voxels_f/%06d, voxels_b/%06d; no raw events)",
    sniff=matches, open=open_source, looks_at="hdf5",
)
