"""The training loop's bookkeeping against what docs/training.md promises: a budget stop is a pause (the run
it resumes into validates, logs and picks best.pt exactly as an uninterrupted run), samples/s counts the
training steps only, and under torchrun the other ranks wait for rank 0's validation however long it takes.

Tiny EGVSR on a tiny generated recording, a few steps each."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from egvsr.engine.checkpoint_file import load_checkpoint
from egvsr.engine.train import train


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=3, seconds=0.5, size=(40, 56), fps=20.0, progress=False)


def _cfg(tmp: Path, recording: Path, name: str, val: bool = True, **train_overrides) -> dict:
    return {
        "name": name, "seed": 1, "device": "cpu", "output_root": str(tmp / "exp"),
        "model": {"name": "egvsr-tiny", "options": {}},
        "data": {
            "train": {"recordings": [str(recording)], "patch_size": 12, "scale_range": [1, 2], "bins": 8},
            "val": ({"recordings": [str(recording)], "scale": 2, "patch_size": None, "bins": 8} if val else {}),
        },
        "train": {"iterations": 4, "batch_size": 2, "lr": 1e-3, "log_every": 1, "val_every": 2,
                  "checkpoint_every": 100, "ema_decay": 0.9, "threads": 1, **train_overrides},
    }


def _rows(folder: Path, name: str) -> list[dict]:
    with (folder / "logs" / f"{name}.csv").open(newline="") as f:
        return list(csv.DictReader(f))


SLOW_VALIDATION_WORKER = """
import datetime, os, sys, time
import torch.distributed as dist
from egvsr.engine import train as train_module
from egvsr.engine.config import check_config
from egvsr.engine.distributed import init_distributed, shutdown
from torch.distributed.distributed_c10d import _set_pg_timeout
import yaml

# a short default timeout stands for NCCL's 10 minutes (gloo's 30) against a validation that takes longer; it
# holds only while rank 1 waits for rank 0's validation (set at its validate, lifted after the barrier), so the
# other collectives (joining, DDP's, the losses') have the time a loaded machine needs
LONG, SHORT = datetime.timedelta(minutes=5), datetime.timedelta(seconds=4)
dist.init_process_group("gloo", timeout=LONG)
validate, barrier = train_module.Trainer.validate, train_module.barrier

def slow_validate(self):
    if self.info.is_main:
        time.sleep(10)
    else:
        _set_pg_timeout(SHORT)
    return validate(self)

def barrier_then_long_timeout(info):
    barrier(info)
    _set_pg_timeout(LONG)

