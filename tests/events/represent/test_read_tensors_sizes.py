"""`read_tensors` checks a tensor file's declared sizes before it reads: datasets never written (declared only,
read as the fill value) and files larger than the machine's memory share are refused in one line. It read
`tensors` whole with no check: a header declaring a million windows allocated tens of GB (MemoryError, or
the OOM killer) and a declared-only dataset came back as zeros."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.errors import FormatError, InputFileError
from egvsr.events.represent import voxelize as vox


def _tensor_file(path, k: int, write: bool) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["format"] = vox.FORMAT
        ds = f.create_dataset("tensors", shape=(k, 5, 32, 40), dtype=np.float32, chunks=(1, 5, 32, 40))
        f.create_dataset("t_start", shape=(k,), dtype=np.int64, chunks=(1024,), maxshape=(None,))
        f.create_dataset("t_end", shape=(k,), dtype=np.int64, chunks=(1024,), maxshape=(None,))
        if write:
            ds[:] = 1.0
            f["t_start"][:] = np.arange(k) * 10
            f["t_end"][:] = np.arange(k) * 10 + 10


def test_declared_only_tensors_are_refused_not_read_as_zeros(tmp_path):
    path = tmp_path / "claims.h5"
    _tensor_file(path, 2000, write=False)  # 51 MB declared, nothing stored
    with pytest.raises(FormatError, match=r"'tensors' declares 51,200,000 bytes .* stores only 0"):
        vox.read_tensors(path)


def test_tensors_beyond_the_memory_share_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.h5"
    _tensor_file(path, 4, write=True)  # 102,400 bytes of tensors
    read = []
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: read.append(self.name) or 0)
    monkeypatch.setattr(vox, "physical_memory", lambda: 100_000)
    with pytest.raises(InputFileError, match=r"'tensors' \(4, 5, 32, 40\) float32 needs about 128 KB of memory "
                                             r"to read whole, more than 80% of this machine's 100 KB"):
        vox.read_tensors(path)
    assert read == []
    monkeypatch.undo()
    tensors, t0, t1, attrs = vox.read_tensors(path)
    assert tensors.shape == (4, 5, 32, 40) and float(tensors.sum()) == 4 * 5 * 32 * 40
    assert t1.tolist() == [10, 20, 30, 40]


def test_a_missing_or_dangling_dataset_is_named_as_such(tmp_path):
    """The shared dataset check names each: a key that is absent, and one that is a link to a file not there
    (`key in f` is False for it too, and it was said to be missing)."""
    path = tmp_path / "t.h5"
    _tensor_file(path, 2, write=True)
    with h5py.File(path, "r+") as f:
        del f["t_end"]
    with pytest.raises(FormatError, match=r"t\.h5: missing key 't_end' required by the egvsr tensors layout$"):
        vox.read_tensors(path)
    with h5py.File(path, "r+") as f:
        f["t_end"] = h5py.ExternalLink("gone.h5", "/t_end")
    with pytest.raises(FormatError, match=r"t\.h5: 't_end' is an external link to '/t_end' in gone\.h5, which does "
                                          r"not exist; expected data stored in this file"):
        vox.read_tensors(path)


@pytest.mark.parametrize("dtype, need", [(np.float16, "76.9 KB"), (np.float64, "230 KB"), (np.int32, "102 KB")])
def test_the_memory_needed_counts_the_mask_as_a_byte_a_float_value(tmp_path, monkeypatch, dtype, need):
    """The finiteness mask is one byte a value whatever the float's width, and integer tensors get none: a
    float16 file needs 1.5 bytes a byte of its tensors, not 1.25."""
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = vox.FORMAT
        f["tensors"] = np.ones((4, 5, 32, 40), dtype)
        f["t_start"], f["t_end"] = np.arange(4), np.arange(4) + 1
    monkeypatch.setattr(vox, "physical_memory", lambda: 1000)
    with pytest.raises(InputFileError, match=rf"needs about {need} of memory to read whole"):
        vox.read_tensors(path)
