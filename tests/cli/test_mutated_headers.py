"""Headers mutated field by field: sizes, counts and lengths a reader takes from the file are checked
against the file before anything is allocated or decoded.

Each case writes a small valid recording with the tests' own writers, overwrites one header field with an
extreme value and runs `info`, `convert` and `voxelize` through the CLI: the only outcomes allowed are
success or exit 2 with one `error:` line naming the file, never a traceback; a few cases run as a process
under an address-space cap, where an allocation of what the header declares aborts the process.
"""

from __future__ import annotations

import resource
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from egvsr.cli import main
from tests._reliability import cli, cli_env, fuzz_settings
from tests.events.io.test_layouts import _events, write_aedat4

W, H = 32, 24
CAP_BYTES = 3 << 30

aedat = pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def packet_offsets(data: bytes) -> list[int]:
    """Byte offsets of the packet headers (i32 stream id, u32 size) of an AEDAT4 file without a data table."""
    pos, out = 18 + struct.unpack("<I", data[14:18])[0], []
    while pos + 8 <= len(data):
        out.append(pos)
        pos += 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]
    return out


@pytest.fixture(scope="module")
def aedat4_file(tmp_path_factory) -> Path:
    x, y, t, on = _events(300, W, H, t0=0, span=1_000_000)
    path = tmp_path_factory.mktemp("mutated") / "rec.aedat4"
    write_aedat4(path, [(t[a:a + 100], x[a:a + 100], y[a:a + 100], on[a:a + 100]) for a in (0, 100, 200)], W, H)
    return path


def run_all(path: Path, work: Path, capsys) -> list[tuple[int, str]]:
    results = []
    for argv in (["info", str(path)],
                 ["convert", str(path), str(work / "o.h5"), "--overwrite", "--no-progress"],
                 ["voxelize", str(path), str(work / "v.h5"), "--window-ms", "100", "--overwrite", "--no-progress"]):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        results.append((rc, capsys.readouterr().err))
    return results


