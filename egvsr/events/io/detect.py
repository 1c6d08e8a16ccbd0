"""Layout detection from a file's content (never its extension) and the `open_events` front door.

Both go through the declarations in `layouts` (`egvsr.events.io.register_layout` adds one); this
module only decides what each sniff is shown: a folder, an open HDF5 file, or the first bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from egvsr.errors import ConfigError, EgvsrError, FormatError, InputFileError
from egvsr.events.io import h5util
from egvsr.events.checks import is_integer
from egvsr.events.io.arguments import check_exists, check_not_special, check_path, printable
from egvsr.events.io.declaration import Layout
from egvsr.events.io.h5util import corrupted_h5
from egvsr.events.io.layouts import LAYOUTS, all_layouts, find_layout
from egvsr.events.io.source import EventSource
from egvsr.events.stream import EventStream

_HEAD_BYTES = 1 << 16


def _known() -> str:
    return "; ".join(f"{k}: {v}" for k, v in LAYOUTS.items())


def detect_layout(path: str | os.PathLike) -> str:
    """Name of the layout of `path` (a key of `LAYOUTS`): the first registered layout whose sniff
    accepts the folder, the open HDF5 file, or the file's first bytes."""
    path = check_path(path)
    check_exists(path)
    if path.is_dir():
        name = _first_match("folder", path)
        if name is not None:
            return name
        raise InputFileError(
            f"{printable(path)}: folder holds no CED packets or frames (<ns>.npy / <ns>.png){_inner_hint(path)}; "
            f"known layouts: {_known()}"
        )
    check_not_special(path)
    head = _head(path)
    if _is_h5(path, head):
        with h5util.open_h5(path) as f, corrupted_h5(path):
            name = _first_match("hdf5", f)
            if name is None:
                _unknown_h5(path, f)
            return name
    name = _first_match("bytes", head)
    if name is not None:
        return name
    if not head:
        raise InputFileError(f"{printable(path)}: file is empty; expected an event recording ({_known()})")
    raise InputFileError(
        f"{printable(path)}: not a recognised event recording (neither HDF5 nor a known event format)"
        f"{_arrays_hint(path, head)}; known layouts: {_known()}"
    )


#: where the recipe for events kept as plain numbers lives
ARRAYS_RECIPE = "docs/io.md, \"Events kept as numbers\""


def _number_lines(head: bytes) -> bool:
    """Whether the first bytes read as lines of numbers (after at most one header line; the last line may be
    cut short by the read)."""
    lines = [line for line in head.splitlines() if line.strip() and not line.startswith(b"#")]
    body = lines[1:-1] if len(lines) > 2 else lines[-1:]
    return bool(body) and all(any(c in b"0123456789" for c in line)
                              and all(c in b"0123456789+-.eE,;\t " for c in line) for line in body)


def _arrays_hint(path: Path, head: bytes) -> str:
    """For events kept as plain numbers (a text or CSV table, a NumPy .npy or .npz file), which no reader
    takes as they are (their columns, units and sensor size are not stated): how to make a recording of them."""
    if head.startswith(b"\x93NUMPY") and path.stem.isdigit():
        return "; it looks like one packet of a CED folder (<ns>.npy): give the folder that holds it"
    if head.startswith(b"\x93NUMPY"):
        kind = "a NumPy .npy array"
    elif head.startswith(b"PK\x03\x04") and b".npy" in head[:4096]:
        kind = "a NumPy .npz archive"
    elif _number_lines(head):
        kind = "a table of numbers"
    else:
        return ""
    return (f"; it looks like {kind}: write such events to a recording of our layout from Python (an EventStream "
            f"and write_events, {ARRAYS_RECIPE}), then give that file")


