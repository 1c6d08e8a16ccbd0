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
    ConfigError,
    EventValidationError,
    FormatError,
    IndexRangeError,
    IndexTypeError,
    InputFileError,
    OutputExistsError,
)
from egvsr.events import EventStream, Frames
from egvsr.events.io import LAYOUTS, convert, open_events, read_events, write_events
from tests._reliability import check_message


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
    with pytest.raises(FormatError, match=r"sensor size is unknown; pass --sensor-size HxW to egvsr info or egvsr "
                                          r"convert .*, or sensor_size=\(H, W\) in Python$"):
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


# ---- CED folders: frame names, coordinates ------------------------------------------------------
def _ced_folder(folder: Path, frame_names=(), rows=None) -> Path:
    """A CED folder with one packet (`rows`, default 50 valid events on 40x32) and black frames named so."""
    import cv2

    folder.mkdir()
    if rows is None:
        rows = np.stack([np.arange(50) * 1000.0, np.arange(50) % 40, np.arange(50) % 32, np.arange(50) % 2], 1)
    np.save(folder / "1000.npy", rows)
    for name in frame_names:
        cv2.imwrite(str(folder / f"{name}.png"), np.zeros((32, 40, 3), np.uint8))
    return folder


def test_ced_frame_named_beyond_the_int64_microsecond_range_makes_the_frames_unusable(tmp_path):
    from egvsr.events.io import describe

    folder = _ced_folder(tmp_path / "huge", [0, 10**25])
    with open_events(folder) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, f"{folder}: frame '{10**25}.png' is named {10**25} ns, beyond the int64 microsecond")
    text, problems = describe(folder, with_problems=True)
    assert "coordinates  all inside 40x32" in text
    assert problems == [f"frames unusable: frame '{10**25}.png' is named {10**25} ns, beyond the int64 microsecond "
                        "range; expected the frame's time in nanoseconds"]


@pytest.mark.parametrize("names, pair", [((0, 1, 100_000_000), ("0", "1")), (("0123", "123", 5000), ("0123", "123"))])
def test_ced_frames_in_the_same_microsecond_are_refused_naming_both(tmp_path, names, pair):
    from egvsr.events.io import describe

    folder = _ced_folder(tmp_path / "dup", names)
    with open_events(folder) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, f"{folder}: frame times must strictly increase; '{pair[0]}.png' and '{pair[1]}.png' "
                             "are both at 0 µs")
    assert "frames       unusable: frame times must strictly increase" in describe(folder)


@pytest.mark.parametrize("bad", [45.0, 3.5, np.inf, np.nan, -1.0, 1e300])
def test_info_counts_bad_ced_coordinates_in_its_full_report(tmp_path, bad):
    from egvsr.events.io import describe

    rows = np.stack([np.arange(50) * 1000.0, np.arange(50) % 40, np.arange(50) % 32, np.arange(50) % 2], 1)
    rows[5, 1] = rows[7, 2] = bad
    folder = _ced_folder(tmp_path / "ced", [0], rows)
    text, problems = describe(folder, with_problems=True)
    assert "sorted       yes" in text and "coordinates  2 outside 40x32" in text
    assert problems and "2 events have coordinates outside the 40x32 sensor" in problems[0]
    with pytest.raises(EventValidationError, match=r"column 1 \(x\) of event 5 is"):
        read_events(folder)  # reading still stops at the first


def test_aedat4_negative_coordinate_is_reported_with_its_value(tmp_path):
    pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    from tests.events.io.test_layouts import write_aedat4

    x = np.arange(20) % 40
    x[9] = -2  # stored int16
    write_aedat4(tmp_path / "neg.aedat4", [(np.arange(20) * 10, x, np.arange(20) % 32, np.arange(20) % 2)], 40, 32)
    with pytest.raises(EventValidationError) as err:
        read_events(tmp_path / "neg.aedat4")
    check_message(err.value, "neg.aedat4: x[9] = -2 is outside the 40x32 sensor")


# ---- argument types: frame indices, chunk sizes ------------------------------------------------
def _three_frames(tmp_path, random_stream):
    """A recording of 3 gray frames (at 0, 10 and 20 µs) and 10 events."""
    frames = Frames(np.zeros((3, 260, 346, 1), np.uint8), np.array([0, 10, 20]))
    return write_events(tmp_path / "f.h5", random_stream(10), frames=frames)


@pytest.mark.parametrize("index", [None, "0", 1.0, True, np.True_])
def test_a_frame_index_of_another_type_is_an_index_type_error(tmp_path, random_stream, index):
    path = _three_frames(tmp_path, random_stream)
    with open_events(path) as src, pytest.raises(IndexTypeError) as err:
        src.read_frame(index)
    check_message(err.value, f"{path}: frame index {index!r}: expected an integer")
    assert isinstance(err.value, TypeError)


@pytest.mark.parametrize("index", [-1, 3, np.int64(7)])
def test_a_frame_index_out_of_range_is_an_index_range_error(tmp_path, random_stream, index):
    path = _three_frames(tmp_path, random_stream)
    with open_events(path) as src, pytest.raises(IndexRangeError) as err:
        src.read_frame(index)
    check_message(err.value, f"frame index {int(index)} out of range: the file has 3 frames (valid indices 0..2)")
    assert isinstance(err.value, IndexError)


@pytest.mark.parametrize("max_events", [1.5, 0, True, "8", None])
def test_a_chunk_size_that_is_not_a_positive_integer_is_refused(tmp_path, random_stream, max_events):
    path = write_events(tmp_path / "e.h5", random_stream(10))
    with open_events(path) as src:
        for call in (lambda: next(src.iter_chunks(max_events=max_events)),
                     lambda: src.polarity_counts(max_events)):
            with pytest.raises(ConfigError) as err:
                call()
            check_message(err.value, f"max_events: expected an integer >= 1, got {max_events!r}")


def test_info_names_one_event_outside_the_sensor_in_the_singular(tmp_path):
    from egvsr.events.io import describe

    rows = np.stack([np.arange(50) * 1000.0, np.arange(50) % 40, np.arange(50) % 32, np.arange(50) % 2], 1)
    rows[5, 1] = 40
    _, problems = describe(_ced_folder(tmp_path / "ced", [0], rows), with_problems=True)
    assert problems and problems[0].startswith("1 event has coordinates outside the 40x32 sensor")
