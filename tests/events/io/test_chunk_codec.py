"""Our own shuffle + gzip chunk coding (chunk_codec): files any HDF5 reader decodes, values as h5py reads them."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import InputFileError
from egvsr.events import EventStream
from egvsr.events.io import EventWriter, chunk_codec, h5util, read_events
from egvsr.events.io.chunk_codec import ChunkEncoder, supported


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([np.uint16, np.int64, np.int8, np.float64, np.uint64]),
    n=st.integers(0, 700),
    chunk=st.integers(1, 300),
    shuffle=st.booleans(),
    level=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_direct_chunks_decode_like_h5pys_own(tmp_path_factory, dtype, n, chunk, shuffle, level, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-100, 100, n).astype(dtype) if np.dtype(dtype).kind != "u" else \
        rng.integers(0, 200, n).astype(dtype)
    spec = {"compression": "gzip", "compression_opts": level, "shuffle": shuffle}
    path = tmp_path_factory.mktemp("codec") / "d.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("ours", shape=(n,), maxshape=(None,), dtype=dtype, chunks=(chunk,), **spec)
        with ThreadPoolExecutor(2) as pool:
            ChunkEncoder(spec, chunk).write(pool, [(ds, values)], 0)
        f.create_dataset("h5py", data=values, chunks=(chunk,), maxshape=(None,), **spec)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["ours"][()], values)
        np.testing.assert_array_equal(f["ours"][()], f["h5py"][()])
        assert (f["ours"].compression, f["ours"].compression_opts, f["ours"].shuffle) == ("gzip", level, shuffle)


def test_writes_start_on_chunk_boundaries(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        ds = f.create_dataset("d", shape=(20,), dtype=np.int64, chunks=(8,), compression="gzip")
        with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="chunk boundary"):
            ChunkEncoder({"compression": "gzip"}, 8).write(pool, [(ds, np.arange(4))], 3)


@pytest.mark.parametrize("spec, ok", [
    ({"compression": "gzip", "compression_opts": 1, "shuffle": True}, True),
    ({"compression": "gzip"}, True),
    ({"compression": "gzip", "compression_opts": None}, True),
    ({"compression": "gzip", "compression_opts": 10}, False),
    ({"compression": "lzf", "shuffle": True}, False),
    ({"compression": "gzip", "fletcher32": True}, False),
    ({}, False),
])
def test_only_plain_gzip_is_encoded_by_us(spec, ok):
    assert supported(spec) is ok


def _stream(n: int, seed: int = 0) -> EventStream:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 3_000_000, n)).astype(np.int64)
    return EventStream(rng.integers(0, 346, n).astype(np.uint16), rng.integers(0, 260, n).astype(np.uint16), t,
                       np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8), 346, 260)


@pytest.mark.parametrize("compression", [None, {"compression": "lzf", "shuffle": True}])
def test_writer_files_read_back_the_same_with_either_encoder(tmp_path, compression):
    s = _stream(10_001)
    out = tmp_path / "rec.h5"
    with EventWriter(out, 346, 260, compression=compression, chunk_events=1000) as w:
        for a in range(0, len(s), 2345):
            w.append(s.take(a, min(a + 2345, len(s))))
    got = read_events(out)
    for k in "xytp":
        np.testing.assert_array_equal(getattr(got, k), getattr(s, k))
    with h5py.File(out) as f:
        assert f["events/t"].chunks == (1000,)
        assert f["events/t"].compression == ("gzip" if compression is None else "lzf")


def test_an_encoding_failure_leaves_no_file(tmp_path, monkeypatch):
    calls = {"n": 0}
    encode = ChunkEncoder.encode

    def failing(self, values):
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError("simulated failure in a worker")
        return encode(self, values)

    monkeypatch.setattr(ChunkEncoder, "encode", failing)
    out = tmp_path / "rec.h5"
    with pytest.raises(OSError, match="simulated"):
        with EventWriter(out, 346, 260, chunk_events=500) as w:
            w.append(_stream(5000))
    assert list(tmp_path.iterdir()) == []


def test_thread_count_is_bounded():
    assert 1 <= chunk_codec.thread_count() <= chunk_codec.MAX_THREADS


# ---- reading: chunks decoded on the worker threads ------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([np.uint16, np.int64, np.int8, np.float32, np.uint64]),
    n=st.integers(1, 900),
    chunk=st.integers(1, 200),
    shuffle=st.booleans(),
    bounds=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**32 - 1),
)
def test_decoded_ranges_equal_h5pys_reads(tmp_path_factory, dtype, n, chunk, shuffle, bounds, seed):
    values = np.random.default_rng(seed).integers(0, 120, n).astype(dtype)
    path = tmp_path_factory.mktemp("decode") / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=values, chunks=(chunk,), maxshape=(None,), compression="gzip", shuffle=shuffle)
    i0, i1 = sorted(int(b * n) for b in bounds)
    with h5py.File(path) as f:
        out = np.full(i1 - i0, 7, dtype)
        used = chunk_codec.read_range_into(f["d"], out, i0)
        if used:
            np.testing.assert_array_equal(out, values[i0:i1])
        assert used == (i1 > i0)  # a read within one chunk too (bounded decoding)
        np.testing.assert_array_equal(h5util.read_slice(f["d"], i0, i1, path), values[i0:i1])


def test_other_storage_is_left_to_h5py(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("checksummed", data=np.arange(1000), chunks=(100,), compression="gzip", fletcher32=True)
        f.create_dataset("lzf", data=np.arange(1000), chunks=(100,), compression="lzf")
        sparse = f.create_dataset("sparse", shape=(1000,), chunks=(100,), dtype=np.int64, compression="gzip")
        sparse[0:100] = 5  # chunks 1..9 never written: fill values
        f.create_dataset("big_endian", data=np.arange(1000, dtype=">i8"), chunks=(100,), compression="gzip")
    with h5py.File(path) as f:
        for name in ("checksummed", "lzf", "sparse", "big_endian"):
            out = np.empty(500, f[name].dtype)
            assert not chunk_codec.read_range_into(f[name], out, 0), name
        assert h5util.read_slice(f["sparse"], 50, 250, path).tolist() == [5] * 50 + [0] * 150


def test_a_damaged_chunk_names_the_file_and_dataset(tmp_path):
    out = tmp_path / "rec.h5"
    with EventWriter(out, 346, 260, chunk_events=1000) as w:
        w.append(_stream(5000))
    with h5py.File(out) as f:
        info = f["events/t"].id.get_chunk_info(2)
    with open(out, "r+b") as fh:  # garble the middle of chunk 2's deflate stream
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\xff" * 16)
    with pytest.raises(InputFileError, match=r"rec\.h5: read failed while reading 'events/t'"):
        read_events(out)


def _child_read(path: str, queue) -> None:
    queue.put(read_events(path).t.sum())


def test_the_thread_pool_survives_a_fork(tmp_path):
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    out = tmp_path / "rec.h5"
    s = _stream(5000)
    with EventWriter(out, 346, 260, chunk_events=1000) as w:
        w.append(s)
    assert read_events(out).t.sum() == s.t.sum()  # the parent has made its pool
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_read, args=(str(out), queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) == s.t.sum()


def _zeros_deflated(nbytes: int) -> bytes:
    c = zlib.compressobj(9)
    parts, block = [], bytes(1 << 20)
    for a in range(0, nbytes, len(block)):
        parts.append(c.compress(block[:min(len(block), nbytes - a)]))
    return b"".join(parts) + c.flush()


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_chunk_whose_stream_runs_far_past_its_size_is_refused_not_inflated(tmp_path, shuffle):
    # a 64 KiB stream of zeros decoding to 64 MiB stored as an 8 KiB chunk: HDF5's filter inflates all of it
    # and reads the chunk's first 8 KiB without a word (a 1 MiB chunk stored in 1 MiB decodes to 1 GiB);
    # decoded here, it stops one byte past the chunk, whether the read spans that chunk only or several
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", data=np.arange(4096, dtype=np.int64), chunks=(1024,), maxshape=(None,),
                              compression="gzip", shuffle=shuffle)
        ds.id.write_direct_chunk((1024,), _zeros_deflated(64 << 20))
        assert ds.id.get_chunk_info(1).size < 1 << 17
    with h5py.File(path) as f:
        for i0, i1 in ((1500, 1501), (1024, 2048), (0, 4096)):
            with pytest.raises(InputFileError, match=r"d\.h5: read failed while reading 'd' \(chunk 1 decodes to "
                                                     r"more than the 8192 bytes of a chunk\)"):
                h5util.read_slice(f["d"], i0, i1, path)
        np.testing.assert_array_equal(h5util.read_slice(f["d"], 2048, 2050, path), [2048, 2049])  # others read


def test_reads_within_one_chunk_in_any_order_read_their_own_chunk(tmp_path):
    values = np.random.default_rng(3).integers(0, 1 << 40, 5000)
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=values, chunks=(700,), compression="gzip", shuffle=True)
        f.create_dataset("e", data=values[::-1].copy(), chunks=(700,), compression="gzip", shuffle=True)
    with h5py.File(path) as f:
        for i in np.random.default_rng(4).integers(0, 4990, 300).tolist() + [0, 699, 700, 4999]:
            assert h5util.read_slice(f["d"], i, min(i + 3, 5000), path).tolist() == values[i:i + 3].tolist()
            assert h5util.read_slice(f["e"], i, i + 1, path)[0] == values[4999 - i]


@pytest.mark.parametrize("rows_per_chunk", [260, 50])  # one chunk per frame, and chunks of rows (the last one short)
def test_frames_are_decoded_here_and_a_frame_chunk_running_past_its_size_is_refused(tmp_path, rows_per_chunk):
    from egvsr.events.frames import Frames
    from egvsr.events.io import open_events
    from egvsr.events.io import writer as writer_module

    img = (np.arange(260 * 346 * 3) % 251).astype(np.uint8).reshape(260, 346, 3)
    path = tmp_path / "rec.h5"
    chunk_bytes = rows_per_chunk * 346 * 3
    original = writer_module.FRAME_CHUNK_BYTES
    writer_module.FRAME_CHUNK_BYTES = chunk_bytes
    try:
        with EventWriter(path, 346, 260) as w:
            w.append(_stream(100))
            w.write_frames(Frames(np.stack([img, img[::-1], 255 - img]), np.array([0, 10, 20])))
    finally:
        writer_module.FRAME_CHUNK_BYTES = original
    with h5py.File(path, "a") as f:
        images = f["frames/images"]
        assert images.chunks == (1, rows_per_chunk, 346, 3)
        images.id.write_direct_chunk((1, 0, 0, 0), _zeros_deflated(16 << 20))  # frame 1's first rows
    with open_events(path) as src:
        np.testing.assert_array_equal(src.read_frame(0), img)
        np.testing.assert_array_equal(src.read_frame(2), 255 - img)
        with pytest.raises(InputFileError, match=r"rec\.h5: read failed while reading 'frames/images' \(chunk "
                                                 rf"\(1, 0, 0, 0\) decodes to more than the {chunk_bytes} bytes"):
            src.read_frame(1)


def test_frame_times_whose_chunk_runs_past_its_size_are_refused(tmp_path):
    from egvsr.events.frames import Frames
    from egvsr.events.io import open_events

    path = tmp_path / "rec.h5"
    img = np.zeros((260, 346, 3), np.uint8)
    with EventWriter(path, 346, 260) as w:
        w.append(_stream(100))
        w.write_frames(Frames(np.stack([img, img]), np.array([0, 10])))
    with h5py.File(path, "a") as f:  # the times stored gzip'd, their one chunk's stream going on for 16 MiB
        del f["frames/t"]
        ds = f.create_dataset("frames/t", data=np.array([0, 10]), chunks=(1024,), maxshape=(None,), compression="gzip")
        c = zlib.compressobj(9)
        ds.id.write_direct_chunk((0,), c.compress(np.array([0, 10], np.int64).tobytes()) + c.compress(bytes(16 << 20))
                                 + c.flush())
    with open_events(path) as src, pytest.raises(InputFileError, match=r"rec\.h5: read failed while reading "
                                                                      r"'frames/t' \(chunk 0 decodes to more than"):
        src.frame_times()


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int64, np.float32]),
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    data=st.data(),
    shuffle=st.booleans(),
)
def test_whole_arrays_and_their_rows_equal_h5pys_reads(tmp_path_factory, dtype, shape, data, shuffle):
    chunks = tuple(data.draw(st.integers(1, n + 2)) for n in shape)
    values = np.random.default_rng(len(shape)).integers(0, 250, shape).astype(dtype)
    path = tmp_path_factory.mktemp("arrays") / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=values, chunks=chunks, maxshape=(None,) * len(shape), compression="gzip",
                         shuffle=shuffle)
    with h5py.File(path) as f:
        got = chunk_codec.read_array(f["a"])
        assert got is not None and got.dtype == values.dtype
        np.testing.assert_array_equal(got, values)
        for i in range(shape[0]):
            np.testing.assert_array_equal(chunk_codec.read_array(f["a"], i), values[i])
        assert chunk_codec.read_array(f["a"], shape[0]) is None


def test_an_e2vid_image_whose_chunk_runs_past_its_size_is_refused(tmp_path):
    from egvsr.events.io import open_events
    from tests.events.io.test_layouts import write_e2vid

    img = (np.arange(24 * 32 * 3) % 251).astype(np.uint8).reshape(24, 32, 3)
    path = tmp_path / "e2vid.h5"
    write_e2vid(path, [1, 2], [1, 2], [10, 20], [True, False], frames=[(img, 10, "color_bgr"), (img, 20, "color_bgr")])
    with h5py.File(path, "a") as f:
        names = sorted(f["images"])
        attrs = dict(f["images"][names[1]].attrs)
        del f["images"][names[1]]
        ds = f["images"].create_dataset(names[1], data=img, chunks=(12, 32, 3), compression="gzip")
        ds.attrs.update(attrs)
        ds.id.write_direct_chunk((12, 0, 0), _zeros_deflated(16 << 20))
    with open_events(path) as src:
        np.testing.assert_array_equal(src.read_frame(0), img[..., ::-1])
        with pytest.raises(InputFileError, match=rf"e2vid\.h5: read failed while reading 'images/{names[1]}' \(chunk "
                                                 r"\(12, 0, 0\) decodes to more than the 1152 bytes"):
            src.read_frame(1)


def test_only_small_chunks_are_kept_between_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(chunk_codec, "KEEP_CHUNK_BYTES", 8 * 700, raising=False)
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("small", data=np.arange(5000), chunks=(700,), compression="gzip")
        f.create_dataset("large", data=np.arange(5000), chunks=(701,), compression="gzip")
    with h5py.File(path) as f:
        small, large = f["small"], f["large"]
        assert h5util.read_slice(small, 5, 7, path).tolist() == [5, 6]
        assert h5util.read_slice(large, 5, 7, path).tolist() == [5, 6]
        assert small in chunk_codec._last_chunk and large not in chunk_codec._last_chunk


def test_rows_read_in_order_decode_each_chunk_once(tmp_path, monkeypatch):
    # frames chunked several to a chunk (h5py's chunks=True does so): HDF5's chunk cache decoded each chunk
    # once for frames read in order; read_array decoded it again for every frame it holds
    values = (np.arange(20 * 6 * 5 * 3) % 251).astype(np.uint8).reshape(20, 6, 5, 3)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=values, chunks=(8, 3, 5, 3), compression="gzip")
    decoded = []
    real = chunk_codec._decode_into
    monkeypatch.setattr(chunk_codec, "_decode_into", lambda *a: decoded.append(a[-1]) or real(*a))
    with h5py.File(path) as f:
        ds = f["frames"]
        for i in range(20):
            row = h5util.read_whole(ds, i)
            np.testing.assert_array_equal(row, values[i])
            row[...] = 0  # the caller's own array: the rows kept are left as they were
        assert len(decoded) == 3 * 2  # 3 chunks of rows, 2 chunks each
        np.testing.assert_array_equal(h5util.read_whole(ds, 19), values[19])
