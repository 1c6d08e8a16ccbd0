"""Config strictness and checkpoint safety."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from egvsr.engine.checkpoint_file import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from egvsr.engine.config import load_config
from egvsr.errors import CheckpointError, ConfigError, InputFileError


def test_unknown_key_names_it_and_suggests(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr' \(did you mean 'lr'\?\)"):
        load_config(cfg)


def test_overrides_and_free_form(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: demo\nmodel:\n  name: egvsr\n  options: {n_feats: 8}\n")
    c = load_config(cfg, ["train.lr=1e-3", "model.options.inr_channels=4", "eval.scales=[2, 6.5]"])
    assert c["train"]["lr"] == 1e-3 and c["model"]["options"] == {"n_feats": 8, "inr_channels": 4}
    assert c["eval"]["scales"] == [2, 6.5]
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config(cfg, ["train.batch_size=0"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(cfg, ["train.lr"])
    with pytest.raises(InputFileError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_checkpoint_roundtrip_and_model_check(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"name": "bicubic", "config": {}}, "state_dict": {"w": torch.ones(2)}})
    data = load_checkpoint(path, expect_model="bicubic")
    assert torch.equal(data["state_dict"]["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match="holds model 'bicubic', expected 'egvsr'"):
        load_checkpoint(path, expect_model="egvsr")


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_malicious_checkpoint_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "egvsr-checkpoint", "version": 1, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not (tmp_path / "PWNED").exists()


def test_corrupted_and_truncated(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"name": "x", "config": {}}, "state_dict": {"w": torch.ones(100)}})
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"hello world")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")


def test_rng_state_roundtrip_through_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = rng_state()
    path = tmp_path / "rng.pt"
    save_checkpoint(path, {"model": {"name": "x", "config": {}}, "state_dict": {}, "rng": state})
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
