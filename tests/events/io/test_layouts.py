"""Round trips for every foreign layout: each test writes a small file in that layout with
h5py / numpy (independently of our readers), reads it back and compares every field; then converts
it to our layout and compares again. Plus the real AEDAT4 sample from ../shared/data."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from egvsr.events import EventStream
from egvsr.events.io import convert, detect_layout, open_events, read_events
from egvsr.events.io.tonic_arrays import stream_from_structured


def _events(n: int, w: int, h: int, t0: int = 1_000_000, span: int = 3_000_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span, n)).astype(np.int64)
    return (rng.integers(0, w, n), rng.integers(0, h, n), t, rng.integers(0, 2, n).astype(bool))


def _check(stream: EventStream, x, y, t, on, w: int, h: int) -> None:
    assert (stream.width, stream.height) == (w, h)
    np.testing.assert_array_equal(stream.x, x)
    np.testing.assert_array_equal(stream.y, y)
    np.testing.assert_array_equal(stream.t, t)
    np.testing.assert_array_equal(stream.p, np.where(on, 1, -1))
    assert stream.x.dtype == np.uint16 and stream.t.dtype == np.int64 and stream.p.dtype == np.int8


def _converted_matches(src: Path, tmp_path: Path, **kw) -> EventStream:
    out = convert(src, tmp_path / "converted.h5", progress=False, **kw)
    assert detect_layout(out) == "egvsr"
    return read_events(out)


# ---- E2VID / event_utils ---------------------------------------------------------------------
def write_e2vid(path: Path, x, y, t_us, on, frames=(), sensor_resolution=None) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("events/xs", data=np.asarray(x, np.int16), chunks=True, maxshape=(None,))
        f.create_dataset("events/ys", data=np.asarray(y, np.int16), chunks=True, maxshape=(None,))
        f.create_dataset("events/ts", data=np.asarray(t_us, np.float64) / 1e6, chunks=True, maxshape=(None,))
        f.create_dataset("events/ps", data=np.asarray(on, bool), chunks=True, maxshape=(None,))
        for i, (img, ts, kind) in enumerate(frames):
            ds = f.create_dataset(f"images/image{i:09d}", data=img)
            ds.attrs.update(size=img.shape, timestamp=ts / 1e6, type=kind,
                            event_idx=max(int(np.searchsorted(t_us, ts)) - 1, 0))
        if sensor_resolution is not None:
            f.attrs["sensor_resolution"] = sensor_resolution
        f.attrs["num_events"] = len(x)


def test_e2vid_round_trip_with_bgr_frames(tmp_path):
    w, h = 40, 30
    x, y, t, on = _events(5000, w, h, t0=1_600_000_000_000_000)  # absolute ROS time in µs
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    ft = np.array([1_600_000_000_500_000, 1_600_000_001_000_000, 1_600_000_002_000_000])
    frames = [(img[..., ::-1], ts, "color_bgr") for img, ts in zip(rgb, ft)]  # stored BGR
    path = tmp_path / "e2vid.h5"
    write_e2vid(path, x, y, t, on, frames, sensor_resolution=(h, w, 3))
    assert detect_layout(path) == "e2vid"
    with open_events(path) as src:
        _check(src.read(), x, y, t, on, w, h)
        np.testing.assert_array_equal(src.frame_times(), ft)
        for i in range(3):
            np.testing.assert_array_equal(src.read_frame(i), rgb[i])
        a, b = int(ft[0]), int(ft[1])
        i0, i1 = np.searchsorted(t, a), np.searchsorted(t, b)
        _check(src.read(a, b), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1], w, h)
    conv = _converted_matches(path, tmp_path)
    _check(conv, x, y, t, on, w, h)
    with open_events(tmp_path / "converted.h5") as ours:
        np.testing.assert_array_equal(ours.read_frame(2), rgb[2])


def test_e2vid_size_from_greyscale_images(tmp_path):
    w, h = 20, 10
    x, y, t, on = _events(100, w, h)
    img = np.arange(h * w, dtype=np.uint8).reshape(h, w)
    write_e2vid(tmp_path / "g.h5", x, y, t, on, [(img, int(t[0]), "greyscale")])
    with open_events(tmp_path / "g.h5") as src:
        assert (src.width, src.height) == (w, h)
        np.testing.assert_array_equal(src.read_frame(0), img[..., None])


# ---- DSEC ------------------------------------------------------------------------------------
def write_dsec(path: Path, x, y, t_us, on, t_offset: int, blosc: bool = True) -> None:
    import hdf5plugin

    comp = hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE) if blosc else {}
    t_rel = (np.asarray(t_us) - t_offset).astype(np.uint32)
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=np.asarray(x, np.uint16), chunks=True, **comp)
        f.create_dataset("events/y", data=np.asarray(y, np.uint16), chunks=True, **comp)
        f.create_dataset("events/t", data=t_rel, chunks=True, **comp)
        f.create_dataset("events/p", data=np.asarray(on, np.uint8), chunks=True, **comp)
        ms = np.arange(int(t_rel[-1]) // 1000 + 2) * 1000
        f.create_dataset("ms_to_idx", data=np.searchsorted(t_rel, ms, side="left").astype(np.uint64))
        f.create_dataset("t_offset", data=np.int64(t_offset))


def test_dsec_round_trip_blosc_and_window(tmp_path):
    x, y, t, on = _events(20_000, 640, 480, t0=50_000_000)
    path = tmp_path / "events.h5"
    write_dsec(path, x, y, t, on, t_offset=49_000_000)
    assert detect_layout(path) == "dsec"
    with open_events(path) as src:
        _check(src.read(), x, y, t, on, 640, 480)
        for a, b in ((51_234_567, 52_000_001), (0, 50_000_000), (53_999_000, 10**12)):
            i0, i1 = np.searchsorted(t, a), np.searchsorted(t, b)
            _check(src.read(a, b), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1], 640, 480)
    _check(_converted_matches(path, tmp_path), x, y, t, on, 640, 480)


# ---- CED folder ------------------------------------------------------------------------------
def write_ced(folder: Path, packets, frames) -> None:
    folder.mkdir()
    for name_ns, rows in packets:
        np.save(folder / f"{name_ns}.npy", rows)
    for name_ns, rgb in frames:
        cv2.imwrite(str(folder / f"{name_ns}.png"), rgb[..., ::-1])  # cv2 writes BGR arrays


def test_ced_folder_round_trip(tmp_path):
    w, h = 346, 260
    x, y, t, on = _events(3000, w, h, t0=1_500_000_000_000_000)
    rows = np.stack([t * 1000.0, x, y, on], axis=1).astype(np.float64)  # [t_ns, x, y, p]
    cuts = [0, 700, 700, 2100, 3000]  # includes an empty packet
    packets = [(int(rows[a, 0]) if a < 3000 else int(rows[-1, 0]) + 1, rows[a:b]) for a, b in zip(cuts, cuts[1:])]
    packets = [(name + k, r) for k, (name, r) in enumerate(packets)]  # unique names
    rng = np.random.default_rng(4)
    frames = [(int(t[0]) * 1000 + 7, rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
              (int(t[1500]) * 1000 + 9, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))]
    folder = tmp_path / "ced_seq"
    write_ced(folder, packets, frames)
    assert detect_layout(folder) == "ced"
    with open_events(folder) as src:
        _check(src.read(), x, y, t, on, w, h)
        np.testing.assert_array_equal(src.frame_times(), [ns // 1000 for ns, _ in frames])
        np.testing.assert_array_equal(src.read_frame(1), frames[1][1])
        a, b = int(t[650]), int(t[2500])
        i0, i1 = np.searchsorted(t, a), np.searchsorted(t, b)
        _check(src.read(a, b), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1], w, h)
    _check(_converted_matches(folder, tmp_path), x, y, t, on, w, h)


def test_ced_size_from_pngs(tmp_path):
    rows = np.array([[1000.0, 5, 3, 1]])
    write_ced(tmp_path / "small", [(1000, rows)], [(2000, np.zeros((8, 12, 3), np.uint8))])
    with open_events(tmp_path / "small") as src:
        assert (src.width, src.height) == (12, 8)


def test_ced_event_and_frame_times_are_floored_alike(tmp_path):
    """Both are ns // 1000: an event 0.4 µs before a frame stays before it (rounding put it at the frame,
    into the next window); one 0.6 µs after stays at the frame's µs; a float within half its spacing below a
    whole µs is that µs (float64 holds unix-clock ns to 256 ns)."""
    frame_ns = 1_500_000_001_000_000_000
    first_us = frame_ns // 1000 + 2000
    late_us = next(us for us in range(first_us, first_us + 1000) if int(float(us * 1000)) < us * 1000)
    just_below = float(late_us * 1000)  # a whole µs that float64 holds up to 128 ns short
    rows = np.array([[frame_ns - 1_000_600.0, 1, 1, 1], [frame_ns - 400.0, 2, 2, 1], [frame_ns + 600.0, 3, 3, 0],
                     [frame_ns + 1_000_000.0, 4, 4, 1], [just_below, 5, 5, 1]])
    frames = [(frame_ns - 1_000_000, np.zeros((8, 12, 3), np.uint8)), (frame_ns, np.zeros((8, 12, 3), np.uint8))]
    write_ced(tmp_path / "edge", [(frame_ns - 2_000_000, rows)], frames)
    with open_events(tmp_path / "edge") as src:
        frame_us = int(src.frame_times()[1])
        assert frame_us == frame_ns // 1000
        assert src.read().t.tolist() == [frame_us - 1001, frame_us - 1, frame_us, frame_us + 1000, late_us]
        assert src.read(None, frame_us).x.tolist() == [1, 2]  # the window before the frame holds the event before it


# ---- Prophesee EVT2 / EVT3 / DAT -------------------------------------------------------------
def write_evt2(path: Path, x, y, t, on, w: int, h: int) -> None:
    words, high = [], -1
    for xi, yi, ti, pi in zip(x, y, t, on):
        if ti >> 6 != high:
            high = ti >> 6
            words.append((0x8 << 28) | (high & 0xFFFFFFF))
        words.append((int(pi) << 28) | ((ti & 0x3F) << 22) | (int(xi) << 11) | int(yi))
    hdr = f"% evt 2.0\n% format EVT2;height={h};width={w}\n% end\n".encode()
    path.write_bytes(hdr + np.array(words, "<u4").tobytes())


def write_evt3(path: Path, x, y, t, on, w: int, h: int) -> None:
    words, high = [], -1
    for xi, yi, ti, pi in zip(x, y, t, on):
        if ti >> 12 != high:
            high = ti >> 12
            words.append(0x8000 | (high & 0xFFF))
        words += [0x6000 | (ti & 0xFFF), int(yi), 0x2000 | (int(pi) << 11) | int(xi)]
    hdr = f"% evt 3.0\n% geometry {w}x{h}\n% end\n".encode()
    path.write_bytes(hdr + np.array(words, "<u2").tobytes())


def write_dat(path: Path, x, y, t, on, w: int, h: int) -> None:
    ev = np.zeros(len(t), [("t", "<u4"), ("w", "<u4")])
    ev["t"] = t
    ev["w"] = np.asarray(x, np.uint32) | (np.asarray(y, np.uint32) << 14) | (np.asarray(on, np.uint32) << 28)
    hdr = f"% Data file containing CD events.\n% Version 2\n% Height {h}\n% Width {w}\n".encode()
    path.write_bytes(hdr + bytes([0, 8]) + ev.tobytes())


@pytest.mark.parametrize("kind,writer", [("evt2", write_evt2), ("evt3", write_evt3), ("dat", write_dat)])
def test_prophesee_round_trip(tmp_path, kind, writer):
    w, h = 640, 480
    x, y, t, on = _events(2000, w, h, t0=0, span=20_000_000)  # crosses EVT3's 24-bit wrap
    path = tmp_path / ("rec.dat" if kind == "dat" else "rec.raw")
    writer(path, x, y, t, on, w, h)
    assert detect_layout(path) == kind
    with open_events(path) as src:
        _check(src.read(), x, y, t, on, w, h)
        i0, i1 = np.searchsorted(t, 5_000_000), np.searchsorted(t, 9_000_000)
        _check(src.read(5_000_000, 9_000_000), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1], w, h)
    _check(_converted_matches(path, tmp_path), x, y, t, on, w, h)


def test_prophesee_detected_by_content_not_extension(tmp_path):
    x, y, t, on = _events(50, 64, 48, t0=0, span=10_000)
    path = tmp_path / "recording.bin"
    write_evt2(path, x, y, t, on, 64, 48)
    assert detect_layout(path) == "evt2"
    _check(read_events(path), x, y, t, on, 64, 48)


def test_streamed_decoding_beyond_the_cache(tmp_path, monkeypatch):
    from egvsr.events.io import prophesee, streamed

    monkeypatch.setattr(streamed, "CACHE_EVENTS", 100)
    monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 64)
    x, y, t, on = _events(1000, 64, 48, t0=0, span=100_000)
    path = tmp_path / "r.raw"
    write_evt2(path, x, y, t, on, 64, 48)
    with open_events(path) as src:
        assert src._cache is None and src.num_events == 1000
        _check(src.read(), x, y, t, on, 64, 48)
        i0, i1 = np.searchsorted(t, 20_000), np.searchsorted(t, 30_000)
        _check(src.read(20_000, 30_000), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1], 64, 48)
        chunks = list(src.iter_chunks(max_events=300, t0=20_000))
        assert max(len(c) for c in chunks) == 300
        _check(EventStream.concatenate(chunks), x[i0:], y[i0:], t[i0:], on[i0:], 64, 48)


# ---- AEDAT4 ----------------------------------------------------------------------------------
def _flatbuffer_ioheader(xml: bytes) -> bytes:
    """IOHeader table {compression: NONE, dataTablePosition: -1, infoNode: xml}, ident IOHE."""
    b = struct.pack("<I", 24) + b"IOHE" + bytes(6) + struct.pack("<HHHHH", 10, 20, 4, 12, 8)
    b += struct.pack("<iiIq", 10, 0, 12, -1) + struct.pack("<I", len(xml)) + xml + b"\0"
    return b + bytes(-len(b) % 4)


def _flatbuffer_events(t, x, y, on) -> bytes:
    """Size-prefixed EventPacket {elements: [Event{t i64, x i16, y i16, on bool}]}, ident EVTS."""
    body = struct.pack("<I", 16) + b"EVTS" + struct.pack("<HHH", 6, 8, 4) + bytes(2)
    body += struct.pack("<iI", 8, 8) + bytes(4) + struct.pack("<I", len(t))
    ev = np.zeros(len(t), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")])
    ev["t"], ev["x"], ev["y"], ev["on"] = t, x, y, on
    body += ev.tobytes()
    return struct.pack("<I", len(body)) + body


def _flatbuffer_frame(t: int, exposure: tuple[int, int], pixels: np.ndarray, fmt: int) -> bytes:
    """Size-prefixed Frame {t, begin_t, end_t, exposure_begin_t, exposure_end_t i64, format i8, width,
    height, offset_x, offset_y i16, pixels [u8]}, ident FRME; i64 fields 8-aligned counting the prefix."""
    h, w = pixels.shape[:2]
    offsets = (8, 16, 24, 32, 40, 60, 52, 54, 56, 58, 48)  # per field, in schema order
    body = struct.pack("<I", 44) + b"FRME" + struct.pack("<HH11H", 26, 64, *offsets) + bytes(10)
    body += struct.pack("<i", 36) + bytes(4) + struct.pack("<5q", t, t - 1, t + 1, *exposure)
    body += struct.pack("<I4hb", 16, w, h, 0, 0, fmt) + bytes(3)
    raw = np.ascontiguousarray(pixels).tobytes()
    body += struct.pack("<I", len(raw)) + raw
    body += bytes(-len(body) % 4)
    return struct.pack("<I", len(body)) + body


def write_aedat4(path: Path, packets, w: int, h: int, frames=(), frame_size=None) -> None:
    """Events stream 0 (`packets` of (t, x, y, on)); with `frames`, a frame stream 1 of
    (t, (exposure_begin, exposure_end), pixels, format code) written after the events packet of the same
    index (format codes: 0 gray, 2 gray16, 16 BGR, 24 BGRA)."""
    def stream(i: int, ident: str, size) -> str:
        return (
            f'<node name="{i}" path="/mainloop/Recorder/outInfo/{i}/">'
            '<attr key="compression" type="string">NONE</attr>'
            f'<attr key="typeIdentifier" type="string">{ident}</attr>'
            f'<node name="info" path="/mainloop/Recorder/outInfo/{i}/info/">'
            f'<attr key="sizeX" type="int">{size[0]}</attr><attr key="sizeY" type="int">{size[1]}</attr>'
            "</node></node>"
        )
    streams = stream(0, "EVTS", (w, h)) + (stream(1, "FRME", frame_size or (w, h)) if len(frames) else "")
    xml = ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">' + streams
           + "</node></dv>").encode()
    hdr = _flatbuffer_ioheader(xml)
    data = b"#!AER-DAT4.0\r\n" + struct.pack("<i", len(hdr)) + hdr
    for k in range(max(len(packets), len(frames))):
        if k < len(packets):
            pk = _flatbuffer_events(*packets[k])
            data += struct.pack("<ii", 0, len(pk)) + pk
        if k < len(frames):
            pk = _flatbuffer_frame(*frames[k])
            data += struct.pack("<ii", 1, len(pk)) + pk
    path.write_bytes(data)


def test_aedat4_round_trip(tmp_path):
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    x, y, t, on = _events(900, 64, 48)
    path = tmp_path / "rec.aedat4"
    write_aedat4(path, [(t[a:a + 300], x[a:a + 300], y[a:a + 300], on[a:a + 300]) for a in (0, 300, 600)], 64, 48)
    assert detect_layout(path) == "aedat4"
    with open_events(path) as src:
        _check(src.read(), x, y, t, on, 64, 48)
    _check(_converted_matches(path, tmp_path), x, y, t, on, 64, 48)


def test_real_aedat4_sample_converted_and_read_back(shared_data, tmp_path):
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    sample = shared_data / "aedat4" / "sample.aedat4"
    with open_events(sample) as src:
        assert src.layout == "aedat4" and (src.width, src.height) == (320, 240)
        original = src.read()
    assert len(original) == 111_954  # documented in ../shared/data/README.md ("about 112k")
    assert original.duration_us == 589_917
    conv = _converted_matches(sample, tmp_path)
    _check(conv, original.x, original.y, original.t, original.p > 0, 320, 240)
    with open_events(tmp_path / "converted.h5") as ours:
        assert ours.path.stat().st_size < sample.stat().st_size * 2
        mid = int(original.t[0]) + 250_000
        np.testing.assert_array_equal(ours.read(mid, mid + 10_000).t, original.slice(mid, mid + 10_000).t)


# ---- tonic in-memory arrays ------------------------------------------------------------------
def test_structured_tonic_array_is_not_mutated():
    ev = np.zeros(4, [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2, 3, 4], [0, 1, 0, 1], [5, 6, 6, 9], [True, False, True, False]
    before = ev.copy()
    s = stream_from_structured(ev, 8, 2)
    np.testing.assert_array_equal(s.p, [1, -1, 1, -1])
    np.testing.assert_array_equal(ev, before)


def test_a_fifo_is_refused_without_being_opened(tmp_path):
    """Reading a FIFO would wait for a writer forever: a recording must be a regular file or a folder."""
    import os
    import threading

    from egvsr.errors import InputFileError

    os.mkfifo(tmp_path / "pipe.h5")
    errors: list = []

    def detect():
        for attempt in (lambda: detect_layout(tmp_path / "pipe.h5"), lambda: open_events(tmp_path / "pipe.h5"),
                        lambda: open_events(tmp_path / "pipe.h5", layout="aedat4")):
            try:
                attempt()
            except InputFileError as exc:
                errors.append(str(exc))

    worker = threading.Thread(target=detect, daemon=True)
    worker.start()
    worker.join(30)
    assert errors == 3 * [f"{tmp_path / 'pipe.h5'}: is a FIFO (named pipe), not a regular file or folder; expected "
                          "an event recording file (it is not opened)"]


def test_dat_with_an_expelliarmus_older_than_declared_names_the_version_it_needs(tmp_path, monkeypatch):
    """expelliarmus 1.1.0 has no Wizard(fpath=, chunk_size=): a DAT file then reads as a one-line 'needs
    expelliarmus >= 1.1.7', not as a decoding failure blamed on the file."""
    import sys
    import types

    from egvsr.errors import MissingDependencyError
    from egvsr.events.io import read_events

    class OldWizard:  # 1.1.0's signature
        def __init__(self, encoding, buff_size=4096, dtype=None):
            pass

    path = tmp_path / "r.dat"
    write_dat(path, *_events(50, 64, 48), 64, 48)
    monkeypatch.setitem(sys.modules, "expelliarmus", types.SimpleNamespace(Wizard=OldWizard))
    with pytest.raises(MissingDependencyError, match=r"r\.dat: reading dat needs expelliarmus >= 1\.1\.7 \(installed"):
        read_events(path)