train_module.Trainer.validate = slow_validate
train_module.barrier = barrier_then_long_timeout
cfg = check_config(yaml.safe_load(open(sys.argv[1])))
info = init_distributed("cpu")
trainer = train_module.Trainer(cfg, info, progress=False, log=None)
trainer.run()
os.write(1, f"rank {info.rank} done at step {trainer.step}\\n".encode())  # one write: the ranks' lines never interleave
shutdown(info)
"""


@pytest.mark.slow
def test_under_torchrun_the_other_ranks_wait_for_a_long_validation(tmp_path, tiny_recording):
    """Rank 0 validates alone while the others wait at a barrier: the wait must outlast the process group's
    default timeout (NCCL's 10 minutes; a whole-frame validation of CED takes longer), or every other rank
    stops with a timeout at the first validation."""
    import yaml
    from torch.distributed import distributed_c10d

    if not hasattr(distributed_c10d, "_set_pg_timeout"):
        pytest.skip("this torch cannot change a process group's timeout (the worker shortens it for the wait)")
    worker, config = tmp_path / "worker.py", tmp_path / "cfg.yaml"
    worker.write_text(SLOW_VALIDATION_WORKER)
    config.write_text(yaml.safe_dump(_cfg(tmp_path, tiny_recording, "ddp", val=False, iterations=2,
                                          val_every=1, ema_decay=0.0)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(worker), str(config)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rank 1 done at step 2" in run.stdout and "rank 0 done at step 2" in run.stdout


@pytest.mark.slow
def test_a_run_paused_by_its_budget_resumes_to_the_same_logs_weights_and_best(tmp_path, tiny_recording, capsys):
    """`train.max_cpu_minutes` ends each invocation after one step with a checkpoint; run again until done,
    the run has the weights, EMA, val.csv rows and best.pt of the run that went straight through (the pause
    validates only where the schedule does, so no extra best.pt is picked at a step the schedule skips)."""
    train(cfg=_cfg(tmp_path, tiny_recording, "straight"), progress=False, log=None)
    paused = _cfg(tmp_path, tiny_recording, "paused", max_cpu_minutes=1e-9)
    lines = []
    for _ in range(4):
        train(cfg=paused, progress=False, log=lines.append)
    assert "stopped at step 1 of 4: train.max_cpu_minutes 1e-09 spent (the same command continues the run)" in lines
    assert not any("spent" in line for line in lines[-2:])  # the last invocation reached the end
    a, b = (tmp_path / "exp" / "straight", tmp_path / "exp" / "paused")
    for name in ("last.pt", "best.pt"):
        ca, cb = load_checkpoint(a / "checkpoints" / name), load_checkpoint(b / "checkpoints" / name)
        assert ca["step"] == cb["step"] and ca["best_psnr"] == cb["best_psnr"], name
        for key in ("state_dict", "ema"):
            assert all(torch.equal(ca[key][k], cb[key][k]) for k in ca[key]), (name, key)
    assert _rows(a, "val") == _rows(b, "val") and [r["step"] for r in _rows(b, "val")] == ["2", "4"]
    strip = [{k: v for k, v in r.items() if k != "samples_per_s"} for r in _rows(a, "train")]
    assert strip == [{k: v for k, v in r.items() if k != "samples_per_s"} for r in _rows(b, "train")]


def test_samples_per_s_counts_the_training_steps_not_validation_or_checkpoints(tmp_path, tiny_recording,
                                                                               monkeypatch):
    """On a clock where a step takes 1 s and a validation 100 s (a checkpoint 50 s), every row of train.csv
    reads batch 2 / 1 s = 2 samples/s: the row after a validation is the same training speed."""
    from types import SimpleNamespace

    import egvsr.engine.train as train_module

    clock = [0.0]
    monkeypatch.setattr(train_module, "time", SimpleNamespace(monotonic=lambda: clock[0],
                                                              process_time=lambda: clock[0]))

    def slow(method, seconds):
        def run(self, *args, **kwargs):
            clock[0] += seconds
            return method(self, *args, **kwargs)
        return run

    Trainer = train_module.Trainer
    monkeypatch.setattr(Trainer, "_train_step", slow(Trainer._train_step, 1.0))
    monkeypatch.setattr(Trainer, "validate", slow(Trainer.validate, 100.0))
    monkeypatch.setattr(Trainer, "_save", slow(Trainer._save, 50.0))
    cfg = _cfg(tmp_path, tiny_recording, "speed", val=False, iterations=6, log_every=1, val_every=2,
               checkpoint_every=3)
    folder = train(cfg=cfg, progress=False, log=None)
    rates = [float(r["samples_per_s"]) for r in _rows(folder, "train")]
    assert rates == [2.0] * 6


@pytest.mark.parametrize("failing", ["best.pt", "last.pt"])
def test_last_pt_never_records_a_best_that_best_pt_does_not_hold(tmp_path, tiny_recording, monkeypatch, failing):
    """best.pt is written before last.pt: when one of them cannot be written (a full disk, a second Ctrl-C),
    the best_psnr that last.pt hands to a resume is one whose weights best.pt holds, so a later validation
    that falls short of it cannot leave best.pt at an older, worse step for good."""
    import egvsr.engine.train as train_module

    real = train_module.save_checkpoint

    def save(path, payload, overwrite=False):
        if Path(path).name == failing and payload["step"] == 4:
            raise OSError(28, "No space left on device")
        return real(path, payload, overwrite=overwrite)

    monkeypatch.setattr(train_module, "save_checkpoint", save)
    cfg = _cfg(tmp_path, tiny_recording, "full", val=False, iterations=4, val_every=2, ema_decay=0.0)
    monkeypatch.setattr(train_module.Trainer, "validate", lambda self: {"psnr": 20.0 + self.step, "ssim": 0.5})  # each is best
    with pytest.raises(OSError, match="No space left"):
        train(cfg=cfg, progress=False, log=None)
    ck = tmp_path / "exp" / "full" / "checkpoints"
    last, best = load_checkpoint(ck / "last.pt"), load_checkpoint(ck / "best.pt")
    assert last["step"] == 2 and best["step"] in (2, 4)
    assert last["best_psnr"] <= best["best_psnr"]


@pytest.mark.parametrize("factor, how", [(float("nan"), r"weight '.*' is no longer finite"),
                                         (1e30, "weights give an output that is not finite on data.val")])
def test_a_model_diverged_by_a_validation_step_is_named_as_diverged(tmp_path, tiny_recording, monkeypatch, factor,
                                                                    how):
    """Weights that became NaN, or finite but so large that the output overflows float32, stop the run at
    the validation with the trainer's own line (which step, lower train.lr), not with the metric's complaint
    about its input ('metric input pred: expected values in [0, 1]'), and are not saved."""
    import egvsr.engine.train as train_module
    from egvsr.errors import ConfigError

    step = train_module.Trainer._train_step

    def blow_up(self, batch):
        loss = step(self, batch)
        with torch.no_grad():
            for p in self.model.parameters():
                p.mul_(factor)
        return loss

    monkeypatch.setattr(train_module.Trainer, "_train_step", blow_up)
    cfg = _cfg(tmp_path, tiny_recording, "blown", iterations=2, val_every=1, ema_decay=0.0)
    with pytest.raises(ConfigError, match=rf"^train.lr: training diverged by step 1: the model {how}.* not saved "
                                          r"\(no checkpoint was written\); lower train.lr"):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp" / "blown").exists()


def test_training_computes_the_documented_loss_schedule_adam_clipping_and_ema(tmp_path, tiny_recording):
    """An independent float64 re-implementation of docs/training.md's recipe (Charbonnier mean of
    sqrt(d^2 + 1e-6), linear warm-up then cosine to eta_min per iteration, Adam with betas and L2 weight decay,
    global 2-norm clipping, EMA of every weight from the initial ones) on the same batches ends at the trained
    weights; train.csv's lr is the rate of each step."""
    import math

    from egvsr.datasets import collate_samples
    from egvsr.engine.batching import StepBatchSampler
    from egvsr.engine.config import check_config
    from egvsr.engine.distributed import DistInfo
    from egvsr.engine.scoring import model_inputs
    from egvsr.engine.train import Trainer
    from egvsr.models import build_model

    iters, warm, lr, eta, clip, decay, betas, wd = 5, 2, 1e-3, 1e-4, 0.05, 0.9, (0.8, 0.95), 0.01
    cfg = check_config(_cfg(tmp_path, tiny_recording, "ref", val=False, iterations=iters, val_every=100,
                            warmup_iterations=warm, eta_min=eta, grad_clip=clip, ema_decay=decay,
                            betas=list(betas), weight_decay=wd, lr=lr))
    trainer = Trainer(cfg, DistInfo(0, 0, 1, torch.device("cpu")), progress=False, log=None)
    data = trainer.train_set
    torch.manual_seed(1)
    model = build_model("egvsr-tiny").double()
    names, params = zip(*model.named_parameters())
    m, v = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    ema = {k: t.clone() for k, t in model.state_dict().items()}
    start = {k: t.clone() for k, t in model.state_dict().items()}
    # elements whose Adam denominator sqrt(v_hat) fell below eps = 1e-8 (zero-initialised gates get gradients of
    # 1e-13..1e-9): there a step is lr * g / eps, which magnifies the float32 rounding of the trainer's g by
    # lr / eps = 1e5, so float32 training meets this float64 reference to a few percent of their motion only
    below_eps = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in model.named_parameters()}
    batches, rates = StepBatchSampler(len(data), 2, data.scale_range, 1, iters), []
    for s in range(iters):
        rate = lr * (s + 1) / warm if s < warm else eta + (lr - eta) * (1 + math.cos(math.pi * (s - warm) /
                                                                                    (iters - warm))) / 2
        rates.append(rate)
        batch = collate_samples([data[key] for key in batches.batch(s)])
        inputs = {k: x.double() if torch.is_tensor(x) and x.is_floating_point() else x
                  for k, x in model_inputs(batch, torch.device("cpu")).items()}
        d = model(**inputs) - batch["hr"].double()
        model.zero_grad()
        torch.sqrt(d * d + 1e-6).mean().backward()
        grads = [p.grad for p in params]
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
        grads = [g * min(1.0, clip / (norm + 1e-6)) for g in grads]
        with torch.no_grad():
            for i, p in enumerate(params):
                g = grads[i] + wd * p
                m[i] = betas[0] * m[i] + (1 - betas[0]) * g
                v[i] = betas[1] * v[i] + (1 - betas[1]) * g * g
                root = (v[i] / (1 - betas[1] ** (s + 1))).sqrt()
                p -= rate * (m[i] / (1 - betas[0] ** (s + 1))) / (root + 1e-8)
                below_eps[names[i]] |= (root > 0) & (root < 1e-8)
            for k, t in model.state_dict().items():
                ema[k] = decay * ema[k] + (1 - decay) * t
    trainer.run()
    raw, avg = trainer.model.state_dict(), trainer.ema.state_dict()
    for k, t in model.state_dict().items():
        for got, want in ((raw[k].double(), t), (avg[k].double(), ema[k])):
            motion = (want - start[k]).abs()
            tol = torch.where(below_eps[k], 2e-6 + 0.05 * motion, 2e-6) if k in below_eps else 2e-6
            assert ((got - want).abs() <= tol).all(), (k, float((got - want).abs().max()))
    logged = [float(r["lr"]) for r in _rows(tmp_path / "exp" / "ref", "train")]
    assert logged == pytest.approx(rates, rel=1e-12)


def test_a_trainer_is_built_on_torch_2_2_which_has_no_torch_amp_grad_scaler(tmp_path, tiny_recording, monkeypatch):
    """torch >= 2.2 is declared; torch.amp.GradScaler came in 2.3, and 2.2 has torch.cuda.amp.GradScaler."""
    import warnings

    from egvsr.engine.config import check_config
    from egvsr.engine.distributed import DistInfo
    from egvsr.engine.train import Trainer

    monkeypatch.delattr(torch.amp, "GradScaler")
    monkeypatch.delattr(torch, "GradScaler", raising=False)
    cfg = check_config(_cfg(tmp_path, tiny_recording, "old-torch", val=False, iterations=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.cuda.amp.GradScaler is deprecated on new torch
        trainer = Trainer(cfg, DistInfo(0, 0, 1, torch.device("cpu")), progress=False, log=None)
    assert not trainer.scaler.is_enabled()  # no CUDA: the scaler passes the loss through
