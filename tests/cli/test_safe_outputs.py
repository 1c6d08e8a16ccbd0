"""Nothing a user owns is lost (issue 16): outputs that would destroy an input, a folder the command did
not write, a link, a device, FIFO or socket are refused, and every such failure is one line.

Each refusal runs the CLI in process and asserts: exit status 2, one `egvsr: error:` line holding the
expected fragment, no traceback, and every file that existed before is byte-identical afterwards (links,
FIFOs and sockets too). The rules are described in egvsr/fsutil.py and docs/io.md.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

from egvsr.cli import main
from egvsr.errors import ConfigError, OutputError
from egvsr.fsutil import MARKER, TEMP_MARK, atomic_directory, atomic_output, remove_stale_partials
from tests._reliability import cli_env

DEAD_PID = 2**22 + 12345  # above the largest pid Linux allows: never a live process


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("safe-outputs")
    rec = make_sample(d / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False)
    return {"rec": rec, "ck": save_untrained("egvsr-tiny", d / "ck.pt")}


@pytest.fixture
def work(files, tmp_path, monkeypatch) -> Path:
    """A folder of the user's: a recording, a checkpoint and a note; the test runs inside it."""
    for name in ("rec", "ck"):
        (tmp_path / files[name].name).write_bytes(files[name].read_bytes())
    (tmp_path / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, object]:
    """Everything under `root`: file bytes, link targets, and the kind of anything else."""
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        mode = p.lstat().st_mode
        if stat.S_ISLNK(mode):
            out[rel] = ("link", os.readlink(p))
        elif stat.S_ISREG(mode):
            out[rel] = p.read_bytes()
        else:
            out[rel] = stat.S_IFMT(mode)
    return out


def refused(root: Path, capsys, expect: str, *argv: str, status: int = 2) -> str:
    """Run `egvsr ARGV`: it must fail with one error line holding `expect`, touching nothing in `root`."""
    before = snapshot(root)
    try:
        rc = main([*argv, *(["--no-progress"] if argv[0] in ("convert", "voxelize", "simulate", "train",
                                                               "render", "demo") else [])])
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == status, f"exit status {rc}: {err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines and "error: " in lines[-1] and expect in lines[-1], f"expected {expect!r} in: {err}"
    assert snapshot(root) == before, "a file that existed before was changed"
    assert not [p for p in root.rglob(f"*{TEMP_MARK}*")], "a temporary output was left behind"
    return lines[-1]


# ---- folder outputs are replaced only when they are the same command's earlier output -------------------
def test_render_png_onto_the_inputs_folder(work, capsys):
    refused(work, capsys, "output folder holds the input", "render", "rec.h5", "ck.pt", "--scale", "1",
            "--png", ".", "--overwrite")
    (work / "d").mkdir()
    for name in ("rec.h5", "ck.pt"):
        os.link(work / name, work / "d" / name)
    refused(work, capsys, "output folder holds the input", "render", "d/rec.h5", "d/ck.pt", "--scale", "1",
            "--png", "d", "--overwrite")


def test_folder_without_marker_is_kept(work, capsys):
    (work / "frames").mkdir()
    (work / "frames" / "holiday.jpg").write_bytes(b"precious")
    refused(work, capsys, "--overwrite replaces only a folder written by `egvsr render --png`", "render",
            "rec.h5", "ck.pt", "--scale", "1", "--png", "frames", "--overwrite")


def test_demo_never_replaces_the_current_folder_or_a_parent(work, capsys, monkeypatch):
    refused(work, capsys, "is the current folder or one of its parents", "demo", "--output", ".",
            "--overwrite")
    (work / "sub").mkdir()
    monkeypatch.chdir(work / "sub")
    refused(work, capsys, "is the current folder or one of its parents", "demo", "--output", "..",
            "--overwrite")


