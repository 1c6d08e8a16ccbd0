"""An AEDAT4 recording with a frame stream and no events stream (a DAVIS recorded with its events
switched off) reads as a recording of no events, sized by its frame stream, as a frames-only E2VID file
does; a file with neither stream is still refused, naming the streams it has."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import FormatError
from egvsr.events.io import convert, detect_layout, open_events
from tests.events.io.test_layouts import _flatbuffer_frame, _flatbuffer_ioheader

pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")

W, H = 40, 30


def _write(path, frames, kind: str = "FRME") -> None:
    """One stream 0 of type `kind` ("FRME": the `frames`, (t, exposure, pixels, format code))."""
    xml = ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
           '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
           '<attr key="compression" type="string">NONE</attr>'
           f'<attr key="typeIdentifier" type="string">{kind}</attr>'
           '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
           f'<attr key="sizeX" type="int">{W}</attr><attr key="sizeY" type="int">{H}</attr>'
           "</node></node></node></dv>").encode()
    hdr = _flatbuffer_ioheader(xml)
    data = b"#!AER-DAT4.0\r\n" + struct.pack("<i", len(hdr)) + hdr
    for fr in frames:
        pk = _flatbuffer_frame(*fr)
        data += struct.pack("<ii", 0, len(pk)) + pk
    path.write_bytes(data)


def test_frames_without_events_read_as_a_recording_of_no_events(tmp_path, capsys):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (H, W), dtype=np.uint8) for _ in range(4)]
    frames = [(10_000 * (i + 1), (10_000 * (i + 1) - 100, 10_000 * (i + 1) + 100), img, 0)
              for i, img in enumerate(imgs)]
    path = tmp_path / "frames.aedat4"
    _write(path, frames)
    assert detect_layout(path) == "aedat4"
    with open_events(path) as src:
        assert (src.width, src.height, src.num_events) == (W, H, 0)
        np.testing.assert_array_equal(src.frame_times(), 10_000 * np.arange(1, 5))
        np.testing.assert_array_equal(src.read_frame(1)[..., 0], imgs[1])
        assert len(src.read()) == 0
    with open_events(convert(path, tmp_path / "ours.h5", progress=False)) as ours:
        assert ours.num_events == 0 and ours.num_frames == 4
    assert main(["info", str(path)]) == 0
    assert "4 (10000 .. 40000" in capsys.readouterr().out


def test_a_file_with_neither_events_nor_frames_is_refused_naming_its_streams(tmp_path):
    path = tmp_path / "imu.aedat4"
    _write(path, [], kind="IMUS")
    with pytest.raises(FormatError, match=r"imu\.aedat4: AEDAT4 file has no events stream and no frame stream"):
        open_events(path)
