"""`egvsr train`: one training loop for CPU, one GPU, or many processes under torchrun.

Every random choice derives from (seed, step) and a checkpoint holds every state, so a run stopped at
any point resumes exactly: `egvsr train CONFIG` resumes from `last.pt` by itself, refusing a changed
config unless `allow_config_change`. A new run refuses a folder holding another run's files unless
`overwrite`, and prunes only the step checkpoints it wrote. Nothing in the folder is written or removed
before the run's first write (a log row or checkpoint), so a run that fails earlier leaves the old one as
it was, and a new run that fails before its first checkpoint removes what it wrote. A signal finishes the
current step and writes `last.pt`; `train.init_from` starts from another checkpoint's weights
(docs/training.md).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from egvsr.datasets.geometry import fmt_scale
from egvsr.datasets.recording import warn_event_damage_and_coverage
from egvsr.engine.batching import StepBatchSampler, check_global_batch
from egvsr.engine.checkpoint_file import first_line, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from egvsr.engine.config import check_config, config_differences, dump_config, load_config
from egvsr.engine.csvlog import MetricLog
from egvsr.engine.config_datasets import build_dataset
from egvsr.engine.distributed import DistInfo, all_reduce_mean, barrier, init_distributed, peer_stopped, shutdown
from egvsr.engine.ema import EMA
from egvsr.engine.loader_workers import ignore_terminal_signals, one_line_worker_errors, worker_stopped
from egvsr.engine.scoring import evaluate, model_inputs
from egvsr.engine.experiment import Experiment, ExperimentBusyError
from egvsr.engine.losses import LOSSES
from egvsr.engine.protocol import get_protocol
from egvsr.engine.schedule import build_scheduler
from egvsr.engine.yamltext import safe_load
from egvsr.errors import CheckpointError, ConfigError, InputFileError
from egvsr.fsutil import atomic_output, check_flag
from egvsr.process import mark_reported, one_line, stderr_line
from egvsr.progress import bar as progress_bar


#: what a checkpoint must hold to resume training (a weights-only file has only model + state_dict)
RESUME_KEYS = ("optimizer", "scheduler", "scaler", "step", "rng")


def train(config_path: str | Path | None = None, overrides: list[str] | None = None,
          cfg: dict | None = None, progress: bool = True, allow_config_change: bool = False,
          log: Callable[[str], None] | None = print, overwrite: bool = False) -> Path:
    """Train (or resume) the experiment described by a YAML config; return its folder.

    `cfg` (instead of a file): a config mapping, checked as a YAML file is (keys left out take their
    defaults); `allow_config_change`: resume even when the config differs from the run's saved config;
    `log`: where the start, resume and final lines go (None: nowhere); `overwrite`: start a new run in a
    folder that holds another run's files (no last.pt), replacing its config.yaml, best.pt and logs."""
    overwrite = check_flag(overwrite, "overwrite")  # True or False only: a truthy "no" would remove a run's files
    allow_config_change = check_flag(allow_config_change, "allow_config_change")
    cfg = check_config(cfg) if cfg is not None else load_config(config_path, overrides)
    info = init_distributed(cfg["device"])
    check_global_batch(cfg["train"]["batch_size"], info.world_size)  # at start-up, before the run is announced
    exp = Experiment(cfg["output_root"], cfg["name"])
    if info.is_main:  # before any work, and before the folder is touched
        exp.check_folders()
        exp.check_new_run(config_path, overwrite, cfg["train"]["init_from"])
        exp.check_outputs(config_path)
    fresh = info.is_main and not exp.dir.exists()
    levels = exp.missing_levels() if fresh else []
    locked = False
    threads = torch.get_num_threads()  # `train.threads` holds for this run only, not for the caller's next work
    try:
        with exp.lock() if info.is_main else contextlib.nullcontext():
            locked = True
            try:
                return Trainer(cfg, info, progress, allow_config_change=allow_config_change, log=log,
                               config_path=config_path).run()
            except BaseException:
                if fresh:  # a run that never got to its first checkpoint leaves no experiment folder behind:
                    exp.discard_unstarted(levels)  # while it holds the lock (a run refused by it removes nothing)
                raise
    except BaseException as exc:
        if fresh and not locked and not isinstance(exc, ExperimentBusyError):
            exp.discard_unstarted(levels)  # no lock to be had here (the folder and file it made go again)
        stopped = peer_stopped(exc, info) or worker_stopped(exc, int(cfg["train"]["num_workers"]))
        if stopped is not None:
            raise stopped from None
        raise
    finally:
        shutdown(info)
        torch.set_num_threads(threads)


def check_data_fits_model(dataset: Any, model: Any, name: str, where: str) -> None:
    """Refuse, before the experiment folder exists, data whose windows the model cannot take: the number
    of input frames and the event tensor's (bins, polarity channels), named by their config keys."""
    if dataset is None:
        return
    k = int(dataset.k)
    if model.num_frames is not None and k != model.num_frames:
        raise ConfigError(f"{where}.num_frames: {k} input frames, but model {name!r} takes "
                          f"num_frames={model.num_frames}; set {where}.num_frames: {model.num_frames}")
    if model.uses_events:
        m, p = dataset.event_shape()
        want_m, want_p = model.event_shape
        if (m, p) != (want_m, want_p):
            raise ConfigError(
                f"{where}: its event tensor has {m} time bins x {p} polarity channels ({where}.bins "
                f"{dataset.repr['bins']}, {where}.polarity {dataset.repr['polarity']!r}), but model {name!r} "
                f"takes {want_m} x {want_p}; set {where}.bins and {where}.polarity to match"
            )


