"""Reader for AEDAT4 files (iniVation DV), decoded with `aedat`, the decoder tonic uses.

The first events stream is read, and the first frame stream when there is one (DAVIS APS frames,
`aedat4_frames.py`); the sensor size comes from the events stream's header. `aedat` is imported only
when a file is opened.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from egvsr.errors import SENSOR_SIZE_ADVICE, FormatError, MissingDependencyError, SensorSizeUnknownError
from egvsr.events.io import zstd_frames
from egvsr.events.io.aedat4_frames import Aedat4Frames
from egvsr.events.io.declaration import Layout
from egvsr.events.io.streamed import StreamedSource, decoder_errors, header_size

MAGIC = b"#!AER-DAT4"


def matches(head: bytes) -> bool:
    """The file starts with AEDAT4's `#!AER-DAT4` line."""
    return head.startswith(MAGIC)


def check_header_text(path: Path) -> None:
    """Refuse a header whose stream description is not UTF-8 before `aedat` sees it: its error
    message then carries the invalid bytes, and turning that into a Python string aborts the process.
    Then refuse a packet larger than the rest of the file, or a ZSTD packet decoding to far more than it
    stores (`check_packet_sizes`)."""
    with open(path, "rb") as f:
        head = f.read(18)
        size = int.from_bytes(head[14:18], "little") if len(head) == 18 else 0
        if len(head) < 18 or size > path.stat().st_size - 18:
            raise FormatError(
                f"{path}: not a readable AEDAT4 file (its header is truncated; the file is probably damaged)"
            )
        buf = f.read(size)
    text = _description(buf)
    if text is not None:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"{path}: not a readable AEDAT4 file (its stream description is not UTF-8 text at byte {exc.start}; "
                "the file is damaged)"
            ) from None
    check_packet_sizes(path, 18 + size, _data_table_position(buf), _compression(buf) in ZSTD)


#: the IOHeader's `compression` values of Zstandard-compressed packets (ZSTD, ZSTD_HIGH)
ZSTD = (3, 4)
#: a ZSTD packet may decode to this many bytes, or to `MAX_ZSTD_RATIO` times its stored size if more (real
#: event and frame packets stay far below both); beyond both it is refused before the decoder allocates it
MAX_ZSTD_PACKET_BYTES = 64 << 20
MAX_ZSTD_RATIO = 1100


def check_packet_sizes(path: Path, start: int, table: int, zstd: bool = False) -> None:
    """Walk the packet headers (i32 stream id, u32 size) from `start` as the decoder does, up to the file
    data table at byte `table` (-1: none) or the end, and refuse a packet declaring more bytes than the file
    has left: the decoder allocates the declared size (up to 4 GiB) before reading it. With `zstd` (the
    packets are Zstandard frames), refuse a packet that would decode to more than `MAX_ZSTD_PACKET_BYTES` and
    `MAX_ZSTD_RATIO` times its size (a few KiB of RLE blocks can declare gigabytes, all decoded at once)."""
    end = path.stat().st_size
    pos = start
    with open(path, "rb") as f:
        while not (table > -1 and pos == table) and pos + 8 <= end:
            f.seek(pos)
            size = int.from_bytes(f.read(8)[4:], "little")
            if size > end - pos - 8:
                raise FormatError(
                    f"{path}: not a readable AEDAT4 file (the packet at byte {pos} declares {size:,} bytes, but "
                    f"only {end - pos - 8:,} follow; the file is truncated or damaged)"
                )
            decoded = zstd_frames.decoded_bound(f, pos + 8, pos + 8 + size) if zstd else None
            if decoded is not None and decoded > max(MAX_ZSTD_PACKET_BYTES, MAX_ZSTD_RATIO * size):
                raise FormatError(
                    f"{path}: not a readable AEDAT4 file (the ZSTD packet at byte {pos} stores {size:,} bytes that "
                    f"decode to {decoded:,}, more than any event or frame packet holds; the file is damaged)"
                )
            pos += 8 + size


def _compression(buf: bytes) -> int:
    """The IOHeader's `compression` (field 0, int32; 0, none, where absent or unreadable)."""
    where = _table(buf)
    if where is None:
        return 0
    table, vtable = where
    vsize = int.from_bytes(buf[vtable:vtable + 2], "little")
    field = int.from_bytes(buf[vtable + 4:vtable + 6], "little") if vsize >= 6 and vtable + 6 <= len(buf) else 0
    if not field or table + field + 4 > len(buf):
        return 0
    return int.from_bytes(buf[table + field:table + field + 4], "little", signed=True)


def _u32(buf: bytes, i: int) -> int | None:
    """The little-endian u32 at byte `i` of `buf`, or None beyond it."""
    return int.from_bytes(buf[i:i + 4], "little") if 0 <= i <= len(buf) - 4 else None


def _table(buf: bytes) -> tuple[int, int] | None:
    """(root table offset, vtable offset) of the IOHeader flatbuffer, or None where the layout is off."""
    table = _u32(buf, 0)
    soffset = None if table is None else _u32(buf, table)
    if soffset is None:
        return None
    vtable = table - (soffset - (1 << 32) if soffset >= 1 << 31 else soffset)
    if not 0 <= vtable <= len(buf) - 4:
        return None
    return table, vtable


def _data_table_position(buf: bytes) -> int:
    """The IOHeader's `dataTablePosition` (field 1, int64; -1, no table, where absent or unreadable)."""
    where = _table(buf)
    if where is None:
        return -1
    table, vtable = where
    vsize = int.from_bytes(buf[vtable:vtable + 2], "little")
    field = int.from_bytes(buf[vtable + 6:vtable + 8], "little") if vsize >= 8 and vtable + 8 <= len(buf) else 0
    if not field or table + field + 8 > len(buf):
        return -1
    return int.from_bytes(buf[table + field:table + field + 8], "little", signed=True)