def test_marked_folder_is_replaced_and_siblings_kept(work, capsys):
    out = work / "frames"
    argv = ["render", "rec.h5", "ck.pt", "--scale", "1", "--png", "frames", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    assert (out / MARKER).read_text().splitlines()[0] == "egvsr render --png"
    assert "frame_000000.png" in (out / MARKER).read_text().splitlines()
    (out / "frame_000000.png").write_bytes(b"stale")
    before = {k: v for k, v in snapshot(work).items() if not k.startswith("frames")}
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "frame_000000.png").read_bytes() != b"stale"
    assert {k: v for k, v in snapshot(work).items() if not k.startswith("frames")} == before
    # the marker of another command does not count
    (out / MARKER).write_text("egvsr demo\n")
    capsys.readouterr()
    refused(work, capsys, "written by `egvsr render --png`", *argv, "--overwrite")


def test_files_the_command_did_not_write_keep_a_marked_folder(work, capsys):
    out = work / "frames"
    argv = ["render", "rec.h5", "ck.pt", "--scale", "1", "--png", "frames", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    (out / "notes.txt").write_text("mine\n")
    refused(work, capsys, "holds notes.txt, which `egvsr render --png` did not write", *argv, "--overwrite")
    (out / "notes.txt").unlink()
    (out / "sub").mkdir()
    refused(work, capsys, "holds sub, which", *argv, "--overwrite")
    (out / "sub").rmdir()
    assert main([*argv, "--overwrite"]) == 0
    # a marker of an older version, which named the command but not its files
    (out / MARKER).write_text("egvsr render --png\n")
    refused(work, capsys, "of an older egvsr that did not record its files", *argv, "--overwrite")


def test_outputs_inside_other_outputs_are_refused_before_writing(work, capsys):
    base = ["render", "rec.h5", "ck.pt", "--scale", "1", "--device", "cpu"]
    refused(work, capsys, "lies inside the output folder frames", *base, "--png", "frames", "--mp4",
            "frames/x.mp4")
    refused(work, capsys, "lies inside the output folder frames", *base, "--png", "frames", "--side-by-side",
            "frames/sub/x.mp4", "--overwrite")


def test_existing_files_inside_an_input_folder_are_never_replaced(work, capsys):
    import cv2
    import numpy as np

    (work / "frames").mkdir()
    for i in range(3):
        cv2.imwrite(str(work / "frames" / f"{i:03d}.png"), np.full((8, 8), 40 * i, np.uint8))
    refused(work, capsys, "already exists inside the input folder frames", "simulate", "frames", "frames/002.png",
            "--fps", "25", "--overwrite")
    refused(work, capsys, "already exists inside the input folder frames", "show", "frames", "--out",
            "frames/001.png", "--overwrite")
    # a new file beside the frames is fine
    assert main(["simulate", "frames", "frames/events.h5", "--fps", "25", "--interpolation", "none",
                 "--no-progress"]) == 0


@pytest.mark.parametrize("name", ["results.md", "results.csv", "psnr_vs_scale.png"])
def test_eval_never_writes_its_results_over_an_input(work, capsys, name):
    (work / "out").mkdir()
    os.replace(work / "rec.h5", work / "out" / name)
    refused(work, capsys, "output is the input file", "eval", "ck.pt", "--data", f"out/{name}", "--scales", "2",
            "--limit", "1", "--no-bicubic", "--output", "out", "--overwrite")
    os.replace(work / "out" / name, work / "rec.h5")
    os.replace(work / "ck.pt", work / "out" / name)
    refused(work, capsys, "output is the input file", "eval", f"out/{name}", "--data", "rec.h5", "--scales", "2",
            "--limit", "1", "--no-bicubic", "--output", "out", "--overwrite")


# ---- an output that is one of the inputs ------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ("show", "rec.h5", "--out", "rec.h5", "--overwrite"),
    ("show", "rec.h5", "--out", "./same.h5", "--overwrite"),  # a hard link: the same inode
    ("voxelize", "rec.h5", "same.h5", "--window-ms", "10", "--overwrite"),
    ("convert", "rec.h5", "same.h5", "--overwrite"),
    ("render", "rec.h5", "ck.pt", "--scale", "2", "--png", "rec.h5", "--overwrite"),
    ("render", "rec.h5", "ck.pt", "--scale", "2", "--mp4", "ck.pt", "--overwrite"),
], ids=["show", "show-hard-link", "voxelize-hard-link", "convert-hard-link", "render-png", "render-mp4"])
def test_output_that_is_an_input(work, capsys, argv):
    os.link(work / "rec.h5", work / "same.h5")
    expect = "output folder is the input" if "--png" in argv else "output is the input file"
    refused(work, capsys, expect, *argv)