def one_error_line(rc: int, err: str, name: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("egvsr: error: ") and name in lines[0], err[-3000:]
    return lines[0]


@fuzz_settings(12, deadline_s=600)  # the first example may compile the voxel kernels (cold cache)
@given(which=st.integers(0, 2), size=st.integers(0, 2**32 - 1) | st.sampled_from([2**31 - 1, 2**31, 2**32 - 1]))
@example(which=0, size=2**32 - 1)  # a size of -1 as i32
def test_aedat4_packet_size_beyond_the_file_is_refused_at_open(aedat4_file, tmp_path_factory, capsys, which, size):
    data = bytearray(aedat4_file.read_bytes())
    pos = packet_offsets(bytes(data))[which]
    original = struct.unpack("<I", data[pos + 4:pos + 8])[0]
    data[pos + 4:pos + 8] = struct.pack("<I", size)
    work = tmp_path_factory.mktemp("packet")
    path = work / "bad.aedat4"
    path.write_bytes(bytes(data))
    for rc, err in run_all(path, work, capsys):
        if size == original:
            assert rc == 0, err
            continue
        if size > len(data) - pos - 8:  # declares more than the file holds: refused before the decoder allocates it
            line = one_error_line(rc, err, "bad.aedat4")
            assert f"the packet at byte {pos} declares {size:,} bytes" in line, line
        else:  # within the file: the decoder then finds the next header misplaced
            one_error_line(rc, err, "bad.aedat4")


@pytest.mark.parametrize("command", ["info", "convert"])
def test_aedat4_packet_of_4_gib_is_refused_under_a_memory_cap(aedat4_file, tmp_path, command):
    """The decoder allocates a packet's declared size before reading it: under a cap a 4 GiB one aborts."""
    data = bytearray(aedat4_file.read_bytes())
    pos = packet_offsets(bytes(data))[1]
    data[pos + 4:pos + 8] = struct.pack("<I", 2**32 - 1)
    path = tmp_path / "bomb.aedat4"
    path.write_bytes(bytes(data))
    args = [str(path)] + ([] if command == "info" else [str(tmp_path / "o.h5"), "--no-progress"])
    res = subprocess.run(cli(command, *args), env=cli_env(), capture_output=True, text=True, timeout=120,
                         preexec_fn=_capped)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr, res.stderr[-3000:]
    assert f"the packet at byte {pos} declares 4,294,967,295 bytes" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o.h5").exists()


def test_real_aedat4_sample_with_its_data_table_still_reads(shared_data):
    """The walk stops at the file data table, as the decoder does (the real sample has one)."""
    from egvsr.events.io import read_events

    stream = read_events(shared_data / "aedat4" / "sample.aedat4")
    # every packet before the table is read (the counts test_layouts pins) and none of the table is taken
    # for events: a walk that ran into it, or stopped early, would change the count or the span
    assert len(stream) == 111_954 and stream.duration_us == 589_917
    assert np.all(np.diff(stream.t) >= 0)


# ---- Prophesee DAT: the event size in the 2-byte preamble --------------------------------------------
@pytest.fixture(scope="module")
def dat_file(tmp_path_factory) -> Path:
    from tests.events.io.test_layouts import write_dat

    x, y, t, on = _events(300, W, H, t0=0, span=1_000_000)
    path = tmp_path_factory.mktemp("mutated-dat") / "rec.dat"
    write_dat(path, x, y, t, on, W, H)
    return path


@fuzz_settings(12, deadline_s=600)  # the first example may compile the voxel kernels (cold cache)
@given(size=st.integers(0, 255), tail=st.integers(0, 15))
@example(size=4, tail=4)  # was read in silence: a cut 4 bytes into an 8-byte event fits whole 4-byte "events"
@example(size=3, tail=0)  # was a whole file reported as cut short (info: exit 2)
def test_dat_event_size_other_than_8_is_refused(dat_file, tmp_path_factory, capsys, size, tail):
    """The DAT decoder reads 8-byte CD events whatever the preamble declares: another size is refused at
    open, and a cut is judged by 8 bytes, never by the declared size."""
    data = bytearray(dat_file.read_bytes())
    at = data.index(b"% Width 32\n") + len(b"% Width 32\n") + 1
    assert data[at] == 8
    data[at] = size
    data += bytes(range(tail))
    work = tmp_path_factory.mktemp("dat")
    path = work / "bad.dat"
    path.write_bytes(bytes(data))
    for k, (rc, err) in enumerate(run_all(path, work, capsys)):
        if size not in (0, 8):
            line = one_error_line(rc, err, "bad.dat")
            assert f"declares events of {size} bytes (byte {at})" in line, line
        elif tail % 8 == 0:  # whole 8-byte events: nothing to report
            assert rc == 0 and "error" not in err and "warning" not in err, err
        else:  # cut short: info reports it (exit 2), the others read the whole events with one warning
            assert f"the file ends {tail % 8} bytes into a DAT event (8 bytes)" in err, err
            assert rc == (2 if k == 0 else 0), err


# ---- E2VID: sensor_resolution ----------------------------------------------------------------------
@pytest.mark.parametrize("res, expect", [
    ([24.0, 32.0], (24, 32)),  # whole numbers stored as floats are read
    ([24, 32, 3], (24, 32)),
    ([24.5, 32], None),  # was read as 24 rows: the 24th event row beyond them
    ([24, 31.9], None),
    ([1e300, 32], None),
    ([np.nan, 32], None),
    ([0, 32], None),
    ([24, 65536], None),
])
def test_e2vid_sensor_resolution_whole_numbers_only(tmp_path, capsys, res, expect):
    from tests.events.io.test_layouts import write_e2vid

    x, y, t, on = _events(50, W, H, t0=0, span=100_000)
    path = tmp_path / "e.h5"
    write_e2vid(path, x, y, t, on, sensor_resolution=res)
    for k, (rc, err) in enumerate(run_all(path, tmp_path, capsys)):
        if expect is None:
            line = one_error_line(rc, err, "e.h5")
            assert "attribute 'sensor_resolution' is" in line and "whole numbers in 1..65535" in line, line
        else:
            assert rc == 0, err
    if expect is not None:
        from egvsr.events.io import open_events

        with open_events(path) as src:
            assert (src.height, src.width) == expect


# ---- CED folder: the row count in a .npy packet's header ----------------------------------------------
@fuzz_settings(12, deadline_s=600)  # the first example may compile the voxel kernels (cold cache)
@given(rows=st.sampled_from([2**62, 2**63 - 1, 2**62 + 2**61, 2**64 // 4, 50, 10**15]) | st.integers(50, 2**64))
@example(rows=2**62)  # 2**62 * 4 wraps to 0 in int64: the packet was read as empty, its events lost in silence
def test_ced_packet_declaring_more_rows_than_it_holds_is_refused(tmp_path_factory, capsys, rows):
    import cv2

    work = tmp_path_factory.mktemp("ced")
    folder = work / "ced"
    folder.mkdir()
    data = np.array([[1000.0 * i, i % W, i % H, i % 2] for i in range(1, 50)])
    np.save(folder / "0.npy", data)
    header = np.lib.format.header_data_from_array_1_0(data)
    header["shape"] = (rows, 4)
    with open(folder / "1.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(data.tobytes())
    cv2.imwrite(str(folder / "1000.png"), np.zeros((H, W, 3), np.uint8))
    for rc, err in run_all(folder, work, capsys):
        line = one_error_line(rc, err, "1.npy")
        assert "packet is truncated" in line, line


# ---- Prophesee RAW / DAT: a text header of any length ------------------------------------------------
@fuzz_settings(10, deadline_s=600)  # the first example may compile the event checks (cold cache)
@given(layout=st.sampled_from(["evt2", "evt3", "dat"]), lines=st.integers(0, 2000), width=st.integers(1, 120))
@example(layout="evt2", lines=1400, width=57)  # ~80 KiB: the payload was taken to start at byte 65536, in the text
@example(layout="dat", lines=1400, width=57)  # the Height/Width lines beyond 64 KiB were not seen
def test_prophesee_header_of_any_length_reads_the_same_events(tmp_path_factory, layout, lines, width):
    """Comment lines padding the `%` header (before `% end`, or before DAT's size lines) change nothing."""
    from egvsr.events.io import read_events
    from tests.events.io.test_layouts import write_dat, write_evt2, write_evt3

    writer = {"evt2": write_evt2, "evt3": write_evt3, "dat": write_dat}[layout]
    x, y, t, on = _events(200, W, H, t0=0, span=500_000)
    work = tmp_path_factory.mktemp("header")
    plain, padded = work / f"plain.{layout}", work / f"padded.{layout}"
    writer(plain, x, y, t, on, W, H)
    data = plain.read_bytes()
    at = data.index(b"% Height" if layout == "dat" else b"% end")
    pad = b"".join(b"%% comment %06d " % i + b"c" * width + b"\n" for i in range(lines))
    padded.write_bytes(data[:at] + pad + data[at:])
    want, got = read_events(plain), read_events(padded)
    assert (got.width, got.height) == (W, H)
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k))


def test_prophesee_header_beyond_the_limit_is_refused(tmp_path, capsys, monkeypatch):
    from egvsr.events.io import prophesee
    from tests.events.io.test_layouts import write_evt3

    monkeypatch.setattr(prophesee, "MAX_HEADER_BYTES", 4096)
    x, y, t, on = _events(20, W, H, t0=0, span=10_000)
    path = tmp_path / "long.raw"
    write_evt3(path, x, y, t, on, W, H)
    data = path.read_bytes()
    at = data.index(b"% end")
    path.write_bytes(data[:at] + b"% " + b"c" * 5000 + b"\n" + data[at:])
    rc, err = run_all(path, tmp_path, capsys)[0]
    line = one_error_line(rc, err, "long.raw")
    assert "text header ('%' lines) runs past 4,096 bytes" in line, line
