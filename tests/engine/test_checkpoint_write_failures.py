"""A checkpoint whose write fails (a full disk, a quota, a file size limit) is the one-line `OutputError` naming
it, the old checkpoint kept and no temporary left; a Ctrl-C met inside torch's writes stays a Ctrl-C
(docs/io.md, "Outputs")."""

from __future__ import annotations

import contextlib
import io
import resource
import signal

import pytest
import torch

from egvsr.engine import checkpoint_file
from egvsr.engine.checkpoint_file import save_checkpoint
from egvsr.errors import OutputError
from egvsr.fsutil import TEMP_MARK


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Files of this process may not grow past `limit` bytes (a write past it fails with EFBIG: SIGXFSZ is
    ignored meanwhile, as the egvsr command does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_failed_checkpoint_write_is_one_line_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "last.pt"
    out.write_bytes(b"the old checkpoint")
    with file_size_limit(200_000), pytest.raises(OutputError) as err:
        save_checkpoint(out, {"state_dict": {"w": torch.zeros(250_000)}}, overwrite=True)  # 1 MB
    assert str(err.value) == (f"{out}: cannot write the output (the file size limit is reached (ulimit -f)); "
                              "nothing was written under this name: free some space or choose another path")
    assert out.read_bytes() == b"the old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left


def test_a_ctrl_c_inside_torch_save_stays_a_ctrl_c(tmp_path, monkeypatch):
    """torch turns what a Python file's write raises into a RuntimeError: a Ctrl-C met there is still raised
    as KeyboardInterrupt (the command ends with 130, one line), not as a crash."""
    real_open = open

    def interrupted_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return fh
        writes = []

        class Interrupted(io.RawIOBase):
            def writable(self):
                return True

            def write(self, data):
                writes.append(len(data))
                if len(writes) == 3:
                    raise KeyboardInterrupt
                return fh.write(data)

            def close(self):
                fh.close()
                super().close()

        return Interrupted()

    monkeypatch.setattr(checkpoint_file, "open", interrupted_open, raising=False)
    out = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(out, {"state_dict": {"w": torch.zeros(10_000)}})
    assert not out.exists() and not any(TEMP_MARK in p.name for p in tmp_path.iterdir())


def test_a_checkpoint_written_through_a_file_loads(tmp_path):
    out = save_checkpoint(tmp_path / "x.pt", {"state_dict": {"w": torch.arange(5.0)}})
    ck = checkpoint_file.load_plain(out)
    assert torch.equal(ck["state_dict"]["w"], torch.arange(5.0))
