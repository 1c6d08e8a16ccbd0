"""More latent time bins from a trained checkpoint: the model starts as the same function of t."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.models import build_model
from egvsr.models.egvsr_stf import resample_time_bins, time_bin_matrix

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("old,new", [(3, 5), (3, 9), (2, 4), (1, 3)])
def test_time_bin_matrix_reproduces_the_old_piecewise_linear_latent(old, new):
    m = time_bin_matrix(old, new)
    assert m.shape == (new, old)
    torch.testing.assert_close(m.sum(1), torch.ones(new))
    if old > 1:  # each old bin time is a new one, where the matrix picks that bin alone
        step = (new - 1) // (old - 1)
        torch.testing.assert_close(m[::step], torch.eye(old))


def test_a_model_with_more_bins_renders_the_same(tmp_path):
    torch.manual_seed(0)
    small = build_model("egvsr-tiny").eval()
    with torch.no_grad():
        for p in small.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    big = build_model("egvsr-tiny", time_bins=5).eval()
    big.load_state_dict(resample_time_bins(small.state_dict(), 3, 5))
    lr = torch.rand(1, 3, 3, 9, 11)
    events = torch.rand(1, 8, 2, 9, 11)
    times = torch.tensor([[-1.0, -0.6, -0.25, 0.0, 0.4, 0.75, 1.0]])
    with torch.no_grad():
        a = small.render(lr, times, (20, 25), events=events)
        b = big.render(lr, times, (20, 25), events=events)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _training_checkpoint(model, path: Path) -> Path:
    """`model` saved as a training run's checkpoint (weights, no EMA) at `path`."""
    save_checkpoint(path, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": model.state_dict(),
                           "ema": None, "step": 3, "experiment": {}})
    return path


def _resize(src: Path, *args: str) -> subprocess.CompletedProcess:
    """`scripts/resize_time_bins.py SRC ARGS...`, run as a user would (no PATH, the repository importable)."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "resize_time_bins.py"), str(src), *args],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})


def test_resize_script_writes_an_init_checkpoint_and_refuses_inexact_counts(tmp_path):
    src = _training_checkpoint(build_model("egvsr-tiny"), tmp_path / "last.pt")
    run = _resize(src, str(tmp_path / "t5.pt"), "--time-bins", "5", "--option", "window_size=9")
    assert run.returncode == 0, run.stderr
    ck = load_checkpoint(tmp_path / "t5.pt")
    assert ck["model"]["config"]["time_bins"] == 5 and ck["model"]["config"]["window_size"] == 9
    build_model(ck["model"]["config"]).load_state_dict(ck["state_dict"])
    bad = _resize(src, str(tmp_path / "t4.pt"), "--time-bins", "4")
    assert bad.returncode != 0 and "--time-bins 4" in bad.stderr and "Traceback" not in bad.stderr
    again = _resize(src, str(tmp_path / "t5.pt"), "--time-bins", "5")
    assert again.returncode != 0 and "t5.pt" in again.stderr and "Traceback" not in again.stderr


def test_resize_script_at_the_same_bin_count_changes_only_the_options(tmp_path):
    """The recipe's stage 7 start: time bins kept, residual_base switched, every weight as it was."""
    model = build_model("egvsr-tiny", time_bins=5)
    src = _training_checkpoint(model, tmp_path / "last.pt")
    run = _resize(src, str(tmp_path / "lin.pt"), "--time-bins", "5", "--option", "residual_base=linear")
    assert run.returncode == 0, run.stderr
    ck = load_checkpoint(tmp_path / "lin.pt")
    assert ck["model"]["config"]["residual_base"] == "linear" and ck["model"]["config"]["time_bins"] == 5
    for key, value in model.state_dict().items():
        assert torch.equal(ck["state_dict"][key], value), key


