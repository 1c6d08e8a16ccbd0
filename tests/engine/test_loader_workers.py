"""The training DataLoader's worker processes, under every start method: a worker's error is its own whole
message, a worker that dies is one line naming train.num_workers, and Ctrl-C reaches only the main process."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from egvsr.engine.loader_workers import ignore_terminal_signals, one_line_worker_errors, worker_stopped
from egvsr.errors import ConfigError, EventValidationError, InputFileError

#: an error message that quotes a library's text of two lines (h5py's 'file read failed: time = ...\n, ...')
TWO_LINES = "clip.h5: not a readable HDF5 file (read failed: time = Mon\n, filename = 'clip.h5', errno = 21)"


class _BadData(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        raise EventValidationError("clip.h5: 10 frames but events span 12")


def test_a_data_error_in_a_loader_worker_is_its_one_line_message():
    loader = DataLoader(_BadData(), batch_size=2, num_workers=1)
    with pytest.raises(EventValidationError) as e:
        list(one_line_worker_errors(loader))
    assert str(e.value) == "clip.h5: 10 frames but events span 12"


class _TwoLineError(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise InputFileError(TWO_LINES)


class _DiesOnce(Dataset):
    """A worker that the system kills (SIGKILL, as the out-of-memory killer does) while building a sample."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        os.kill(os.getpid(), signal.SIGKILL)


class _Signalled(Dataset):
    """A sample built while a signal sent to the whole process group (Ctrl-C, a closed terminal, a batch
    system's job stop) reaches the worker `times` times, during its first sample."""

    def __init__(self, sig: int = signal.SIGINT, times: int = 1) -> None:
        self.sig, self.times = sig, times

    def __len__(self):
        return 2

    def __getitem__(self, i):
        for _ in range(self.times if i == 0 else 0):
            os.kill(os.getpid(), self.sig)
        return torch.full((2,), float(i))


def test_a_worker_error_of_several_lines_keeps_its_whole_message():
    """Only the last line of the worker's traceback was kept: a message quoting a library's text of two
    lines lost its first line, and with it the file it names."""
    loader = DataLoader(_TwoLineError(), batch_size=1, num_workers=1)
    with pytest.raises(InputFileError) as e:
        list(one_line_worker_errors(loader))
    assert str(e.value) == TWO_LINES


