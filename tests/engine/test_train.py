"""Training: exact resume after kill -9, torchrun DDP equivalence, and clear errors for bad setups.

All runs use the tiny EGVSR preset on a tiny generated recording so the whole file stays fast on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.engine.config import load_config
from egvsr.engine.train import train
from egvsr.errors import CheckpointError, ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=3, seconds=0.5, size=(40, 56), fps=20.0, progress=False)


def _config(tmp: Path, recording: Path, name: str, **train_overrides) -> Path:
    cfg = {
        "name": name,
        "seed": 1,
        "device": "cpu",
        "output_root": str(tmp / "exp"),
        "model": {"name": "egvsr-tiny", "options": {}},
        "data": {
            "train": {"recordings": [str(recording)], "patch_size": 12, "scale_range": [1, 2], "bins": 8},
            "val": {},
        },
        "train": {"iterations": 8, "batch_size": 2, "lr": 1e-3, "log_every": 2, "val_every": 1000,
                  "checkpoint_every": 2, "keep_checkpoints": 10, **train_overrides},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("WORLD_SIZE", None)
    return env


def _weights(folder: Path) -> dict:
    return load_checkpoint(folder / "checkpoints" / "last.pt")["state_dict"]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(tmp_path, tiny_recording):
    straight = _config(tmp_path, tiny_recording, "straight")
    interrupted = _config(tmp_path, tiny_recording, "interrupted")
    cmd = [sys.executable, "-m", "egvsr", "train", "--no-progress"]
    subprocess.run(cmd + [str(straight)], check=True, env=_env(), capture_output=True)

    proc = subprocess.Popen(cmd + [str(interrupted)], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = tmp_path / "exp" / "interrupted" / "checkpoints" / "step-00000004.pt"
    last = marker.with_name("last.pt")

    def saved_step_4() -> bool:  # step-4.pt is written first, then last.pt: killed between saves, not amid one
        try:
            return last.stat().st_mtime_ns >= marker.stat().st_mtime_ns
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 120
    while not saved_step_4() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(last)["step"]
    assert 4 <= killed_at < 8, "the run should have been killed mid-way"
    assert not list((tmp_path / "exp" / "interrupted").rglob("*.egvsr-partial"))

    subprocess.run(cmd + [str(interrupted)], check=True, env=_env(), capture_output=True)
    a, b = _weights(tmp_path / "exp" / "straight"), _weights(tmp_path / "exp" / "interrupted")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"weight {k} differs after resume"
    rows = (tmp_path / "exp" / "interrupted" / "logs" / "train.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6", "8"]


DDP_WORKER = """
import os, sys, torch, yaml
from egvsr.engine.config import load_config
from egvsr.engine.distributed import init_distributed, shutdown
from egvsr.engine.train import Trainer
cfg = load_config(sys.argv[1])
info = init_distributed("cpu")
trainer = Trainer(cfg, info, progress=False)
trainer.run()
torch.save(trainer.model.state_dict(), os.path.join(sys.argv[2], f"rank{info.rank}.pt"))
shutdown(info)
"""


@pytest.mark.slow
def test_torchrun_ddp_matches_single_process(tmp_path, tiny_recording):
    worker = tmp_path / "ddp_worker.py"
    worker.write_text(DDP_WORKER)
    ddp_cfg = _config(tmp_path, tiny_recording, "ddp", iterations=3, batch_size=4, checkpoint_every=100)
    single_cfg = _config(tmp_path, tiny_recording, "single", iterations=3, batch_size=4, checkpoint_every=100)
    out_ddp, out_single = tmp_path / "ddp_out", tmp_path / "single_out"
    out_ddp.mkdir(), out_single.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         str(worker), str(ddp_cfg), str(out_ddp)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    subprocess.run([sys.executable, str(worker), str(single_cfg), str(out_single)], env=_env(), check=True,
                   capture_output=True, timeout=300)
    r0, r1 = torch.load(out_ddp / "rank0.pt"), torch.load(out_ddp / "rank1.pt")
    single = torch.load(out_single / "rank0.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
        torch.testing.assert_close(r0[k], single[k], rtol=1e-4, atol=1e-5, msg=f"DDP differs from single on {k}")
    assert any(not torch.equal(r0[k], torch.zeros_like(r0[k])) for k in r0)


def test_unknown_data_key_is_named(tmp_path, tiny_recording):
    path = _config(tmp_path, tiny_recording, "bad")
    with pytest.raises(ConfigError, match="unknown config key data.train.patchsize"):
        load_config(path, ["data.train.patchsize=12"])  # at load time, before any folder or file


def test_unknown_model_option_is_named(tmp_path, tiny_recording):
    cfg = load_config(_config(tmp_path, tiny_recording, "bad"), ["model.options.n_feat=4"])
    with pytest.raises(ConfigError, match="n_feat"):
        train(cfg=cfg, progress=False)


def test_missing_data_path(tmp_path, tiny_recording):
    missing = json.dumps([str(tmp_path / "nope.h5")])  # a YAML list however the path is spelled
    cfg = load_config(_config(tmp_path, tiny_recording, "bad"), [f"data.train.recordings={missing}"])
    with pytest.raises(ConfigError, match="nope.h5 does not exist"):
        train(cfg=cfg, progress=False)


def test_resume_refuses_checkpoint_of_another_model(tmp_path, tiny_recording):
    cfg = load_config(_config(tmp_path, tiny_recording, "other"))
    last = Path(cfg["output_root"]) / "other" / "checkpoints" / "last.pt"
    save_checkpoint(last, {"model": {"name": "videoinr-tiny", "config": {}}, "state_dict": {}})
    with pytest.raises(CheckpointError, match="was trained as model 'videoinr-tiny', but the config builds 'egvsr-tiny'"):
        train(cfg=cfg, progress=False)


def test_resume_refuses_corrupted_checkpoint(tmp_path, tiny_recording):
    cfg = load_config(_config(tmp_path, tiny_recording, "corrupt"))
    last = Path(cfg["output_root"]) / "corrupt" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a complete checkpoint file"):
        train(cfg=cfg, progress=False)


def test_training_learns(tmp_path, tiny_recording):
    """A short run lowers the loss: the loop really optimizes."""
    cfg = load_config(_config(tmp_path, tiny_recording, "learn", iterations=20, log_every=1,
                              checkpoint_every=1000, lr=3e-3))
    folder = train(cfg=cfg, progress=False)
    rows = (folder / "logs" / "train.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert min(losses[-5:]) < 0.8 * max(losses[:5]) or sum(losses[-5:]) < sum(losses[:5]) * 0.9


def test_train_csv_lr_is_the_rate_each_step_trained_with(tmp_path, tiny_recording):
    """Row N of logs/train.csv pairs step N's loss with the learning rate step N used: warm-up 1/2, 2/2,
    then the cosine from its top (it logged the next step's rate, so step 1 read as the full rate and the
    last step as 0)."""
    cfg = load_config(_config(tmp_path, tiny_recording, "lr-log", iterations=4, log_every=1, checkpoint_every=1000,
                              lr=1e-3, warmup_iterations=2, schedule="cosine", eta_min=0.0))
    folder = train(cfg=cfg, progress=False)
    rows = (folder / "logs" / "train.csv").read_text().splitlines()
    lrs = [float(r.split(",")[rows[0].split(",").index("lr")]) for r in rows[1:]]
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-3, 5e-4])


# ---- the memory of one training step, checked at start-up -------------------------------------------
def test_absurd_batch_size_is_refused_before_the_experiment_exists(tmp_path, tiny_recording):
    cfg = load_config(_config(tmp_path, tiny_recording, "huge", batch_size=10_000_000))
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^train.batch_size 10000000: one training step needs at least .* TB of "
                                          r"memory \(each sample 3 LR frames of 12x12 and 1 target\(s\) of 24x24, "
                                          r"model 'egvsr-tiny'\), more than this machine's .*; lower train.batch_size"):
        train(cfg=cfg, progress=False, log=None)
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "exp").exists()


def test_step_memory_counts_the_device_and_each_process_slice(tmp_path, tiny_recording, monkeypatch):
    from egvsr.engine.config_datasets import build_dataset
    from egvsr.engine.train import check_step_memory
    from egvsr.models import build_model, call_memory

    cfg = load_config(_config(tmp_path, tiny_recording, "small", batch_size=64))
    monkeypatch.setattr(call_memory, "physical_memory", lambda: 20 * 10**6)  # a 20 MB machine
    with pytest.raises(ConfigError, match=r"^train.batch_size 64: .* more than this machine's 20 MB; "):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp").exists()
    data = build_dataset(cfg["data"]["train"], "data.train", mode="train")
    model, cpu = build_model("egvsr-tiny"), torch.device("cpu")
    with pytest.raises(ConfigError, match=r"needs at least .* \(64 per process, each sample"):
        check_step_memory(data, model, 128, 2, cpu, amp=False)
    check_step_memory(data, model, 64, 32, cpu, amp=False)  # 2 samples per process fit


class FakeSet:
    """The sizes `step_memory_bytes` reads, from a config's data.train section (no recordings read)."""

    def __init__(self, section: dict, frame: tuple[int, int] = (260, 346)) -> None:
        from egvsr.datasets.geometry import hr_size, lr_size_for_frame

        lo, hi = section.get("scale_range", [1, 4])
        patch = section.get("patch_size", 64)
        times = section.get("num_queries", 1) if section.get("queries") == "gt" else 1
        self.k = section.get("num_frames", 3)
        self.bins, self.channels = section.get("bins", 32), 2 if section.get("polarity", "split") == "split" else 1
        if patch is None:
            self.sizes = lr_size_for_frame(*frame, lo), frame, times
        else:
            self.sizes = (patch, patch), hr_size(patch, patch, hi), times

    def largest_sample(self):
        return self.sizes

    def event_shape(self):
        return self.bins, self.channels


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_the_project_configs_fit_a_laptop(path):
    """The check is a lower bound: every shipped training config needs under 2 GB by it (CED's whole frames
    with the paper-size model are the largest, 0.93 GB), far below any machine that trains them."""
    from egvsr.engine.train import step_memory_bytes
    from egvsr.models import build_model

    cfg = load_config(path)
    with torch.device("meta"):
        model = build_model(cfg["model"]["name"], **cfg["model"]["options"])
    need = step_memory_bytes(FakeSet(cfg["data"]["train"]), model, cfg["train"]["batch_size"])
    assert need < 2 * 10**9, need