def test_simulate_output_is_its_input_folder(work, capsys):
    (work / "frames").mkdir()
    (work / "frames" / "000.png").write_bytes(b"x")
    refused(work, capsys, "output is the input folder frames", "simulate", "frames", "frames", "--fps", "25",
            "--overwrite")


# ---- links, devices, FIFOs, sockets ----------------------------------------------------------------------
def test_special_outputs_are_refused(work, capsys):
    os.mkfifo(work / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(work / "sock"))
    try:
        for name in ("fifo", "sock"):
            refused(work, capsys, "is not a regular file (a device, FIFO or socket)", "convert", "rec.h5",
                    name, "--overwrite")
    finally:
        sock.close()


def test_symbolic_links_are_refused(work, capsys):
    (work / "real").mkdir()
    os.symlink("real", work / "to-folder")
    os.symlink("notes.txt", work / "to-file.h5")
    os.symlink("nowhere.h5", work / "dangling.h5")
    msg = "output is a symbolic link; egvsr neither writes through nor replaces links"
    refused(work, capsys, msg, "render", "rec.h5", "ck.pt", "--scale", "2", "--png", "to-folder", "--overwrite")
    refused(work, capsys, msg, "convert", "rec.h5", "to-file.h5", "--overwrite")
    refused(work, capsys, msg, "convert", "rec.h5", "dangling.h5")


# ---- every failure is one line ----------------------------------------------------------------------------
def test_unknown_device_is_one_line(work, capsys):
    refused(work, capsys, "device 'tpu': expected auto, cpu, cuda, cuda:N or mps", "render", "rec.h5", "ck.pt",
            "--scale", "2", "--png", "out", "--device", "tpu")
    refused(work, capsys, "device 'tpu': expected auto, cpu, cuda", "eval", "ck.pt", "--data", "rec.h5",
            "--device", "tpu")
    cfg = {"name": "x", "device": "tpu", "output_root": str(work / "exp"), "model": {"name": "egvsr-tiny"},
           "data": {"train": {"recordings": ["rec.h5"], "patch_size": 12, "bins": 8}, "val": {}},
           "train": {"iterations": 1, "batch_size": 1}}
    (work / "tpu.yaml").write_text(yaml.safe_dump(cfg))
    refused(work, capsys, "device 'tpu'", "train", "tpu.yaml")


def test_eval_output_naming_a_file(work, capsys):
    refused(work, capsys, "--output notes.txt: notes.txt is a file, expected a folder for the results",
            "eval", "ck.pt", "--data", "rec.h5", "--scales", "2", "--output", "notes.txt")


def test_output_in_an_unwritable_place(work, capsys, monkeypatch):
    if Path("/proc/version").is_file():
        refused(work, capsys, "/proc/version: cannot create the output in /proc", "convert", "rec.h5",
                "/proc/version", "--overwrite")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    monkeypatch.setattr("tempfile.mkdtemp", read_only)
    refused(work, capsys, f"out.h5: cannot create the output in {os.getcwd()} (the file system is read-only)", "convert",
            "rec.h5", "out.h5")
    refused(work, capsys, "(the file system is read-only)", "render", "rec.h5", "ck.pt", "--scale", "2",
            "--png", "frames", "--device", "cpu")


