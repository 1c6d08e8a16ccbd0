"""`kill -9` in the middle of each writing command: no half output under the final name, and the same
command run again succeeds (and sweeps the killed run's temporary file away).

Each test starts the real CLI in a subprocess on an input big enough that it is still working, waits
until its temporary output (`*.egvsr-partial`, see egvsr/fsutil.py) holds data, i.e. the write is
under way, and sends SIGKILL, which runs no cleanup at all. Then: the final path does not exist, or
(with --overwrite) still is the previous complete file byte for byte; the leftover is recognisably
temporary; a re-run succeeds, its output is complete, and no temporary file remains.

Training is also covered by tests/engine/test_train.py::test_killed_run_resumes_to_identical_weights (kill
at any point, resume to bit-identical weights); the train test here kills it while a checkpoint is
being written, the most delicate moment.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from egvsr.events import EventStream
from egvsr.events.io import read_events, write_events
from egvsr.fsutil import TEMP_MARK
from tests._reliability import cli, cli_env
from tests.conftest import random_stream_arrays

pytestmark = pytest.mark.slow
START_TIMEOUT = 120.0


def _partials(folder: Path) -> list[Path]:
    """Temporary outputs, including OpenCV's `.NAME...egvsr-partial.mp4`."""
    return [p for p in folder.iterdir() if TEMP_MARK in p.name] if folder.is_dir() else []


def _holds_data(p: Path, min_bytes: int) -> bool:
    try:
        return any(p.iterdir()) if p.is_dir() else p.stat().st_size >= min_bytes
    except OSError:  # renamed into place or removed meanwhile
        return False


def kill_when(args: list[str], ready, sig: int = signal.SIGKILL) -> str:
    """Run `egvsr ARGS` and send it `sig` (SIGKILL) as soon as `ready()` is true (polled every 2 ms);
    return its stderr."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would stall the child
        # the signal sent is the child's own default (a suite run under `nohup` would pass SIGHUP on ignored)
        proc = subprocess.Popen(cli(*args), env=cli_env(), stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=None if sig == signal.SIGKILL else lambda: signal.signal(sig, signal.SIG_DFL))
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline and proc.poll() is None and not ready():
                time.sleep(0.002)
            if proc.poll() is not None:
                err.seek(0)
                pytest.fail(f"egvsr {args[0]} ended (rc {proc.returncode}) before it could be killed mid-write; "
                            f"give it more work: {err.read().decode(errors='replace')[-2000:]}")
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        text = err.read().decode(errors="replace")
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # unwound like Ctrl-C: exit status 128+N and one line
        assert proc.returncode == 128 + sig, text
    return text


def kill_mid_write(args: list[str], folder: Path, match: str = "", min_bytes: int = 1) -> list[Path]:
    """Run `egvsr ARGS`, SIGKILL it once a temporary output in `folder` (name containing `match`)
    holds data (a file of `min_bytes`, a folder with a file in it); return the temporaries left
    behind (the evidence that the kill landed mid-write)."""
    kill_when(args, lambda: any(match in p.name and _holds_data(p, min_bytes) for p in _partials(folder)))
    left = _partials(folder)
    assert left, "no temporary output was found after the kill"
    return left


def run_ok(args: list[str]) -> None:
    res = subprocess.run(cli(*args), env=cli_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.fixture(scope="module")
def big_recording(tmp_path_factory) -> Path:
    """1.5 M events in our layout: converting or voxelizing it takes long enough to be interrupted."""
    path = tmp_path_factory.mktemp("interrupt") / "big.h5"
    return write_events(path, EventStream(*random_stream_arrays(1_500_000, 64, 48), 64, 48))


def test_convert_killed_keeps_the_previous_output_and_reruns(big_recording, tmp_path):
    out = tmp_path / "out.h5"
    shutil.copyfile(big_recording, out)  # a previous, complete output
    before = out.read_bytes()
    kill_mid_write(["convert", big_recording, out, "--overwrite", "--no-progress"], tmp_path, min_bytes=200_000)
    assert out.read_bytes() == before, "the previous complete output was damaged by the killed run"
    run_ok(["convert", big_recording, out, "--overwrite", "--no-progress"])
    assert len(read_events(out)) == 1_500_000
    assert not _partials(tmp_path), "the re-run left (or did not sweep) a temporary file"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_terminated_convert_cleans_up_like_ctrl_c(big_recording, tmp_path, sig):
    """SIGTERM and SIGHUP unwind like Ctrl-C: one line, no traceback, no temporary file, no output."""
    out = tmp_path / "out.h5"
    err = kill_when(["convert", big_recording, out, "--no-progress"],
                    lambda: any(_holds_data(p, 200_000) for p in _partials(tmp_path)), sig)
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == [f"egvsr: terminated by {signal.Signals(sig).name}; no partial output "
                                        "was left under the final name"]  # once
    assert not out.exists() and not _partials(tmp_path)


def test_terminated_make_sample_says_so_once_and_cleans_up(tmp_path):
    out = tmp_path / "s.h5"
    err = kill_when(["make-sample", out, "--seconds", "20", "--no-progress"],
                    lambda: any(_holds_data(p, 100_000) for p in _partials(tmp_path)), signal.SIGTERM)
    assert err.strip().splitlines() == ["egvsr: terminated by SIGTERM; no partial output was left under the final name"]
    assert not out.exists() and not _partials(tmp_path)


def test_render_video_temporaries_of_a_killed_run_are_swept(tmp_path):
    """OpenCV writes `.NAME...egvsr-partial.mp4`: a killed render's is swept by the next run."""
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=1, seconds=0.2, size=(20, 28), fps=25.0, progress=False)
    ck = save_untrained("egvsr-tiny", tmp_path / "tiny.pt")
    mp4 = tmp_path / "video.mp4"
    args = ["render", rec, ck, "--scale", "3", "--fps-factor", "3", "--mp4", mp4, "--device", "cpu", "--no-progress"]
    left = kill_mid_write(args, tmp_path, match="video.mp4")
    assert any(p.name.endswith(".mp4") for p in left), left
    run_ok(args)
    assert mp4.stat().st_size > 0 and not _partials(tmp_path)