# ---- configs passed from Python ----------------------------------------------------------------------
@pytest.mark.parametrize("cfg, pattern", [
    ({}, r"^data.train: give 'recordings'"),  # every other key takes its default, as in a YAML file
    ([], r"^cfg: expected a config mapping .* got list$"),
    ("configs/egvsr_sample.yaml", r"^cfg: expected a config mapping .* got str$"),
    ({"trian": {}}, r"^unknown config key 'trian' \(did you mean 'train'\?\)"),
    ({"train": [4]}, r"^config key 'train': expected a mapping, got \[4\]$"),
    ({"train": {"batch_size": "four"}}, r"^config key 'train.batch_size': expected a number, got 'four'$"),
    ({"train": {"batch_size": 2.5}}, r"^train.batch_size: expected a positive integer, got 2.5$"),
    ({"model": {"name": 3}}, r"^model.name: expected a registered model name \(`egvsr models` lists them\), got 3$"),
    ({"data": {"train": "sample:1"}}, r"^config key 'data.train': expected a mapping, got str$"),
])
def test_wrong_config_from_python_is_one_config_error(tmp_path, monkeypatch, cfg, pattern):
    monkeypatch.chdir(tmp_path)  # the default output_root is relative
    with pytest.raises(ConfigError, match=pattern):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "experiments").exists()