def check_scales_fit(cfg: dict, model: Any, train_set: Any, val_set: Any) -> None:
    """Refuse, before the experiment folder exists, a scale above the model's max_scale: the top of
    data.train.scale_range (the first step would stop), data.val.scale or eval.scales (the first
    validation would)."""
    name, cap = cfg["model"]["name"], float(getattr(model, "max_scale", math.inf))
    scales = [(f"eval.scales {fmt_scale(float(s))}:", float(s), "eval.scales") for s in cfg["eval"]["scales"]]
    if val_set is not None:
        scales.insert(0, (f"data.val.scale {fmt_scale(float(val_set.scale))}:", float(val_set.scale),
                          "data.val.scale"))
    if train_set is not None:
        lo, hi = map(float, train_set.scale_range)
        scales.insert(0, (f"data.train.scale_range [{fmt_scale(lo)}, {fmt_scale(hi)}]: its top {fmt_scale(hi)} is",
                          hi, "data.train.scale_range"))
    for said, s, key in scales:
        if s > cap:  # exactly, as eval and render check a scale
            raise ConfigError(f"{said} above the max_scale {fmt_scale(cap)} of model {name!r} "
                              "(model.options.max_scale); "
                              f"lower {key} or raise model.options.max_scale")


def warn_training_events(datasets: list[Any]) -> None:
    """One line on stderr for each recording of the training and validation data (each once) whose event tensors
    would all be zero (no events, or none within its frames' span: clocks not aligned) or whose events file was cut
    short, as `render`, `eval` and `voxelize` say it: the model would otherwise learn from zeros in silence."""
    seen: dict[str, Any] = {}
    for ds in datasets:
        for rec in getattr(ds, "recordings", None) or ():
            seen.setdefault(str(rec.path), rec)
    warn_event_damage_and_coverage(list(seen.values()))


def check_validation_fits(cfg: dict, model: Any, val_set: Any, device: torch.device) -> None:
    """Refuse, before the experiment folder exists, validation that would fail at its first run: a
    validation recording the eval protocol cannot score or whose whole frames cannot fit (`check_scoring`)."""
    from egvsr.engine.scoring import check_scoring

    name = cfg["model"]["name"]
    if val_set is not None:
        check_scoring(val_set, {name: model}, get_protocol(cfg["eval"]["protocol"], "eval.protocol"), device,
                      int(cfg["eval"]["chunk_size"]), "data.val")


def with_val_ground_truth(val_set: Any, spec: dict, log: Callable[[str], None]) -> Any:
    """`egvsr eval --queries gt`'s rule for data.val (evaluation's `_with_ground_truth`, with the config's
    keys): with queries gt, refuse when no recording has ground-truth frames within its frames' span (its
    validation would score only frame times under the label gt), and otherwise leave out, naming them, those
    without; say how many ground-truth frames lie outside a recording's span (no window holds them)."""
    from egvsr.datasets.items import ground_truth_coverage

    if val_set is None or val_set.queries != "gt":
        return val_set
    lacking, partial = ground_truth_coverage(val_set.recordings)
    for r, n in partial:
        log(f"data.val.queries gt: {r.path}: {n} of {len(r.gt_times)} ground-truth frames lie "
            f"outside the frames' span and are not scored")
    if not lacking:
        return val_set
    names = ", ".join(str(r.path) for r in lacking)
    span = " within the frames' span" if any(len(r.gt_times) for r in lacking) else ""
    if len(lacking) == len(val_set.recordings):
        raise ConfigError(f"data.val.queries gt: no ground-truth frames in {names}{span}; set data.val.queries: "
                          "middle to validate at the frame times, or give recordings with ground truth")
    log(f"data.val.queries gt: leaving out {names} (no ground-truth frames{span})")
    kept = [str(r.path) for r in val_set.recordings if r not in lacking]
    rest = {k: v for k, v in spec.items() if k not in ("root", "split")}
    return build_dataset({**rest, "recordings": kept}, "data.val", mode="eval")


