"""Our HDF5 layout: write/read round trips, window reads, streaming writer, atomicity."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import EventValidationError, FormatError, OutputExistsError
from egvsr.events import EventStream, Frames
from egvsr.events.io import EventWriter, detect_layout, open_events, read_events, write_events


def _same(a: EventStream, b: EventStream) -> None:
    assert (a.width, a.height) == (b.width, b.height)
    assert len(a) == len(b)
    for k in ("x", "y", "t", "p"):
        got, want = getattr(a, k), getattr(b, k)
        assert got.dtype == want.dtype, k
        np.testing.assert_array_equal(got, want, err_msg=k)


def _frames(n: int, h: int = 260, w: int = 346, c: int = 3, t0: int = 0, seed: int = 1) -> Frames:
    rng = np.random.default_rng(seed)
    return Frames(rng.integers(0, 256, (n, h, w, c), dtype=np.uint8), t0 + 40_000 * np.arange(n))


def test_round_trip_every_field_and_the_layout_keys(tmp_path, random_stream):
    s = random_stream(50_000, t_span=2_000_000)
    fr, gt = _frames(4), _frames(7, c=1, seed=2)
    out = write_events(tmp_path / "rec.h5", s, frames=fr, gt_frames=gt, attrs={"source": "unit test"})
    assert detect_layout(out) == "egvsr"
    with h5py.File(out) as f:
        assert f.attrs["format"] == "egvsr" and f.attrs["version"] == 1
        assert (f.attrs["width"], f.attrs["height"], f.attrs["num_events"]) == (346, 260, 50_000)
        assert f.attrs["source"] == "unit test"
        assert f["events/x"].dtype == np.uint16 and f["events/t"].dtype == np.int64
        assert f["events/p"].dtype == np.int8 and f["events/x"].compression is not None
        idx = f["events/ms_to_idx"][()]
        t0 = int(f["events/ms_to_idx"].attrs["t0_us"])
    # the index definition: idx[k] = first i with t[i] >= t0 + 1000 k, last entry = N
    want = np.searchsorted(s.t, t0 + 1000 * np.arange(len(idx)), side="left")
    np.testing.assert_array_equal(idx, want)
    assert idx[-1] == len(s) and t0 == s.t[0]
    with open_events(out) as src:
        _same(src.read(), s)
        assert (src.t_first, src.t_last) == (int(s.t[0]), int(s.t[-1]))
        np.testing.assert_array_equal(src.frame_times(), fr.t)
        np.testing.assert_array_equal(src.read_frame(2), fr.images[2])
        np.testing.assert_array_equal(src.gt_times(), gt.t)
        np.testing.assert_array_equal(src.read_gt(6), gt.images[6])
        assert src.num_frames == 4
        np.testing.assert_array_equal(src.read_frames().images, fr.images)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 3000),
    span=st.integers(1, 20_000),
    chunk=st.integers(1, 700),
    window=st.tuples(st.integers(-100, 21_000), st.integers(-100, 21_000)),
    pieces=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_streamed_writes_and_window_reads_match_slicing(tmp_path_factory, n, span, chunk, window, pieces, seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n)).astype(np.int64) + 5_000
    s = EventStream(
        rng.integers(0, 64, n).astype(np.uint16), rng.integers(0, 48, n).astype(np.uint16), t,
        (rng.integers(0, 2, n) * 2 - 1).astype(np.int8), 64, 48,
    )
    out = tmp_path_factory.mktemp("w") / "s.h5"
    cuts = np.sort(rng.integers(0, n + 1, pieces - 1)) if n else np.zeros(pieces - 1, int)
    with EventWriter(out, 64, 48, chunk_events=chunk) as w:
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]):
            w.append(s.take(int(a), int(b)))
    t0, t1 = window[0] + 5_000, window[1] + 5_000
    with open_events(out) as src:
        _same(src.read(), s)
        _same(src.read(t0, t1), s.slice(t0, t1))
        _same(src.read(None, t1), s.slice(None, t1))
        parts = list(src.iter_chunks(max_events=max(1, chunk // 2 + 1), t0=t0))
        _same(EventStream.concatenate(parts) if parts else EventStream.empty(64, 48), s.slice(t0, None))


def test_window_read_touches_only_the_window(tmp_path, random_stream, monkeypatch):
    s = random_stream(400_000, t_span=10_000_000)
    out = write_events(tmp_path / "big.h5", s)
    with open_events(out) as src:
        calls = []
        real = src._read_arrays
        monkeypatch.setattr(src, "_read_arrays", lambda a, b: calls.append((a, b)) or real(a, b))
        w = src.read(5_000_000, 5_100_000)
        _same(w, s.slice(5_000_000, 5_100_000))
        assert calls == [tuple(s.index_range(5_000_000, 5_100_000))]


def test_empty_stream_is_valid(tmp_path):
    out = write_events(tmp_path / "empty.h5", EventStream.empty(10, 8))
    with open_events(out) as src:
        assert src.num_events == 0 and src.t_first is None and src.t_last is None
        r = src.read(0, 100)
        assert len(r) == 0 and (r.width, r.height) == (10, 8)
        assert list(src.iter_chunks()) == []
        assert src.frame_times() is None and src.num_frames == 0
    assert len(read_events(out)) == 0


def test_existing_output_is_refused_and_kept(tmp_path, random_stream):
    out = tmp_path / "rec.h5"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match=r"rec\.h5: output already exists"):
        write_events(out, random_stream(10))
    assert out.read_bytes() == b"precious"
    write_events(out, random_stream(10), overwrite=True)
    assert len(read_events(out)) == 10


def test_failure_inside_the_writer_leaves_nothing(tmp_path, random_stream):
    out = tmp_path / "rec.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with EventWriter(out, 346, 260) as w:
            w.append(random_stream(1000))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_out_of_order_append_names_the_event_index(tmp_path, random_stream):
    s = random_stream(100)
    with pytest.raises(EventValidationError, match=r"before the previous event .*event index 100"):
        with EventWriter(tmp_path / "o.h5", 346, 260) as w:
            w.append(s)
            w.append(s)
    assert not (tmp_path / "o.h5").exists()


def test_frames_must_match_the_sensor(tmp_path, random_stream):
    with pytest.raises(EventValidationError, match=r"frames are 10x10, expected .* 346x260"):
        write_events(tmp_path / "f.h5", random_stream(5), frames=_frames(2, 10, 10))


def test_frames_appended_in_batches_continue_the_timeline(tmp_path, random_stream):
    fr = _frames(5)
    with EventWriter(tmp_path / "f.h5", 346, 260) as w:
        w.append(random_stream(10))
        w.write_frames(Frames(fr.images[:2], fr.t[:2]))
        w.write_frames(Frames(fr.images[2:], fr.t[2:]))
        with pytest.raises(EventValidationError, match="strictly increase"):
            w.write_frames(Frames(fr.images[:1], fr.t[:1]))
    with open_events(tmp_path / "f.h5") as src:
        np.testing.assert_array_equal(src.read_frames().images, fr.images)


def test_file_without_index_is_read_by_bisection(tmp_path, random_stream):
    s = random_stream(200_000, t_span=1_000_000)
    out = write_events(tmp_path / "noidx.h5", s)
    with h5py.File(out, "a") as f:
        del f["events/ms_to_idx"]
    with open_events(out) as src:
        _same(src.read(123_456, 654_321), s.slice(123_456, 654_321))


def test_large_gap_skips_the_index(tmp_path, random_stream):
    s = random_stream(1000, t_span=1000)
    far = EventStream(s.x[:1], s.y[:1], np.array([10**13]), s.p[:1], 346, 260)
    with EventWriter(tmp_path / "gap.h5", 346, 260) as w:
        w.append(s)
        w.append(far)
    with h5py.File(tmp_path / "gap.h5") as f:
        assert "ms_to_idx" not in f["events"]
    with open_events(tmp_path / "gap.h5") as src:
        assert len(src.read(10**12, None)) == 1 and src.num_events == 1001


def test_storage_is_the_documented_one(tmp_path, random_stream):
    """docs/io.md: events in chunks of 131072, gzip level 1 + shuffle (no plugin needed to read them);
    frames one per chunk, so a window's frames decompress alone."""
    out = write_events(tmp_path / "c.h5", random_stream(1000), frames=_frames(3), gt_frames=_frames(2, c=1))
    with h5py.File(out) as f:
        for key in ("events/x", "events/y", "events/t", "events/p", "frames/images", "gt/images"):
            d = f[key]
            assert (d.compression, d.compression_opts, d.shuffle) == ("gzip", 1, True), key
        assert all(f[f"events/{k}"].chunks == (131_072,) for k in "xytp")
        assert f["frames/images"].chunks == (1, 260, 346, 3) and f["gt/images"].chunks == (1, 260, 346, 1)


