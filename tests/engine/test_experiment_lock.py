"""Two `egvsr train` on one experiment at once: the one the lock refuses leaves the running one's folder as it
is, the lock is always on the file at `train.lock` (never on one removed meanwhile), and a file system that
takes no lock is said to be so, not taken for a running run."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest
import yaml

from egvsr.cli import main
from egvsr.engine.experiment import Experiment
from egvsr.errors import OutputError


def _config(tmp: Path) -> Path:
    cfg = {"name": "run", "seed": 1, "device": "cpu", "output_root": str(tmp / "exp"),
           "model": {"name": "egvsr-tiny"},
           "data": {"train": {"recordings": [str(tmp / "missing.h5")], "patch_size": 8, "scale_range": [1, 2],
                              "bins": 8}, "val": {}},
           "train": {"iterations": 1, "batch_size": 1}}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_run_refused_by_the_lock_removes_nothing_of_the_run_holding_it(tmp_path, monkeypatch, capsys):
    """Both runs start on a new experiment at once (both find no folder); the other one makes the folder,
    takes the lock and writes its config.yaml first. The refused run must not remove the folder, the lock
    or the config of the run that lives (a third run could then start beside it)."""
    config = _config(tmp_path)
    real_lock, held = Experiment.lock, []

    def lock_after_the_other_run(self):
        self.dir.mkdir(parents=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"pid 1 on other\n")
        held.append(fd)
        self.config.write_text("the other run's config\n")
        return real_lock(self)

    monkeypatch.setattr(Experiment, "lock", lock_after_the_other_run)
    try:
        assert main(["train", str(config), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "another `egvsr train` (pid 1 on other) is running" in err
        folder = tmp_path / "exp" / "run"
        assert (folder / "config.yaml").read_text() == "the other run's config\n"
        assert os.path.samestat(os.fstat(held[0]), os.stat(folder / "train.lock"))
    finally:
        for fd in held:
            os.close(fd)


def test_a_lock_taken_on_a_file_removed_meanwhile_is_taken_again_on_the_file_there(tmp_path, monkeypatch):
    """A run waiting on train.lock gets the flock just as its holder (a run that failed before its first
    checkpoint) removed the file: the lock must then be on the new file at the path, so a third run is
    refused, not let in beside it."""
    exp = Experiment(tmp_path / "exp", "run")
    real_flock, calls = fcntl.flock, []

    def flock_after_removal(fd, op):
        if not calls and op & fcntl.LOCK_EX:
            os.unlink(exp.lock_path)  # the holder removed its folder's lock file, then let go
        calls.append(op)
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)
    with exp.lock():
        monkeypatch.setattr(fcntl, "flock", real_flock)
        assert exp.lock_path.is_file()
        fd = os.open(exp.lock_path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        assert exp.lock_path.read_text().startswith(f"pid {os.getpid()} on ")


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_file_system_without_locks_is_said_to_be_so(tmp_path, monkeypatch, capsys, code):
    """flock failing for another reason than a holder (NFS without its lock service: ENOLCK) is not
    "another `egvsr train` (an unknown process) is running"; a new run leaves no folder behind."""
    def no_locks(fd, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OutputError, match=r"train.lock: cannot lock the experiment's lock file .*takes no locks"):
        with Experiment(tmp_path / "a", "run").lock():
            pass
    config = _config(tmp_path)
    assert main(["train", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot lock the experiment's lock file" in err and "another" not in err
    assert not (tmp_path / "exp").exists()



def test_a_new_run_beside_a_live_one_is_told_it_runs_not_that_its_files_are_left(tmp_path, capsys):
    """The running run has written config.yaml but no last.pt yet: a second start is refused naming the
    live run, not as files of another run to --overwrite (which the lock would refuse next anyway)."""
    config = _config(tmp_path)
    exp = Experiment(tmp_path / "exp", "run")
    with exp.lock():
        exp.config.write_text("the running run's config\n")
        assert main(["train", str(config), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"another `egvsr train` (pid {os.getpid()} on " in err
        assert exp.config.read_text() == "the running run's config\n"
    # once it has ended, its files are what is left of another run: --overwrite is the way
    assert main(["train", str(config), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
