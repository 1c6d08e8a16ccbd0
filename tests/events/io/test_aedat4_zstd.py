"""AEDAT4 packets compressed with ZSTD: read as stored, and a packet whose few stored bytes decode to far more
(RLE blocks: 4 bytes each for 128 KiB) refused before the `aedat` decoder allocates it all."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from egvsr.errors import FormatError
from egvsr.events.io import aedat4, read_events, zstd_frames
from tests.events.io.test_layouts import _events, write_aedat4

W, H, N = 32, 24, 400
_BLOCK = 128 << 10


def _block(kind: int, size: int, last: bool) -> bytes:
    return ((size << 3) | (kind << 1) | int(last)).to_bytes(3, "little")


def _raw_frame(payload: bytes) -> bytes:
    """`payload` as one Zstandard frame of raw (stored) blocks: what any zstd decoder gives back as is."""
    out = bytearray(struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x38]))  # no content size, 128 KiB window
    parts = [payload[a:a + _BLOCK] for a in range(0, len(payload), _BLOCK)] or [b""]
    for i, part in enumerate(parts):
        out += _block(0, len(part), i == len(parts) - 1) + part
    return bytes(out)


def _rle_frame(decoded: int) -> bytes:
    """A Zstandard frame of RLE blocks of zeros decoding to `decoded` bytes (4 stored bytes per 128 KiB)."""
    out = bytearray(struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x38]))
    n = -(-decoded // _BLOCK)
    for i in range(n):
        out += _block(1, min(_BLOCK, decoded - i * _BLOCK), i == n - 1) + b"\0"
    return bytes(out)


def _zstd_recording(tmp_path: Path, bomb: int = 0) -> tuple[Path, np.ndarray]:
    """Our AEDAT4 writer's file with its header set to ZSTD and each packet stored as a zstd frame; with
    `bomb`, an RLE packet of that many decoded bytes after them."""
    x, y, t, on = _events(N, W, H, t0=0, span=2_000_000)
    plain = tmp_path / "plain.aedat4"
    write_aedat4(plain, [(t[a:a + N // 2], x[a:a + N // 2], y[a:a + N // 2], on[a:a + N // 2]) for a in (0, N // 2)],
                 W, H)
    data = plain.read_bytes()
    size = int.from_bytes(data[14:18], "little")
    head = bytearray(data[:18 + size])
    buf = head[18:]
    table = int.from_bytes(buf[:4], "little")
    vtable = table - int.from_bytes(buf[table:table + 4], "little", signed=True)
    field = int.from_bytes(buf[vtable + 4:vtable + 6], "little")
    assert field, "the writer stores the compression field"
    head[18 + table + field:18 + table + field + 4] = struct.pack("<i", 3)  # ZSTD
    out, pos = bytearray(head), 18 + size
    while pos + 8 <= len(data):
        stream, n = struct.unpack("<iI", data[pos:pos + 8])
        frame = _raw_frame(data[pos + 8:pos + 8 + n])
        out += struct.pack("<iI", stream, len(frame)) + frame
        pos += 8 + n
    if bomb:
        frame = _rle_frame(bomb)
        out += struct.pack("<iI", 0, len(frame)) + frame
    path = tmp_path / "zstd.aedat4"
    path.write_bytes(bytes(out))
    return path, t


def test_zstd_packets_are_read_as_stored(tmp_path):
    path, t = _zstd_recording(tmp_path)
    np.testing.assert_array_equal(read_events(path).t, t)


def test_a_zstd_packet_decoding_to_half_a_gibibyte_is_refused_before_it_is_decoded(tmp_path):
    path, _ = _zstd_recording(tmp_path, bomb=512 << 20)  # 16 KiB stored
    assert path.stat().st_size < 64 << 10
    with pytest.raises(FormatError, match=r"zstd\.aedat4: not a readable AEDAT4 file \(the ZSTD packet at byte "
                                          r"\d+ stores 16,\d+ bytes that decode to 536,870,912"):
        read_events(path)


def test_the_limit_is_the_larger_of_a_size_and_a_ratio(tmp_path, monkeypatch):
    monkeypatch.setattr(aedat4, "MAX_ZSTD_PACKET_BYTES", 1 << 20, raising=False)
    path, _ = _zstd_recording(tmp_path, bomb=4 << 20)  # 128 stored bytes for 4 MiB: past both
    with pytest.raises(FormatError, match="ZSTD packet at byte"):
        read_events(path)
    monkeypatch.setattr(aedat4, "MAX_ZSTD_RATIO", 1 << 16, raising=False)  # 4 MiB within 65536 x 128 bytes:
    with pytest.raises(Exception) as caught:  # the decoder gets it (and finds no events packet in zeros)
        read_events(path)
    assert "ZSTD packet at byte" not in str(caught.value)


@pytest.mark.parametrize("frame, want", [
    (_raw_frame(b"abc"), 3),
    (_rle_frame(300_000), 300_000),
    (_raw_frame(b"abc") + _rle_frame(5), 8),  # frames back to back
    (struct.pack("<II", 0x184D2A53, 2) + b"xy" + _raw_frame(b"abcd"), 4),  # a skippable frame decodes to nothing
    (struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x38]) + _block(2, 5, True) + b"12345", _BLOCK),  # compressed
    (struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x00]) + _block(2, 5, True) + b"12345", 1 << 10),  # 1 KiB window
    (b"not zstd", None),
    (_raw_frame(b"abc")[:-2], None),  # cut inside a block
    (struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x38]) + _block(3, 0, True), None),  # reserved block type
])
def test_decoded_bound_from_the_headers(tmp_path, frame, want):
    path = tmp_path / "frames.bin"
    path.write_bytes(b"pad" + frame)
    with open(path, "rb") as f:
        assert zstd_frames.decoded_bound(f, 3, 3 + len(frame)) == want
