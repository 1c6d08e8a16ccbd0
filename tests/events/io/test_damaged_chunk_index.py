"""A chunk index entry whose size field is damaged (4 GB declared for a 5 KiB chunk): HDF5 allocates the
declared size before it finds that the file ends. Where that allocation fails (a capped or small machine),
the failure is the file's damage, named as such, not "out of memory; try a smaller input"."""

from __future__ import annotations

import resource
import struct
import subprocess

import h5py
import numpy as np
import pytest

from egvsr.events import EventStream
from egvsr.events.io import write_events
from tests._reliability import cli, cli_env
from tests.events.io.test_layouts import _events

CAP_BYTES = 2 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def _with_chunk_size(path, key: str, size: int) -> None:
    """Set the stored size of `key`'s first chunk in its (version 1 B-tree) chunk index to `size`."""
    with h5py.File(path, "r") as f:
        info = f[key].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    # a v1 B-tree chunk key: u32 chunk size, u32 filter mask, u64 offset per dimension (+ one for the element)
    key_bytes = struct.pack("<IIQ", info.size, info.filter_mask, info.chunk_offset[0])
    at = data.find(key_bytes)
    assert at > 0 and data.find(key_bytes, at + 1) < 0, "one chunk key to damage"
    data[at:at + 4] = struct.pack("<I", size)
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f:
        assert f[key].id.get_chunk_info(0).size == size


@pytest.mark.parametrize("command", ["info", "convert"])
def test_a_chunk_declaring_4_gb_in_a_small_file_is_named_as_damage(tmp_path, command):
    x, y, t, on = _events(400, 32, 24, t0=0, span=2_000_000)
    path = write_events(tmp_path / "rec.h5", EventStream(x.astype(np.uint16), y.astype(np.uint16), t,
                                                         np.where(on, 1, -1).astype(np.int8), 32, 24))
    _with_chunk_size(path, "events/t", 4_000_000_000)
    args = [command, path] + ([tmp_path / "out.h5", "--no-progress"] if command == "convert" else [])
    res = subprocess.run(cli(*args), env=cli_env(), capture_output=True, text=True, timeout=300, preexec_fn=_capped)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith(f"egvsr: error: {path}: 'events/t' declares 4,000,000,000 bytes of stored data "
                               "but the file has only ")
    assert not (tmp_path / "out.h5").exists()
