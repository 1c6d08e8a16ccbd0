"""Bad inputs: each raises the toolkit's own error with a message naming the file/key and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from egvsr.errors import (
    EventValidationError,
    FormatError,
    InputFileError,
    OutputExistsError,
)
from egvsr.events import EventStream
from egvsr.events.io import LAYOUTS, convert, open_events, read_events, write_events


def _write_ours(path: Path, x, y, t, p, width=346, height=260, attrs=None, **extra) -> Path:
    """A file of our layout written directly with h5py (so it can be broken on purpose): `attrs`
    added to (or overriding) the root attributes, `extra` datasets by key ("a__b" stands for "a/b")."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "egvsr", "version": 1, "width": width, "height": height, **(attrs or {})})
        for k, v, dt in (("x", x, np.uint16), ("y", y, np.uint16), ("t", t, np.int64), ("p", p, np.int8)):
            if v is not None:
                f.create_dataset(f"events/{k}", data=np.asarray(v, dt))
        for key, value in extra.items():
            f.create_dataset(key.replace("__", "/"), data=value)
    return path


def _ok_arrays(n=10):
    return np.arange(n) % 346, np.arange(n) % 260, np.arange(n) * 10, np.where(np.arange(n) % 2, 1, -1)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.h5: no such file"):
        read_events(tmp_path / "nope.h5")


def test_not_hdf5_lists_known_layouts(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("hello, these are not events\n")
    with pytest.raises(InputFileError) as err:
        read_events(path)
    msg = str(err.value)
    assert "notes.h5: not a recognised event recording" in msg
    assert all(name in msg for name in LAYOUTS)


def test_empty_file(tmp_path):
    (tmp_path / "zero.h5").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"zero\.h5: file is empty"):
        open_events(tmp_path / "zero.h5")