def test_every_accepted_bin_count_gives_the_same_latent_at_every_time_and_no_other_does():
    """`exact_time_bins` (the script's rule) accepts exactly the counts whose resampled volume reads as the
    old one at every t: 3 -> 1 passed the old check ((1 - 1) is a multiple of 2) and moved the latent."""
    from egvsr.models.egvsr_stf import exact_time_bins
    from egvsr.models.egvsr_stir import STIR

    torch.manual_seed(0)
    t = torch.linspace(-1, 1, 41)
    for old in range(1, 5):
        volume = torch.randn(1, old, 2, 3, 4).expand(len(t), -1, -1, -1, -1)
        for new in range(1, 11):
            resampled = torch.einsum("no,bochw->bnchw", time_bin_matrix(old, new), volume)
            same = torch.allclose(STIR.at_time(resampled, t), STIR.at_time(volume, t), atol=1e-5)
            assert exact_time_bins(old, new) == same, (old, new)
    assert not exact_time_bins(3, 1) and not exact_time_bins(3, 2) and exact_time_bins(3, 3)


@pytest.mark.parametrize("args, message", [
    (("--time-bins", "1"), "--time-bins 1: expected n >= 3 with (n - 1) a multiple of 2"),
    (("--time-bins", "5", "--option", "n_feats=16"), "--option n_feats=16: changes the model's weights"),
    (("--time-bins", "5", "--option", "window_size=-1"), "--option window_size=-1: model 'egvsr-tiny': option"),
])
def test_resize_script_refuses_in_one_line_what_would_change_the_model(tmp_path, args, message):
    from tests._model_helpers import run_script

    src = _training_checkpoint(build_model("egvsr-tiny"), tmp_path / "last.pt")
    code, _, err = run_script("resize_time_bins.py", src, tmp_path / "out.pt", *args)
    assert code == 2 and err.startswith(f"resize_time_bins.py: error: {message}") and len(err.splitlines()) == 1
    assert not (tmp_path / "out.pt").exists()


def test_resize_script_never_replaces_its_input(tmp_path):
    from tests._model_helpers import run_script

    src = _training_checkpoint(build_model("egvsr-tiny"), tmp_path / "last.pt")
    before = src.read_bytes()
    (tmp_path / "link.pt").hardlink_to(src)
    for dst in (src, tmp_path / "link.pt"):
        code, _, err = run_script("resize_time_bins.py", src, dst, "--time-bins", "5", "--overwrite")
        assert code == 2 and f"{dst}: output is the input checkpoint" in err, err
    assert src.read_bytes() == before


def test_resize_script_never_replaces_the_shipped_weights(tmp_path):
    """Only ship_weights.py writes the package's data folder: a DST naming the shipped checkpoint is refused."""
    from egvsr.fsutil import SHIPPED_CHECKPOINT
    from tests._model_helpers import run_script, shipped_weights_link

    dst = shipped_weights_link(tmp_path)
    src = _training_checkpoint(build_model("egvsr-tiny"), tmp_path / "last.pt")
    code, _, err = run_script("resize_time_bins.py", src, dst, "--time-bins", "5", "--overwrite")
    assert code == 2 and f"{dst}: output is, or is inside, the package's data folder" in err, err
    assert dst.samefile(SHIPPED_CHECKPOINT)


def test_resize_script_names_a_model_without_time_bins(tmp_path):
    from tests._model_helpers import run_script

    model = build_model("videoinr-tiny")
    src = tmp_path / "v.pt"
    save_checkpoint(src, {"model": {"name": "videoinr-tiny", "config": model.config},
                          "state_dict": model.state_dict(), "ema": None, "experiment": {}})
    code, _, err = run_script("resize_time_bins.py", src, tmp_path / "out.pt", "--time-bins", "5")
    assert code == 2 and f"{src}: model 'videoinr-tiny' has no latent time bins" in err, err


def test_resize_script_checks_the_new_models_size_before_making_any_weight(tmp_path, monkeypatch):
    """An exact but huge `--time-bins` ((n - 1) a multiple of 2) has the new model's size checked on the meta
    device, and refused naming --time-bins, before its interpolation matrix or any new weight is made."""
    import egvsr.models.egvsr_stf as stf
    from tests._model_helpers import run_script

    def resample(*args, **kwargs):
        raise AssertionError("weights were made before the new model's size was checked")

    monkeypatch.setattr(stf, "resample_time_bins", resample)
    src = _training_checkpoint(build_model("egvsr-tiny"), tmp_path / "last.pt")
    code, _, err = run_script("resize_time_bins.py", src, tmp_path / "out.pt", "--time-bins", "2000001")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("resize_time_bins.py: error: --time-bins 2000001: model 'egvsr-tiny': the options give "), err
    assert "above the limit" in err and not (tmp_path / "out.pt").exists()
