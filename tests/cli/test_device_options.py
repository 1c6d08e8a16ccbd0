"""Device options and torchrun's variables on a machine without the device asked for: one error line that
names the option (or variable), exit status 2, nothing written, and nothing printed to stdout before it.
CUDA and MPS are made unavailable here, so the tests mean the same on a machine that has a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from egvsr.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "egvsr_sample.yaml"


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    if hasattr(torch.backends, "mps"):
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=4, seconds=0.15, size=(24, 32), fps=20.0, progress=False)


def refused(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "", f"stdout before the error: {out!r}"
    assert err.count("\n") == 1 and err.startswith("egvsr: error: "), err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


@pytest.mark.parametrize("device, expect", [
    ("cuda", "--device 'cuda' requested but CUDA is not available"),
    ("cuda:1", "--device 'cuda:1' requested but CUDA is not available"),
    ("mps", "--device 'mps' requested but MPS is not available"),
    ("gpu", "--device 'gpu': expected auto, cpu, cuda, cuda:N or mps"),
    ("", "--device '': expected auto, cpu, cuda, cuda:N or mps"),
])
def test_render_eval_and_demo_name_their_device_option(no_gpu, recording, tmp_path, capsys, device, expect):
    refused(capsys, ["render", str(recording), "--scale", "2", "--png", str(tmp_path / "f"), "--device", device],
            expect)
    refused(capsys, ["eval", "--data", str(recording), "--scales", "2", "--device", device], expect)
    refused(capsys, ["demo", "--output", str(tmp_path / "d"), "--device", device, "--no-progress"], expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("env, expect", [
    ({"WORLD_SIZE": "abc"}, "environment variable WORLD_SIZE='abc': expected a whole number >= 1"),
    ({"WORLD_SIZE": "0"}, "environment variable WORLD_SIZE='0': expected a whole number >= 1"),
    ({"RANK": "x"}, "environment variable RANK='x': expected a whole number in 0..0"),
    ({"RANK": "1"}, "environment variable RANK='1': expected a whole number in 0..0"),  # no job: rank 0 of 1
    ({"WORLD_SIZE": "2", "RANK": "2"}, "environment variable RANK='2': expected a whole number in 0..1"),
    ({"LOCAL_RANK": "-1"}, "environment variable LOCAL_RANK='-1': expected a whole number in 0..0"),
    ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 without RANK, MASTER_ADDR, MASTER_PORT"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "localhost", "MASTER_PORT": "port"},
     "environment variable MASTER_PORT='port': expected a whole number in 1..65535"),
])
def test_train_refuses_torchrun_variables_it_cannot_use(tmp_path, capsys, monkeypatch, env, expect):
    """A leftover or mistyped torchrun variable ended in int()'s traceback, a division by zero or torch's
    rendezvous traceback; RANK=1 alone made a 1-process run that wrote no checkpoint (not rank 0)."""
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    refused(capsys, ["train", str(CONFIG), "--set", f"output_root={tmp_path / 'runs'}", "--no-progress"], expect)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("device, expect", [
    ("cuda", "device 'cuda' requested but CUDA is not available"),
    ("gpu", "device 'gpu': expected auto, cpu, cuda, cuda:N or mps"),
])
def test_train_names_its_device_key(no_gpu, tmp_path, capsys, monkeypatch, device, expect):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    refused(capsys, ["train", str(CONFIG), "--set", f"device={device}", "--set", f"output_root={tmp_path / 'r'}"],
            expect)
    assert not (tmp_path / "r").exists()
