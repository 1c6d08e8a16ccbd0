"""Resume says what it does (issue 18): it names the experiment and step, refuses a changed config
listing the keys (unless --allow-config-change), explains a weights-only last.pt in one line,
`train.init_from` starts from any checkpoint's weights, and Ctrl-C / SIGTERM leave a checkpoint from
which the same command resumes bit-exactly."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from egvsr.cli import main
from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.engine.config import config_differences, load_config
from egvsr.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=3, seconds=0.5, size=(40, 56), fps=20.0, progress=False)


def _config(tmp: Path, recording: Path, name: str, model: dict | None = None, data: dict | None = None,
            **train) -> Path:
    cfg = {
        "name": name, "seed": 1, "device": "cpu", "output_root": str(tmp / "exp"),
        "model": model or {"name": "egvsr-tiny", "options": {}},
        "data": {"train": {"recordings": [str(recording)], "patch_size": 12, "scale_range": [1, 2], "bins": 8,
                           **(data or {})}, "val": {}},
        "train": {"iterations": 2, "batch_size": 2, "lr": 1e-3, "log_every": 1, "val_every": 1000,
                  "checkpoint_every": 1000, "keep_checkpoints": 1, **train},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_names_the_experiment_and_step_and_refuses_a_changed_config(tmp_path, tiny_recording, capsys):
    cfg = _config(tmp_path, tiny_recording, "run")
    folder = tmp_path / "exp" / "run"
    assert main(["train", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"experiment {folder}" in out and "a new run" in out
    assert f"wrote {folder / 'checkpoints' / 'last.pt'} (step 2)" in out

    assert main(["train", str(cfg), "--no-progress", "--set", "train.lr=0.002", "--set", "seed=5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("egvsr: error: ")
    assert "seed: 1 -> 5" in err and "train.lr: 0.001 -> 0.002" in err and "--allow-config-change" in err
    assert yaml.safe_load((folder / "config.yaml").read_text())["train"]["lr"] == 0.001  # not overwritten

    # budgets, logging and threads may change freely; more iterations is a change that must be allowed
    assert main(["train", str(cfg), "--no-progress", "--set", "train.iterations=3", "--set", "train.log_every=2",
                 "--allow-config-change"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {folder} from step 2" in out
    assert "train.iterations: 2 -> 3" in out and "log_every" not in out
    assert load_checkpoint(folder / "checkpoints" / "last.pt")["step"] == 3


def test_resume_takes_a_model_option_given_equal_to_the_presets_value(tmp_path, tiny_recording, capsys):
    """Options are compared as the model resolves them: `n_feats=8` on an egvsr-tiny run (whose n_feats is
    8) is no change, though the saved config does not state the key; another value still differs."""
    cfg = _config(tmp_path, tiny_recording, "same")
    assert main(["train", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-progress", "--set", "model.options.n_feats=8"]) == 0
    assert "already complete (step 2 of train.iterations 2)" in capsys.readouterr().out
    assert main(["train", str(cfg), "--no-progress", "--set", "model.options.n_feats=12"]) == 2
    assert "other model options (n_feats: 8 in the checkpoint, 12 in the config)" in capsys.readouterr().err


def test_config_differences_ignore_defaults_added_later_and_free_keys():
    old = load_config(None, ["train.lr=0.001"])
    del old["train"]["init_from"]  # a checkpoint written before the key existed
    new = load_config(None, ["train.lr=0.001", "train.max_cpu_minutes=5", "device=cpu"])
    assert config_differences(old, new) == []
    assert config_differences(old, load_config(None, ["train.lr=0.01"])) == ["train.lr: 0.001 -> 0.01"]


def test_weights_only_last_checkpoint_is_one_clear_line(tmp_path, tiny_recording, capsys):
    cfg = _config(tmp_path, tiny_recording, "weights")
    ck = tmp_path / "exp" / "weights" / "checkpoints" / "last.pt"
    ck.parent.mkdir(parents=True)
    from egvsr.models import build_model

    model = build_model("egvsr-tiny")
    save_checkpoint(ck, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": model.state_dict()})
    assert main(["train", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds model weights only" in err and "train.init_from" in err
    assert "KeyError" not in err


def test_init_from_starts_a_new_run_from_the_shipped_weights(tmp_path, tiny_recording, capsys):
    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.checkpoint_model import input_options
    from egvsr.engine.train import Trainer
    from egvsr.engine.weights import shipped_checkpoint

    with shipped_checkpoint() as shipped:
        if shipped is None:
            pytest.skip("this install has no shipped weights")
        ck = load_checkpoint(shipped)
        copy = tmp_path / "weights.pt"
        shutil.copyfile(shipped, copy)
    spec = ck["model"]
    options = {k: v for k, v in spec["config"].items() if k != "name"}
    data = {k: v for k, v in input_options(ck).items() if k != "num_frames"}
    for source, label in (("shipped", "shipped weights"), (str(copy), str(copy))):
        cfg = load_config(_config(tmp_path, tiny_recording, "init", {"name": spec["name"], "options": options}, data,
                                  init_from=source))
        trainer = Trainer(cfg, init_distributed("cpu"), progress=False)
        assert trainer.step == 0
        weights = ck["ema"] if ck.get("ema") else ck["state_dict"]
        for k, v in trainer.model.state_dict().items():
            assert torch.equal(v, weights[k].to(v.dtype)), k
        assert f"starting from the weights: {label}" in capsys.readouterr().out
    wrong = load_config(_config(tmp_path, tiny_recording, "wrong", {"name": "videoinr-tiny", "options": {}},
                                init_from="shipped"))
    with pytest.raises(Exception, match="train.init_from: shipped weights .* holds model"):
        Trainer(wrong, init_distributed("cpu"), progress=False)
    other = load_config(_config(tmp_path, tiny_recording, "other", {"name": "egvsr-small", "options": {}},
                                init_from="shipped"))
    differ = r"with other options \(.*time_bins: 5 there, 3 here.*\); set model\.options"
    with pytest.raises(ConfigError, match=differ) as e:
        Trainer(other, init_distributed("cpu"), progress=False)
    assert "n_feats" not in str(e.value), "only the options that differ are named"


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    env.pop("WORLD_SIZE", None)
    return env


def _rows(folder: Path) -> int:
    log = folder / "logs" / "train.csv"
    try:
        return max(0, len(log.read_text().splitlines()) - 1)
    except OSError:
        return 0


STEPS = 14
CMD = [sys.executable, "-m", "egvsr", "train", "--no-progress"]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_recording) -> Path:
    """last.pt of an uninterrupted run (the reference for both signals)."""
    tmp = tmp_path_factory.mktemp("straight")
    subprocess.run(CMD + [str(_config(tmp, tiny_recording, "straight", iterations=STEPS))], check=True, env=_env(),
                   capture_output=True)
    return tmp / "exp" / "straight" / "checkpoints" / "last.pt"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_saves_a_checkpoint_and_resumes_bit_exactly(tmp_path, tiny_recording, straight_run, sig):
    steps, cmd = STEPS, CMD
    stopped = _config(tmp_path, tiny_recording, "stopped", iterations=steps)

    folder = tmp_path / "exp" / "stopped"
    # SIGINT as a terminal delivers it: a test runner started in the background ignores SIGINT, and egvsr (as
    # any program) keeps a signal ignored at its start ignored
    proc = subprocess.Popen(cmd + [str(stopped)], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while _rows(folder) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    at = load_checkpoint(folder / "checkpoints" / "last.pt")["step"]
    assert 3 <= at < steps, "the run should have been stopped mid-way"
    assert f"stopped at step {at}: wrote {folder / 'checkpoints' / 'last.pt'}; run the same command to resume" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("egvsr: stopped at step"), "nothing follows the line that says how to resume"
    assert not list(folder.rglob("*.egvsr-partial"))

    again = subprocess.run(cmd + [str(stopped)], check=True, env=_env(), capture_output=True, text=True)
    assert f"resuming {folder} from step {at}" in again.stdout
    a = load_checkpoint(straight_run)
    b = load_checkpoint(folder / "checkpoints" / "last.pt")
    for key in ("state_dict", "optimizer"):
        flat_a, flat_b = _tensors(a[key]), _tensors(b[key])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            assert torch.equal(flat_a[k], flat_b[k]), f"{key} {k} differs after resume"


def _tensors(tree, prefix="") -> dict:
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k2: v2 for k, v in tree.items() for k2, v2 in _tensors(v, f"{prefix}.{k}").items()}
    if isinstance(tree, (list, tuple)):
        return {k2: v2 for i, v in enumerate(tree) for k2, v2 in _tensors(v, f"{prefix}[{i}]").items()}
    return {prefix: torch.tensor(float(tree))} if isinstance(tree, (int, float)) else {}


# ---- a new run never replaces what is there: its input, or another run's files -------------------------
def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_new_run_never_replaces_its_input_config(tmp_path, tiny_recording, capsys):
    """A hand-written experiments/NAME/config.yaml given to `train` is refused (no last.pt: a new run
    would write its resolved config there), with and without --overwrite, before the folder is touched."""
    folder = tmp_path / "exp" / "mine"
    folder.mkdir(parents=True)
    mine = folder / "config.yaml"
    mine.write_text("# my config, with comments\n" + _config(tmp_path, tiny_recording, "mine").read_text())
    before = _snapshot(folder)
    for extra in ([], ["--overwrite"]):
        assert main(["train", str(mine), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{mine}: is the config given to `egvsr train`" in err, err
        assert _snapshot(folder) == before and sorted(folder.iterdir()) == [mine]


@pytest.mark.parametrize("name", ["config.yaml", "checkpoints/best.pt", "checkpoints/step-00000100.pt",
                                  "logs/train.csv"])
def test_new_run_refuses_another_runs_file_without_overwrite(tmp_path, tiny_recording, capsys, name):
    cfg = _config(tmp_path, tiny_recording, "old")
    folder = tmp_path / "exp" / "old"
    (folder / name).parent.mkdir(parents=True)
    (folder / name).write_bytes(b"precious")
    assert main(["train", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{folder / name}: already exists" in err and "--overwrite" in err, err
    assert _snapshot(folder) == {Path(name): b"precious"}  # not even train.lock


def test_overwrite_starts_afresh_and_prunes_only_its_own_checkpoints(tmp_path, tiny_recording, capsys):
    """--overwrite replaces config.yaml, best.pt and the logs; a foreign step-N.pt is never pruned,
    while the run's own older step-N.pt files are (also after a resume, from the list last.pt keeps)."""
    cfg = _config(tmp_path, tiny_recording, "old", iterations=2, checkpoint_every=1, keep_checkpoints=1)
    ck = tmp_path / "exp" / "old" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "best.pt").write_bytes(b"old best")
    (ck / "step-00000100.pt").write_bytes(b"foreign")
    (ck.parent / "logs").mkdir()
    (ck.parent / "logs" / "train.csv").write_text("step,foo\n1,2\n5,6\n")
    assert main(["train", str(cfg), "--no-progress", "--overwrite"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "last.pt", "step-00000002.pt", "step-00000100.pt"]
    assert (ck / "step-00000100.pt").read_bytes() == b"foreign" and (ck / "best.pt").read_bytes() != b"old best"
    log = (ck.parent / "logs" / "train.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,") and [r.split(",")[0] for r in log[1:]] == ["1", "2"]
    assert "foo" not in (ck.parent / "config.yaml").read_text()
    assert load_checkpoint(ck / "last.pt")["step_checkpoints"] == [2]

    # a resume from the saved config.yaml itself: never rewritten, its logs continue, own files pruned
    saved = ck.parent / "config.yaml"
    saved.write_text("# resumed from here\n" + saved.read_text())
    before = saved.read_bytes()
    (ck / "step-00000050.pt").write_bytes(b"foreign too")
    assert main(["train", str(saved), "--no-progress", "--allow-config-change", "--set", "train.iterations=3"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert saved.read_bytes() == before
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "last.pt", "step-00000003.pt", "step-00000050.pt",
                                                   "step-00000100.pt"]
    assert [r.split(",")[0] for r in (ck.parent / "logs" / "train.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]


def _one_error(capsys, fragment: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("egvsr: error: ") and fragment in err, err
    return err


def test_init_from_in_the_runs_own_checkpoints_is_never_replaced(tmp_path, tiny_recording, capsys):
    """A new run's train.init_from in its own checkpoints/ (best.pt, a step-N.pt, or a link to one) is an
    input the run would delete or replace: refused before any work, with or without --overwrite."""
    cfg = _config(tmp_path, tiny_recording, "again", checkpoint_every=1, keep_checkpoints=2)
    folder = tmp_path / "exp" / "again"
    assert main(["train", str(cfg), "--no-progress"]) == 0
    (folder / "checkpoints" / "last.pt").unlink()
    (tmp_path / "link.pt").symlink_to(folder / "checkpoints" / "best.pt")
    before = _snapshot(folder)
    for source in ("best.pt", "step-00000001.pt", "../../../link.pt"):
        init = folder / "checkpoints" / source
        for extra in ([], ["--overwrite"]):
            assert main(["train", str(cfg), "--no-progress", "--set", f"train.init_from={init}", *extra]) == 2
            _one_error(capsys, f"train.init_from: {init} lies in {folder / 'checkpoints'}, where a new run")
            assert _snapshot(folder) == before
    copy = tmp_path / "best-copy.pt"  # the way out the message gives
    shutil.copyfile(folder / "checkpoints" / "best.pt", copy)
    assert main(["train", str(cfg), "--no-progress", "--overwrite", "--set", f"train.init_from={copy}"]) == 0
    assert f"starting from the weights: {copy}" in capsys.readouterr().out


def test_failed_overwrite_keeps_the_old_run(tmp_path, tiny_recording, capsys):
    """--overwrite removes the old run's best.pt and logs only at the new run's first write: a run refused
    at start-up (a linked config.yaml, a value torch cannot hold) or failing in its first steps leaves them."""
    cfg = _config(tmp_path, tiny_recording, "keep", iterations=4, log_every=100, checkpoint_every=100)
    folder = tmp_path / "exp" / "keep"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "logs").mkdir()
    (folder / "checkpoints" / "best.pt").write_bytes(b"old best")
    (folder / "checkpoints" / "step-00000002.pt").write_bytes(b"old step")
    (folder / "logs" / "train.csv").write_text("step,loss\n1,0.5\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("# a config of mine\n")
    (folder / "config.yaml").symlink_to(mine)
    before = _snapshot(folder)
    assert main(["train", str(cfg), "--no-progress", "--overwrite"]) == 2
    _one_error(capsys, f"{folder / 'config.yaml'}: output is a symbolic link")
    assert _snapshot(folder) == before and mine.read_text() == "# a config of mine\n"

    (folder / "config.yaml").unlink()
    (folder / "config.yaml").write_text("old config\n")
    before = _snapshot(folder)
    assert main(["train", str(cfg), "--no-progress", "--overwrite", "--set", "train.lr=1e38",
                 "--set", "train.grad_clip=0"]) == 2
    _one_error(capsys, "train.lr: 1e+38 makes Adam's first step")
    assert _snapshot(folder) == before
    assert main(["train", str(cfg), "--no-progress", "--overwrite", "--set", "train.lr=3e37"]) == 2
    _one_error(capsys, "diverged")  # at a step (loss nan) or at the final save (weights no longer finite)
    assert _snapshot(folder) == {**before, Path("train.lock"): (folder / "train.lock").read_bytes()}  # (the lock)

    # integer betas (YAML `0`) are fine for torch's Adam; the run starts afresh
    assert main(["train", str(cfg), "--no-progress", "--overwrite", "--set", "train.betas=[0, 0.99]"]) == 0
    capsys.readouterr()
    assert (folder / "checkpoints" / "best.pt").read_bytes() != b"old best"
    assert "step,loss,lr" in (folder / "logs" / "train.csv").read_text()


def test_links_in_the_experiment_folder_are_never_written_through(tmp_path, tiny_recording, capsys):
    """A symbolic link at train.lock, a CSV log or last.pt is refused in one line naming it, new run or
    resume, and what it points to is left as it was."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    cfg = _config(tmp_path, tiny_recording, "linked")
    folder = tmp_path / "exp" / "linked"
    folder.mkdir(parents=True)
    (folder / "train.lock").symlink_to(victim)
    assert main(["train", str(cfg), "--no-progress"]) == 2
    _one_error(capsys, f"{folder / 'train.lock'}: output is a symbolic link")
    assert victim.read_text() == "precious\n" and sorted(folder.iterdir()) == [folder / "train.lock"]
    (folder / "train.lock").unlink()

    assert main(["train", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    resume = ["train", str(cfg), "--no-progress", "--allow-config-change", "--set", "train.iterations=3"]
    for name in ("logs/train.csv", "checkpoints/last.pt"):
        path = folder / name
        real = tmp_path / path.name
        path.rename(real)
        path.symlink_to(real)
        before = real.read_bytes()
        assert main(resume) == 2
        _one_error(capsys, f"{path}: output is a symbolic link")
        assert real.read_bytes() == before
        path.unlink()
        real.rename(path)
    assert main(resume) == 0 and "resuming" in capsys.readouterr().out


# ---- bad inputs found by the sweep: each refused at start-up, or cleaned up after -------------------------
def test_resume_refuses_a_checkpoint_whose_config_shares_references(tmp_path, tiny_recording):
    """A 2 MB last.pt whose `experiment` (or `model`) entry shares references stands for 2**40 values: it
    is refused at once naming the file, before the config comparison walks it."""
    from egvsr.engine.train import train
    from egvsr.errors import CheckpointError
    from egvsr.models import build_model

    model = build_model("egvsr-tiny")
    cfg = load_config(_config(tmp_path, tiny_recording, "laughs"))
    shared: dict = {"x": 1}
    for _ in range(40):
        shared = {"p": shared, "q": shared}
    last = tmp_path / "exp" / "laughs" / "checkpoints" / "last.pt"
    for key in ("experiment", "model"):
        extra = {"model": {"name": "egvsr-tiny", "config": model.config}, "experiment": dict(cfg)}
        extra[key] = {**extra[key], "laugh": shared}
        save_checkpoint(last, {"state_dict": model.state_dict(), **extra}, overwrite=True)
        with pytest.raises(CheckpointError,
                           match=rf"^{re.escape(str(last))}: its '{key}' entry expands to more than 1000000 values"):
            train(cfg=cfg, progress=False, log=None)


def test_init_from_refuses_weights_that_are_not_finite(tmp_path, tiny_recording):
    """A train.init_from checkpoint saved after diverging (a NaN weight) is refused at start-up naming the
    weight, as eval and render refuse it, not at step 1 as a diverged loss."""
    from egvsr.engine.train import train
    from egvsr.errors import CheckpointError
    from egvsr.models import build_model

    model = build_model("egvsr-tiny")
    state = model.state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name].view(-1)[0] = float("nan")
    source = tmp_path / "nan.pt"
    save_checkpoint(source, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": state})
    cfg = load_config(_config(tmp_path, tiny_recording, "nan", init_from=str(source)))
    with pytest.raises(CheckpointError, match=rf"^train.init_from: {re.escape(str(source))}: weight "
                                              rf"'state_dict.{name}'\[.*\] is nan; expected finite weights"):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp").exists()


def test_new_run_failing_before_its_first_checkpoint_leaves_the_folder_as_it_found_it(tmp_path, tiny_recording,
                                                                                      capsys):
    """A new run that wrote log rows and config.yaml, then diverged before its first checkpoint, removes
    them and the folders it made (never another file), so the same command with a sane lr starts again
    without --overwrite."""
    diverge = ["--set", "train.lr=1e12", "--set", "train.iterations=6", "--set", "train.checkpoint_every=100"]
    cfg = _config(tmp_path, tiny_recording, "div")
    folder = tmp_path / "exp" / "div"
    assert main(["train", str(cfg), "--no-progress", *diverge]) == 2
    assert "a new run" in capsys.readouterr().out  # it began writing (its first log row) before diverging
    assert not folder.exists() and not (tmp_path / "exp").exists()

    folder.mkdir(parents=True)  # a folder of the user's: only what the run wrote goes
    (folder / "notes.txt").write_text("mine")
    assert main(["train", str(cfg), "--no-progress", *diverge]) == 2
    _one_error(capsys, "train.lr: training diverged by step")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "train.lock"]  # (the lock does not count)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    assert (folder / "checkpoints" / "last.pt").is_file() and (folder / "notes.txt").read_text() == "mine"


def test_resume_names_only_the_differing_model_options_and_a_complete_run_writes_nothing(tmp_path, tiny_recording,
                                                                                         capsys):
    cfg = _config(tmp_path, tiny_recording, "done")
    last = tmp_path / "exp" / "done" / "checkpoints" / "last.pt"
    assert main(["train", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    before = last.stat().st_mtime_ns
    assert main(["train", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "already complete (step 2 of train.iterations 2)" in out and "wrote" not in out, out
    assert last.stat().st_mtime_ns == before
    assert main(["train", str(cfg), "--no-progress", "--allow-config-change", "--set", "model.options.n_feats=12"]) == 2
    err = _one_error(capsys, f"{last}: was trained with other model options (n_feats: 8 in the checkpoint, 12 in "
                             "the config), and its weights fit only those")
    assert "inr_channels" not in err


def test_a_failed_save_leaves_last_pt_and_its_step_list_as_they_were(tmp_path, tiny_recording, monkeypatch):
    """step-N.pt is written before last.pt, and last.pt lists only step files that exist: when the step
    file cannot be written, last.pt keeps the previous step and its list (nothing orphaned, the older step
    still pruned later); when last.pt cannot be written, the new step file goes too."""
    import egvsr.engine.train as train_module

    real = train_module.save_checkpoint
    for failing in ("step-00000003.pt", "last.pt"):
        calls = {"n": 0}

        def save(path, payload, overwrite=False, failing=failing, calls=calls):
            calls["n"] += 1
            if Path(path).name == failing and payload["step"] == 3:
                raise OSError(28, "No space left on device")
            return real(path, payload, overwrite=overwrite)

        monkeypatch.setattr(train_module, "save_checkpoint", save)
        name = "save" + failing[:4]
        cfg = load_config(_config(tmp_path, tiny_recording, name, iterations=3, checkpoint_every=1, keep_checkpoints=1))
        with pytest.raises(OSError, match="No space left"):
            train_module.train(cfg=cfg, progress=False, log=None)
        ck = tmp_path / "exp" / name / "checkpoints"
        assert load_checkpoint(ck / "last.pt")["step"] == 2
        assert load_checkpoint(ck / "last.pt")["step_checkpoints"] == [2]
        assert sorted(p.name for p in ck.glob("step-*.pt")) == ["step-00000002.pt"]


def test_training_leaves_a_signal_ignored_at_start_ignored():
    """`nohup egvsr train ... &`: the training loop's own deferral of SIGINT/SIGTERM/SIGHUP took over the
    SIGHUP that nohup ignores, so the run stopped at logout."""
    code = ("import signal, types\nfrom egvsr.engine.train import Trainer\n"
            "fake = types.SimpleNamespace(info=types.SimpleNamespace(distributed=False), _stop_signal=None, step=0)\n"
            "with Trainer._signals_deferred(fake):\n"
            "    print(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, signal.getsignal(signal.SIGTERM) not in "
            "(signal.SIG_IGN, signal.SIG_DFL))\n")
    res = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert res.returncode == 0 and res.stdout == "True True\n", res.stderr


def test_allowed_change_of_lr_betas_and_weight_decay_takes_effect_on_resume(tmp_path, tiny_recording, capsys):
    """--allow-config-change applies the new lr, betas and weight decay (loading the optimizer and schedule
    states brought back the old ones): the schedule goes on from the resumed step with the new base."""
    cfg = _config(tmp_path, tiny_recording, "lr", schedule="constant")
    folder = tmp_path / "exp" / "lr"
    assert main(["train", str(cfg), "--no-progress"]) == 0
    assert main(["train", str(cfg), "--no-progress", "--set", "train.iterations=4", "--set", "train.lr=0.002",
                 "--set", "train.weight_decay=0.1", "--set", "train.betas=[0.5,0.6]", "--allow-config-change"]) == 0
    capsys.readouterr()
    rates = [line.split(",")[2] for line in (folder / "logs" / "train.csv").read_text().splitlines()[1:]]
    assert [float(r) for r in rates] == [0.001, 0.001, 0.002, 0.002]
    ck = load_checkpoint(folder / "checkpoints" / "last.pt")
    group = ck["optimizer"]["param_groups"][0]
    assert (group["lr"], tuple(group["betas"]), group["weight_decay"]) == (0.002, (0.5, 0.6), 0.1)
    assert ck["scheduler"]["base_lrs"] == [0.002]


def test_cosine_schedule_resumed_with_a_new_lr_continues_from_its_step(tmp_path, tiny_recording):
    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.schedule import build_scheduler
    from egvsr.engine.train import Trainer

    cfg = _config(tmp_path, tiny_recording, "cos", iterations=2, eta_min=1e-4)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    trainer = Trainer(load_config(cfg, ["train.iterations=6", "train.lr=0.01"]), init_distributed("cpu"),
                      progress=False, allow_config_change=True, log=None)
    ref = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = build_scheduler(ref, "cosine", 6, 0, 1e-4)
    for _ in range(2):
        ref.step()
        sched.step()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(ref.param_groups[0]["lr"])
    assert trainer.scheduler.get_last_lr() == pytest.approx(sched.get_last_lr())


def test_ema_enabled_on_resume_starts_from_the_resumed_weights(tmp_path, tiny_recording):
    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.train import Trainer

    cfg = _config(tmp_path, tiny_recording, "ema")
    assert main(["train", str(cfg), "--no-progress"]) == 0
    trainer = Trainer(load_config(cfg, ["train.iterations=3", "train.ema_decay=0.99"]), init_distributed("cpu"),
                      progress=False, allow_config_change=True, log=None)
    saved = load_checkpoint(tmp_path / "exp" / "ema" / "checkpoints" / "last.pt")["state_dict"]
    for k, v in trainer.ema.shadow.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_resume_checks_come_before_the_data_is_built(tmp_path, tiny_recording, capsys, monkeypatch):
    """A changed config or a complete run is refused before the data (maybe many rendered clips) is built."""
    import egvsr.engine.train as train_module

    cfg = _config(tmp_path, tiny_recording, "early")
    assert main(["train", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()

    def no_data(*args, **kwargs):
        raise AssertionError("the data was built")

    monkeypatch.setattr(train_module, "build_dataset", no_data)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["train", str(cfg), "--no-progress", "--set", "seed=4"]) == 2
    _one_error(capsys, "seed: 1 -> 4")


def _damage(ck: dict, key: str) -> None:
    """Damage one entry of a resumable checkpoint."""
    if key == "state_dict" or key == "ema":
        state = dict(ck["state_dict"])
        if key == "ema":
            state["bogus"] = torch.zeros(1)
        else:
            name = next(iter(state))
            state[name] = torch.zeros(3, 1)
        ck[key] = state
    elif key == "optimizer":
        ck[key] = {"state": {}, "param_groups": []}
    elif key == "rng":
        ck[key] = {k: v for k, v in ck["rng"].items() if k != "python"}
    else:
        ck[key.rstrip("-")] = {"step": "x", "step-": -5, "best_psnr": "abc", "scheduler": {"x": 1}}[key]


@pytest.mark.parametrize("key", ["step", "step-", "best_psnr", "optimizer", "rng", "scheduler", "state_dict", "ema"])
def test_damaged_last_checkpoint_entries_are_one_line(tmp_path, tiny_recording, capsys, key):
    cfg = _config(tmp_path, tiny_recording, "dmg", checkpoint_every=1, keep_checkpoints=2, ema_decay=0.9)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    last = tmp_path / "exp" / "dmg" / "checkpoints" / "last.pt"
    ck = load_checkpoint(last)
    _damage(ck, key)
    save_checkpoint(last, ck, overwrite=True)
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-progress", "--set", "train.iterations=3", "--allow-config-change"]) == 2
    err = _one_error(capsys, f"{last}: its {key.rstrip('-')!r} entry is damaged")
    assert "step-00000002.pt over last.pt" in err


@pytest.mark.parametrize("damage, said", [
    (lambda b: b[: len(b) // 2], "not a complete checkpoint file"),       # truncated
    (lambda b: b"", "it is empty"),
    (lambda b: b"\x00" * 64, "not a checkpoint file"),                    # not a PyTorch archive
])
def test_an_unreadable_last_checkpoint_names_the_step_checkpoint_to_resume_from(tmp_path, tiny_recording, capsys,
                                                                              damage, said):
    """A last.pt that cannot be read at all is refused like one with a damaged entry: naming the newest
    step-N.pt of the run to copy over it (the run is not lost)."""
    cfg = _config(tmp_path, tiny_recording, "cut", checkpoint_every=1, keep_checkpoints=2)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    last = tmp_path / "exp" / "cut" / "checkpoints" / "last.pt"
    last.write_bytes(damage(last.read_bytes()))
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-progress"]) == 2
    err = _one_error(capsys, said)
    assert err.rstrip().endswith(f"to resume from step 2, copy {last.parent / 'step-00000002.pt'} over last.pt")


@pytest.mark.parametrize("where, said", [("exp/f", "expected the experiment folder"),
                                         ("exp/f/checkpoints", "expected its checkpoints folder"),
                                         ("exp/f/logs", "expected its logs folder"),
                                         ("exp", "expected a folder (a level of output_root)")])
def test_a_file_where_a_folder_must_be_is_refused_at_start_up(tmp_path, tiny_recording, capsys, monkeypatch,
                                                              where, said):
    import egvsr.engine.train as train_module

    cfg = _config(tmp_path, tiny_recording, "f")
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_text("")
    monkeypatch.setattr(train_module, "build_dataset", None)  # refused before any work
    assert main(["train", str(cfg), "--no-progress"]) == 2
    _one_error(capsys, f"{tmp_path / where}: is a file, {said}")


def test_a_refused_run_removes_the_output_root_levels_it_made(tmp_path, tiny_recording, capsys):
    cfg = _config(tmp_path, tiny_recording, "deep")
    (tmp_path / "s").mkdir()
    assert main(["train", str(cfg), "--no-progress", "--set", f"output_root={tmp_path}/s/deep/a/b/c",
                 "--set", "data.train.num_frames=5"]) == 2
    _one_error(capsys, "num_frames")
    assert list((tmp_path / "s").iterdir()) == []


def test_a_moved_experiment_resumes_without_allow_config_change(tmp_path, tiny_recording, capsys):
    """output_root and the sample caches say where the run lives, not what it computes."""
    cfg = _config(tmp_path, tiny_recording, "moved", iterations=2)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    (tmp_path / "exp").rename(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-progress", "--set", f"output_root={tmp_path / 'elsewhere'}",
                 "--set", f"data.train.sample_cache={tmp_path / 'cache2'}"]) == 0
    assert "already complete (step 2" in capsys.readouterr().out  # resumed, not refused as a changed config


@pytest.mark.parametrize("where, fragment", [("missing.pt", "checkpoint not found"),
                                             (".", "is a folder; expected a checkpoint file")])
def test_an_init_from_that_is_no_checkpoint_file_is_named_by_its_key(tmp_path, tiny_recording, capsys, where,
                                                                      fragment):
    source = tmp_path / where
    cfg = _config(tmp_path, tiny_recording, "initbad", init_from=str(source))
    assert main(["train", str(cfg), "--no-progress"]) == 2
    _one_error(capsys, f"train.init_from: {source}: {fragment}")


def test_config_differences_read_data_keys_written_at_their_default_as_no_change():
    old = load_config(None, ["data.train.recordings=[a.h5]", "data.val.recordings=[b.h5]"])
    new = load_config(None, ["data.train.recordings=[a.h5]", "data.train.bins=32", "data.train.patch_size=64",
                             "data.train.sample_seconds=2", "data.val.recordings=[b.h5]",
                             "data.val.mode=eval", "data.val.patch_size=null", "data.val.synthetic_size=[128,160]"])
    assert config_differences(old, new) == []
    changed = load_config(None, ["data.train.recordings=[a.h5]", "data.train.bins=8", "data.val.recordings=[b.h5]",
                                 "data.val.patch_size=64"])
    assert config_differences(old, changed) == ["data.train.bins: 32 -> 8", "data.val.patch_size: None -> 64"]


def test_a_run_saved_without_amp_resumes_where_amp_is_on(tmp_path, tiny_recording, capsys, monkeypatch):
    """`device` may change on a resume: a CPU run (AMP off, its GradScaler saved disabled as {}) resumed on a
    GPU (AMP on) starts a fresh scaler there instead of calling its scaler entry damaged. The GPU's enabled
    scaler is stood in for by torch's CPU one, which refuses an empty state the same way."""
    cfg = _config(tmp_path, tiny_recording, "amp")
    assert main(["train", str(cfg), "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "exp" / "amp" / "checkpoints" / "last.pt")["scaler"] == {}
    real = torch.amp.GradScaler
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled=True: real("cpu", enabled=True))
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-progress"]) == 0
    assert "already complete (step 2" in capsys.readouterr().out


def test_resume_reads_last_pt_onto_the_cpu_whatever_the_training_device(tmp_path, tiny_recording, monkeypatch):
    """A GPU resume read last.pt with map_location=cuda, which moves every tensor there, its RNG states too:
    numpy's and torch's CPU generator take only CPU tensors, so every GPU resume was refused as a damaged
    'rng' entry. last.pt is read onto the CPU (weights, optimizer and EMA are copied to their device as they
    load). Without a GPU here, the trainer is given a CUDA device and the read is watched."""
    import egvsr.engine.train as train_module
    from egvsr.engine.distributed import DistInfo
    from egvsr.engine.experiment import Experiment
    from egvsr.engine.schedule import build_scheduler
    from egvsr.models import build_model

    path = _config(tmp_path, tiny_recording, "gpu")
    assert main(["train", str(path), "--no-progress"]) == 0
    cfg = load_config(path)
    trainer = train_module.Trainer.__new__(train_module.Trainer)  # the parts `_resume` uses, on a CUDA device
    trainer.cfg, trainer.allow_config_change, trainer.log = cfg, False, lambda text: None
    trainer.info = DistInfo(0, 0, 1, torch.device("cuda", 0))
    trainer.exp = Experiment(cfg["output_root"], cfg["name"])
    trainer.model = build_model(cfg["model"]["name"], **cfg["model"]["options"])
    trainer.optimizer = torch.optim.Adam(trainer.model.parameters(), lr=1e-3)
    trainer.scheduler = build_scheduler(trainer.optimizer, "cosine", 2)
    trainer.scaler = torch.amp.GradScaler("cuda", enabled=False)
    read = []
    real = train_module.load_checkpoint

    def watched(p, map_location="cpu", **kwargs):
        read.append(torch.device(map_location))
        return real(p, "cpu", **kwargs)

    monkeypatch.setattr(train_module, "load_checkpoint", watched)
    assert trainer._resume()["step"] == 2
    assert [d.type for d in read] == ["cpu"]


@pytest.mark.parametrize("stop_at", [2, 4], ids=["mid-run", "last-step"])
def test_a_run_stopped_during_validation_validates_that_step_on_resume(tmp_path, tiny_recording, monkeypatch, stop_at,
                                                                       capsys):
    """A second Ctrl-C during a validation saves the finished step with the validation recorded as
    interrupted, and the resume runs it first (a run stopped in its last validation is not 'already
    complete'): val.csv, best.pt and last.pt equal an uninterrupted run's."""
    from egvsr.engine.train import Trainer, train

    def config(name: str) -> dict:
        cfg = load_config(_config(tmp_path, tiny_recording, name, iterations=4, val_every=2, ema_decay=0.5))
        cfg["data"]["val"] = {"recordings": [str(tiny_recording)], "bins": 8, "scale": 2}
        return cfg

    train(cfg=config("straight"), progress=False, log=None)
    real, stopped = Trainer.validate, []

    def interrupted(self):
        if self.step == stop_at and not stopped:
            stopped.append(self.step)
            raise KeyboardInterrupt  # what the second signal raises during a validation
        return real(self)

    monkeypatch.setattr(Trainer, "validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg=config("stopped"), progress=False, log=None)
    folder = tmp_path / "exp" / "stopped"
    assert load_checkpoint(folder / "checkpoints" / "last.pt")["step"] == stop_at
    said = capsys.readouterr().err
    train(cfg=config("stopped"), progress=False, log=print)
    out = capsys.readouterr().out
    assert f"resuming {folder} from step {stop_at}" in out and "already complete" not in out
    straight = tmp_path / "exp" / "straight"
    for log in ("train.csv", "val.csv"):
        rows = [[line.split(",")[i] for i in (0, 1)] for line in (straight / "logs" / log).read_text().splitlines()]
        assert [[line.split(",")[i] for i in (0, 1)] for line in (folder / "logs" / log).read_text().splitlines()] \
            == rows, log
    for name in ("last.pt", "best.pt"):
        a, b = (load_checkpoint(f / "checkpoints" / name) for f in (straight, folder))
        assert (a["step"], a["best_psnr"]) == (b["step"], b["best_psnr"]) and "validation_pending" not in b
        for key in ("state_dict", "ema"):
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), (name, key)
    assert f"stopped at step {stop_at} (validation interrupted; a resume validates it first)" in said


def test_a_changed_recording_is_named_alone_beside_paths_spelled_another_way():
    """Recording paths compare as the folder they name (`CED/a` and `./CED/a/` are one), but a list with one real
    change named every element whose text differed: the path merely spelled another way too, as a change."""
    old = load_config(None, ["data.train.recordings=[CED/a.h5,CED/b.h5,CED/c.h5]"])
    new = load_config(None, ["data.train.recordings=[./CED/a.h5,CED/x.h5,CED//c.h5]"])
    assert config_differences(old, new) == ["data.train.recordings[1]: 'CED/b.h5' -> 'CED/x.h5'"]
