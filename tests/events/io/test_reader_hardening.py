"""Readers refuse, in one line naming the file and key, what they used to read wrongly without a word: image
data stored in other files (read as black), frame times that wrap around int64 (np.diff overflowed), exposure
timestamps, float32 seconds, dangling links (read as absent), malformed attributes and ground truth, 16-bit
CED frames."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import FormatError
from egvsr.events import EventStream, Frames
from egvsr.events.io import convert, open_events, write_events
from tests._reliability import check_message
from tests.events.io.test_frame_shapes import H, ON, T, W, X, Y, _ced, _ours
from tests.events.io.test_layouts import write_e2vid

I64 = np.iinfo(np.int64)
MISSING = "/nonexistent/egvsr-missing.h5"


def _e2vid(path, stamps=(1.0, 1.05), ts=None):
    """An E2VID file of gray images at `stamps` (each a timestamp attribute as stored) and events `ts`."""
    write_e2vid(path, X, Y, T, ON, [(np.full((H, W), 9, np.uint8), 0, "greyscale") for _ in stamps],
                sensor_resolution=(H, W))
    with h5py.File(path, "r+") as f:
        for i, stamp in enumerate(stamps):
            f[f"images/image{i:09d}"].attrs["timestamp"] = stamp
        if ts is not None:
            del f["events/ts"]
            f["events/ts"] = ts
    return path


# ---- 1. image data stored elsewhere ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["virtual", "external"])
def test_an_e2vid_image_stored_in_another_file_is_refused_not_read_black(tmp_path, kind):
    path = _e2vid(tmp_path / "e.h5")
    with h5py.File(path, "r+") as f:
        attrs = dict(f["images/image000000001"].attrs)
        del f["images/image000000001"]
        if kind == "virtual":
            layout = h5py.VirtualLayout((H, W), np.uint8)
            layout[:] = h5py.VirtualSource(MISSING, "x", shape=(H, W))
            ds = f.create_virtual_dataset("images/image000000001", layout, fillvalue=0)
        else:
            ds = f.create_dataset("images/image000000001", (H, W), np.uint8, external=[(MISSING, 0, H * W)])
        ds.attrs.update(attrs)
    with open_events(path) as src:
        for call in (src.frame_times, lambda: src.read_frame(1)):
            with pytest.raises(FormatError) as err:
                call()
            check_message(err.value, f"{path}: 'images/image000000001' is a{'n' if kind == 'external' else ''} "
                                     f"{kind} dataset (its data lives in other files)")
    assert main(["info", str(path)]) == 2  # frames unusable, the events still described


# ---- 2. frame times that wrap around int64 --------------------------------------------------------------------
def test_our_frame_times_that_wrap_around_int64_are_refused(tmp_path):
    path = _ours(tmp_path / "o.h5")
    with h5py.File(path, "r+") as f:
        f["frames/t"][...] = [I64.max - 1000, I64.min + 1000]  # np.diff wraps: +2001
    with open_events(path) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, "'frames/t' must strictly increase; fails at index 1")


def test_e2vid_frame_times_that_wrap_around_int64_are_refused(tmp_path):
    path = _e2vid(tmp_path / "e.h5", stamps=(9.2e12, -9.2e12, -9.1e12))
    with open_events(path) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, "image timestamps must strictly increase; 'images/image000000001' does not")


def test_in_memory_frame_times_that_wrap_around_int64_are_refused():
    from egvsr.errors import EventValidationError

    with pytest.raises(EventValidationError, match="decreasing at index 1"):
        Frames(np.zeros((2, 2, 2, 1), np.uint8), np.array([I64.max - 1000, I64.min + 1000]))


# ---- 3-5. E2VID timestamps ------------------------------------------------------------------------------------
def test_an_e2vid_exposure_timestamp_is_its_middle(tmp_path):
    path = _e2vid(tmp_path / "e.h5", stamps=(np.array([0.995, 1.005]), np.array([1.045, 1.055])))
    with open_events(path) as src:
        np.testing.assert_array_equal(src.frame_times(), [1_000_000, 1_050_000])


def test_integer_e2vid_image_timestamps_are_microseconds_as_integer_event_times_are(tmp_path):
    """A writer that stores integer µs event times stores its images' times in µs too (event_utils' packagers
    look each image's time up among the events'): they were read as seconds, so the frames of a recording that
    starts at 1 s lay at 11.6 days and every event tensor came out zero."""
    path = _e2vid(tmp_path / "e.h5", stamps=(np.int64(T[10]), np.array([T[150] - 7, T[150] + 8], np.int64),
                                             np.uint32(T[-1])), ts=np.asarray(T, np.int64))
    with open_events(path) as src:
        np.testing.assert_array_equal(src.frame_times(), [T[10], T[150], T[-1]])
        assert src.t_first <= src.frame_times()[0] < src.frame_times()[-1] <= src.t_last
    from egvsr.datasets import open_recording

    assert open_recording(path).events_outside_frames() is None  # the clocks agree


@pytest.mark.parametrize("stamp, message", [
    (np.array([1.0, 1.01, 1.02]), "is [1.0, 1.01, 1.02], expected a time, float64 seconds or integer µs (or the "
                                  "[begin, end]"),
    (np.array([1.01, 1.0]), "is [1.01, 1.0], an exposure [begin, end] that ends before it begins"),
    (np.float32(1.0), "has dtype float32, expected float64 seconds"),
    (1.6e15, "is 1600000000000000.0, out of range for seconds (beyond the int64 microsecond range: is it in µs "
             "or ns?)"),
    (np.uint64(2**63), "is 9223372036854775808, beyond the int64 microsecond range (>= 2**63); expected integer "
                       "microseconds (or float64 seconds)"),
    (float("nan"), "is nan, expected finite seconds"),
])
def test_e2vid_image_timestamps_the_reader_cannot_take_are_named(tmp_path, stamp, message):
    path = _e2vid(tmp_path / "e.h5", stamps=(stamp, 2.0))
    with open_events(path) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, f"{path}: 'images/image000000000' attribute 'timestamp' {message}")


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_e2vid_event_times_in_float32_seconds_are_refused(tmp_path, dtype):
    path = _e2vid(tmp_path / "e.h5", ts=(T / 1e6).astype(dtype))
    with pytest.raises(FormatError) as err:
        open_events(path)
    check_message(err.value, f"{path}: 'events/ts' has dtype {np.dtype(dtype)}, expected float64 seconds")


# ---- 7. dangling links ----------------------------------------------------------------------------------------
def _ours_linked(path, key):
    s = EventStream(X.astype(np.uint16), Y.astype(np.uint16), T, np.where(ON, 1, -1).astype(np.int8), W, H)
    write_events(path, s, frames=Frames(np.zeros((2, H, W, 1), np.uint8), np.array([1_000_000, 1_050_000])))
    with h5py.File(path, "r+") as f:
        del f[key]
        f[key] = h5py.ExternalLink(MISSING, "/" + key)
    return path


def test_event_times_behind_a_dangling_link_name_the_key_and_the_missing_file(tmp_path):
    path = _ours_linked(tmp_path / "o.h5", "events/t")
    with pytest.raises(FormatError) as err:
        open_events(path)
    check_message(err.value, f"{path}: 'events/t' is an external link to '/events/t' in {MISSING}, which does "
                             "not exist")


def test_frames_behind_a_dangling_link_are_not_taken_as_no_frames(tmp_path):
    path = _ours_linked(tmp_path / "o.h5", "frames")
    with open_events(path) as src, pytest.raises(FormatError) as err:
        src.frame_times()
    check_message(err.value, f"'frames' is an external link to '/frames' in {MISSING}, which does not exist")
    with pytest.raises(FormatError, match="'frames' is an external link"):
        convert(path, tmp_path / "out.h5", progress=False)
    assert not (tmp_path / "out.h5").exists()


# ---- 8-9. malformed attributes and ground truth ---------------------------------------------------------------
def test_a_malformed_num_events_attribute_is_named(tmp_path):
    path = _ours(tmp_path / "o.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["num_events"] = "3000 events"
    with pytest.raises(FormatError) as err:
        open_events(path)
    check_message(err.value, f"{path}: root attribute 'num_events' = '3000 events', expected an integer")


@pytest.mark.parametrize("version,shown", [(0, "= 0"), (-3, "= -3"), ("1", "= '1'"), (1.0, "= 1.0"), (None, "is missing")])
def test_a_version_that_no_egvsr_writes_is_named_as_damage_not_as_newer(tmp_path, version, shown):
    """Version 0 or -3 was read as version 1, and '1' was called a version of a newer egvsr."""
    path = _ours(tmp_path / "o.h5")
    with h5py.File(path, "r+") as f:
        if version is None:
            del f.attrs["version"]
        else:
            f.attrs["version"] = version
    with pytest.raises(FormatError) as err:
        open_events(path)
    check_message(err.value, f"{path}: root attribute 'version' {shown}, expected an integer layout version 1..1")
    assert "newer" not in str(err.value)


def test_malformed_ground_truth_is_unusable_in_info_and_ignored_by_show(tmp_path, capsys):
    path = _ours(tmp_path / "o.h5", gt_size=(H, W))
    with h5py.File(path, "r+") as f:
        del f["gt/images"]
        f["gt/images"] = np.zeros((1, H, W), np.uint8)  # no channel axis
    assert main(["info", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "frames       2 (" in out and "gt frames    unusable: 'gt/images' has shape (1, 30, 40)" in out
    assert err.strip().endswith("C 1 or 3") and "ground-truth frames unusable: 'gt/images'" in err
    assert main(["show", str(path), "--out", str(tmp_path / "p.png")]) == 0
    with open_events(path) as src, pytest.raises(FormatError, match="'gt/images' has shape"):
        src.gt_times()  # what the commands that need ground truth read


# ---- 11. CED frames of more than 8 bits -----------------------------------------------------------------------
def test_a_16_bit_ced_frame_makes_the_frames_unusable_in_info(tmp_path, capsys):
    import cv2

    folder = _ced(tmp_path / "ced", [(H, W), (H, W)])
    second = sorted(folder.glob("*.png"))[1]
    cv2.imwrite(str(second), np.full((H, W, 3), 1000, np.uint16))
    with open_events(folder) as src, pytest.raises(FormatError) as err:
        src.frame_shape()
    check_message(err.value, f"{second}: frame is 16-bit (its PNG header says so), expected 8-bit frames")
    assert main(["info", str(folder)]) == 2
    assert "frames       unusable: " in capsys.readouterr().out