def test_chunks_read_into_reused_buffers_match_fresh_reads(tmp_path, random_stream):
    s = random_stream(10_000)
    write_events(tmp_path / "e.h5", s)
    with open_events(tmp_path / "e.h5") as src:
        fresh = [c.t.copy() for c in src.iter_chunks(1500, t0=int(s.t[100]), t1=int(s.t[9000]))]
        ring = list(src.iter_chunks(1500, t0=int(s.t[100]), t1=int(s.t[9000]), reuse=2))
        copies = []
        for c in src.iter_chunks(1500, t0=int(s.t[100]), t1=int(s.t[9000]), reuse=2):
            copies.append(EventStream(c.x.copy(), c.y.copy(), c.t.copy(), c.p.copy(), c.width, c.height))
    assert [len(c) for c in ring] == [len(t) for t in fresh]
    joined = EventStream.concatenate(copies)
    _same(joined, s.slice(int(s.t[100]), int(s.t[9000])))
    # the contract: a chunk is a view of ring memory, overwritten two chunks later
    assert np.shares_memory(ring[0].t, ring[2].t)
    assert not np.shares_memory(ring[0].t, ring[1].t)


def test_writer_and_convert_arguments_of_the_wrong_type_are_named(tmp_path, random_stream):
    from egvsr.errors import ConfigError
    from egvsr.events.io import convert

    s = random_stream(100)
    src = write_events(tmp_path / "in.h5", s)
    for kwargs, needle in ((dict(chunk_events=None), "convert chunk_events: expected an integer >= 1"),
                           (dict(chunk_events=float("nan")), "convert chunk_events"),
                           (dict(chunk_events=0), "convert chunk_events")):
        with pytest.raises(ConfigError, match=needle):
            convert(src, tmp_path / "out.h5", progress=False, **kwargs)
    with pytest.raises(ConfigError, match="convert dst: expected a file path"):
        convert(src, None, progress=False)
    with pytest.raises(ConfigError, match="EventWriter attrs: expected a mapping"):
        write_events(tmp_path / "w.h5", s, attrs="abc")
    assert convert(src, tmp_path / "ok.h5", progress=False, chunk_events=np.int64(7)).exists()
    assert not (tmp_path / "out.h5").exists() and not (tmp_path / "w.h5").exists()