def _description(buf: bytes) -> bytes | None:
    """The IOHeader flatbuffer's `description` string (field 2), or None where the layout is off
    (the decoder then reports it)."""
    where = _table(buf)
    if where is None:
        return None
    table, vtable = where
    if vtable > len(buf) - 10 or int.from_bytes(buf[vtable:vtable + 2], "little") < 10:
        return None
    field = int.from_bytes(buf[vtable + 8:vtable + 10], "little")
    ref = _u32(buf, table + field) if field else None
    length = None if ref is None else _u32(buf, table + field + ref)
    start = table + field + ref + 4 if length is not None else 0
    return None if length is None or start + length > len(buf) else buf[start:start + length]


def _int16(a: np.ndarray) -> np.ndarray:
    """A coordinate column as AEDAT4 stores it, int16 (the decoder gives uint16: -2 would read 65534 and
    be reported so); the same bits, no copy."""
    return a.view(np.int16) if a.dtype == np.uint16 else a


#: how the decoder's error for a frame packet whose pixels do not fill the declared size begins (numpy's)
FRAME_PAYLOAD_ERROR = "cannot reshape array"


class Aedat4Source(StreamedSource):
    """An AEDAT4 recording (iniVation DV): the first events stream and the first frame stream; size
    from the events stream's header."""

    layout = "aedat4"

    def __init__(self, path: Path, sensor_size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        check_header_text(self.path)
        decoder = self._decoder()
        with decoder_errors(f"{path}: unreadable AEDAT4 header"):
            streams = decoder.id_to_stream()
        ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        frame_ids = sorted(i for i, s in streams.items() if s.get("type") == "frame")
        if not ids and not frame_ids:
            kinds = sorted({s.get("type") for s in streams.values()})
            raise FormatError(f"{path}: AEDAT4 file has no events stream and no frame stream (streams: {kinds})")
        # frames only (a DAVIS recorded without its events): a recording of no events, sized by its frames
        self._stream_id = ids[0] if ids else None
        if sensor_size is None:
            info = streams[ids[0] if ids else frame_ids[0]]
            if not info.get("width") or not info.get("height"):
                raise SensorSizeUnknownError(
                    f"{path}: AEDAT4 {'events' if ids else 'frame'} stream declares no size; {SENSOR_SIZE_ADVICE}"
                )
            sensor_size = header_size(path, "aedat4", (info["height"], info["width"]))
        self._frames = Aedat4Frames(path, frame_ids[0], self._frame_packets) if frame_ids else None
        self._gathering = self._frames is not None
        super().__init__(path, sensor_size[1], sensor_size[0])  # its first pass also gathers the frames
        self._gathering = False
        if self._frames is not None:
            self._frames.finish(self.width, self.height)

    def _decoder(self):
        try:
            import aedat
        except ImportError:
            raise MissingDependencyError(
                f"{self.path}: reading AEDAT4 needs the 'aedat' package (the decoder tonic uses): "
                "pip install aedat"
            ) from None
        with decoder_errors(f"{self.path}: not a readable AEDAT4 file"):
            return aedat.Decoder(str(self.path))

    def _packets(self):
        for packet in self._decoded():
            if self._gathering and "frame" in packet and packet.get("stream_id") == self._frames.stream_id:
                self._frames.add(packet["frame"])
            if packet.get("stream_id") != self._stream_id or "events" not in packet:
                continue
            ev = packet["events"]
            p = ev["on"] if "on" in ev.dtype.names else ev["p"]
            yield _int16(ev["x"]), _int16(ev["y"]), ev["t"].astype(np.int64), self._signed_polarity(p, "bool", 0)

    def _decoded(self):
        """The decoder's packets; a frame packet it cannot decode makes the frame stream unusable
        (`undecodable`) and is passed over. Its warning about a frame of an unknown format (it skips the frame)
        is caught here, never printed, and makes the frame stream unusable (`skipped_unknown`). Without a
        frame stream there is nothing to catch: the packets come straight from the decoder."""
        if self._frames is None:
            yield from self._decoder()
            return
        packets = iter(self._decoder())
        while True:
            with warnings.catch_warnings(record=True) as caught:  # only around the decoder's own call
                warnings.simplefilter("always")
                try:
                    packet = next(packets, None)
                except ValueError as exc:  # a frame whose pixels do not fill its declared size
                    if not str(exc).startswith(FRAME_PAYLOAD_ERROR):
                        raise
                    self._frames.undecodable(str(exc))
                    continue  # the decoder resumes at the next packet: the events stay readable
            for w in caught:
                if self._frames is not None and "frame format" in str(w.message):
                    self._frames.skipped_unknown(str(w.message))
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if packet is None:
                return
            yield packet

    def _frame_packets(self):
        """The frame stream's frames in file order, one decoding pass."""
        with decoder_errors(f"{self.path}: aedat4 decoding failed", "; the file is probably truncated or corrupted"):
            for packet in self._decoded():
                if "frame" in packet and packet.get("stream_id") == self._frames.stream_id:
                    yield packet["frame"]

    def frame_times(self) -> np.ndarray | None:
        return None if self._frames is None else self._frames.times()

    def frame_shape(self) -> tuple[int, int, int] | None:
        return None if self._frames is None else self._frames.shape()

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_frame_index(i, self.num_frames, "frame")
        return self._frames.read(i)


LAYOUT = Layout(
    "aedat4", "AEDAT4 (iniVation DV; file starts with #!AER-DAT4)", sniff=matches, open=Aedat4Source,
)
