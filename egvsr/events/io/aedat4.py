"""Reader for AEDAT4 files (iniVation DV), decoded with `aedat`, the decoder tonic uses.

The first events stream is read (frame streams are not); the sensor size comes from its header.
`aedat` is imported only when a file is opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egvsr.errors import FormatError, MissingDependencyError
from egvsr.events.io.declaration import Layout
from egvsr.events.io.streamed import StreamedSource, decoder_errors, header_size

MAGIC = b"#!AER-DAT4"


def matches(head: bytes) -> bool:
    """The file starts with AEDAT4's `#!AER-DAT4` line."""
    return head.startswith(MAGIC)


class Aedat4Source(StreamedSource):
    """An AEDAT4 recording (iniVation DV): the first events stream; size from the file header."""

    layout = "aedat4"

    def __init__(self, path: Path, sensor_size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        decoder = self._decoder()
        with decoder_errors(f"{path}: unreadable AEDAT4 header"):
            streams = decoder.id_to_stream()
        ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        if not ids:
            kinds = sorted({s.get("type") for s in streams.values()})
            raise FormatError(f"{path}: AEDAT4 file has no events stream (streams: {kinds})")
        self._stream_id = ids[0]
        if sensor_size is None:
            info = streams[self._stream_id]
            if not info.get("width") or not info.get("height"):
                raise FormatError(
                    f"{path}: AEDAT4 events stream declares no size; pass --sensor-size HxW (sensor_size=(H, W) in Python)"
                )
            sensor_size = header_size(path, "aedat4", (info["height"], info["width"]))
        super().__init__(path, sensor_size[1], sensor_size[0])

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
        for packet in self._decoder():
            if packet.get("stream_id") != self._stream_id or "events" not in packet:
                continue
            ev = packet["events"]
            p = ev["on"] if "on" in ev.dtype.names else ev["p"]
            yield ev["x"], ev["y"], ev["t"].astype(np.int64), self._signed_polarity(p, "bool", 0)


LAYOUT = Layout(
    "aedat4", "AEDAT4 (iniVation DV; file starts with #!AER-DAT4)", sniff=matches, open=Aedat4Source,
)