def test_a_frame_larger_than_a_chunk_is_stored_in_chunks_of_whole_rows(tmp_path, random_stream, monkeypatch):
    """Compressing a frame then takes buffers of a chunk, not of the frame, and no chunk reaches HDF5's limit."""
    import egvsr.events.io.writer as writer

    monkeypatch.setattr(writer, "FRAME_CHUNK_BYTES", 346 * 3 * 100 + 5)  # 100 RGB rows (gray: 300)
    frames, gt = _frames(3), _frames(2, c=1)
    out = write_events(tmp_path / "c.h5", random_stream(100), frames=frames, gt_frames=gt)
    with h5py.File(out) as f:
        assert f["frames/images"].chunks == (1, 100, 346, 3) and f["gt/images"].chunks == (1, 260, 346, 1)
    with open_events(out) as src:
        np.testing.assert_array_equal(src.read_frames().images, frames.images)
        np.testing.assert_array_equal(src.read_gt_frames().images, gt.images)


def _with_frames(path, random_stream, n: int = 5):
    return write_events(path, random_stream(300), frames=_frames(n), gt_frames=_frames(2, c=1, t0=20_000))


def test_convert_copies_frames_a_bounded_number_of_bytes_at_a_time(tmp_path, random_stream, monkeypatch):
    """Frames are copied up to 16 at a time but at most FRAME_BATCH_BYTES at a time: a large frame alone."""
    import egvsr.events.io.converter as converter
    from egvsr.events.io import convert
    from egvsr.events.io.egvsr_h5 import EgvsrH5Source

    src = _with_frames(tmp_path / "in.h5", random_stream)
    batches = []
    read_frames = EgvsrH5Source.read_frames
    monkeypatch.setattr(EgvsrH5Source, "read_frames",
                        lambda self, a, b: batches.append(b - a) or read_frames(self, a, b))
    monkeypatch.setattr(converter, "FRAME_BATCH_BYTES", 2 * 260 * 346 * 3)  # two RGB frames
    out = convert(src, tmp_path / "two.h5", progress=False)
    assert batches == [2, 2, 1]
    batches.clear()
    monkeypatch.setattr(converter, "FRAME_BATCH_BYTES", 1)  # smaller than one frame: one at a time
    convert(src, tmp_path / "one.h5", progress=False)
    assert batches == [1] * 5
    monkeypatch.undo()
    with open_events(src) as a, open_events(out) as b:
        np.testing.assert_array_equal(a.read_frames().images, b.read_frames().images)
        np.testing.assert_array_equal(a.read_gt_frames().images, b.read_gt_frames().images)


