"""How many bytes a run of Zstandard frames can decode to, from its frame and block headers alone.

AEDAT4 files may compress each packet with ZSTD (DV's `compression` ZSTD / ZSTD_HIGH), and the `aedat`
decoder decodes a whole packet into memory before looking at it. A block can say "this byte, 128 KiB
times" in 4 bytes (an RLE block), so a few kilobytes of packet can decode to gigabytes: the bound read here
lets the reader refuse such a packet before the decoder allocates it. Layout (RFC 8878, section 3.1.1):
a frame is the magic number, a header (descriptor byte, window byte unless single-segment, dictionary
id, content size), blocks (3-byte header: last flag, type raw / RLE / compressed, size) and an optional
4-byte checksum; skippable frames (magic 0x184D2A5?) hold a 4-byte size and data that decodes to nothing.
"""

from __future__ import annotations

from typing import BinaryIO

_MAGIC = 0xFD2FB528
_SKIPPABLE = 0x184D2A50  # low nibble free: 0x184D2A50..0x184D2A5F
_BLOCK_MAX = 128 << 10  # a block decodes to at most 128 KiB (less with a smaller window)
_RAW, _RLE, _COMPRESSED = 0, 1, 2


def decoded_bound(f: BinaryIO, start: int, end: int) -> int | None:
    """Most bytes the frames stored in bytes [start, end) of `f` decode to (exact for raw and RLE blocks,
    128 KiB, or the window, for a compressed one); None where the bytes are not well-formed frames (the
    decoder then says what is wrong). Reads only headers: 3 bytes per block."""
    pos, total = start, 0
    while pos < end:
        f.seek(pos)
        head = f.read(4)
        if len(head) < 4 or pos + 4 > end:
            return None
        magic = int.from_bytes(head, "little")
        if magic & 0xFFFFFFF0 == _SKIPPABLE:
            size = f.read(4)
            if len(size) < 4:
                return None
            pos += 8 + int.from_bytes(size, "little")
            continue
        if magic != _MAGIC:
            return None
        frame = _frame(f, pos + 4, end)
        if frame is None:
            return None
        pos, decoded = frame
        total += decoded
    return total


def _frame(f: BinaryIO, pos: int, end: int) -> tuple[int, int] | None:
    """(position after the frame, most bytes it decodes to) of the frame whose header starts at `pos`."""
    f.seek(pos)
    desc = f.read(1)
    if not desc:
        return None
    d = desc[0]
    single = (d >> 5) & 1
    if (d >> 3) & 1:  # the reserved bit
        return None
    header = (0 if single else 1) + (0, 1, 2, 4)[d & 3] + ((1 if single else 0), 2, 4, 8)[d >> 6]
    window = _BLOCK_MAX
    if not single:
        w = f.read(1)
        if not w:
            return None
        log = 10 + (w[0] >> 3)
        window = (1 << log) + ((1 << log) >> 3) * (w[0] & 7)
    block_max = min(window, _BLOCK_MAX)
    pos += 1 + header
    decoded = 0
    while True:
        f.seek(pos)
        b = f.read(3)
        if len(b) < 3 or pos + 3 > end:
            return None
        h = int.from_bytes(b, "little")
        last, kind, size = h & 1, (h >> 1) & 3, h >> 3
        if kind == _RAW:
            decoded, pos = decoded + size, pos + 3 + size
        elif kind == _RLE:
            decoded, pos = decoded + size, pos + 4
        elif kind == _COMPRESSED:
            decoded, pos = decoded + block_max, pos + 3 + size
        else:
            return None
        if pos > end:
            return None
        if last:
            break
    return pos + (4 if (d >> 2) & 1 else 0), decoded
