"""`Layout`: what one event file layout declares so that detection and `open_events` can use it.

Each reader module in this package ends with one such declaration (`LAYOUT = Layout(...)`);
`egvsr.events.io.layouts` keeps them in order, and code outside the package adds its own with
`register_layout`. A layout is judged from content, never from a file name: `sniff` is given the
first bytes of a file, the open HDF5 file, or the folder, as `looks_at` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from egvsr.errors import ConfigError

if TYPE_CHECKING:
    from egvsr.events.io.source import EventSource

#: What a sniff function is given: a file's first 64 KiB, its open `h5py.File`, or a folder's `Path`.
LooksAt = Literal["bytes", "hdf5", "folder"]


@dataclass(frozen=True)
class Layout:
    """One event file layout.

    `name`: the key (`EventSource.layout`, `open_events(layout=...)`); `description`: one line for
    `egvsr info` and error messages; `sniff(x) -> bool`: whether `x` (see `looks_at`) is this layout;
    `open(path, sensor_size) -> EventSource`: open it, `sensor_size=(H, W)` overriding the file's.
    """

    name: str
    description: str
    sniff: Callable[[Any], bool]
    open: Callable[[Path, "tuple[int, int] | None"], "EventSource"]
    looks_at: LooksAt = "bytes"

    def __post_init__(self) -> None:
        if self.looks_at not in ("bytes", "hdf5", "folder"):
            raise ConfigError(f"layout {self.name!r}: looks_at must be 'bytes', 'hdf5' or 'folder', "
                              f"got {self.looks_at!r}")