def test_convert_refuses_frames_too_large_for_memory_before_converting_anything(tmp_path, random_stream,
                                                                               monkeypatch):
    """A small compressed file may declare frames of any size: the copy of one frame is sized from the
    declared shape and refused up front, naming the input, before any event is read or frame decoded."""
    import egvsr.events.io.converter as converter
    from egvsr.errors import InputFileError
    from egvsr.events.io import convert
    from egvsr.events.io.egvsr_h5 import EgvsrH5Source
    from tests._reliability import check_message

    src = _with_frames(tmp_path / "in.h5", random_stream)
    monkeypatch.setattr(converter, "FRAME_BATCH_BYTES", 1)
    one_frame = converter.copy_memory_bytes((260, 346, 3))
    assert one_frame >= 2 * 260 * 346 * 3
    total = int(one_frame / converter.PLANNED_MEMORY_SHARE) - 1000  # 80% of it is just below one copy
    monkeypatch.setattr(converter, "physical_memory", lambda: total)
    for name in ("iter_chunks", "read_frame", "read_gt"):
        monkeypatch.setattr(EgvsrH5Source, name, lambda *a, **k: pytest.fail("read before the check"))
    with pytest.raises(InputFileError) as err:
        convert(src, tmp_path / "out.h5", progress=False)
    check_message(err.value, f"{src}: its 346x260 frames need about", "of memory at once, above the budget",
                  "convert copies one frame at a time")
    assert not (tmp_path / "out.h5").exists()
    monkeypatch.undo()
    monkeypatch.setattr(converter, "FRAME_BATCH_BYTES", 1)
    monkeypatch.setattr(converter, "physical_memory", lambda: total + 10_000)  # one copy fits: converted
    assert convert(src, tmp_path / "out.h5", progress=False).exists()


def test_frame_reads_check_the_storage_once_per_open_file(tmp_path, monkeypatch):
    """Every read_frame re-ran `check_stored`, a walk over the whole chunk index, so reading one frame cost
    O(frames) (17.9 ms each at 200k frames): the groups are now checked once per open file."""
    from egvsr.events.io import h5util

    s = EventStream(np.zeros(3, np.uint16), np.zeros(3, np.uint16), np.arange(3), np.ones(3, np.int8), 4, 4)
    fr, gt = _frames(40, 4, 4, 1), _frames(30, 4, 4, 1, seed=2)
    path = write_events(tmp_path / "rec.h5", s, frames=fr, gt_frames=gt)
    checked = []
    real = h5util.check_stored
    monkeypatch.setattr(h5util, "check_stored", lambda ds, key, p: (checked.append(key), real(ds, key, p))[1])
    with open_events(path) as src:
        for _ in range(3):
            for i in range(40):
                np.testing.assert_array_equal(src.read_frame(i), fr.images[i])
            for i in range(30):
                np.testing.assert_array_equal(src.read_gt(i), gt.images[i])
            assert src.num_frames == 40 and src.frame_shape() == (4, 4, 1) and src.gt_shape() == (4, 4, 1)
            np.testing.assert_array_equal(src.read_frames(5, 9).t, fr.t[5:9])
            np.testing.assert_array_equal(src.read_gt_frames().t, gt.t)
            times = src.frame_times()
            np.testing.assert_array_equal(times, fr.t)
            times[:] = -1  # a copy: the source's own times stay as they are
            src.read_frames(0, 2).t[:] = -1
        np.testing.assert_array_equal(src.frame_times(), fr.t)
    frame_checks = [k for k in checked if not k.startswith("events/")]
    assert sorted(frame_checks) == ["frames/images", "frames/t", "gt/images", "gt/t"]