def test_long_names(work, capsys):
    name = "a" * 250 + ".h5"  # fits 255 bytes, its temporary name would not: shortened with a hash
    with atomic_output(work / name) as tmp:
        assert len(tmp.name.encode()) <= 255
        tmp.write_bytes(b"x")
    assert (work / name).read_bytes() == b"x"
    with atomic_directory(work / ("b" * 250)) as tmp:
        assert len(tmp.name.encode()) <= 255
    refused(work, capsys, "the file name is 303 bytes, longer than the file system's limit of 255", "convert",
            "rec.h5", "c" * 300 + ".h5")


def test_simulate_on_one_pixel_frames(work, capsys):
    import cv2
    import numpy as np

    (work / "px").mkdir()
    for i in range(3):
        cv2.imwrite(str(work / "px" / f"{i:03d}.png"), np.full((1, 1), 40 * i, np.uint8))
    refused(work, capsys, "frames of 1x1 pixels are too small for --interpolation flow (it needs at least 2x2)",
            "simulate", "px", "s.h5", "--fps", "25")
    assert main(["simulate", "px", "s.h5", "--fps", "25", "--interpolation", "none", "--no-progress"]) == 0


# ---- umask, temporary names ------------------------------------------------------------------------------
def test_outputs_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "f.bin") as tmp:
            tmp.write_bytes(b"x")
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "a").write_text("a")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_stale_video_temporaries_are_swept(tmp_path):
    """OpenCV's temporary (`.NAME...egvsr-partial.mp4`) of a killed render is swept like the others."""
    from egvsr.fsutil import _host

    stale = tmp_path / f".v.mp4.{_host()}-pid{DEAD_PID}.x1{TEMP_MARK}.mp4"
    stale.write_bytes(b"half")
    assert remove_stale_partials(tmp_path / "v.mp4") == [stale]


# ---- train: one run per experiment, no diverged checkpoint ----------------------------------------------
def _train_config(work: Path, **train) -> Path:
    cfg = {"name": "run", "seed": 1, "device": "cpu", "output_root": str(work / "exp"),
           "model": {"name": "egvsr-tiny"},
           "data": {"train": {"recordings": [str(work / "rec.h5")], "patch_size": 8, "scale_range": [1, 2],
                              "bins": 8}, "val": {}},
           "train": {"iterations": 1, "batch_size": 1, "checkpoint_every": 1, **train}}
    path = work / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_second_train_run_is_refused_while_the_first_lives(work, capsys):
    from egvsr.engine.experiment import Experiment

    config = _train_config(work)
    with Experiment(work / "exp", "run").lock():
        refused(work, capsys, f"another `egvsr train` (pid {os.getpid()} on", "train", str(config))
    # a dead holder's lock (its file names a pid that is gone, nobody holds the flock) is taken over
    (work / "exp" / "run" / "train.lock").write_text(f"pid {DEAD_PID} on elsewhere\n")
    assert main(["train", str(config), "--no-progress"]) == 0
    assert (work / "exp" / "run" / "checkpoints" / "last.pt").is_file()


