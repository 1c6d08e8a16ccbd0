"""`save_checkpoint`, a public writer, refuses an existing file unless `overwrite=True`, as every egvsr writer
does (docs/io.md, "Outputs"): a library caller's checkpoint is never replaced by a default."""

from __future__ import annotations

import pytest
import torch

from egvsr.engine.checkpoint_file import load_plain, save_checkpoint
from egvsr.errors import OutputExistsError
from egvsr.fsutil import TEMP_MARK


def test_an_existing_checkpoint_is_kept_without_overwrite(tmp_path):
    out = save_checkpoint(tmp_path / "best.pt", {"state_dict": {"w": torch.arange(3.0)}})
    with pytest.raises(OutputExistsError, match=rf"^{out}: output already exists; .*overwrite=True"):
        save_checkpoint(out, {"state_dict": {"w": torch.zeros(3)}})
    assert torch.equal(load_plain(out)["state_dict"]["w"], torch.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary left
    save_checkpoint(out, {"state_dict": {"w": torch.zeros(3)}}, overwrite=True)
    assert torch.equal(load_plain(out)["state_dict"]["w"], torch.zeros(3))
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir())


def test_a_file_of_the_user_is_kept_without_overwrite(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(OutputExistsError):
        save_checkpoint(notes, {"state_dict": {}})
    assert notes.read_text() == "mine"
