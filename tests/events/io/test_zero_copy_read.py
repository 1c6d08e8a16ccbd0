"""Reading uncompressed egvsr files without a copy: views of the file's pages, or plain reads.

Every case is compared with the h5py path (`egvsr_h5.RAW_READS = False`): same events, same errors
(same message, naming the file, the key and the first bad index), and for anything unusual the
raw path must step aside (compressed data, unallocated chunks, byte order, a user block).
"""

from __future__ import annotations

import gc
import mmap
import os

import h5py
import numpy as np
import pytest

from egvsr.errors import EventValidationError, InputFileError
from egvsr.events import EventStream
from egvsr.events.checks import BLOCK, first_not_unit, first_outside, maybe_invalid
from egvsr.events.io import EventWriter, open_events
from egvsr.events.io import egvsr_h5, h5util
from egvsr.events.represent import read_tensors, voxel_grids, voxelize_file
from tests.conftest import random_stream_arrays

W, H = 346, 260


def _write(path, x, y, t, p, userblock: int = 0, **kw):
    """An egvsr file from raw arrays, every event dataset created with the h5py options `kw`."""
    with h5py.File(path, "w", userblock_size=userblock or None) as f:
        f.attrs.update({"format": "egvsr", "version": 1, "width": W, "height": H})
        for k, a in (("x", x), ("y", y), ("t", t), ("p", p)):
            f.create_dataset(f"events/{k}", data=a, **kw)
    return path


def _chunks(path, max_events: int, raw: bool, monkeypatch, reuse: int = 4, **window):
    """Every chunk of iter_chunks as (copied arrays, was it a zero-copy view)."""
    monkeypatch.setattr(egvsr_h5, "RAW_READS", raw)
    out = []
    with open_events(path) as src:
        for c in src.iter_chunks(max_events, reuse=reuse, **window):
            out.append(((c.x.copy(), c.y.copy(), c.t.copy(), c.p.copy()), _is_view(c)))
    return out


def _is_view(chunk: EventStream) -> bool:
    base = chunk.t
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


def _joined(chunks):
    return [np.concatenate([c[0][k] for c in chunks]) for k in range(4)]


def _assert_same_events(a, b):
    for k, (u, v) in enumerate(zip(_joined(a), _joined(b))):
        assert u.dtype == v.dtype, "xytp"[k]
        np.testing.assert_array_equal(u, v, err_msg="xytp"[k])


@pytest.fixture
def arrays():
    return random_stream_arrays(50_000, W, H, 2_000_000, seed=3)


@pytest.mark.parametrize("max_events", [7_000, 1 << 16, 1 << 20])
def test_contiguous_layout_is_read_as_views(tmp_path, arrays, monkeypatch, max_events):
    path = _write(tmp_path / "c.h5", *arrays)
    raw = _chunks(path, max_events, True, monkeypatch)
    ref = _chunks(path, max_events, False, monkeypatch)
    _assert_same_events(raw, ref)
    assert all(view for _, view in raw) and not any(view for _, view in ref)
    # one storage run: the chunk boundaries are the requested ones, so chunks match one to one
    assert [len(c[0][2]) for c in raw] == [len(c[0][2]) for c in ref]


@pytest.mark.parametrize("chunk", [1_000, 1 << 14])
@pytest.mark.parametrize("max_events", [3_001, 1 << 16, 1 << 20])
def test_chunked_uncompressed_equals_h5py(tmp_path, arrays, monkeypatch, chunk, max_events):
    path = _write(tmp_path / "ch.h5", *arrays, chunks=(chunk,))
    raw = _chunks(path, max_events, True, monkeypatch)
    ref = _chunks(path, max_events, False, monkeypatch)
    _assert_same_events(raw, ref)
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    with open_events(path) as src:
        assert src._raw() is not None
    # and within a time window (a start inside a chunk)
    t = arrays[2]
    window = {"t0": int(t[1234]), "t1": int(t[45_678])}
    _assert_same_events(_chunks(path, max_events, True, monkeypatch, **window),
                        _chunks(path, max_events, False, monkeypatch, **window))