SAMPLE_CONFIG = str(ROOT / "configs" / "egvsr_sample.yaml")


@pytest.mark.parametrize("kwargs, pattern", [
    ({"config_path": 5}, r"^config_path: expected the path of a YAML config file \(str or os.PathLike\), got int$"),
    ({"config_path": SAMPLE_CONFIG, "overrides": "train.lr=1"}, r"^overrides: expected a list of 'key=value' "),
    ({"config_path": SAMPLE_CONFIG, "overrides": [5]}, r"^overrides: expected a list of .* got \[5\]$"),
])
def test_wrong_arguments_of_train(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        train(progress=False, log=None, **kwargs)


def test_validation_checked_at_start_up(tmp_path):
    """A validation scale above max_scale, or a validation recording the protocol cannot score, is
    refused before the experiment folder exists, naming the config key."""
    from egvsr.engine.train import train
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False)
    tiny = make_sample(tmp_path / "tiny.h5", seed=2, seconds=0.12, size=(16, 16), fps=25.0, progress=False)
    data = {"num_frames": 3, "bins": 8}
    base = {"name": "v", "output_root": str(tmp_path / "exp"), "model": {"name": "egvsr-tiny", "options": {}},
            "data": {"train": {"recordings": [str(rec)], "patch_size": 8, "scale_range": [1, 1.5], **data},
                     "val": {"recordings": [str(rec)], "scale": 2, **data}},
            "train": {"iterations": 1, "batch_size": 1}, "eval": {"scales": [2]}}
    capped = {**base, "model": {"name": "egvsr-tiny", "options": {"max_scale": 1.5}}}
    with pytest.raises(ConfigError, match=r"data.val.scale 2: above the max_scale 1.5 of model 'egvsr-tiny'"):
        train(cfg=capped, progress=False, log=None)
    capped["data"] = {**base["data"], "val": {**base["data"]["val"], "scale": 1.5}}
    with pytest.raises(ConfigError, match=r"eval.scales 2: above the max_scale 1.5"):
        train(cfg=capped, progress=False, log=None)
    capped["eval"] = {"scales": [1.5000000001]}  # above the cap by any amount, as `egvsr eval` refuses it
    with pytest.raises(ConfigError, match=r"eval.scales 1.5000000001: above the max_scale 1.5"):
        train(cfg=capped, progress=False, log=None)
    capped["eval"] = {"scales": [1.5]}  # the training scales too: the first step would stop
    capped["data"]["train"] = {**base["data"]["train"], "scale_range": [1, 2]}
    with pytest.raises(ConfigError, match=r"^data.train.scale_range \[1, 2\]: its top 2 is above the max_scale 1.5 "
                                          r"of model 'egvsr-tiny' \(model.options.max_scale\); lower data.train"):
        train(cfg=capped, progress=False, log=None)
    small = {**base, "data": {**base["data"], "val": {**base["data"]["val"], "recordings": [str(tiny)]}}}
    with pytest.raises(ConfigError, match=r"data.val: .*tiny.h5 \(16x16 frames\) at scale x2: .*protocol 'ours'"):
        train(cfg=small, progress=False, log=None)
    assert not (tmp_path / "exp").exists()


