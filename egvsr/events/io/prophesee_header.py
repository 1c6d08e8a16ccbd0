"""The `% key value` text header of Prophesee RAW (EVT2/EVT3) and DAT files: kind and sensor size.

RAW headers name the encoding (`% evt 3.0`, `% format EVT3;height=720;width=1280`) and usually
the geometry (`% geometry 1280x720`); DAT headers read `% Data file containing CD events`,
`% Height 480`, `% Width 640`. Only the header is parsed here; events are decoded by the bridge.
"""

from __future__ import annotations

import os
import re


def header_lines(head: bytes) -> list[str]:
    """The leading `%` lines of a file's first bytes, without the `%` and surrounding spaces."""
    lines = []
    for raw in head.split(b"\n"):
        if not raw.startswith(b"%"):
            break
        lines.append(raw[1:].decode("latin-1").strip())
        if lines[-1].lower() == "end":
            break
    return lines


def raw_encoding(head: bytes) -> str | None:
    """The RAW encoding the header names, as written ("2.0" from `% evt 2.0`, "21" from `% format EVT21`)."""
    for line in header_lines(head):
        m = re.match(r"(?:evt\s+|format\s+evt)(\d+(?:\.\d+)?)", line.lower())
        if m:
            return m.group(1)
    return None


def is_evt21(head: bytes) -> bool:
    """Whether the header names EVT 2.1 (64-bit words, vectors of 32 pixels), which egvsr does not decode."""
    return raw_encoding(head) in ("2.1", "21")


def detect(head: bytes) -> str | None:
    """"evt2", "evt3" or "dat" from the header, or None when it is not a Prophesee header."""
    lines = header_lines(head)
    encoding = raw_encoding(head)
    if encoding is not None and encoding[0] in "23":  # EVT 2.1 too: the evt2 reader refuses it by name
        return f"evt{encoding[0]}"
    if any(line.lower().startswith(("data file containing", "version")) for line in lines):
        return "dat"
    return None


def sensor_size(head: bytes) -> tuple[int, int] | None:
    """(height, width) from `format ...;height=;width=`, `geometry WxH` or `Height`/`Width` lines."""
    h = w = None
    for line in header_lines(head):
        low = line.lower()
        fmt = dict(re.findall(r"(height|width)=(\d+)", low))
        if "height" in fmt and "width" in fmt:
            return int(fmt["height"]), int(fmt["width"])
        m = re.match(r"geometry\s+(\d+)\s*x\s*(\d+)", low)
        if m:
            return int(m.group(2)), int(m.group(1))
        m = re.match(r"(height|width)\s+(\d+)$", low)
        if m:
            h, w = (int(m.group(2)), w) if m.group(1) == "height" else (h, int(m.group(2)))
    return (h, w) if h and w else None


def read_header(path: str | os.PathLike, limit: int) -> bytes | None:
    """The file's leading `%` lines, each whole, through a `% end` line, however far they run: the
    payload starts right after them (a header cut at a fixed number of bytes would put it inside the
    text). None when they run past `limit` bytes."""
    out = bytearray()
    with open(path, "rb") as fh:
        while fh.read(1) == b"%":
            line = b"%" + fh.readline(max(limit - len(out), 0) + 1)
            out += line
            if len(out) > limit:
                return None
            if not line.endswith(b"\n") or line[1:].strip().lower() == b"end":  # the end of the file, or `% end`
                break
    return bytes(out)
