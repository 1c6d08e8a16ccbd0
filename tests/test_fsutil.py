"""Atomic outputs: nothing under the final name unless the write completed; no silent overwrite."""

from __future__ import annotations

import pytest

from egvsr.errors import OutputExistsError
from egvsr.fsutil import TEMP_MARK, atomic_output


def test_success_renames(tmp_path):
    out = tmp_path / "a.h5"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"data")
        assert not out.exists()
    assert out.read_bytes() == b"data"
    assert not list(tmp_path.glob(f"*{TEMP_MARK}"))


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "a.h5"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_existing_output_is_kept(tmp_path):
    out = tmp_path / "a.h5"
    out.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_output(out):
            pass
    assert out.read_bytes() == b"mine"
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