def test_voxelize_killed_leaves_no_output_and_reruns(big_recording, tmp_path):
    from egvsr.events.represent import read_tensors

    out = tmp_path / "vox.h5"
    args = ["voxelize", big_recording, out, "--window-ms", "5", "--bins", "5", "--threads", "1", "--no-progress"]
    kill_mid_write(args, tmp_path, min_bytes=200_000)
    assert not out.exists()
    run_ok(args)
    tensors, t_start, t_end, attrs = read_tensors(out)
    assert tensors.shape == (len(t_start), 5, 48, 64) and len(t_start) == 200
    assert not _partials(tmp_path)


def test_simulate_killed_leaves_no_output_and_reruns(tmp_path):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    yy, xx = np.mgrid[0:48, 0:64]
    for i in range(40):  # a moving grating: the flow upsampler and simulator have work to do
        img = (127 + 120 * np.sin((xx + 3 * i) / 4.0) * np.cos(yy / 5.0)).astype(np.uint8)
        cv2.imwrite(str(frames / f"{i:05d}.png"), img)
    out = tmp_path / "sim.h5"
    args = ["simulate", frames, out, "--fps", "25", "--cp", "0.1", "--no-progress"]
    kill_mid_write(args, tmp_path, min_bytes=20_000)
    assert not out.exists()
    run_ok(args)
    from egvsr.events.io import open_events

    with open_events(out) as src:
        assert src.num_frames == 40 and src.num_events > 0
    assert not _partials(tmp_path)


