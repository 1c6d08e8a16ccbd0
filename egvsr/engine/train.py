"""`egvsr train`: one training loop for CPU, one GPU, or many processes under torchrun.

Every random choice of the data pipeline derives from (seed, step) (`StepBatchSampler`), the schedule is
stepped per iteration, and a checkpoint holds model, optimizer, scheduler, AMP scaler, EMA, RNG states and
the step, so a run killed at any point and started again continues exactly where its last checkpoint left
off: `egvsr train CONFIG` resumes by itself when `experiments/<name>/checkpoints/last.pt` exists.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from egvsr.engine.batching import StepBatchSampler
from egvsr.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from egvsr.engine.config import dump_config, load_config
from egvsr.engine.csvlog import MetricLog
from egvsr.engine.data import build_dataset
from egvsr.engine.distributed import DistInfo, all_reduce_mean, barrier, init_distributed, shutdown
from egvsr.engine.ema import EMA
from egvsr.engine.evaluate import evaluate, model_inputs
from egvsr.engine.experiment import Experiment
from egvsr.engine.losses import charbonnier
from egvsr.engine.protocol import get_protocol
from egvsr.engine.schedule import build_scheduler
from egvsr.errors import CheckpointError, ConfigError
from egvsr.fsutil import atomic_output


def train(config_path: str | Path | None = None, overrides: list[str] | None = None,
          cfg: dict | None = None, progress: bool = True) -> Path:
    """Train (or resume) the experiment described by a YAML config; return its folder."""
    cfg = cfg if cfg is not None else load_config(config_path, overrides)
    info = init_distributed(cfg["device"])
    try:
        lock = Experiment(cfg["output_root"], cfg["name"]).lock() if info.is_main else contextlib.nullcontext()
        with lock:
            return Trainer(cfg, info, progress).run()
    finally:
        shutdown(info)


class Trainer:
    """Holds the model, optimizer and data of one run; `run()` trains to `train.iterations`."""

    def __init__(self, cfg: dict, info: DistInfo, progress: bool = True) -> None:
        from egvsr.datasets import collate_samples
        from egvsr.models import build_model

        self.cfg, self.info, self.progress = cfg, info, progress and info.is_main
        t = cfg["train"]
        self.exp = Experiment(cfg["output_root"], cfg["name"])
        if t["threads"]:  # checked with the config
            torch.set_num_threads(t["threads"])
        torch.manual_seed(int(cfg["seed"]))  # identical initial weights on every rank
        self.model = build_model(cfg["model"]["name"], **cfg["model"]["options"]).to(info.device)
        if not any(p.requires_grad for p in self.model.parameters()):
            raise ConfigError(f"model {cfg['model']['name']!r} has no trainable parameters")
        self.train_set = build_dataset(cfg["data"]["train"], "data.train", mode="train", seed=int(cfg["seed"]))
        self.val_set = (build_dataset(cfg["data"]["val"], "data.val", mode="eval")
                        if cfg["data"]["val"] else None)
        self.collate = collate_samples
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(t["lr"]),
                                          betas=tuple(t["betas"]), weight_decay=float(t["weight_decay"]))
        self.scheduler = build_scheduler(self.optimizer, t["schedule"], int(t["iterations"]),
                                         int(t["warmup_iterations"]), float(t["eta_min"]))
        self.amp = bool(t["amp"]) and info.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = EMA(self.model, float(t["ema_decay"])) if float(t["ema_decay"]) > 0 else None
        self.step, self.best_psnr = 0, -math.inf
        self._resume()
        self.net = (DistributedDataParallel(self.model, device_ids=[info.device.index]
                                            if info.device.type == "cuda" else None)
                    if info.distributed else self.model)

    # ---- checkpoints ------------------------------------------------------------------------------
    def _payload(self) -> dict:
        return {
            "model": {"name": self.cfg["model"]["name"], "config": self.model.config},
            "state_dict": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "best_psnr": self.best_psnr,
            "rng": rng_state(),
            "experiment": self.cfg,
        }

    def _resume(self) -> None:
        if not self.exp.last.exists():
            return
        ck = load_checkpoint(self.exp.last, map_location=self.info.device, expect_model=self.cfg["model"]["name"])
        if ck["model"]["config"] != self.model.config:
            raise CheckpointError(
                f"{self.exp.last}: was trained with model options {ck['model']['config']}, but the config asks "
                f"for {self.model.config}; use another experiment name to start afresh"
            )
        self.model.load_state_dict(ck["state_dict"])
        if self.ema and ck.get("ema"):
            self.ema.load_state_dict(ck["ema"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.step, self.best_psnr = int(ck["step"]), float(ck["best_psnr"])
        set_rng_state(ck["rng"])

    def _check_finite(self) -> None:
        """Stop before a checkpoint of a diverged model (NaN/inf weights) replaces a good one."""
        models = [("model", self.model)] + ([("EMA", self.ema.shadow)] if self.ema else [])
        for label, model in models:
            for name, p in model.state_dict().items():
                if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                    kept = (f"{self.exp.last} keeps step {load_checkpoint(self.exp.last)['step']}"
                            if self.exp.last.exists() else "no checkpoint was written")
                    raise ConfigError(
                        f"train.lr: training diverged by step {self.step}: the {label} weight {name!r} is no "
                        f"longer finite, so it was not saved ({kept}); lower train.lr or set train.grad_clip"
                    )

    def _save(self, best: bool = False) -> None:
        if not self.info.is_main:
            return
        self._check_finite()
        payload = self._payload()
        save_checkpoint(self.exp.last, payload)
        save_checkpoint(self.exp.step_checkpoint(self.step), payload)
        self.exp.prune(int(self.cfg["train"]["keep_checkpoints"]))
        if best:
            save_checkpoint(self.exp.best, payload)

    # ---- loop ---------------------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        t = self.cfg["train"]
        sampler = StepBatchSampler(len(self.train_set), int(t["batch_size"]), self.train_set.scale_range,
                                   int(self.cfg["seed"]), int(t["iterations"]), self.step,
                                   self.info.rank, self.info.world_size)
        return DataLoader(self.train_set, batch_sampler=sampler, num_workers=int(t["num_workers"]),
                          collate_fn=self.collate, pin_memory=self.info.device.type == "cuda")

    def _train_step(self, batch: dict) -> float:
        inputs = model_inputs(batch, self.info.device)
        target = batch["hr"].to(self.info.device, non_blocking=True)
        with torch.autocast("cuda", enabled=self.amp):
            pred = self.net(**inputs)
        loss = charbonnier(pred, target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = float(self.cfg["train"]["grad_clip"])
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema:
            self.ema.update(self.model)
        return float(all_reduce_mean(loss.detach(), self.info))

    def validate(self) -> dict | None:
        if self.val_set is None or not self.info.is_main:
            return None
        loader = DataLoader(self.val_set, batch_size=1, collate_fn=self.collate)
        model = self.ema.shadow if self.ema else self.model
        return evaluate(model, loader, get_protocol(self.cfg["eval"]["protocol"]), self.info.device,
                        int(self.cfg["eval"]["chunk_size"]))

    def run(self) -> Path:
        t = self.cfg["train"]
        total = int(t["iterations"])
        if self.info.is_main:
            self.exp.make()
            with atomic_output(self.exp.config, overwrite=True) as tmp:
                tmp.write_text(dump_config(self.cfg))
        barrier(self.info)
        train_log = MetricLog(self.exp.logs, "train") if self.info.is_main else None
        val_log = MetricLog(self.exp.logs, "val", tensorboard=False) if self.info.is_main else None
        for log in (train_log, val_log):
            if log:
                log.truncate_after(self.step)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, desc=self.cfg["name"], dynamic_ncols=True)
        started, budget = time.monotonic(), float(t["max_minutes"]) * 60
        cpu_started, cpu_budget = time.process_time(), float(t["max_cpu_minutes"]) * 60
        last_log, samples = time.monotonic(), 0
        self.model.train()
        for batch in self._loader():
            loss = self._train_step(batch)
            self.step += 1
            samples += int(t["batch_size"])
            if not math.isfinite(loss):
                raise ConfigError(f"training diverged at step {self.step} (loss {loss}); lower train.lr")
            if bar:
                bar.update(1)
            if self.info.is_main and (self.step % int(t["log_every"]) == 0 or self.step == total):
                now = time.monotonic()
                rate = samples / max(now - last_log, 1e-9)
                lr = self.scheduler.get_last_lr()[0]
                train_log.write(self.step, {"loss": loss, "lr": lr, "samples_per_s": rate})
                if bar:
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", sps=f"{rate:.1f}")
                last_log, samples = now, 0
            out_of_time = (budget > 0 or cpu_budget > 0) and self._out_of_time(
                budget > 0 and time.monotonic() - started > budget
                or cpu_budget > 0 and time.process_time() - cpu_started > cpu_budget)
            if self.step % int(t["val_every"]) == 0 or self.step == total or out_of_time:
                self._validate_and_save(val_log)
            elif self.step % int(t["checkpoint_every"]) == 0:
                self._save()
            barrier(self.info)
            if out_of_time:
                break
        if bar:
            bar.close()
        for log in (train_log, val_log):
            if log:
                log.close()
        return self.exp.dir

    def _out_of_time(self, local: bool) -> bool:
        """Stop when any rank's budget is spent (ranks must agree, or the others wait forever).

        Only called when a budget is set: it costs a collective per step under torchrun."""
        if not self.info.distributed:
            return local
        return bool(all_reduce_mean(torch.tensor(float(local), device=self.info.device), self.info) > 0)

    def _validate_and_save(self, val_log: MetricLog | None) -> None:
        result = self.validate()
        best = False
        if result is not None:
            val_log.write(self.step, {"psnr": result["psnr"], "ssim": result["ssim"]})
            best = result["psnr"] > self.best_psnr
            self.best_psnr = max(self.best_psnr, result["psnr"])
        self._save(best=best or self.val_set is None)