# ---- the samples of one batch have one shape, checked at start-up ----------------------------------------
def _fake_set(patch, sizes, rotations=True):
    from types import SimpleNamespace

    recs = [SimpleNamespace(path=f"r{i}.h5", height=h, width=w) for i, (h, w) in enumerate(sizes)]
    return SimpleNamespace(patch_size=patch, recordings=recs, rotations=rotations, paired_scale=None)


@pytest.mark.parametrize("patch, sizes, rotations, batch, world, pattern", [
    (None, [(40, 40), (48, 48)], False, 2, 1,
     r"^data.train.patch_size null \(whole frames\) with train.batch_size 2: r0.h5 has 40x40 frames and r1.h5 48x48"),
    (None, [(40, 56), (40, 56)], True, 2, 1, r"^data.train.rotations: a 90-degree rotation turns a 56x40 frame into"),
    ((8, 12), [(40, 56)], True, 4, 1, r"^data.train.rotations: a 90-degree rotation turns a 12x8 patch into 8x12"),
    (None, [(40, 40), (48, 48)], True, 1, 1, None),  # one sample per batch
    (None, [(40, 40), (48, 48)], True, 2, 2, None),  # one sample per process
    (None, [(40, 56), (40, 56)], False, 2, 1, None),
    ((12, 12), [(40, 56), (48, 64)], True, 2, 1, None),
])
def test_batch_shapes_are_checked_at_start_up(patch, sizes, rotations, batch, world, pattern):
    from egvsr.engine.train import check_batch_shapes

    data = _fake_set(patch, sizes, rotations)
    if pattern is None:
        check_batch_shapes(data, batch, world)
    else:
        with pytest.raises(ConfigError, match=pattern):
            check_batch_shapes(data, batch, world)


def test_whole_frame_batches_of_rotated_frames_are_refused_before_the_folder(tmp_path, tiny_recording):
    cfg = load_config(_config(tmp_path, tiny_recording, "whole"), ["data.train.patch_size=null"])
    with pytest.raises(ConfigError, match=r"^data.train.rotations: a 90-degree rotation turns a 56x40 frame"):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp").exists()