def test_lock_is_held_by_a_live_process(work):
    """Another process holding the lock is named; once it ends, the lock is free."""
    code = textwrap.dedent(f"""
        import sys, time
        from egvsr.engine.experiment import Experiment
        with Experiment({str(work / 'exp')!r}, 'run').lock():
            print('locked', flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=cli_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        from egvsr.engine.experiment import Experiment

        with pytest.raises(ConfigError, match=f"pid {proc.pid} on"):
            with Experiment(work / "exp", "run").lock():
                pass
    finally:
        proc.communicate("\n", timeout=60)
    with Experiment(work / "exp", "run").lock():
        pass


def test_diverged_model_never_replaces_a_good_checkpoint(work):
    from egvsr.engine.config import load_config
    from egvsr.engine.distributed import init_distributed
    from egvsr.engine.train import Trainer

    cfg = load_config(_train_config(work))
    trainer = Trainer(cfg, init_distributed("cpu"), progress=False)
    trainer.exp.make()
    trainer._save()
    good = trainer.exp.last.read_bytes()
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    trainer.step = 5
    with pytest.raises(ConfigError, match=r"training diverged by step 5: the model weight .* is no longer "
                                          r"finite, so it was not saved \(.*last.pt keeps step 0\)"):
        trainer._save()
    assert trainer.exp.last.read_bytes() == good
    assert not trainer.exp.step_checkpoint(5).exists()


# ---- the process: signals and a quiet end ----------------------------------------------------------------
def test_no_traceback_for_an_interrupt_after_the_command(tmp_path):
    code = ("import os, signal, time\nfrom egvsr.process import run_console\n"
            "rc = run_console(lambda argv: 0)\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(0.2)\n"
            "print('finished', rc)\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "finished 0", res.stderr
    assert "Traceback" not in res.stderr


TERMINATED = "egvsr: terminated by SIGTERM; no partial output was left under the final name"


def test_sigterm_during_a_command_is_reported_once():
    """The command reports the signal; the check on the way out must not report it again."""
    code = ("import os, signal, sys, time\nimport egvsr.cli as C\nfrom egvsr.process import run_console\n"
            "def slow(a):\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(5)\n"
            "C._run_models = slow\nraise SystemExit(run_console(C.main, ['models']))\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 128 + signal.SIGTERM and res.stderr == TERMINATED + "\n", res.stderr


def test_sigterm_wrapped_by_a_library_is_one_line():
    """numba turns an exception raised in its callbacks (our handler's) into SystemError: still one line."""
    code = ("import os, signal, time\nfrom egvsr.process import run_console\n"
            "def fails(argv):\n    try:\n        os.kill(os.getpid(), signal.SIGTERM)\n        time.sleep(5)\n"
            "    except KeyboardInterrupt as exc:\n"
            "        raise SystemError('returned a result with an exception set') from exc\n"
            "raise SystemExit(run_console(fails))\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 128 + signal.SIGTERM and res.stderr == TERMINATED + "\n", res.stderr


def test_unforeseen_os_error_is_one_line(tmp_path):
    code = ("from egvsr.process import run_console\n"
            "def fails(argv):\n    raise PermissionError(13, 'Permission denied', '/some/file')\n"
            "raise SystemExit(run_console(fails))\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == "egvsr: error: /some/file: Permission denied"


@pytest.mark.parametrize("raise_it", [
    "raise RuntimeError('[enforce fail at alloc_cpu.cpp:118] . DefaultCPUAllocator: can\\'t allocate memory: "
    "you tried to allocate 120000000000 bytes.')",
    "import torch; torch.empty(2**62, dtype=torch.uint8)",
    "raise OSError(\"Can't synchronously write data (memory allocation failed for chunk)\")",
], ids=["torch-message", "torch-allocation", "hdf5-allocation"])
def test_an_allocation_failure_in_a_library_is_one_line(raise_it):
    code = ("from egvsr.process import run_console\n"
            f"def fails(argv):\n    {raise_it}\n"
            "raise SystemExit(run_console(fails))\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == "egvsr: error: out of memory; try a smaller input, size or batch", \
        res.stderr


def test_other_library_errors_are_not_mistaken_for_memory():
    from egvsr.process import is_out_of_memory

    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("can't allocate memory"))  # only the allocators' own types
    assert is_out_of_memory(MemoryError())
    # HDF5's allocation failure reaches us as h5py's OSError: memory, not "file system"
    assert is_out_of_memory(OSError("Can't synchronously write data (memory allocation failed for chunk)"))
    assert not is_out_of_memory(OSError(28, "No space left on device"))


def test_output_error_class_is_an_egvsr_error():
    from egvsr.errors import EgvsrError

    assert issubclass(OutputError, EgvsrError)


def test_a_failed_run_leaves_no_folders_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "a" / "b" / "out.h5") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("failed while writing")
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "c" / "d" / "frames") as tmp:
            (tmp / "x.png").write_bytes(b"half")
            raise RuntimeError("failed while writing")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mine.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "keep" / "new" / "out.h5"):
            raise RuntimeError("failed")
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["mine.txt"]
    with atomic_output(tmp_path / "e" / "out.h5") as tmp:
        tmp.write_bytes(b"ok")
    assert (tmp_path / "e" / "out.h5").read_bytes() == b"ok"


@pytest.mark.parametrize("output", ["frames/results", "frames"])
def test_eval_output_inside_an_input_recording_folder(work, capsys, output):
    import cv2
    import numpy as np

    (work / "frames").mkdir()
    for i in range(3):
        cv2.imwrite(str(work / "frames" / f"{i:03d}.png"), np.full((8, 8), 40 * i, np.uint8))
    refused(work, capsys, f"--output {output}: lies inside the input recording folder frames", "eval", "ck.pt",
            "--data", "frames", "--scales", "2", "--output", output)
    assert sorted(p.name for p in (work / "frames").iterdir()) == ["000.png", "001.png", "002.png"]


@pytest.mark.parametrize("status", [0, 3])
def test_sigterm_after_the_command_ends_with_its_status(status):
    """The outputs are committed: a SIGTERM while the interpreter exits must not turn a finished run into a
    killed one (exit 143), whether it comes while Python handlers still run or during module teardown."""
    code = ("import os, signal, sys, time\nfrom egvsr.process import run_console\n"
            f"rc = run_console(lambda argv: {status})\nprint('returned', rc, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)\nprint('not reached')\n")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout, res.stderr) == (status, f"returned {status}\n", "")
    teardown = ("import os, signal\nfrom egvsr.process import run_console\n"
                "class AtTeardown:\n    def __del__(self):\n        os.kill(os.getpid(), signal.SIGTERM)\n"
                "late = AtTeardown()  # deleted with __main__, after Python's own signal handling has ended\n"
                f"raise SystemExit(run_console(lambda argv: {status}))\n")
    res = subprocess.run([sys.executable, "-c", teardown], env=cli_env(), capture_output=True, text=True,
                         timeout=60)
    assert (res.returncode, res.stderr) == (status, "")


