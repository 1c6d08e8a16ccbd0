"""Our own shuffle + gzip chunk encoding (chunk_codec): files any HDF5 reader decodes, as h5py would write them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events import EventStream
from egvsr.events.io import EventWriter, read_events
from egvsr.events.io import chunk_codec
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