def test_hdf5_of_unknown_layout_lists_the_layouts(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("voxels/000000", data=np.zeros((5, 4, 4)))
    with pytest.raises(InputFileError) as err:
        open_events(path)
    msg = str(err.value)
    assert "other.h5: HDF5 file of an unknown layout (top-level keys ['voxels'])" in msg
    for name in ("egvsr:", "e2vid:", "dsec:", "ced:", "aedat4:", "evt2:", "evt3:", "dat:"):
        assert name in msg


def test_missing_key(tmp_path):
    x, y, t, _ = _ok_arrays()
    path = _write_ours(tmp_path / "nop.h5", x, y, t, None)
    with pytest.raises(FormatError, match=r"nop\.h5: missing key 'events/p' required by the egvsr layout"):
        open_events(path)


def test_missing_size_attribute(tmp_path):
    path = _write_ours(tmp_path / "nosize.h5", *_ok_arrays())
    with h5py.File(path, "a") as f:
        del f.attrs["width"]
    with pytest.raises(FormatError, match=r"nosize\.h5: missing root attribute 'width'"):
        open_events(path)
    assert open_events(path, sensor_size=(260, 346)).width == 346  # the caller may supply it


def test_unsorted_timestamps_report_the_first_offending_index_and_sort_fixes(tmp_path):
    x, y, t, p = _ok_arrays(1000)
    t = t.copy()
    t[637], t[638] = t[638], t[637]  # first decrease at index 638
    path = _write_ours(tmp_path / "unsorted.h5", x, y, t, p)
    with pytest.raises(EventValidationError) as err:
        read_events(path)
    msg = str(err.value)
    assert "unsorted.h5: timestamps in events/t decrease at index 638 (6380 -> 6370 µs)" in msg
    assert "egvsr convert --sort" in msg
    with pytest.raises(EventValidationError, match="decrease at index 638"):
        with open_events(path) as src:  # the chunked path reports the same global index
            list(src.iter_chunks(max_events=100))
    with pytest.raises(EventValidationError, match="decrease at index 638"):
        convert(path, tmp_path / "no.h5", progress=False)
    assert not (tmp_path / "no.h5").exists()
    fixed = read_events(convert(path, tmp_path / "sorted.h5", sort=True, progress=False))
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(fixed.t, t[order])
    np.testing.assert_array_equal(fixed.x, x[order])
    np.testing.assert_array_equal(fixed.p, p[order])


def test_unsorted_across_chunk_boundary(tmp_path):
    x, y, t, p = _ok_arrays(300)
    t = t.copy()
    t[200:] -= 1000  # the drop sits exactly on a chunk boundary when reading 100 at a time
    path = _write_ours(tmp_path / "drop.h5", x, y, t, p)
    with open_events(path) as src, pytest.raises(EventValidationError, match="decrease at index 200"):
        list(src.iter_chunks(max_events=100))


def test_coordinates_outside_the_sensor(tmp_path):
    x, y, t, p = _ok_arrays(50)
    x = x.copy()
    x[17] = 400
    path = _write_ours(tmp_path / "wide.h5", x, y, t, p)
    with pytest.raises(EventValidationError, match=r"wide\.h5: events/x\[17\] = 400 is outside the 346x260 sensor"):
        read_events(path)


def test_bad_polarity_value(tmp_path):
    x, y, t, p = _ok_arrays(20)
    p = p.copy()
    p[5] = 0
    path = _write_ours(tmp_path / "pol.h5", x, y, t, p)
    with pytest.raises(EventValidationError, match=r"pol\.h5: events/p\[5\] = 0, expected -1 or \+1"):
        read_events(path)


def test_mismatched_array_lengths(tmp_path):
    x, y, t, p = _ok_arrays(10)
    path = _write_ours(tmp_path / "ragged.h5", x, y[:9], t, p)
    with pytest.raises(FormatError, match=r"ragged\.h5: event arrays have mismatched lengths \(events/x=10, events/y=9"):
        open_events(path)


def test_e2vid_mismatched_lengths(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f["events/xs"] = np.zeros(5, np.int16)
        f["events/ys"] = np.zeros(5, np.int16)
        f["events/ts"] = np.zeros(4)
        f["events/ps"] = np.zeros(5, bool)
        f.attrs["sensor_resolution"] = (10, 10)
    with pytest.raises(FormatError, match=r"events/ts=4"):
        open_events(tmp_path / "e.h5")


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_file(tmp_path, random_stream, keep):
    path = write_events(tmp_path / "full.h5", random_stream(300_000))
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputFileError, match=r"cut\.h5: .*truncated"):
        read_events(cut)


def test_empty_stream_is_not_an_error(tmp_path):
    path = _write_ours(tmp_path / "empty.h5", [], [], [], [])
    s = read_events(path)
    assert len(s) == 0 and (s.width, s.height) == (346, 260)
    out = convert(path, tmp_path / "empty_out.h5", progress=False)
    assert len(read_events(out)) == 0


def test_output_that_exists(tmp_path, random_stream):
    src = write_events(tmp_path / "in.h5", random_stream(10))
    (tmp_path / "out.h5").write_text("keep me")
    with pytest.raises(OutputExistsError, match=r"out\.h5: output already exists"):
        convert(src, tmp_path / "out.h5", progress=False)
    assert (tmp_path / "out.h5").read_text() == "keep me"
    with pytest.raises(OutputExistsError):
        write_events(tmp_path / "out.h5", random_stream(3))


def test_e2vid_without_size_asks_for_it(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as f:
        for k, dt in (("xs", np.int16), ("ys", np.int16), ("ts", np.float64), ("ps", bool)):
            f[f"events/{k}"] = np.zeros(3, dt)
    with pytest.raises(FormatError, match=r"sensor size is unknown; pass it: read_events\(path, sensor_size=\(H, W\)\)"):
        open_events(tmp_path / "e.h5")
    assert len(read_events(tmp_path / "e.h5", sensor_size=(4, 4))) == 3


def test_raw_without_geometry_asks_for_it(tmp_path):
    path = tmp_path / "x.raw"
    path.write_bytes(b"% evt 2.0\n% end\n")
    with pytest.raises(FormatError, match=r"x\.raw: the evt2 header names no sensor size"):
        open_events(path)
    assert open_events(path, sensor_size=(480, 640)).num_events == 0


def test_appending_a_stream_of_another_sensor(tmp_path):
    from egvsr.events.io import EventWriter

    with pytest.raises(EventValidationError, match=r"appended stream is 4x4, expected .* 346x260"):
        with EventWriter(tmp_path / "w.h5", 346, 260) as w:
            w.append(EventStream.empty(4, 4))
    assert not (tmp_path / "w.h5").exists()


def test_dsec_without_hdf5plugin_names_the_package(tmp_path):
    import hdf5plugin

    path = tmp_path / "events.h5"
    comp = hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE)
    with h5py.File(path, "w") as f:
        for k, dt in (("x", np.uint16), ("y", np.uint16), ("t", np.uint32), ("p", np.uint8)):
            f.create_dataset(f"events/{k}", data=np.arange(100).astype(dt) % 2, **comp)
        f["t_offset"] = np.int64(0)
        f["ms_to_idx"] = np.zeros(1, np.uint64)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["hdf5plugin"] = None  # as if it were not installed
        from egvsr.errors import MissingDependencyError
        from egvsr.events.io import read_events
        try:
            read_events({str(path)!r})
        except MissingDependencyError as exc:
            print("MESSAGE:", type(exc).__name__, exc)
    """)
    env = {"HDF5_PLUGIN_PATH": str(tmp_path / "no-plugins"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[3], timeout=120)
    assert "MESSAGE:" in out.stdout, out.stderr
    assert "MESSAGE: MissingDependencyError" in out.stdout
    assert "events.h5" in out.stdout and "Blosc" in out.stdout and "pip install hdf5plugin" in out.stdout


def test_corrupted_chunk_is_reported_with_the_key(tmp_path, random_stream):
    path = write_events(tmp_path / "full.h5", random_stream(300_000))
    with h5py.File(path) as f:
        offset = f["events/t"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 100: offset + 4000] = bytes(3900)  # zero out the middle of a compressed chunk
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"full\.h5: read failed while reading 'events/t'"):
        read_events(path)