def test_held_signals_defers_an_interrupt_past_the_steps_it_guards():
    from egvsr.process import held_signals

    done = []
    with pytest.raises(KeyboardInterrupt):
        with held_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler would run here without the hold
            done.append("all steps")
    assert done == ["all steps"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- files an input folder reads from elsewhere (links, a list of paths) ----------------------------------
def _frames(folder: Path, count: int = 3) -> None:
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), np.full((8, 8), 40 * i, np.uint8))


def _ced(folder: Path) -> None:
    """A CED folder: two `<ns>.npy` packets of [t_ns, x, y, p]."""
    import numpy as np

    folder.mkdir(parents=True)
    for k, ns in enumerate((47049000, 47099000)):
        np.save(folder / f"{ns}.npy", np.array([[ns + 10.0, 1, 2, k % 2], [ns + 20.0, 3, 4, 1]]))


def test_frames_a_folder_reads_from_elsewhere_are_never_outputs(work, capsys):
    _frames(work / "elsewhere" / "frames")
    (work / "fr3").mkdir()
    os.symlink("../elsewhere/frames", work / "fr3" / "images")
    (work / "fr3" / "timestamps.txt").write_text("0\n0.04\n0.08\n")
    (work / "fr4").mkdir()
    (work / "fr4" / "images.txt").write_text("".join(f"0.0{2 * i} ../elsewhere/frames/frame_00{i}.png\n"
                                                     for i in range(3)))
    (work / "fr5").mkdir()
    (work / "fr5" / "images.txt").write_text("".join(f"0.0{2 * i} {work}/elsewhere/frames/frame_00{i}.png\n"
                                                     for i in range(3)))
    refused(work, capsys, "already exists inside", "simulate", "fr3", "elsewhere/frames/frame_000.png",
            "--overwrite")
    for folder in ("fr4", "fr5"):
        refused(work, capsys, f"frame_001.png, which the input folder {folder} reads", "simulate", folder,
                "elsewhere/frames/frame_001.png", "--overwrite")
    refused(work, capsys, "the input folder fr3 would read a file of this name there", "simulate", "fr3",
            "elsewhere/frames/new.png")
    refused(work, capsys, "which the input folder fr3 links to", "render", "fr3", "ck.pt", "--scale", "1",
            "--png", "elsewhere", "--overwrite")