def test_val_queries_gt_needs_ground_truth_as_eval_does(tmp_path, tiny_recording):
    """data.val.queries gt over recordings without ground-truth frames is refused at start-up (as `egvsr
    eval --queries gt` is); one without among others is left out and named."""
    import shutil

    import h5py

    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.train import Trainer

    bare = tmp_path / "bare.h5"
    shutil.copyfile(tiny_recording, bare)
    with h5py.File(bare, "r+") as f:
        del f["gt"]
    val = {"queries": "gt", "scale": 2, "bins": 8}
    cfg = load_config(_config(tmp_path, tiny_recording, "gt"), [f"data.val.recordings={json.dumps([str(bare)])}"])
    cfg["data"]["val"].update(val)
    with pytest.raises(ConfigError, match=rf"^data.val.queries gt: no ground-truth frames in {re.escape(str(bare))}; "
                                          "set "
                                          "data.val.queries: middle"):
        train(cfg=cfg, progress=False, log=None)
    assert not (tmp_path / "exp").exists()
    cfg["data"]["val"]["recordings"] = [str(tiny_recording), str(bare)]
    said: list[str] = []
    trainer = Trainer(cfg, init_distributed("cpu"), progress=False, log=said.append)
    assert [str(r.path) for r in trainer.val_set.recordings] == [str(tiny_recording)]
    assert any(f"data.val.queries gt: leaving out {bare} (no ground-truth frames)" in line for line in said), said


def test_loader_workers_never_report_the_deferred_signal(capfd):
    """A worker forked while the handler is installed inherits it: only the process that installed it
    reports the signal and stops; a worker ignores it (the main process stops the workers)."""
    import os
    import signal
    from types import SimpleNamespace

    from egvsr.engine.train import Trainer

    owner = SimpleNamespace(_stop_signal=None, step=0, info=SimpleNamespace(distributed=False))
    with Trainer._signals_deferred(owner):
        pid = os.fork()
        if pid == 0:  # the "worker"
            os.kill(os.getpid(), signal.SIGINT)
            os._exit(0 if owner._stop_signal is None else 3)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "finishing step" not in capfd.readouterr().err and owner._stop_signal is None


def test_a_batch_not_divisible_by_the_processes_is_refused_at_start_up(tmp_path, monkeypatch):
    """Checked before the experiment folder is touched or the data is built (gloo needs no second rank to
    reach the check: WORLD_SIZE is read, the process group not yet joined)."""
    import egvsr.engine.train as train_module
    from egvsr.engine.distributed import DistInfo
    from egvsr.errors import ConfigError

    monkeypatch.setattr(train_module, "init_distributed", lambda name: DistInfo(0, 0, 2, torch.device("cpu")))
    monkeypatch.setattr(train_module, "build_dataset", None)
    cfg = load_config(None, [f"output_root={tmp_path}", "train.batch_size=3", "device=cpu"])
    with pytest.raises(ConfigError, match=r"^train.batch_size: 3 does not split evenly over the 2 processes of "
                                          r"this torchrun job; expected a multiple of 2 \(the global batch\)$"):
        train_module.train(cfg=cfg, log=None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_whose_peer_stopped_says_so_in_one_line(tmp_path, monkeypatch, rank):
    """gloo's "Connection closed by peer" (another rank exited on its own error) becomes one line, not the
    backend's traceback on every other rank; any other error stays itself."""
    import egvsr.engine.train as train_module
    from egvsr.engine.distributed import DistInfo
    from egvsr.errors import EgvsrError

    def broken_trainer(message):
        class Broken:
            def __init__(self, *args, **kwargs):
                pass

            def run(self):
                raise RuntimeError(message)
        return Broken

    monkeypatch.setattr(train_module, "init_distributed", lambda name: DistInfo(rank, rank, 2, torch.device("cpu")))
    cfg = load_config(None, [f"output_root={tmp_path}", "train.batch_size=2", "device=cpu"])
    monkeypatch.setattr(train_module, "Trainer", broken_trainer(
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:4711"))
    with pytest.raises(EgvsrError) as err:
        train_module.train(cfg=cfg, log=None)
    assert str(err.value) == (f"rank {rank} of 2: another process of this torchrun job stopped (its error is "
                              "printed above by that process), so this one stops too")
    monkeypatch.setattr(train_module, "Trainer", broken_trainer("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        train_module.train(cfg=cfg, log=None)