def check_batch_shapes(dataset: Any, batch_size: int, world_size: int) -> None:
    """Refuse, before the experiment folder exists, a batch whose samples could differ in shape (they are
    stacked, so the step would stop, maybe hours in): whole frames (patch_size null) of recordings of
    different sizes, or 90-degree rotations of a non-square patch or frame."""
    batch = max(1, batch_size // world_size)  # each process stacks its slice of the global batch
    if dataset is None or batch < 2:
        return
    paired = dataset.paired_scale is not None  # EvTexture pairs: samples are cut from the LR frames
    shape = dataset.patch_size
    if shape is None:
        sizes: dict[tuple[int, int], object] = {}
        for rec in dataset.recordings:
            sizes.setdefault((rec.lr_height, rec.lr_width) if paired else (rec.height, rec.width), rec)
        if len(sizes) > 1:
            (a, ra), (b, rb) = list(sizes.items())[:2]
            raise ConfigError(
                f"data.train.patch_size null (whole frames) with train.batch_size {batch_size}: {ra.path} has "
                f"{a[1]}x{a[0]} frames and {rb.path} {b[1]}x{b[0]}, but the samples of one batch must have one "
                "size; set data.train.patch_size, train.batch_size: 1, or train on recordings of one size")
        shape = next(iter(sizes), (1, 1))
    h, w = shape
    if dataset.rotations and h != w:
        what = "patch" if dataset.patch_size is not None else "frame"
        raise ConfigError(
            f"data.train.rotations: a 90-degree rotation turns a {w}x{h} {what} into {h}x{w}, but the samples "
            f"of one batch (train.batch_size {batch_size}) must have one shape; set data.train.rotations: false, "
            "a square data.train.patch_size, or train.batch_size: 1")


def step_memory_bytes(dataset: Any, model: Any, batch: int, nbytes: int = 4) -> int:
    """Bytes one training step of `batch` samples certainly holds, from the sizes alone: the batch's
    tensors, the forward's output and what its decoding keeps for backward (`call_bytes`), the LR
    feature maps of one inference pass (`estimate_size`) and the weights with their gradients and two
    Adam moments. A lower bound, so no step that fits is refused: measured steps (CPU, sample
    recordings, batch 8 to 128) took 2.8x to 3.6x more for EGVSR and 4.9x for VideoINR."""
    from egvsr.models.call_memory import call_bytes, sample_tensor_bytes
    from egvsr.models.registry import encoder_bytes

    lr_size, out_size, times = dataset.largest_sample()
    m, p = dataset.event_shape()
    sample = sample_tensor_bytes(int(dataset.k), m * p, lr_size, out_size, times)
    forward = call_bytes(model, batch, times, out_size, nbytes, grad=True)[1]
    activations = encoder_bytes(model, lr_size)
    weights = 4 * 4 * sum(q.numel() for q in model.parameters())
    return batch * sample + forward + batch * activations + weights


def check_step_memory(dataset: Any, model: Any, batch_size: int, world_size: int, device: torch.device, amp: bool) -> None:
    """Refuse, before the experiment folder exists, a training step that cannot fit in the memory of
    `device` (at least `step_memory_bytes`), naming `train.batch_size` and the figures."""
    from egvsr.models.call_memory import device_memory
    from egvsr.fsutil import fmt_size

    total, whose = device_memory(device)
    batch = max(1, batch_size // world_size)  # each process takes its slice of the global batch
    need = step_memory_bytes(dataset, model, batch, 2 if amp else 4)
    if not total or need <= total:
        return
    (h, w), (big_h, big_w), times = dataset.largest_sample()
    per = f"{batch} per process, " if world_size > 1 else ""
    raise ConfigError(
        f"train.batch_size {batch_size}: one training step needs at least {fmt_size(need)} of memory ({per}each "
        f"sample {dataset.k} LR frames of {w}x{h} and {times} target(s) of {big_w}x{big_h}, model "
        f"{model.config.get('name')!r}), more than {whose} {fmt_size(total)}; lower train.batch_size, "
        "data.train.patch_size, the top of data.train.scale_range or data.train.num_queries"
    )


def state_mismatch(model: torch.nn.Module, state: object) -> str:
    """What keeps `state` from loading into `model` (a missing or extra key, a shape), or '' when it fits."""
    if not isinstance(state, Mapping):
        return f"a {type(state).__name__}, expected the model's weights"
    ours = model.state_dict()
    for key, value in ours.items():
        if key not in state:
            return f"no weight {key!r}"
        theirs = state[key]
        if not isinstance(theirs, torch.Tensor) or tuple(theirs.shape) != tuple(value.shape):
            shape = tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
            return f"weight {key!r} is {shape}, expected {tuple(value.shape)}"
    extra = [k for k in state if k not in ours]
    return f"unexpected weight {extra[0]!r}" if extra else ""


def option_differences(theirs: object, ours: Mapping, there: str, here: str) -> str:
    """`key: A there, B here; ...` for only the model options that differ (never both whole option lists,
    some thirty options each); `theirs` is a saved config, completed with the defaults added since."""
    full = _full_config(theirs)
    full = full if isinstance(full, Mapping) else {"(options)": full}
    keys = sorted(set(full) | set(ours), key=str)
    return "; ".join(f"{k}: {repr(full.get(k))[:60]} {there}, {repr(ours.get(k))[:60]} {here}"
                     for k in keys if full.get(k) != ours.get(k))


def _full_config(config: object) -> object:
    """A saved model config with the options added since filled in with their defaults (as built)."""
    from egvsr.models import build_model

    if not isinstance(config, Mapping):
        return config
    try:
        return build_model(dict(config)).config
    except Exception:  # noqa: BLE001 - an unbuildable config simply differs
        return config


def _with_resolved_options(cfg: dict) -> dict:
    """`cfg` with `model.options` as the model resolves them (the preset's value for an option not given,
    on the meta device: nothing allocated), so that resuming compares options, not their presence: an
    option given equal to the preset's value is no change. An unbuildable model section is left as is."""
    from egvsr.models import build_model

    model = cfg.get("model")
    if not isinstance(model, Mapping) or not isinstance(model.get("options") or {}, Mapping):
        return cfg
    try:
        with torch.device("meta"):
            full = build_model(model.get("name"), **dict(model.get("options") or {})).config
    except Exception:  # noqa: BLE001 - an unbuildable config simply differs
        return cfg
    return {**cfg, "model": {**model, "options": {k: v for k, v in full.items() if k != "name"}}}


def grad_scaler(enabled: bool) -> "torch.amp.GradScaler":
    """CUDA's loss scaler for mixed precision: torch.amp.GradScaler("cuda") from torch 2.3 on; torch 2.2 (the
    lowest declared) has it only as torch.cuda.amp.GradScaler."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


class Trainer:
    """Holds the model, optimizer and data of one run; `run()` trains to `train.iterations`.

    `config_path`: the YAML file the config came from, never replaced by the saved config.yaml."""

    def __init__(self, cfg: dict, info: DistInfo, progress: bool = True, allow_config_change: bool = False,
                 log: Callable[[str], None] | None = print, config_path: str | Path | None = None) -> None:
        from egvsr.datasets import collate_samples
        from egvsr.models import build_model

        self.cfg, self.info, self.progress = cfg, info, progress and info.is_main
        self.allow_config_change = allow_config_change
        self.log = log if (log is not None and info.is_main) else (lambda text: None)
        self._stop_signal: int | None = None
        self._saved_step: int | None = None
        self._finite_step: int | None = None  # the step whose weights `_check_finite` found finite
        self.config_path = config_path
        self.resumed = False
        self.committed = False  # whether the run has begun writing to its folder (`_commit`)
        self._made: list[Path] = []  # the folders `_commit` made, and whether it wrote config.yaml
        self._wrote_config = False
        self._logs: tuple[MetricLog | None, ...] = ()  # the CSV logs `_commit` truncates on a resume
        self.own_steps: list[int] = []  # the step-N.pt files this run (and the runs it resumes) kept
        self._validation_pending = False  # the step's validation was interrupted: its save records that
        t = cfg["train"]
        if t["threads"]:  # checked with the config
            torch.set_num_threads(t["threads"])
        torch.manual_seed(int(cfg["seed"]))  # identical initial weights on every rank
        self.model = build_model(cfg["model"]["name"], **cfg["model"]["options"]).to(info.device)
        if not any(p.requires_grad for p in self.model.parameters()):
            raise ConfigError(f"model {cfg['model']['name']!r} has no trainable parameters")
        self.exp = Experiment(cfg["output_root"], cfg["name"])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(t["lr"]),  # (torch wants float betas)
                                          betas=tuple(map(float, t["betas"])), weight_decay=float(t["weight_decay"]))
        self.scheduler = build_scheduler(self.optimizer, t["schedule"], int(t["iterations"]),
                                         int(t["warmup_iterations"]), float(t["eta_min"]))
        self.amp = bool(t["amp"]) and info.device.type == "cuda"
        self.scaler = grad_scaler(self.amp)
        self.step, self.best_psnr = 0, -math.inf
        self.ema: EMA | None = None
        ck = self._resume()  # before the data is built: a changed config or a complete run is refused at once
        # (a last step whose validation was interrupted is not complete: the resume validates it)
        self.complete = self.resumed and self.step >= int(t["iterations"]) and not self._validation_pending
        if self.complete:  # `run` says so; nothing is built or trained
            return
        self.train_set = build_dataset(cfg["data"]["train"], "data.train", progress=self.progress, mode="train",
                                       seed=int(cfg["seed"]))
        self.val_set = (build_dataset(cfg["data"]["val"], "data.val", progress=self.progress, mode="eval")
                        if cfg["data"]["val"] else None)
        for where, ds in (("data.train", self.train_set), ("data.val", self.val_set)):
            check_data_fits_model(ds, self.model, cfg["model"]["name"], where)
        check_scales_fit(cfg, self.model, self.train_set, self.val_set)
        check_batch_shapes(self.train_set, int(t["batch_size"]), info.world_size)
        self.val_set = with_val_ground_truth(self.val_set, cfg["data"]["val"], self.log)
        check_validation_fits(cfg, self.model, self.val_set, info.device)
        check_step_memory(self.train_set, self.model, int(t["batch_size"]), info.world_size, info.device, self.amp)
        if info.is_main and getattr(self.model, "uses_events", False):  # every check passed; as render and eval say
            warn_training_events([self.train_set, self.val_set])
        if t["init_from"] and not self.exp.last.exists():  # only once the config is known to work
            self._init_from(t["init_from"])
        self.collate = collate_samples
        # built from the weights trained so far: an EMA first enabled on a resume starts from them
        self.ema = EMA(self.model, float(t["ema_decay"])) if float(t["ema_decay"]) > 0 else None
        if ck is not None:
            if self.ema and ck.get("ema"):
                self.ema.load_state_dict(ck["ema"])  # checked by `_resume`
            set_rng_state(ck["rng"])  # last, so that building the data draws nothing from it
        self.start_step = self.step  # where this process began (a resume's logs are cut back to it)
        self.net = (DistributedDataParallel(self.model, device_ids=[info.device.index]
                                            if info.device.type == "cuda" else None)
                    if info.distributed else self.model)

    # ---- checkpoints ------------------------------------------------------------------------------
    def _payload(self, step_checkpoints: list[int]) -> dict:
        return {
            "model": {"name": self.cfg["model"]["name"], "config": self.model.config},
            "state_dict": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "best_psnr": self.best_psnr,
            "step_checkpoints": list(step_checkpoints),
            "rng": rng_state(),
            "experiment": self.cfg,
            **({"validation_pending": True} if self._validation_pending else {}),
        }

    def _init_from(self, source: str) -> None:
        """Start from the model weights of checkpoint `source` ("shipped": the packaged weights), read
        as eval and render read a checkpoint (`model_from_checkpoint`: its EMA weights when saved, which
        must fit and be finite: NaN weights of a diverged run would stop this run at step 1)."""
        from egvsr.engine.checkpoint_model import model_from_checkpoint
        from egvsr.engine.weights import checkpoint_or_shipped, describe_weights

        with checkpoint_or_shipped(None if source == "shipped" else source, "train.init_from") as (path, label):
            try:
                weights, ck = model_from_checkpoint(path, "cpu")
            except InputFileError as exc:  # a damaged file, and one that is missing, a folder or a FIFO
                raise type(exc)(f"train.init_from: {exc}") from None
        spec = ck["model"]
        if spec.get("name") != self.cfg["model"]["name"]:
            raise ConfigError(
                f"train.init_from: {label} holds model {spec.get('name')!r}, but the config builds "
                f"{self.cfg['model']['name']!r}; set model.name (and model.options) to match the checkpoint"
            )
        if weights.config != self.model.config:
            raise ConfigError(
                f"train.init_from: {label} holds model {spec.get('name')!r} with other options "
                f"({option_differences(weights.config, self.model.config, 'there', 'here')}); set model.options "
                "to match the checkpoint"
            )
        self.model.load_state_dict(weights.state_dict())  # the same options: the same shapes
        self.log(f"starting from the {describe_weights(label, ck)}")

    def _resume(self) -> dict | None:
        """Load last.pt when there is one (before the data is built): refuse a changed config, load the
        weights, optimizer, scheduler and scaler, each checked first so that a damaged entry is one line
        naming the file and key, and apply the config's lr, betas and weight decay (changed with
        --allow-config-change). Return the checkpoint (its EMA and RNG states are restored once the data
        is built), or None for a new run."""
        if not self.exp.last.exists():
            return None
        try:  # on the CPU: its RNG states must be CPU tensors (each state is copied onto its device as loaded)
            ck = load_checkpoint(self.exp.last, map_location="cpu")
        except CheckpointError as exc:  # damaged or not egvsr's: a step-N.pt of the run may still resume it
            raise CheckpointError(f"{exc}{self._step_hint()}") from None
        if ck["model"]["name"] != self.cfg["model"]["name"]:
            raise CheckpointError(
                f"{self.exp.last}: was trained as model {ck['model']['name']!r}, but the config builds "
                f"{self.cfg['model']['name']!r} (model.name); undo the change to model.name, or use another "
                "experiment name to start afresh")
        missing = [k for k in RESUME_KEYS if k not in ck]
        if missing:
            raise CheckpointError(
                f"{self.exp.last}: holds model weights only (no {', '.join(missing)}), so training cannot resume "
                f"from it; to start a new run from these weights, move it out of {self.exp.checkpoints} and set "
                "train.init_from to its path"
            )
        if _full_config(ck["model"].get("config")) != self.model.config:  # its weights fit only its options
            diffs = option_differences(ck["model"].get("config"), self.model.config, "in the checkpoint",
                                       "in the config")
            raise CheckpointError(
                f"{self.exp.last}: was trained with other model options ({diffs}), and its weights fit only "
                "those; undo the change to model.options, or use another experiment name to start afresh"
            )
        self._check_config(ck.get("experiment"))
        step, best = ck["step"], ck.get("best_psnr", -math.inf)
        if type(step) is not int or step < 0:
            self._damaged("step", f"{step!r}, expected a whole number >= 0")
        if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best):
            self._damaged("best_psnr", f"{best!r}, expected a number")
        for key, model in (("state_dict", self.model), ("ema", self.model)):
            if key == "state_dict" or ck.get(key):
                problem = state_mismatch(model, ck[key])
                if problem:
                    self._damaged(key, problem)
        self.model.load_state_dict(ck["state_dict"])
        sched = ck["scheduler"]
        if not (isinstance(sched, Mapping) and type(sched.get("last_epoch")) is int
                and isinstance(sched.get("base_lrs"), list) and "lr_lambdas" in sched):
            self._damaged("scheduler", "not the state of a learning-rate schedule")
        for key, target in (("optimizer", self.optimizer), ("scheduler", self.scheduler), ("scaler", self.scaler)):
            if key == "scaler" and isinstance(ck[key], Mapping) and not ck[key]:
                continue  # saved with AMP off (a CPU run, device being free to change): a fresh scaler here
            try:
                target.load_state_dict(ck[key])
            except (ValueError, KeyError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
                self._damaged(key, first_line(exc))
        self._check_rng(ck["rng"])
        self._apply_hyperparameters()
        self.step, self.best_psnr = step, float(best)
        self._saved_step, self.resumed = self.step, True
        self.own_steps = self._resumed_steps(ck.get("step_checkpoints"))
        self._validation_pending = ck.get("validation_pending") is True
        self.log(f"resuming {self.exp.dir} from step {self.step}")
        return ck

    def _damaged(self, key: str, what: str) -> None:
        """Refuse a last.pt whose `key` is damaged, naming a step-N.pt to resume from instead, if any."""
        raise CheckpointError(f"{self.exp.last}: its {key!r} entry is damaged ({what}){self._step_hint()}")

    def _step_hint(self) -> str:
        """How to go on when last.pt cannot be resumed: from the newest step-N.pt, or afresh."""
        steps = self.exp.step_checkpoint_steps()
        return (f"; to resume from step {steps[-1]}, copy {self.exp.step_checkpoint(steps[-1])} over last.pt"
                if steps else "; use another experiment name to start afresh")

    def _check_rng(self, state: object) -> None:
        """Refuse RNG states that cannot be restored; the RNGs are left as they were (they are restored
        from the checkpoint once the data is built)."""
        now = rng_state()
        try:
            if not isinstance(state, Mapping):
                raise TypeError(f"a {type(state).__name__}, expected a mapping")
            set_rng_state(state)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
            self._damaged("rng", first_line(exc) if not isinstance(exc, KeyError) else f"no {exc}")
        finally:
            set_rng_state(now)

    def _apply_hyperparameters(self) -> None:
        """Give the resumed optimizer and schedule the config's lr, betas and weight decay (loading their
        states brought back the saved ones): the schedule goes on from the resumed step with the new base."""
        t = self.cfg["train"]
        lr = float(t["lr"])
        for group in self.optimizer.param_groups:
            group.update(betas=tuple(map(float, t["betas"])), weight_decay=float(t["weight_decay"]), initial_lr=lr)
        sched = self.scheduler
        sched.base_lrs = [lr] * len(self.optimizer.param_groups)
        for group, factor in zip(self.optimizer.param_groups, sched.lr_lambdas):
            group["lr"] = lr * factor(sched.last_epoch)  # (its floor eta_min / lr was made with the new lr)
        self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]  # what get_last_lr reports

    def _resumed_steps(self, saved: object) -> list[int]:
        """The step checkpoints the resumed run kept: as its last.pt lists them, or (a last.pt written
        before runs listed them) the step-N.pt files up to its step, its folder being its own."""
        if isinstance(saved, list) and all(type(s) is int for s in saved):
            return list(saved)
        return [s for s in self.exp.step_checkpoint_steps() if s <= self.step]

    def _check_config(self, saved: object) -> None:
        """Refuse to resume under a config that differs from the run's (unless allowed): list the keys."""
        if not isinstance(saved, Mapping) and self.exp.config.is_file():
            import yaml

            try:
                saved = safe_load(self.exp.config.read_bytes())
            except (OSError, yaml.YAMLError, ValueError):
                saved = None
        if not isinstance(saved, Mapping):
            return
        diffs = config_differences(_with_resolved_options(dict(saved)), _with_resolved_options(self.cfg))
        if not diffs:
            return
        if not self.allow_config_change:
            raise ConfigError(
                f"{self.exp.dir}: the config differs from the one this experiment was trained with "
                f"({'; '.join(diffs)}); undo the change, use another experiment name, or pass "
                "--allow-config-change to resume with the new values"
            )
        self.log(f"config changed on resume (--allow-config-change): {'; '.join(diffs)}")

    def _check_finite(self) -> None:
        """Stop before a checkpoint of a diverged model (NaN/inf weights) replaces a good one. The weights
        change only with a step: they are scanned once per step (validation, then the save after it)."""
        if self._finite_step == self.step:
            return
        models = [("model", self.model)] + ([("EMA", self.ema.shadow)] if self.ema else [])
        for label, model in models:
            for name, p in model.state_dict().items():
                if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                    raise self._diverged(f"the {label} weight {name!r} is no longer finite")
        self._finite_step = self.step

    def _diverged(self, what: str) -> ConfigError:
        """The error of a run whose weights diverged by this step (`what`: how it shows), not saved."""
        kept = (f"{self.exp.last} keeps step {load_checkpoint(self.exp.last)['step']}"
                if self.exp.last.exists() else "no checkpoint was written")
        return ConfigError(f"train.lr: training diverged by step {self.step}: {what}, so it was not saved ({kept}); "
                           "lower train.lr or set train.grad_clip")

    def _save(self, best: bool = False) -> None:
        """Write this step's step-N.pt first, then best.pt (when `best`), then last.pt listing only step
        files that exist, then prune the older ones: a failed write leaves last.pt and the list of the run's
        own step files as they were (and no step file that no last.pt lists), and last.pt never records a
        best_psnr whose weights best.pt does not hold (a resume would then keep the older best.pt for good)."""
        if not self.info.is_main:
            return
        self._check_finite()
        self._commit()
        kept, stale = self._plan_step_checkpoints()
        payload = self._payload(kept)
        step_file = self.exp.step_checkpoint(self.step) if self.step in kept else None
        if step_file is not None:
            save_checkpoint(step_file, payload, overwrite=True)
        try:
            if best:
                save_checkpoint(self.exp.best, payload, overwrite=True)
            save_checkpoint(self.exp.last, payload, overwrite=True)
        except BaseException:
            if step_file is not None:
                step_file.unlink(missing_ok=True)
            raise
        self.own_steps, self._saved_step = kept, self.step
        self.exp.prune(stale)

    def _plan_step_checkpoints(self) -> tuple[list[int], list[int]]:
        """(the run's own steps once this step's step-N.pt counts among them, keeping the newest
        `train.keep_checkpoints`; the older own steps to prune). Only files this run wrote are ever pruned:
        a step-N.pt of another run (left in the folder under --overwrite) is never deleted."""
        keep = int(self.cfg["train"]["keep_checkpoints"])
        steps = [s for s in self.own_steps if s != self.step] + [self.step]
        cut = max(0, len(steps) - keep)
        return steps[cut:], [s for s in steps[:cut] if s != self.step]  # keep 0: this step's file is never written

    def _start_afresh(self) -> None:
        """A new run's best.pt and CSV logs are its own: remove those of an earlier run (there only under
        --overwrite; `train` refuses them otherwise), so no row or best of that run is mixed in."""
        for old in (self.exp.best, self.exp.logs / "train.csv", self.exp.logs / "val.csv"):
            old.unlink(missing_ok=True)

    def _commit(self) -> None:
        """Before the run's first write (main process): make the folders, remove an earlier run's best.pt
        and logs (a new run under --overwrite) or the rows a resume re-does, and write config.yaml. Done
        this late so that a run that fails before it (a bad file, a diverged step, a stop at once)
        leaves an earlier run's files as they were."""
        if self.committed:
            return
        if self.resumed:
            for log in self._logs:
                if log:
                    log.truncate_after(self.start_step)
        else:
            self._start_afresh()
        self._made = self.exp.make()
        self.committed = True
        if self.exp.writes_config(self.config_path):
            with atomic_output(self.exp.config, overwrite=True) as tmp:
                tmp.write_text(dump_config(self.cfg))
            self._wrote_config = True

    def _discard_unstarted(self) -> None:
        """A new run that ends before its first checkpoint leaves the folder as it found it, so that the
        same command can start it again: remove what it wrote (its logs, config.yaml) and the folders it
        made, never another file (an earlier run's best.pt and logs, under --overwrite, went at its first
        write)."""
        if not self.info.is_main or self.resumed or not self.committed or self._saved_step is not None:
            return
        for log in self._logs:
            if log:
                log.discard()
        self.exp.discard_new_run(self._made, self._wrote_config)

    def _write_row(self, log: MetricLog, values: dict) -> None:
        """One row of `log` at this step, once the run has begun writing (`_commit`)."""
        self._commit()
        log.write(self.step, values)

    # ---- loop ---------------------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        t = self.cfg["train"]
        sampler = StepBatchSampler(len(self.train_set), int(t["batch_size"]), self.train_set.scale_range,
                                   int(self.cfg["seed"]), int(t["iterations"]), self.step,
                                   self.info.rank, self.info.world_size)
        return DataLoader(self.train_set, batch_sampler=sampler, num_workers=int(t["num_workers"]),
                          collate_fn=self.collate, pin_memory=self.info.device.type == "cuda",
                          worker_init_fn=ignore_terminal_signals)

    def _train_step(self, batch: dict) -> float:
        inputs = model_inputs(batch, self.info.device)
        target = batch["hr"].to(self.info.device, non_blocking=True)
        with torch.autocast("cuda", enabled=self.amp):
            pred = self.net(**inputs)
        loss = LOSSES[self.cfg["train"]["loss"]](pred, target)
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
        self._check_finite()  # NaN weights are named as such, before their output is
        loader = DataLoader(self.val_set, batch_size=1, collate_fn=self.collate)
        label = "EMA" if self.ema else "model"
        model = self.ema.shadow if self.ema else self.model
        try:
            return evaluate(model, loader, get_protocol(self.cfg["eval"]["protocol"]), self.info.device,
                            int(self.cfg["eval"]["chunk_size"]), progress=self.progress, desc="validation",
                            checkpoint=label)
        except CheckpointError:  # (`output_not_finite`) finite weights so large that the output overflows float32
            raise self._diverged(f"the {label} weights give an output that is not finite on data.val "
                                 "(they overflow float32)") from None

    def run(self) -> Path:
        t = self.cfg["train"]
        total = int(t["iterations"])
        if self.complete:
            self.log(f"{self.exp.dir}: already complete (step {self.step} of train.iterations {total}); nothing "
                     "was trained or written (to train further, raise train.iterations with --allow-config-change)")
            return self.exp.dir
        if self.info.is_main and not self.resumed:
            self.log(f"experiment {self.exp.dir}: config.yaml, checkpoints/, logs/ (a new run)")
        train_log = MetricLog(self.exp.logs, "train") if self.info.is_main else None
        val_log = MetricLog(self.exp.logs, "val", tensorboard=False) if self.info.is_main else None
        self._logs = (train_log, val_log)
        bar = progress_bar(total, self.cfg["name"], self.progress, leave=True, initial=self.step)
        started, budget = time.monotonic(), float(t["max_minutes"]) * 60
        cpu_started, cpu_budget = time.process_time(), float(t["max_cpu_minutes"]) * 60
        self.model.train()
        try:
            with self._signals_deferred():
                spent = self._loop(bar, train_log, val_log, total, started, budget, cpu_started, cpu_budget)
        except BaseException as exc:
            self._discard_unstarted()
            if isinstance(exc, KeyboardInterrupt):
                self._say_where_interrupted(exc)
            raise
        bar.close()
        for log in (train_log, val_log):
            if log:
                log.close()
        if self.info.is_main and self._saved_step is not None:
            self.log(one_line(f"wrote {self.exp.last} (step {self._saved_step}); logs in {self.exp.logs}"))
        if spent:
            self.log(f"stopped at step {self.step} of {total}: {spent} spent (the same command continues the run)")
        return self.exp.dir

    def _loop(self, bar, train_log, val_log, total, started, budget, cpu_started, cpu_budget) -> str | None:
        """Train to `total`; return None, or the budget (`train.max_minutes N`) that ended the run early.

        A budget stop is a pause: it saves the step, but validates (and picks best.pt) only where the
        schedule does, so a run resumed to the end logs, validates and keeps the same best.pt as one that
        ran straight through."""
        t = self.cfg["train"]
        if self._validation_pending:  # resumed from a save whose validation was interrupted: validate it now
            self._validate_and_save(val_log)
            barrier(self.info)
        last_log, samples = time.monotonic(), 0
        for batch in one_line_worker_errors(self._loader()):
            lr = self.scheduler.get_last_lr()[0]  # the rate this step trains with (the step moves it on)
            loss = self._train_step(batch)
            self.step += 1
            samples += int(t["batch_size"])
            if not math.isfinite(loss):
                raise self._diverged(f"its loss is {loss}")
            bar.update(1)
            if self.info.is_main and (self.step % int(t["log_every"]) == 0 or self.step == total):
                now = time.monotonic()
                rate = samples / max(now - last_log, 1e-9)
                self._write_row(train_log, {"loss": loss, "lr": lr, "samples_per_s": rate})
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", sps=f"{rate:.1f}")
                last_log, samples = now, 0
            wall_spent = budget > 0 and time.monotonic() - started > budget
            cpu_spent = cpu_budget > 0 and time.process_time() - cpu_started > cpu_budget
            out_of_time = (budget > 0 or cpu_budget > 0) and self._out_of_time(wall_spent or cpu_spent)
            paused = time.monotonic()  # validating and saving are no training: samples/s leaves them out
            if self.step % int(t["val_every"]) == 0 or self.step == total:
                self._validate_and_save(val_log)
            elif self.step % int(t["checkpoint_every"]) == 0 or out_of_time:
                self._save()
            barrier(self.info)
            last_log += time.monotonic() - paused
            if self._stop_signal is not None:
                self._stop()
            if out_of_time and self.step < total:
                key = "max_cpu_minutes" if cpu_spent or not budget > 0 else "max_minutes"
                return f"train.{key} {t[key]:g}"
        return None

    # ---- signals ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        """While training (one process only): the first SIGINT/SIGTERM/SIGHUP lets the current step
        finish, then `_stop` saves and stops; a second one stops at once."""
        from egvsr.process import Terminated, handled_signals

        owner = os.getpid()

        def handler(signum, frame) -> None:
            if os.getpid() != owner:  # a DataLoader worker (forked with the handler): the main process reports
                return
            if self._stop_signal is None:
                self._stop_signal = signum
                print(f"egvsr: {signal.Signals(signum).name}: finishing step {self.step + 1} and saving a "
                      "checkpoint (send it again to stop at once)", file=sys.stderr, flush=True)
                return
            raise Terminated(signum)

        previous = {}
        if not self.info.distributed:  # ranks would stop at different steps: DDP keeps the old behaviour
            try:
                for sig in handled_signals():  # not one ignored at start (nohup)
                    previous[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):  # not the main thread
                pass
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _say_where_interrupted(self, exc: KeyboardInterrupt) -> None:
        """Under torchrun a signal stops every process at once (they cannot agree on a step to finish without a
        collective per step): rank 0 says which step `last.pt` holds, the one the same command resumes from,
        instead of the bare `interrupted` line."""
        if not (self.info.distributed and self.info.is_main) or self._saved_step is None \
                or getattr(exc, "egvsr_reported", False):
            return
        stderr_line(one_line(f"egvsr: interrupted at step {self.step} (under torchrun every process stops at once); "
                             f"{self.exp.last} holds step {self._saved_step}: run the same command to resume from "
                             "there"))
        mark_reported(exc)

    def _stop(self) -> None:
        """Save the finished step (unless saved already), say how to resume, and end as interrupted."""
        from egvsr.process import Terminated

        signum, self._stop_signal = self._stop_signal, None
        if self._saved_step != self.step:
            self._save()
        print(one_line(f"egvsr: stopped at step {self.step}: wrote {self.exp.last}; run the same command to resume"),
              file=sys.stderr, flush=True)
        raise mark_reported(Terminated(signum))

    def _out_of_time(self, local: bool) -> bool:
        """Stop when any rank's budget is spent (ranks must agree, or the others wait forever).

        Only called when a budget is set: it costs a collective per step under torchrun."""
        if not self.info.distributed:
            return local
        return bool(all_reduce_mean(torch.tensor(float(local), device=self.info.device), self.info) > 0)

    def _validate_and_save(self, val_log: MetricLog | None) -> None:
        try:
            result = self.validate()
        except KeyboardInterrupt as exc:  # interrupted while validating: the step itself is complete, keep it
            if self.info.is_main and not self.info.distributed and self._saved_step != self.step:
                self._validation_pending = True  # recorded in last.pt: the resume validates this step first
                self._save()
                print(one_line(f"egvsr: stopped at step {self.step} (validation interrupted; a resume validates it "
                               f"first): wrote {self.exp.last}; run the same command to resume"),
                      file=sys.stderr, flush=True)
                mark_reported(exc)
            raise
        self._validation_pending = False
        best = False
        if result is not None:
            self._write_row(val_log, {"psnr": result["psnr"], "ssim": result["ssim"]})
            best = result["psnr"] > self.best_psnr
            self.best_psnr = max(self.best_psnr, result["psnr"])
        self._save(best=best or self.val_set is None)