def test_render_killed_leaves_no_output_and_reruns(tmp_path):
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    from egvsr.events.io import open_events

    rec = make_sample(tmp_path / "clip.h5", seed=1, seconds=0.2, size=(20, 28), fps=25.0, progress=False)
    ck = save_untrained("egvsr-tiny", tmp_path / "tiny.pt")
    png, mp4 = tmp_path / "frames", tmp_path / "video.mp4"
    args = ["render", rec, ck, "--scale", "3", "--fps-factor", "3", "--png", png, "--mp4", mp4,
            "--device", "cpu", "--no-progress"]
    kill_mid_write(args, tmp_path, match="frames")
    assert not png.exists() and not mp4.exists()
    run_ok(args)
    with open_events(rec) as src:
        expected = 3 * (src.num_frames - 1) + 1  # the input frames and 2 times between each pair
    meta = json.loads((png / "render.json").read_text())
    assert meta["frames"] == len(list(png.glob("frame_*.png"))) == expected
    assert mp4.stat().st_size > 0
    assert not _partials(tmp_path)


def test_train_killed_while_checkpointing_resumes_losing_at_most_one_interval(tmp_path):
    from egvsr.engine.checkpoint_file import load_checkpoint
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "tiny.h5", seed=3, seconds=0.3, size=(32, 40), fps=20.0, progress=False)
    every, total = 2, 6  # killed while saving step 4 (step 2 is on disk): resumes from 2 (or 4)
    cfg = {
        "name": "run", "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
        "model": {"name": "egvsr-tiny", "options": {}},
        "data": {"train": {"recordings": [str(rec)], "patch_size": 8, "scale_range": [1, 2], "bins": 8},
                 "val": {}},
        "train": {"iterations": total, "batch_size": 1, "lr": 1e-3, "log_every": 1, "val_every": 1000,
                  "checkpoint_every": every, "keep_checkpoints": 100},
    }
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    ckdir = tmp_path / "exp" / "run" / "checkpoints"
    ckdir.mkdir(parents=True)
    # kill while last.pt is being rewritten after the first checkpoint, i.e. a later state being saved
    # (each save writes step-N.pt first, then last.pt)
    proc_args = ["train", config, "--no-progress"]
    kill_when(proc_args, lambda: (ckdir / f"step-{every:08d}.pt").exists() and (ckdir / "last.pt").exists()
              and any(p.name.startswith(".last.pt.") for p in _partials(ckdir)))
    # every checkpoint under its final name is complete; the one being written is only a temporary
    steps = {p.name: load_checkpoint(p)["step"] for p in ckdir.glob("*.pt")}
    last = steps["last.pt"]
    assert last % every == 0 and 0 < last < total
    logged = [int(r.split(",")[0]) for r in (tmp_path / "exp" / "run" / "logs" / "train.csv").read_text().split()[1:]]
    assert max(logged) - last <= every, f"killed at step {max(logged)} but resumes from {last}"

    run_ok(proc_args)
    assert load_checkpoint(ckdir / "last.pt")["step"] == total
    rows = (tmp_path / "exp" / "run" / "logs" / "train.csv").read_text().split()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, total + 1))  # no step twice, none missing
    # the re-run swept the killed run's temporary last.pt (a step file is swept when written again)
    assert not [p for p in _partials(ckdir) if p.name.startswith(".last.pt.")]


def test_only_dead_writers_leftovers_are_swept(tmp_path):
    """A re-run removes a killed writer's temporary file, never a live writer's or another host's."""
    import os

    from egvsr.fsutil import _host, atomic_output

    dead = 2**22 + 12345  # above the largest pid Linux allows (2**22): never a live process
    host = _host()
    names = {"dead": f".a.h5.{host}-pid{dead}.x1.egvsr-partial",
             "live": f".a.h5.{host}-pid{os.getpid()}.x2.egvsr-partial",
             "other-host": f".a.h5.elsewhere-pid{dead}.x3.egvsr-partial",
             "other-output": f".b.h5.{host}-pid{dead}.x4.egvsr-partial"}
    for name in names.values():
        (tmp_path / name).write_text("half")
    with atomic_output(tmp_path / "a.h5") as tmp:
        tmp.write_text("done")
    left = {p.name for p in _partials(tmp_path)}
    assert names["dead"] not in left
    assert {names["live"], names["other-host"], names["other-output"]} <= left
    assert (tmp_path / "a.h5").read_text() == "done"