class _OptionRefused(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        from egvsr.datasets.opening import OptionError

        raise OptionError("fps", "clip.h5 states its frames' times;\nleave {option} unset")


def test_a_worker_error_that_torch_cannot_recreate_is_still_its_one_line_message():
    """torch re-creates a worker's error from one message; an error taking other arguments (`OptionError`)
    came back as a RuntimeError holding the worker's whole traceback."""
    from egvsr.errors import EgvsrError

    loader = DataLoader(_OptionRefused(), batch_size=1, num_workers=1)
    with pytest.raises(EgvsrError) as e:
        list(one_line_worker_errors(loader))
    assert str(e.value) == "fps: clip.h5 states its frames' times;\nleave fps unset"


def test_a_worker_killed_by_the_system_is_one_line_naming_num_workers():
    loader = DataLoader(_DiesOnce(), batch_size=1, num_workers=1)
    with pytest.raises(RuntimeError) as e:
        list(one_line_worker_errors(loader))
    err = worker_stopped(e.value, 1)
    assert isinstance(err, ConfigError)
    assert str(err).startswith("train.num_workers 1: the data loading process stopped: DataLoader worker (pid")
    assert "out-of-memory killer" in str(err)  # (killed by signal: Killed, or exited unexpectedly)
    assert "\n" not in str(err)
    assert worker_stopped(RuntimeError("shape mismatch"), 1) is None and worker_stopped(ValueError("x"), 1) is None


def test_train_names_a_killed_worker_in_one_line(tmp_path, monkeypatch):
    """torch's RuntimeError, raised wherever the main process was (amid the forward pass), reached the
    user as a traceback."""
    import numpy as np

    from egvsr.datasets import EventVSRDataset
    from egvsr.engine.train import train
    from tests.datasets.test_files import random_events, textured_frames, write_egvsr

    times = np.arange(4) * 40_000
    rec = write_egvsr(tmp_path / "r.h5", textured_frames(4, 16, 16), times, random_events(400, 16, 16, 0, 130_000),
                      16, 16)
    main = os.getpid()
    build = EventVSRDataset.__getitem__

    def getitem(self, key):
        if os.getpid() != main:  # a forked worker
            os.kill(os.getpid(), signal.SIGKILL)
        return build(self, key)

    monkeypatch.setattr(EventVSRDataset, "__getitem__", getitem)
    cfg = {"name": "w", "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
           "model": {"name": "egvsr-tiny", "options": {}},
           "data": {"train": {"recordings": [str(rec)], "patch_size": 8, "scale_range": [1, 2], "bins": 8}},
           "train": {"iterations": 2, "batch_size": 2, "num_workers": 1, "threads": 1}}
    with pytest.raises(ConfigError, match=r"^train\.num_workers 1: the data loading process stopped: DataLoader "
                                          r"worker \(pid"):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp" / "w").exists()  # a run that never saved leaves nothing


_FRESH_INTERPRETER = pytest.mark.slow  # a spawned or forkserver worker imports torch afresh: seconds


@pytest.mark.parametrize("method, sig", [pytest.param("spawn", signal.SIGINT, marks=_FRESH_INTERPRETER),
                                         pytest.param("forkserver", signal.SIGTERM, marks=_FRESH_INTERPRETER),
                                         ("fork", signal.SIGTERM), ("fork", signal.SIGHUP)])
def test_a_stop_signal_in_a_worker_is_left_to_the_main_process(method, sig):
    """A spawned or forkserver worker inherits no handler and torch gives every worker its own SIGTERM
    handler: Ctrl-C or SIGTERM sent to the whole process group ended the worker at once, and the main
    process stopped amid its step on a worker that 'exited unexpectedly' (or 'is killed by signal')
    instead of finishing the step and saving. The training loader's workers ignore them."""
    loader = DataLoader(_Signalled(sig), batch_size=1, num_workers=1, multiprocessing_context=method,
                        worker_init_fn=ignore_terminal_signals)
    assert [b.tolist() for b in loader] == [[[0.0, 0.0]], [[1.0, 1.0]]]


def test_a_second_sigterm_ends_the_worker():
    """As the main process stops at once on a second signal, and torch's `terminate` of a worker that did
    not stop when told still ends it."""
    loader = DataLoader(_Signalled(signal.SIGTERM, times=2), batch_size=1, num_workers=1,
                        worker_init_fn=ignore_terminal_signals)
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        list(loader)


def test_the_training_loader_uses_the_worker_set_up():
    from types import SimpleNamespace

    from egvsr.engine.train import Trainer

    ds = _Signalled()
    ds.scale_range = (1.0, 1.0)
    owner = SimpleNamespace(train_set=ds, cfg={"seed": 0, "train": {"batch_size": 2, "iterations": 2, "num_workers": 1}},
                            step=0, info=SimpleNamespace(rank=0, world_size=1, device=torch.device("cpu")),
                            collate=None)
    assert Trainer._loader(owner).worker_init_fn is ignore_terminal_signals


@pytest.mark.parametrize("text, hint", [
    ("DataLoader worker (pid 7) is killed by signal: Killed. ", "out-of-memory killer"),
    ("DataLoader worker (pid(s) 7, 8) exited unexpectedly", "out-of-memory killer"),
    ("DataLoader worker (pid 7) is killed by signal: Bus error. It is possible that dataloader's workers are out "
     "of shared memory. Please try to raise your shared memory limit.", "(/dev/shm) is full"),
    ("DataLoader worker (pid 7) is killed by signal: Terminated. ", None),
])
def test_a_stopped_worker_s_line_says_what_most_often_stops_it(text, hint):
    """A bus error in a worker is most often a full /dev/shm (a container's 64 MB default), which torch's own
    message says; a signal sent to stop the job gets no advice."""
    err = str(worker_stopped(RuntimeError(text), 2))
    assert err.startswith("train.num_workers 2: the data loading process stopped: DataLoader worker (pid")
    assert "\n" not in err and (hint in err if hint else ";" not in err)