def test_interleaved_chunks_use_plain_reads_and_long_runs_use_views(tmp_path, arrays, monkeypatch):
    """EventWriter fed in small pieces interleaves the fields' chunks on disk (short storage runs:
    read with pread into the buffers); fed at once, each field's chunks follow each other (views)."""
    x, y, t, p = arrays
    small, big = tmp_path / "small.h5", tmp_path / "big.h5"
    with EventWriter(small, W, H, compression={}, chunk_events=1000) as w:
        for i in range(0, len(t), 1000):
            w.append(EventStream(x[i:i + 1000], y[i:i + 1000], t[i:i + 1000], p[i:i + 1000], W, H))
    with EventWriter(big, W, H, compression={}, chunk_events=1000) as w:
        w.append(EventStream(x, y, t, p, W, H))
    ref = _chunks(small, 16_000, False, monkeypatch)
    for path, views in ((small, False), (big, True)):
        got = _chunks(path, 16_000, True, monkeypatch)
        _assert_same_events(got, ref)
        # small: runs of 1,000 events (copied); big: the writer writes 16 chunks of a field at a
        # time, so runs of 16,000 events (views)
        assert [v for _, v in got] == [views] * 4
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    with open_events(small) as src:
        assert max(len(c.starts) for c in src._raw()[1]) > 40  # many short runs


def test_compressed_falls_back_to_h5py(tmp_path, arrays, monkeypatch):
    path = _write(tmp_path / "gz.h5", *arrays, chunks=(4096,), compression="gzip", shuffle=True)
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    with open_events(path) as src:
        assert src._raw() is None
    raw = _chunks(path, 10_000, True, monkeypatch)
    _assert_same_events(raw, _chunks(path, 10_000, False, monkeypatch))
    assert not any(v for _, v in raw)


