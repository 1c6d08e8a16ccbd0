"""Compressed datasets declaring chunks far larger than their data: HDF5 decodes a whole chunk to read any
element of it, so a few stored bytes (zeros compress 1000:1) would make every read allocate and decode
hundreds of megabytes to gigabytes. The event columns are refused before any read; an index so stored is
left unused (windows are found by bisection instead)."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

from egvsr.errors import FormatError
from egvsr.events.io import h5util, open_events, read_events
from tests.events.io.test_layouts import _events, write_dsec

W, H, N = 32, 24, 400


def _deflated(values: np.ndarray, chunk: int) -> bytes:
    """One stored chunk of `chunk` elements, `values` then zeros, as HDF5's gzip filter writes it (built in
    pieces: the chunk itself is never in memory)."""
    c = zlib.compressobj(1)
    parts = [c.compress(values.tobytes())]
    zeros, rest = bytes(1 << 22), (chunk - len(values)) * values.dtype.itemsize
    while rest > 0:
        parts.append(c.compress(zeros[:min(rest, len(zeros))]))
        rest -= len(zeros)
    parts.append(c.flush())
    return b"".join(parts)


def _in_one_chunk(f: h5py.File, key: str, values: np.ndarray, chunk: int) -> None:
    ds = f.create_dataset(key, shape=values.shape, maxshape=(None,), dtype=values.dtype, chunks=(chunk,),
                          compression="gzip")
    ds.id.write_direct_chunk((0,), _deflated(values, chunk))


def _ours(path, chunks: dict[str, int]):
    x, y, t, on = _events(N, W, H, t0=0, span=2_000_000)
    columns = {"x": x.astype(np.uint16), "y": y.astype(np.uint16), "t": t.astype(np.int64),
               "p": np.where(on, 1, -1).astype(np.int8)}
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=W, height=H, num_events=N)
        for k, values in columns.items():
            _in_one_chunk(f, f"events/{k}", values, chunks.get(k, 1024))
        ms = np.searchsorted(t, np.arange(0, int(t[-1]) // 1000 + 2) * 1000).astype(np.int64)
        _in_one_chunk(f, "events/ms_to_idx", ms, chunks.get("ms_to_idx", 4096))
        f["events/ms_to_idx"].attrs["t0_us"] = 0
    return t


def test_event_times_in_a_chunk_of_a_quarter_gibibyte_are_refused_before_any_read(tmp_path):
    chunk = (h5util.MAX_CHUNK_FILLER // 8) + 4096  # 400 times in a chunk of 256 MiB + 32 KiB
    _ours(tmp_path / "bomb.h5", {"t": chunk})
    assert (tmp_path / "bomb.h5").stat().st_size < 2 << 20
    with pytest.raises(FormatError, match=r"bomb\.h5: 'events/t' is stored in compressed chunks of "
                                          rf"{chunk * 8:,} bytes .* holds only 3,200 bytes"):
        open_events(tmp_path / "bomb.h5")


@pytest.mark.parametrize("column", ["x", "p"])
def test_any_column_in_a_chunk_mostly_beyond_its_data_is_refused(tmp_path, monkeypatch, column):
    monkeypatch.setattr(h5util, "MAX_CHUNK_FILLER", 1 << 20, raising=False)
    _ours(tmp_path / "bomb.h5", {column: 1 << 21})  # 2 MiB (p) / 4 MiB (x) chunks for 400 events
    with pytest.raises(FormatError, match=rf"'events/{column}' is stored in compressed chunks"):
        open_events(tmp_path / "bomb.h5")


def test_chunks_full_of_data_and_chunks_with_a_little_filler_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(h5util, "MAX_CHUNK_FILLER", 1 << 20, raising=False)
    t = _ours(tmp_path / "ok.h5", {"t": (1 << 17) + N})  # 1 MiB beyond the data: at the limit, not past it
    np.testing.assert_array_equal(read_events(tmp_path / "ok.h5").t, t)


def test_an_index_in_a_chunk_mostly_beyond_its_data_is_left_unused(tmp_path, monkeypatch):
    monkeypatch.setattr(h5util, "MAX_CHUNK_FILLER", 1 << 20, raising=False)
    t = _ours(tmp_path / "index.h5", {"ms_to_idx": 1 << 18})  # 2 MiB of int64 for 2,000 entries
    with open_events(tmp_path / "index.h5") as src:
        assert src._index is None  # never read: windows bisect over t
        got = src.read(500_000, 1_500_000)
    np.testing.assert_array_equal(got.t, t[(t >= 500_000) & (t < 1_500_000)])


def test_a_dsec_index_in_a_chunk_mostly_beyond_its_data_is_left_unused(tmp_path, monkeypatch):
    monkeypatch.setattr(h5util, "MAX_CHUNK_FILLER", 1 << 20, raising=False)
    x, y, t, on = _events(N, W, H, t0=0, span=2_000_000)
    write_dsec(tmp_path / "dsec.h5", x, y, t, on, t_offset=0, blosc=False)
    with h5py.File(tmp_path / "dsec.h5", "a") as f:
        ms = f["ms_to_idx"][()]
        del f["ms_to_idx"]
        _in_one_chunk(f, "ms_to_idx", ms.astype(np.uint64), 1 << 18)
    with open_events(tmp_path / "dsec.h5", sensor_size=(H, W)) as src:
        assert src._index is None
        np.testing.assert_array_equal(src.read(500_000, 1_500_000).t, t[(t >= 500_000) & (t < 1_500_000)])
