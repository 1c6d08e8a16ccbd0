"""Layout detection from a file's content (never its extension) and the `open_events` front door."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.errors import ConfigError, EgvsrError, FormatError, InputFileError
from egvsr.events.io import h5util
from egvsr.events.io.source import EventSource
from egvsr.events.stream import EventStream

#: Every layout we read, with what identifies it; listed in error messages.
LAYOUTS: dict[str, str] = {
    "egvsr": "our HDF5 layout (root attribute format='egvsr', events/{x,y,t,p})",
    "e2vid": "E2VID / event_utils HDF5 (events/{xs,ys,ts,ps}, images/image%09d)",
    "dsec": "DSEC events.h5 (events/{x,y,t,p}, t_offset, ms_to_idx)",
    "ced": "EGVSR CED folder (<ns>.npy packets of [t_ns, x, y, p] and <ns>.png frames)",
    "aedat4": "AEDAT4 (iniVation DV; file starts with #!AER-DAT4)",
    "evt2": "Prophesee EVT2 .raw (text header with evt 2.0 / format EVT2)",
    "evt3": "Prophesee EVT3 .raw (text header with evt 3.0 / format EVT3)",
    "dat": "Prophesee DAT (text header '% Data file containing CD events')",
}
_HEAD_BYTES = 1 << 16


def _known() -> str:
    return "; ".join(f"{k}: {v}" for k, v in LAYOUTS.items())


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder")


def detect_layout(path: str | os.PathLike) -> str:
    """Name of the layout of `path` (a key of `LAYOUTS`), judged from its content."""
    path = Path(path)
    _check_exists(path)
    if path.is_dir():
        from egvsr.events.io import ced_folder

        if ced_folder.matches(path):
            return "ced"
        raise InputFileError(
            f"{path}: folder holds no CED packets or frames (<ns>.npy / <ns>.png); known layouts: "
            f"{_known()}"
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(h5util.HDF5_SIGNATURE) or h5util.is_hdf5(path):
        with h5util.open_h5(path) as f, corrupted_h5(path):
            return _detect_h5(path, f)
    if head.startswith(b"%"):
        from egvsr.events.io import prophesee_header

        kind = prophesee_header.detect(head)
        if kind is not None:
            return kind
    if not head:
        raise InputFileError(f"{path}: file is empty; expected an event recording ({_known()})")
    raise InputFileError(
        f"{path}: not a recognised event recording (neither HDF5 nor a known event format); "
        f"known layouts: {_known()}"
    )


def _detect_h5(path: Path, f) -> str:
    from egvsr.events.io import dsec_h5, e2vid_h5, egvsr_h5

    if egvsr_h5.matches(f):
        return "egvsr"
    if e2vid_h5.matches(f):
        return "e2vid"
    if dsec_h5.matches(f):
        return "dsec"
    top = sorted(f.keys())
    events = sorted(f["events"].keys()) if "events" in f and hasattr(f["events"], "keys") else None
    found = f"top-level keys {top}" + (f", events/ keys {events}" if events is not None else "")
    raise InputFileError(
        f"{path}: HDF5 file of an unknown layout ({found}); known layouts: {_known()}"
    )


def open_events(
    path: str | os.PathLike, sensor_size: tuple[int, int] | None = None, layout: str | None = None
) -> EventSource:
    """Open a recording of any supported layout; `sensor_size=(H, W)` overrides/provides the size."""
    path = Path(path)
    if sensor_size is not None:
        sensor_size = _check_size(sensor_size)
    if layout is None:
        layout = detect_layout(path)
    elif layout not in LAYOUTS:
        raise ConfigError(f"layout {layout!r} is not known; expected one of {', '.join(LAYOUTS)}")
    else:
        _check_exists(path)
    if layout in ("egvsr", "e2vid", "dsec"):
        return _open_h5(path, layout, sensor_size)
    if layout == "ced":
        from egvsr.events.io.ced_folder import CedFolderSource

        return CedFolderSource(path, sensor_size)
    from egvsr.events.io.tonic_bridge import open_tonic

    return open_tonic(path, layout, sensor_size)


def _open_h5(path: Path, layout: str, sensor_size) -> EventSource:
    from egvsr.events.io import dsec_h5, e2vid_h5, egvsr_h5

    cls = {
        "egvsr": egvsr_h5.EgvsrH5Source, "e2vid": e2vid_h5.E2vidH5Source, "dsec": dsec_h5.DsecH5Source,
    }[layout]
    if layout == "dsec":
        h5util.load_plugins()
    f = h5util.open_h5(path)
    try:
        with corrupted_h5(path, layout):
            src = cls(path, f, sensor_size)
        if not (1 <= src.width <= 65535 and 1 <= src.height <= 65535):
            raise FormatError(
                f"{path}: the {layout} file gives a sensor of {src.width}x{src.height} (W x H); expected 1..65535 "
                "pixels per side (pass sensor_size=(H, W) / --sensor-size HxW to override it)"
            )
        return src
    except BaseException:
        f.close()
        raise


@contextlib.contextmanager
def corrupted_h5(path: Path, layout: str | None = None) -> Iterator[None]:
    """Turn what h5py raises on damaged metadata (RuntimeError, KeyError, OSError while walking
    groups, links and attributes) and what a malformed attribute value raises when converted
    (ValueError, TypeError, OverflowError) into an `InputFileError` naming the file."""
    try:
        yield
    except EgvsrError:
        raise
    except (RuntimeError, KeyError, OSError, ValueError, TypeError, OverflowError) as exc:
        text = (str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
        what = "HDF5 file" if layout is None else f"{layout} HDF5 file"
        raise InputFileError(
            f"{path}: the {what} is corrupted or malformed ({text}); its groups, links or attributes "
            "cannot be read as that layout requires: re-create or re-download it"
        ) from None


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
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"sensor_size: expected (height, width), got {size!r}") from None
    if not (1 <= h <= 65535 and 1 <= w <= 65535) or np.ndim(size) != 1:
        raise ConfigError(f"sensor_size: expected (height, width) in 1..65535, got {size!r}")
    return h, w