def test_unallocated_chunk_falls_back_to_h5py(tmp_path, arrays, monkeypatch):
    x, y, t, p = arrays
    path = tmp_path / "hole.h5"
    _write(path, x, y, t, p, chunks=(4096,))
    with h5py.File(path, "a") as f:  # x rebuilt with one chunk never written: it reads as fill (0)
        del f["events/x"]
        d = f.create_dataset("events/x", shape=x.shape, dtype=x.dtype, chunks=(4096,))
        d[:8192] = x[:8192]
        d[12288:] = x[12288:]
        assert d.id.get_num_chunks() == -(-len(x) // 4096) - 1
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    with open_events(path) as src:
        assert src._raw() is None
    raw = _chunks(path, 10_000, True, monkeypatch)
    _assert_same_events(raw, _chunks(path, 10_000, False, monkeypatch))
    assert (_joined(raw)[0][8192:12288] == 0).all()


@pytest.mark.parametrize("case", ["big-endian", "other-dtypes", "userblock", "contiguous-unwritten"])
def test_unusual_storage_falls_back(tmp_path, arrays, monkeypatch, case):
    x, y, t, p = arrays
    path = tmp_path / f"{case}.h5"
    if case == "big-endian":
        _write(path, x.astype(">u2"), y, t.astype(">i8"), p)
    elif case == "other-dtypes":  # allowed by the layout, converted on reading
        _write(path, x.astype(np.int32), y, t.astype(np.uint64), p.astype(np.int16))
    elif case == "userblock":
        _write(path, x, y, t, p, userblock=512)
    else:
        _write(path, x, y, t, p)
        with h5py.File(path, "a") as f:  # a contiguous dataset never written has no storage
            del f["events/y"]
            f.create_dataset("events/y", shape=y.shape, dtype=y.dtype)
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    with open_events(path) as src:
        assert src._raw() is None
    _assert_same_events(_chunks(path, 8_000, True, monkeypatch), _chunks(path, 8_000, False, monkeypatch))


def test_file_shorter_than_its_storage_is_not_mapped(tmp_path, arrays):
    path = _write(tmp_path / "c.h5", *arrays)
    with h5py.File(path) as f:
        end = f["events/t"].id.get_offset() + arrays[2].nbytes
        assert h5util.raw_column(f["events/t"], end) is not None
        assert h5util.raw_column(f["events/t"], end - 1) is None  # would read past the end


BAD = {
    "x": ("x", 40_001, W, "events/x[40001] = 346 is outside the 346x260 sensor"),
    "y": ("y", 123, 999, "events/y[123] = 999 is outside the 346x260 sensor"),
    "p0": ("p", 65_000 // 2, 0, "events/p[32500] = 0, expected -1 or +1"),
    "p5": ("p", BLOCK - 1, 5, "expected -1 or +1"),
    "t": ("t", 30_000, None, "timestamps in events/t decrease at index 30000"),
}


@pytest.mark.parametrize("layout", ["contiguous", "chunked"])
@pytest.mark.parametrize("bad", list(BAD))
def test_bad_values_are_caught_with_the_same_message(tmp_path, monkeypatch, layout, bad):
    x, y, t, p = (a.copy() for a in random_stream_arrays(65_000, W, H, 2_000_000, seed=5))
    field, i, value, fragment = BAD[bad]
    arrays = {"x": x, "y": y, "t": t, "p": p}
    arrays[field][i] = value if value is not None else t[i - 1] - 1
    path = _write(tmp_path / "bad.h5", x, y, t, p, **({"chunks": (5_000,)} if layout == "chunked" else {}))
    messages = []
    for raw in (True, False):
        with pytest.raises(EventValidationError) as err:
            _chunks(path, 1 << 14, raw, monkeypatch)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert fragment in messages[0] and str(path) in messages[0]


def test_first_error_in_file_order_of_checks(tmp_path, monkeypatch):
    """Several bad fields in one chunk: the same one is reported as by the h5py path (p, x, y, t)."""
    x, y, t, p = (a.copy() for a in random_stream_arrays(20_000, W, H, 2_000_000, seed=6))
    x[100], y[50], p[5_000], t[10] = W + 3, H, 3, t[9] - 1
    path = _write(tmp_path / "bad.h5", x, y, t, p)
    messages = []
    for raw in (True, False):
        with pytest.raises(EventValidationError) as err:
            _chunks(path, 1 << 16, raw, monkeypatch)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "events/p[5000] = 3" in messages[0]


def test_order_checked_across_view_chunk_boundaries(tmp_path, monkeypatch):
    x, y, t, p = (a.copy() for a in random_stream_arrays(1 << 17, W, H, 2_000_000, seed=7))
    t[1 << 16] = t[(1 << 16) - 1] - 1  # first event of the second chunk goes back in time
    path = _write(tmp_path / "bad.h5", x, y, t, p)
    with pytest.raises(EventValidationError, match=f"decrease at index {1 << 16} "):
        _chunks(path, 1 << 16, True, monkeypatch)


def test_views_outlive_the_source_and_never_write_to_the_file(tmp_path, arrays, monkeypatch):
    path = _write(tmp_path / "c.h5", *arrays)
    with open_events(path) as src:
        kept = list(src.iter_chunks(20_000, reuse=2))
    assert all(_is_view(c) for c in kept)
    np.testing.assert_array_equal(np.concatenate([c.t for c in kept]), arrays[2])
    kept[0].x[:] = 7  # copy-on-write: the chunk changes, the file does not
    assert (kept[0].x == 7).all()
    del kept
    gc.collect()
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["events/x"][()], arrays[0])


def test_voxelize_equal_on_both_read_paths(tmp_path, arrays, monkeypatch):
    """Same chunk boundaries (one storage run) give bit-identical tensors; and both match the
    in-memory kernel to float32 rounding."""
    path = _write(tmp_path / "c.h5", *arrays)
    outs = []
    for raw in (True, False):
        monkeypatch.setattr(egvsr_h5, "RAW_READS", raw)
        out = voxelize_file(path, tmp_path / f"v{raw}.h5", "voxel", 5, window_ms=150.0, progress=False,
                            chunk_events=7_000)
        outs.append(read_tensors(out))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    tensors, a, b, _ = outs[0]
    s = EventStream(*arrays, W, H)
    np.testing.assert_allclose(tensors, voxel_grids(s, 5, np.stack([a, b], 1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_maybe_invalid_flags_exactly_the_bad_arrays(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3 * BLOCK))
    x = rng.integers(0, W, n).astype(np.uint16)
    y = rng.integers(0, H, n).astype(np.uint16)
    p = (rng.integers(0, 2, n) * 2 - 1).astype(np.int8)
    args = (np.uint16(W), np.uint16(H))
    assert not maybe_invalid(x, y, p.view(np.uint8), *args)
    for a, values in ((x, [W, 65535]), (y, [H, 40000]), (p, [0, 2, -2, 127, -128, 3])):
        for v in values:
            i = int(rng.integers(0, n))
            old = a[i]
            a[i] = v
            assert maybe_invalid(x, y, p.view(np.uint8), *args)
            assert first_outside(x, 0, W) >= 0 or first_outside(y, 0, H) >= 0 or first_not_unit(p) >= 0
            a[i] = old


@pytest.mark.parametrize("with_preadv", [True, False])
def test_pread_into_fills_the_buffer_with_or_without_preadv(tmp_path, monkeypatch, with_preadv):
    """macOS has no os.preadv: the plain-read path then goes through os.pread."""
    import os

    data = np.arange(5000, dtype=np.int64)
    path = tmp_path / "raw.bin"
    path.write_bytes(b"\x00" * 24 + data.tobytes())
    if not with_preadv and hasattr(os, "preadv"):
        monkeypatch.delattr(os, "preadv")
    out = np.zeros(4000, np.int64)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert h5util.pread_into(fd, out, 24 + 8 * 1000)
        assert np.array_equal(out, data[1000:5000])
        assert not h5util.pread_into(fd, np.zeros(10, np.int64), 24 + 8 * 4995)  # the file ends first
    finally:
        os.close(fd)


class _WithoutChunkIter:
    """A dataset as h5py 3.8's wheels (HDF5 1.12.2) give it: its `id` has no `chunk_iter`."""

    class _Id:
        def __init__(self, dsid):
            self._dsid = dsid

        def __getattr__(self, name):
            if name == "chunk_iter":
                raise AttributeError(name)
            return getattr(self._dsid, name)

    def __init__(self, ds):
        self._ds = ds
        self.id = self._Id(ds.id)

    def __getattr__(self, name):
        return getattr(self._ds, name)


@pytest.mark.parametrize("written", [10_000, 9_999, 6_000])  # all chunks, all but a byte, a chunk never written
def test_chunked_storage_is_found_without_chunk_iter(tmp_path, written):
    """h5py >= 3.8 is declared, and 3.8's wheels lack DatasetID.chunk_iter: the storage of a chunked dataset is
    then looked up chunk by chunk, with the same runs (or the same refusal of an unallocated chunk)."""
    path = tmp_path / "chunked.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("t", shape=(10_000,), dtype=np.int64, chunks=(1_000,))
        ds[:written] = np.arange(written)
    size = path.stat().st_size
    with h5py.File(path) as f:
        plain, old = h5util.raw_column(f["t"], size), h5util.raw_column(_WithoutChunkIter(f["t"]), size)
        if written < 7_000:
            assert plain is None and old is None  # chunks 6..9 unallocated: read as fill through h5py
            return
        assert plain is not None and old is not None
        for k in ("starts", "stops", "offsets"):
            assert np.array_equal(getattr(plain, k), getattr(old, k)), k


def test_file_cut_short_after_opening_is_refused_before_mapping(tmp_path, arrays, monkeypatch):
    # the storage was checked against the file's size on first use; a file truncated later (still being
    # copied, or cut) must be refused by the size check, naming the events, for every window past the cut
    monkeypatch.setattr(egvsr_h5, "RAW_READS", True)
    path = _write(tmp_path / "c.h5", *arrays)
    n = len(arrays[2])
    with h5py.File(path, "r") as f:
        last = max(f[f"events/{k}"].id.get_offset() for k in "xytp")
    with open_events(path) as src:
        assert src.reads_in_place and _is_view(src.read_index(0, 10, views=True))
        os.truncate(path, last + 10)  # the last column keeps its first 10 bytes
        for i0, i1 in ((0, n), (0, 20_000), (40_000, n)):
            with pytest.raises(InputFileError, match=rf"shorter than its events need .*\[{i0}, {i1}\)"):
                src.read_index(i0, i1, views=True)
