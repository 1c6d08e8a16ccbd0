"""The files `egvsr train` keeps in an experiment folder are never written through a symbolic link: the
lock (`Experiment.lock`) and the CSV logs (`MetricLog`), also when the link appears after the checks."""

from __future__ import annotations

import pytest

from egvsr.engine import csvlog
from egvsr.engine.csvlog import MetricLog
from egvsr.engine.experiment import Experiment
from egvsr.errors import OutputError, OutputExistsError


@pytest.fixture()
def victim(tmp_path):
    path = tmp_path / "victim.csv"
    path.write_text("step,mine\n1,a\n5,b\n")
    return path


def test_metric_log_appends_rewrites_and_truncates(tmp_path):
    log = MetricLog(tmp_path / "logs", "train", tensorboard=False)
    log.write(1, {"loss": 0.5})
    log.write(2, {"loss": 0.4})
    log.write(3, {"loss": 0.3, "lr": 1e-3})  # a new column: rewritten with the wider header
    log.truncate_after(2)
    assert (tmp_path / "logs" / "train.csv").read_text().splitlines() == ["step,loss,lr", "1,0.5,", "2,0.4,"]


def test_metric_log_refuses_a_link(tmp_path, victim, monkeypatch):
    """A link at the CSV path is refused when the log is opened, and when it appears later: the append
    (O_NOFOLLOW, even past the check) and the rewrites (atomic replace) never write through it."""
    (tmp_path / "train.csv").symlink_to(victim)
    with pytest.raises(OutputExistsError, match="train.csv: output is a symbolic link"):
        MetricLog(tmp_path, "train", tensorboard=False)
    (tmp_path / "train.csv").unlink()

    log = MetricLog(tmp_path, "train", tensorboard=False)
    log.write(1, {"loss": 0.5})
    (tmp_path / "train.csv").unlink()
    (tmp_path / "train.csv").symlink_to(victim)
    for act in (lambda: log.write(2, {"loss": 0.4}), lambda: log.write(2, {"new": 1}), lambda: log.truncate_after(0)):
        with pytest.raises(OutputExistsError, match="output is a symbolic link"):
            act()
    monkeypatch.setattr(csvlog, "check_output_path", lambda path, overwrite=False: path)  # a link made just after
    with pytest.raises(OutputError, match="train.csv: cannot append to the log"):
        log.write(2, {"loss": 0.4})
    assert victim.read_text() == "step,mine\n1,a\n5,b\n"


def test_lock_refuses_a_link(tmp_path, victim, monkeypatch):
    exp = Experiment(tmp_path / "exp", "run")
    exp.dir.mkdir(parents=True)
    exp.lock_path.symlink_to(victim)
    with pytest.raises(OutputExistsError, match="train.lock: output is a symbolic link"):
        with exp.lock():
            pass
    import egvsr.engine.experiment as experiment

    monkeypatch.setattr(experiment, "check_output_path", lambda path, overwrite=False: path)  # a link made just after
    with pytest.raises(OutputError, match="train.lock: cannot create the experiment's lock file"):
        with exp.lock():
            pass
    assert victim.read_text() == "step,mine\n1,a\n5,b\n"


def test_metric_log_makes_tensorboard_at_its_first_row_and_discards_what_it_made(tmp_path, monkeypatch):
    """Nothing is written before the first row, TensorBoard's folder included (a run that fails earlier
    leaves no logs/ behind); `discard` (a new run ended before its first checkpoint) removes the CSV and
    the folder this log made, and never a TensorBoard folder that was already there."""
    import sys
    import types

    class Writer:
        def __init__(self, folder):
            import pathlib

            pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
            (pathlib.Path(folder) / "events").write_text("e")

        def add_scalar(self, *args):
            pass

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    logs = tmp_path / "logs"
    log = MetricLog(logs, "train")
    assert not logs.exists()
    log.write(1, {"loss": 0.5})
    assert (logs / "tensorboard" / "events").is_file() and (logs / "train.csv").is_file()
    log.discard()
    assert list(logs.iterdir()) == []

    (logs / "tensorboard").mkdir()  # another run's TensorBoard folder stays
    log = MetricLog(logs, "train")
    log.write(1, {"loss": 0.5})
    log.discard()
    assert [p.name for p in logs.iterdir()] == ["tensorboard"]


@pytest.mark.parametrize("text, said", [
    (b"step,loss\n1,0.5\ngarbage,row\n", "row 3: step 'garbage' is not a whole number"),
    (b"loss,lr\n0.5,0.1\n", "has no 'step' column"),
    (b"step,loss\n1,0.5\xff\n", "is not UTF-8 text"),
    (b"step,loss\n1,0.5,7\n", "row 2: has more fields than its header"),
])
def test_a_damaged_log_is_one_line_naming_the_file_and_row(tmp_path, text, said):
    """A resume's truncation (and a widened header's rewrite) refuses a damaged log, keeping every row."""
    from egvsr.errors import FormatError

    (tmp_path / "train.csv").write_bytes(text)
    log = MetricLog(tmp_path, "train", tensorboard=False)
    for act in (lambda: log.truncate_after(1), lambda: log.write(2, {"new": 1.0})):
        with pytest.raises(FormatError, match=said) as e:
            act()
        assert str(tmp_path / "train.csv") in str(e.value) and "\n" not in str(e.value)
    assert (tmp_path / "train.csv").read_bytes() == text


@pytest.mark.parametrize("root, name", [("data", "run"), ("", "data")])
def test_an_experiment_in_the_package_data_folder_is_refused_before_anything_is_made(root, name):
    from egvsr.engine.experiment import Experiment
    from egvsr.errors import OutputExistsError
    from egvsr.fsutil import PACKAGE_DATA

    before = sorted(PACKAGE_DATA.iterdir())
    with pytest.raises(OutputExistsError, match="package's data folder"):
        Experiment(PACKAGE_DATA.parent / root, name).check_folders()
    assert sorted(PACKAGE_DATA.iterdir()) == before