def test_events_at_the_lowest_int64_time_keep_their_index(tmp_path):
    # the index origin t0_us is the first event's time: int64's minimum is a valid origin, and windows
    # read through the index match slicing
    lo = -(2**63)
    t = np.array([lo, lo + 5, lo + 2500, lo + 2600], np.int64)
    s = EventStream(np.arange(4, dtype=np.uint16), np.zeros(4, np.uint16), t,
                    np.array([1, -1, 1, -1], np.int8), 8, 8)
    out = write_events(tmp_path / "lo.h5", s)
    with h5py.File(out) as f:
        assert int(f["events/ms_to_idx"].attrs["t0_us"]) == lo
    with open_events(out) as src:
        for a, b in ((lo, lo + 1), (lo + 3, lo + 2550), (lo + 1000, lo + 2601), (lo, lo + 10**6)):
            _same(src.read(a, b), s.slice(a, b))


@pytest.mark.parametrize("t0", [np.uint64(2**63), np.uint64(2**64 - 1), 1.5, True])
def test_an_index_origin_outside_int64_is_refused(tmp_path, t0):
    # t0_us is int64 microseconds (docs/io.md); one past int64's maximum is a damaged file, not a time
    t = np.array([0, 5, 2500], np.int64)
    s = EventStream(np.arange(3, dtype=np.uint16), np.zeros(3, np.uint16), t, np.array([1, -1, 1], np.int8), 8, 8)
    out = write_events(tmp_path / "hi.h5", s)
    with h5py.File(out, "a") as f:
        f["events/ms_to_idx"].attrs["t0_us"] = t0
    with pytest.raises(FormatError, match=r"hi\.h5: 'events/ms_to_idx' attribute 't0_us' = .*expected integer"):
        open_events(out)


@pytest.mark.parametrize("group", ["frames", "gt"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frame_times_stored_as_floats_are_refused_not_truncated(tmp_path, group, dtype):
    # frame times are integer microseconds (docs/io.md); 100.5 must not be read as 100
    t = np.array([0, 5, 2500], np.int64)
    s = EventStream(np.arange(3, dtype=np.uint16), np.zeros(3, np.uint16), t, np.array([1, -1, 1], np.int8), 8, 8)
    fr = Frames(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 100]))
    out = write_events(tmp_path / "f.h5", s, **{"frames" if group == "frames" else "gt_frames": fr})
    with h5py.File(out, "a") as f:
        del f[f"{group}/t"]
        f[f"{group}/t"] = np.array([0.0, 100.5], dtype)
    want = rf"f\.h5: '{group}/t' has dtype float\d+, expected integer microseconds"
    with open_events(out) as src:
        for read in ((src.frame_times, lambda: src.read_frame(0)) if group == "frames"
                     else (src.gt_times, lambda: src.read_gt(0))):
            with pytest.raises(FormatError, match=want):
                read()


@pytest.mark.parametrize("times", [[0, 100, 200], [0], [[0, 100]]])
def test_frame_times_not_one_per_image_are_refused(tmp_path, times):
    t = np.array([0, 5, 2500], np.int64)
    s = EventStream(np.arange(3, dtype=np.uint16), np.zeros(3, np.uint16), t, np.array([1, -1, 1], np.int8), 8, 8)
    out = write_events(tmp_path / "f.h5", s, frames=Frames(np.zeros((2, 8, 8, 1), np.uint8), np.array([0, 100])))
    with h5py.File(out, "a") as f:
        del f["frames/t"]
        f["frames/t"] = np.array(times, np.int64)
    with open_events(out) as src:
        for read in (src.frame_times, lambda: src.num_frames, lambda: src.read_frame(1)):
            with pytest.raises(FormatError, match=r"f\.h5: 'frames/t' has shape .*expected \(2,\) to match"):
                read()


@pytest.mark.parametrize("declared", [2, 4, 0, np.uint64(3 + 2**32)])
def test_num_events_other_than_the_arrays_hold_is_refused(tmp_path, declared):
    t = np.array([0, 5, 2500], np.int64)
    s = EventStream(np.arange(3, dtype=np.uint16), np.zeros(3, np.uint16), t, np.array([1, -1, 1], np.int8), 8, 8)
    out = write_events(tmp_path / "n.h5", s)
    with h5py.File(out, "a") as f:
        f.attrs["num_events"] = declared
    with pytest.raises(FormatError, match=rf"n\.h5: attribute num_events = {int(declared)} but the event arrays "
                                          r"hold 3 events"):
        open_events(out)
