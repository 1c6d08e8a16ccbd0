"""Arguments of the readers and writers (`egvsr.events.io.arguments`): flags, paths, sizes, writer options,
forced layouts and frame ranges are refused in one line naming them, before anything is read or written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.errors import ConfigError, FormatError, IndexTypeError, InputFileError
from egvsr.events import EventStream, Frames
from egvsr.events.io import EventWriter, convert, detect_layout, open_events, read_events, write_events
from egvsr.events.io.arguments import printable
from egvsr.fsutil import check_flag
from egvsr.events.io.writer import MAX_CHUNK_EVENTS, check_chunk_events
from tests._reliability import check_message, fuzz_settings


@pytest.fixture
def rec(tmp_path, random_stream):
    """A small recording of our layout with 3 frames."""
    s = random_stream(200, width=8, height=6)
    frames = Frames(np.zeros((3, 6, 8, 1), np.uint8), np.array([0, 400_000, 800_000]))
    return write_events(tmp_path / "rec.h5", s, frames=frames)


NOT_BOOLS = st.one_of(st.text(max_size=4), st.integers(), st.floats(allow_nan=False), st.none(),
                      st.lists(st.booleans(), max_size=2))


@given(value=NOT_BOOLS)
@fuzz_settings(30)
def test_a_flag_is_only_true_or_false(value):
    with pytest.raises(ConfigError) as err:
        check_flag(value, "sort")
    check_message(err.value, f"`sort` {value!r}: expected True or False")


def test_numpy_booleans_are_flags():
    assert check_flag(np.bool_(True), "x") is True and check_flag(False, "x") is False


@pytest.mark.parametrize("kwargs, name", [({"sort": "no"}, "`sort` 'no'"), ({"progress": "no"}, "`progress` 'no'"),
                                          ({"sort": 1}, "`sort` 1")])
def test_convert_refuses_flags_that_are_not_booleans(rec, tmp_path, kwargs, name):
    with pytest.raises(ConfigError) as err:
        convert(rec, tmp_path / "out.h5", **kwargs)
    check_message(err.value, name, "expected True or False")
    assert not (tmp_path / "out.h5").exists()


def test_convert_takes_numpy_booleans(rec, tmp_path):
    out = convert(rec, tmp_path / "out.h5", sort=np.bool_(True), progress=np.bool_(False))
    got, want = read_events(out), read_events(rec)
    assert len(got) == 200 and (got.width, got.height) == (want.width, want.height)
    for k in "xytp":  # converted as with Python's True/False: every event kept, in order
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k))


def test_describe_refuses_a_flag_that_is_not_boolean(rec):
    from egvsr.events.io import describe

    with pytest.raises(ConfigError, match=r"`with_problems` 'yes': expected True or False"):
        describe(rec, with_problems="yes")


def test_a_name_too_long_to_look_up_names_the_file(tmp_path):
    path = str(tmp_path / ("b" * 300))
    for attempt in (lambda: read_events(path), lambda: detect_layout(path), lambda: open_events(path, layout="egvsr")):
        with pytest.raises(InputFileError) as err:
            attempt()
        check_message(err.value, path, "cannot be looked up (File name too long)")


def test_a_long_input_name_in_convert_is_one_line(tmp_path):
    with pytest.raises(InputFileError, match="File name too long"):
        convert(str(tmp_path / ("b" * 300)), tmp_path / "out.h5", progress=False)


@pytest.mark.parametrize("layout", ["ced", "evt2", "aedat4", "e2vid"])
def test_a_forced_layout_that_does_not_match_is_one_format_error(rec, layout, capfd):
    with pytest.raises(FormatError) as err:
        open_events(rec, layout=layout, sensor_size=(6, 8)).read()
    check_message(err.value, str(rec), f"layout {layout!r} was asked for", "it reads as layout 'egvsr'")
    assert "ERROR" not in capfd.readouterr().out  # the decoder never saw the file


def test_a_forced_file_layout_on_a_folder_is_refused(tmp_path):
    with pytest.raises(FormatError) as err:
        open_events(tmp_path, layout="egvsr")
    check_message(err.value, str(tmp_path), "layout 'egvsr' was asked for, but this folder is not one",
                  "it is no other layout egvsr knows")


def test_a_forced_byte_layout_reads_a_stream_no_layout_claims(tmp_path):
    # EVT3 words without their text header: no sniff accepts them, so forcing the layout is how they are read
    words = np.array([0x8000, 0x6000 | 100, 0x0002, 0x2000 | (1 << 11) | 3, 0x6000 | 150, 0x2000 | 5], np.uint16)
    path = tmp_path / "no_header.raw"
    path.write_bytes(words.tobytes())
    with pytest.raises(InputFileError):
        detect_layout(path)
    with open_events(path, layout="evt3", sensor_size=(4, 8)) as src:
        events = src.read()
    assert events.x.tolist() == [3, 5] and events.t.tolist() == [100, 150] and events.p.tolist() == [1, -1]


def test_a_forced_layout_that_matches_opens(rec):
    with open_events(rec, layout="egvsr") as src:
        assert src.num_events == 200


@pytest.mark.parametrize("call", [
    lambda s: write_events(b"/tmp/k/x.h5", s), lambda s: write_events(5, s),
    lambda s: EventWriter(b"x.h5", 4, 4), lambda s: detect_layout(b"/tmp/x"),
    lambda s: convert(b"in.h5", "out.h5"), lambda s: convert("in.h5", 5),
])
def test_paths_of_the_wrong_type_are_config_errors(random_stream, call):
    with pytest.raises(ConfigError) as err:
        call(random_stream(5, width=4, height=4))
    check_message(err.value, "expected a file path (str or os.PathLike)")


def test_a_nul_byte_in_a_path_is_shown_escaped(random_stream, tmp_path):
    for attempt in (lambda: read_events("a\0b"), lambda: write_events(str(tmp_path / "a\0b.h5"),
                                                                     random_stream(5, width=4, height=4))):
        with pytest.raises(ConfigError) as err:
            attempt()
        msg = check_message(err.value, "a\\x00b", "NUL byte")
        assert "\0" not in msg
    assert os.listdir(tmp_path) == []


def test_printable_escapes_what_does_not_print():
    assert printable("a\tb\nc\x01d é") == "a\\tb\\nc\\x01d é"


# ---- writer options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("attrs, needle", [
    ({"a": np.zeros(100_000)}, "attribute 'a'"),
    ({"": 1}, "attribute name '': expected a non-empty str"),
    ({3: 1}, "attribute name 3"),
    ({"o": object()}, "attribute 'o'"),
    ({"width": 9}, "attribute name 'width' is the layout's own"),
    ({"num_events": 0, "note": "x"}, "attribute name 'num_events' is the layout's own"),
])
def test_attributes_hdf5_cannot_store_are_refused_before_any_file(random_stream, tmp_path, attrs, needle):
    with pytest.raises(ConfigError) as err:
        write_events(tmp_path / "x.h5", random_stream(5, width=4, height=4), attrs=attrs)
    check_message(err.value, needle)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("compression, needle", [
    ({"compression": "foo"}, 'Compression filter "foo" is unavailable'),
    ({"foo": 1}, "unknown keyword(s) foo"),
    ({"chunks": (3,)}, "unknown keyword(s) chunks"),
    ({"compression": "gzip", "compression_opts": 15}, "GZIP setting"),
    ("gzip", "expected a mapping"),
])
def test_compression_is_checked_before_any_file(tmp_path, compression, needle):
    with pytest.raises(ConfigError) as err:
        EventWriter(tmp_path / "x.h5", 4, 4, compression=compression)
    check_message(err.value, "EventWriter compression", needle)
    assert os.listdir(tmp_path) == []


def test_other_filters_still_write(random_stream, tmp_path):
    s = random_stream(300, width=4, height=4)
    with EventWriter(tmp_path / "x.h5", 4, 4, compression={"compression": "lzf", "fletcher32": True}) as w:
        w.append(s)
    np.testing.assert_array_equal(read_events(tmp_path / "x.h5").t, s.t)


@pytest.mark.parametrize("chunk", [2**40, MAX_CHUNK_EVENTS + 1, 0, 2.0, True])
def test_chunk_events_is_bounded_before_allocation(tmp_path, chunk):
    with pytest.raises(ConfigError) as err:
        EventWriter(tmp_path / "x.h5", 4, 4, chunk_events=chunk)
    check_message(err.value, "EventWriter chunk_events: expected an integer in 1..")
    assert os.listdir(tmp_path) == []


def test_chunk_events_bound_follows_memory(monkeypatch):
    from egvsr.events.io import writer

    monkeypatch.setattr(writer, "physical_memory", lambda: 1 << 30)
    limit = int((1 << 30) * writer.PLANNED_MEMORY_SHARE) // writer.WRITE_BYTES_PER_EVENT
    assert check_chunk_events(limit) == limit
    with pytest.raises(ConfigError, match="bytes of memory an event"):
        check_chunk_events(limit + 1)
    monkeypatch.setattr(writer, "physical_memory", lambda: 0)  # unknown: the HDF5 limit only
    assert check_chunk_events(MAX_CHUNK_EVENTS) == MAX_CHUNK_EVENTS


# ---- sizes and frame ranges ---------------------------------------------------------------------------------

@given(size=st.tuples(st.floats(1, 100), st.floats(1, 100)) | st.tuples(st.integers(1, 9), st.just(4.0)))
@fuzz_settings(20)
def test_a_sensor_size_that_is_not_two_integers_is_refused(rec, size):
    with pytest.raises(ConfigError) as err:
        read_events(rec, sensor_size=size)
    check_message(err.value, "`sensor_size`: expected (height, width), two integers")


def test_numpy_integers_are_a_sensor_size(rec):
    assert read_events(rec, sensor_size=np.array([6, 8])).width == 8
    assert read_events(rec, sensor_size=(np.int64(6), 8)).height == 6


@pytest.mark.parametrize("bounds", [(0.5,), ([0, 1],), (0, 1.0), ("0",), (None,), (True,)])
def test_frame_ranges_take_integers_only(rec, bounds):
    with open_events(rec) as src:
        for read in (src.read_frames, src.read_gt_frames):
            with pytest.raises(IndexTypeError) as err:
                read(*bounds)
            check_message(err.value, str(rec), "index", "expected an integer")
        assert len(src.read_frames(np.int64(1), 3)) == 2


def test_frame_and_stream_of_matching_size_still_convert(rec, tmp_path):
    out = convert(rec, tmp_path / "copy.h5", progress=False)
    with open_events(out) as src:
        assert src.num_frames == 3 and isinstance(src.read(), EventStream)
