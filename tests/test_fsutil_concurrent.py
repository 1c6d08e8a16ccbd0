"""Two writers of one output at once: without --overwrite, a file another process put at the output while
this one wrote is never replaced, even when it appears after the last check (the commit is a hard link,
which fails where a file is); the loser is refused in one line and leaves nothing of its own."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from egvsr import fsutil
from egvsr.errors import OutputExistsError
from egvsr.fsutil import TEMP_MARK, atomic_output


def _other_writer_finishes_after_the_last_check(monkeypatch, out: Path) -> None:
    """Make the other process's file appear at `out` just after `atomic_output`'s check before its commit."""
    real, calls = fsutil.check_output_path, []

    def check_then_the_other_process_commits(path, overwrite=False):
        result = real(path, overwrite)
        calls.append(path)
        if len(calls) == 2:  # the check before the commit
            out.write_bytes(b"the other process's output")
        return result

    monkeypatch.setattr(fsutil, "check_output_path", check_then_the_other_process_commits)


def test_an_output_written_by_another_process_after_the_last_check_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "out.h5"
    _other_writer_finishes_after_the_last_check(monkeypatch, out)
    with pytest.raises(OutputExistsError, match=r"out.h5: output already exists .*--overwrite"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"ours")
    assert out.read_bytes() == b"the other process's output"
    assert os.listdir(tmp_path) == ["out.h5"]  # our temporary is gone


def test_with_overwrite_the_last_writer_replaces_it_whole(tmp_path, monkeypatch):
    out = tmp_path / "out.h5"
    _other_writer_finishes_after_the_last_check(monkeypatch, out)
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_bytes(b"ours")
    assert out.read_bytes() == b"ours" and os.listdir(tmp_path) == ["out.h5"]


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP])
def test_a_file_system_without_hard_links_still_gets_the_output(tmp_path, monkeypatch, code):
    """FAT and some network file systems refuse hard links: the output is then renamed into place, with the
    same mode a rename gives, and an existing output is still refused."""
    def no_links(src, dst, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "out.h5"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"ours")
    assert out.read_bytes() == b"ours" and os.listdir(tmp_path) == ["out.h5"]
    assert not any(TEMP_MARK in n for n in os.listdir(tmp_path))
    _other_writer_finishes_after_the_last_check(monkeypatch, tmp_path / "b.h5")
    with pytest.raises(OutputExistsError):
        with atomic_output(tmp_path / "b.h5") as tmp:
            tmp.write_bytes(b"ours")
    assert (tmp_path / "b.h5").read_bytes() == b"the other process's output"


def test_the_committed_output_has_one_name_and_the_mode_of_a_new_file(tmp_path):
    out = tmp_path / "out.h5"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"ours")
    st = out.stat()
    assert st.st_nlink == 1 and st.st_mode & 0o777 == 0o666 & ~fsutil.current_umask()


def _other_folder_writer_finishes_before_the_rename(monkeypatch, out: Path, kind: str) -> None:
    """Make another process's finished folder output (marker and all) appear at `out` after our last check,
    just before our rename."""
    real = fsutil.held_signals

    def the_other_process_commits_first(*args, **kwargs):
        out.mkdir()
        (out / "a.png").write_bytes(b"theirs")
        fsutil._record_files(out, kind)
        return real(*args, **kwargs)

    monkeypatch.setattr(fsutil, "held_signals", the_other_process_commits_first)


def test_a_folder_output_written_meanwhile_is_refused_in_one_line_and_kept(tmp_path, monkeypatch):
    out = tmp_path / "frames"
    _other_folder_writer_finishes_before_the_rename(monkeypatch, out, "render --png")
    with pytest.raises(OutputExistsError, match=r"frames: output folder already exists \(another process"):
        with fsutil.atomic_directory(out, kind="render --png") as tmp:
            (tmp / "a.png").write_bytes(b"ours")
    assert (out / "a.png").read_bytes() == b"theirs" and os.listdir(tmp_path) == ["frames"]


def test_with_overwrite_a_folder_output_written_meanwhile_is_replaced_whole(tmp_path, monkeypatch):
    out = tmp_path / "frames"
    _other_folder_writer_finishes_before_the_rename(monkeypatch, out, "render --png")
    with fsutil.atomic_directory(out, overwrite=True, kind="render --png") as tmp:
        (tmp / "a.png").write_bytes(b"ours")
        (tmp / "b.png").write_bytes(b"ours")
    assert sorted(os.listdir(out)) == [fsutil.MARKER, "a.png", "b.png"] and (out / "a.png").read_bytes() == b"ours"
    assert os.listdir(tmp_path) == ["frames"]