def test_linked_ced_packets_are_never_outputs(work, capsys):
    _ced(work / "elsewhere" / "pk")
    (work / "ced2").mkdir()
    for packet in (work / "elsewhere" / "pk").iterdir():
        os.symlink(f"../elsewhere/pk/{packet.name}", work / "ced2" / packet.name)
    refused(work, capsys, "output is ced2/47049000.npy, which the input folder ced2 reads", "convert", "ced2",
            "elsewhere/pk/47049000.npy", "--overwrite")


def test_a_new_file_a_ced_folder_would_read_as_its_own_is_refused(work, capsys):
    _ced(work / "ced")
    refused(work, capsys, "ced/999000000.npy: the input folder ced would read a file of this name there",
            "convert", "ced", "ced/999000000.npy")
    refused(work, capsys, "ced/1.png: the input folder ced would read", "show", "ced", "--out", "ced/1.png")
    assert main(["convert", "ced", "ced/events.h5", "--no-progress"]) == 0  # a name it does not read: fine


def test_a_trailing_slash_is_a_folder_not_a_file_output(work, capsys):
    refused(work, capsys, "newdir/: ends in '/', which names a folder, but this output is a file", "convert",
            "rec.h5", "newdir/")


def test_show_previews_a_folder_beside_it_and_checks_that_path(work, capsys, monkeypatch):
    _ced(work / "ced")
    monkeypatch.chdir(work / "ced")
    assert main(["show", "."]) == 0
    assert (work / "ced.preview.png").is_file()
    assert sorted(p.name for p in (work / "ced").iterdir()) == ["47049000.npy", "47099000.npy"]
    (work / "ced.preview.png").unlink()
    os.symlink("ced", work / "ced.preview.png")  # the default path is checked like a given --out
    refused(work, capsys, "ced.preview.png: output is the input folder .", "show", ".", "--overwrite")


def test_dotdot_after_a_missing_folder_creates_no_folder(work, capsys):
    argv = ["render", "rec.h5", "ck.pt", "--scale", "1", "--last-frame", "1", "--device", "cpu", "--no-progress"]
    assert main([*argv, "--png", "D", "--mp4", "D/../x.mp4"]) == 0
    assert (work / "x.mp4").is_file() and (work / "D" / MARKER).is_file()


def test_an_existing_empty_folder_is_used_and_a_file_is_not_a_folder(work, capsys):
    (work / "empty").mkdir()
    argv = ["render", "rec.h5", "ck.pt", "--scale", "1", "--last-frame", "1", "--device", "cpu"]
    assert main([*argv, "--png", "empty", "--no-progress"]) == 0
    assert (work / "empty" / MARKER).is_file()
    refused(work, capsys, "notes.txt: output exists and is not a folder", *argv, "--png", "notes.txt")
    (work / "fr").mkdir()
    refused(work, capsys, "fr: output path is a folder, expected a file path", "convert", "rec.h5", "fr")