def _inner_hint(folder: Path, limit: int = 1000) -> str:
    """For a folder of recordings (a dataset root given where one recording goes): which it holds, to be given
    one by one; for a folder of frames (render's and simulate's input): which commands read it. Only a folder's
    first `limit` entries are looked at, each as a dataset root lists it."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(e.name for _, e in zip(range(limit), it))
    except OSError:
        return ""
    inner = [name for name in entries if sniff_layout(folder / name) is not None]
    if not inner:
        if any(name.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")) for name in entries):
            return ("; it looks like a folder of frames, which holds no events: `egvsr render FOLDER --events FILE` "
                    "and `egvsr simulate FOLDER OUT.h5` read such a folder (docs/render.md)")
        return ""
    shown = ", ".join(printable(name) for name in inner[:3]) + (", ..." if len(inner) > 3 else "")
    return (f"; it holds recordings ({shown}): give them one by one (`{printable(folder / inner[0])}` ...), "
            "or use the folder as a training config's data root")


def _head(path: Path) -> bytes:
    """The first bytes of file `path`, what a "bytes" sniff is shown."""
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputFileError(f"{printable(path)}: cannot read ({exc.strerror or exc})") from None


def _is_h5(path: Path, head: bytes) -> bool:
    return head.startswith(h5util.HDF5_SIGNATURE) or h5util.is_hdf5(path)


def _accepts(layout: Layout, path: Path) -> bool:
    """Whether `layout`'s sniff accepts `path`, shown what detection would show it (the folder, the
    open HDF5 file, or the first bytes of a file that is not HDF5)."""
    if path.is_dir():
        return layout.looks_at == "folder" and bool(layout.sniff(path))
    if layout.looks_at == "folder":
        return False
    head = _head(path)
    if not _is_h5(path, head):
        # a byte stream no layout claims (a Prophesee file without its header) is what forcing is for
        return layout.looks_at == "bytes" and (bool(layout.sniff(head)) or _first_match("bytes", head) is None)
    if layout.looks_at != "hdf5":
        return False
    with h5util.open_h5(path) as f, corrupted_h5(path):
        return bool(layout.sniff(f))


def _refuse_mismatch(layout: Layout, path: Path) -> None:
    """A `layout` asked for that does not match `path`: one line naming both, and what `path` reads as."""
    try:
        found = f"it reads as layout {detect_layout(path)!r}: leave the layout out to detect it"
    except EgvsrError:  # an HDF5 file or a folder of no known layout
        found = "and it is no other layout egvsr knows"
    kind = "folder" if path.is_dir() else "file"
    raise FormatError(
        f"{printable(path)}: layout {layout.name!r} was asked for, but this {kind} is not one "
        f"({layout.description}); {found}"
    )


def sniff_layout(path: str | os.PathLike) -> str | None:
    """What `path` looks like at a glance, or None: a folder's layout, "hdf5" for a file with the HDF5
    signature (its layout is told when it is opened), or the layout of a file's first bytes. Cheap and
    quiet, for listing a folder of recordings: no HDF5 file is opened, and an unreadable entry or one that
    is neither a regular file nor a folder (a FIFO, socket or device: never opened) is None."""
    path = Path(path)
    try:
        if path.is_dir():
            return _first_match("folder", path)
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    return "hdf5" if head.startswith(h5util.HDF5_SIGNATURE) else _first_match("bytes", head)


def _first_match(looks_at: str, content) -> str | None:
    for layout in all_layouts(looks_at):
        if layout.sniff(content):
            return layout.name
    return None


def _unknown_h5(path: Path, f) -> None:
    top = sorted(f.keys())
    events = sorted(f["events"].keys()) if "events" in f and hasattr(f["events"], "keys") else None
    found = f"top-level keys {top}" + (f", events/ keys {events}" if events is not None else "")
    raise InputFileError(
        f"{printable(path)}: HDF5 file of an unknown layout ({found}); known layouts: {_known()}"
    )


def open_events(
    path: str | os.PathLike, sensor_size: tuple[int, int] | None = None, layout: str | None = None
) -> EventSource:
    """Open a recording of any supported layout; `sensor_size=(H, W)` overrides/provides the size."""
    path = check_path(path)
    if sensor_size is not None:
        sensor_size = _check_size(sensor_size)
    if layout is None:
        declared = find_layout(detect_layout(path))
    else:
        declared = find_layout(layout)
        check_exists(path)
        check_not_special(path)
        if not _accepts(declared, path):  # a reader given another layout's file fails in its own ways
            _refuse_mismatch(declared, path)
    return declared.open(path, sensor_size)


def read_events(
    path: str | os.PathLike,
    t0: int | None = None,
    t1: int | None = None,
    sensor_size: tuple[int, int] | None = None,
) -> EventStream:
    """Events of `path` in the window [t0, t1) µs (all when None); only that window is read."""
    with open_events(path, sensor_size=sensor_size) as src:
        return src.read(t0, t1)


def _check_size(size) -> tuple[int, int]:
    """`sensor_size` as (height, width): two integers (Python's or NumPy's; a float, even 32.0, is
    refused rather than truncated) in 1..65535."""
    try:
        sides = tuple(size) if np.ndim(size) == 1 and not isinstance(size, (str, bytes)) else ()
    except TypeError:
        sides = ()
    if len(sides) != 2 or not all(is_integer(v) for v in sides):
        raise ConfigError(f"`sensor_size`: expected (height, width), two integers, got {size!r}")
    h, w = (int(v) for v in sides)
    if not (1 <= h <= 65535 and 1 <= w <= 65535):
        raise ConfigError(f"`sensor_size`: expected (height, width) in 1..65535, got {size!r}")
    return h, w
