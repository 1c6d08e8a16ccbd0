"""A fuzz of the whole command line: every `egvsr` subcommand, its arguments built from its own argparse
definition (each option's type, choices and nargs), mixing valid values, edge values (0, -1, 1e308, nan,
inf, '', long and unicode strings, missing paths, folders, a device node, the input as the output) and
random omissions, run in process on tiny inputs. The contract of every run:

- the exit status is 0, 1 or 2, never an uncaught exception;
- with status 2, stderr is exactly one line, starting `egvsr: error:`;
- every input file is byte-identical afterwards, and no temporary (`fsutil.TEMP_MARK`) is left behind;
- with status 2, no new file or folder exists.

The suite runs a few derandomized examples per command; `EGVSR_FUZZ_EXAMPLES=N` runs N random examples
per command (a bug hunt). Heavy combinations (long recordings, big sizes that are valid, long training) are
kept out of the drawn values: each command's valid values are tiny.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import random
import shutil
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from egvsr.cli import build_parser, main
from egvsr.fsutil import TEMP_MARK
from tests._reliability import HANG_SECONDS, cli, cli_env, fuzz_settings, watchdog

# ---- the tiny inputs, made once ------------------------------------------------------------------------
LONG_NAME = "n" * 300  # longer than any file system's name limit
LONG_TEXT = "é" * 3000


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    """rec.h5 (make-sample: 3 frames 32x24 with GT), frames/ (2 PNGs), tiny.pt (egvsr-tiny), eval.yaml,
    garbage.bin, empty/ and an official-like trainer dict (official.pth, ours under another key layout)."""
    import cv2
    import torch

    from egvsr.events.simulate import make_sample
    from egvsr.render.model import save_untrained

    root = tmp_path_factory.mktemp("fuzz-inputs")
    make_sample(root / "rec.h5", seed=3, seconds=0.08, size=(24, 32), fps=25.0, gt_per_interval=1, progress=False)
    frames = root / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(frames / f"{i:06d}.png"), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    save_untrained("egvsr-tiny", root / "tiny.pt")
    state = torch.load(root / "tiny.pt", map_location="cpu", weights_only=True)["state_dict"]
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in state.items()}}, root / "official.pth")
    shutil.copy(Path(__file__).resolve().parents[2] / "configs" / "eval" / "ours.yaml", root / "eval.yaml")
    (root / "garbage.bin").write_bytes(b"\x00\xffnot a recording\n" * 7)
    (root / "empty").mkdir()
    return root


def _train_config(work: Path) -> Path:
    cfg = {
        "name": "fz", "seed": 1, "device": "cpu", "output_root": str(work / "exp"),
        "model": {"name": "egvsr-tiny", "options": {}},
        "data": {"train": {"recordings": [str(work / "in" / "rec.h5")], "num_frames": 3, "patch_size": 8,
                           "scale_range": [1, 2], "bins": 8}, "val": {}},
        "train": {"iterations": 1, "batch_size": 1, "lr": 1e-3, "log_every": 1, "val_every": 1000,
                  "checkpoint_every": 1000, "keep_checkpoints": 1},
    }
    path = work / "in" / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ---- values ----------------------------------------------------------------------------------------------
#: edge values for any number
NUM_EDGE = ["0", "-1", "1e308", "-1e308", "nan", "inf", "-inf", "", "abc", "1e-300", "99999999999999999999", " 1"]
#: per option: valid, cheap values (the tiny inputs stay tiny); an option not listed gets GOOD_NUMBER
GOOD: dict[str, list[str]] = {
    "scale": ["1", "2", "1.5", "4", "0.5"],
    "seconds": ["0.08", "0.04"],
    "fps": ["25", "10", "50"],
    "video_fps": ["25", "10"],
    "gt_per_interval": ["0", "1", "2"],
    "bins": ["1", "5", "8"],
    "window_ms": ["10", "40"],
    "tau_ms": ["1", "5"],
    "max_output_gb": ["16", "0.001"],
    "max_memory_gb": ["16", "0.5"],
    "threads": ["1", "2"],
    "seed": ["0", "1"],
    "chunk_size": ["4096", "65536", "1000"],
    "tile": ["0", "8", "16"],
    "context": ["0", "4", "16"],
    "fps_factor": ["1", "2", "3"],
    "first_frame": ["0", "1", "2"],
    "last_frame": ["0", "1", "2"],
    "limit": ["1", "2"],
    "window_size": ["0", "2", "4"],
    "max_subframes": ["0", "1", "2"],
    "roi": ["0", "1", "8", "12", "16"],
    "fallback_minutes": ["0.001"],
    "cp": ["0.2", "0.1", "0.5"],
    "cn_ratio": ["1", "0.1"],
    "sigma": ["0.03", "0"],
    "refractory_us": ["100", "0"],
    "leak_hz": ["0", "0.1"],
    "shot_noise_hz": ["0", "0.1"],
    "device": ["auto", "cpu"],
    "protocol": ["ours", "egvsr", "evtexture", "videoinr"],
    "expect_model": ["egvsr", "egvsr-tiny"],
    "times": ["0", "0.01", "40ms", "40000us", "0.02", "0.06"],
}
GOOD_NUMBER = ["1", "2"]
#: per option: edge values besides NUM_EDGE (numbers) or the generic strings
EDGE: dict[str, list[str]] = {
    "scale": ["1000000", "1e-9"],
    "seconds": ["1e-9"],
    "fps": ["1e-9", "1e308"],
    "video_fps": ["1e-9"],
    "gt_per_interval": ["1000"],
    "bins": ["1000"],
    "window_ms": ["1e-9"],
    "tau_ms": ["1e-9"],
    "max_output_gb": ["1e-9"],
    "max_memory_gb": ["1e-9"],
    "threads": ["0", "1000"],
    "seed": ["-1", "99999999999999999999", "4294967296"],
    "chunk_size": ["64"],
    "tile": ["100000", "1"],
    "context": ["100000"],
    "fps_factor": ["99999999"],
    "first_frame": ["5", "-2"],
    "last_frame": ["5", "-2"],
    "window_size": ["1", "100000"],
    "roi": ["24", "32", "100000"],
    "device": ["cuda", "cuda:0", "cuda:99", "mps", "cpu:0", "bogus", "cuda:-1", "cuda:x", "meta", "CPU"],
    "protocol": ["bogus", "OURS"],
    "expect_model": ["videoinr", "bicubic", "bogus", "EGVSR"],
    "times": ["0.08", "1e308", "1e-300", "-0", "40 ms", "1ks", "nan", "-1", "inf", "0.5", "1e-7"],
}
SIZES = ["24x32", "12x16"]
SIZE_EDGE = ["1x1", "0x5", "-1x2", "1e308x2", "100000x100000", "abc", "24X32", "24x32x1", "x", "", "3x99999999"]
STRINGS = ["", "x", LONG_TEXT, "é€😀", "-", "--", "\n", "a\x00b"]
TRAIN_GOOD = ["train.iterations=2", "train.batch_size=1", "seed=2", "train.lr=0.01", "data.train.patch_size=4"]
TRAIN_SETS = [
    "train.iterations=0", "train.iterations=-1", "train.iterations=1e308",
    "train.iterations=.nan", "train.iterations=true", "train.lr=.nan", "train.lr=-1", "train.lr=1e308",
    "train.batch_size=0", "seed=abc", "seed=-1", "model.name=bogus", "model.name=",
    "data.train.patch_size=0", "data.train.patch_size=100000", "=", "noequals",
    "device=cuda:99", "device=bogus", "output_root=", "name=", "name=../x", "name=a/b", "train.log_every=0",
    "data.train.recordings=[]", "data.train.recordings=[missing.h5]", "bogus.key=1", "train=1", "train.lr=[1]",
    "data.train.scale_range=[2,1]", "data.train.scale_range=[0,1]", "data.train.num_frames=1",
    "data.train.num_frames=100", "train.grad_clip=-1", "train.ema_decay=2", "data.train.bins=0",
    "train.iterations=2.5", "model.options.bogus=1", "train.val_every=1", "data.val.recordings=[missing.h5]",
    LONG_TEXT + "=1", "seed=" + LONG_TEXT, "é=1", "name=" + LONG_NAME, "output_root=/dev/null",
    "data.train.recordings=[/dev/null]",
]
IMPORT_GOOD = ["tf_half_width=0.0125"]
IMPORT_SETS = ["tf_half_width=nan", "tf_half_width=-1", "bogus=1", "=1", "noequals",
               "n_feats=8", "tf_half_width=", "tf_half_width=[1]", "é=1", "tf_half_width=1e308"]
#: option dests that name outputs (files, or folders: eval --output, demo --output, render --png)
OUTPUT_DESTS = {"output", "out", "png", "mp4", "side_by_side"}
INPUT_DESTS = {"input", "file", "source", "config", "checkpoint", "data", "events"}


class Paths:
    """The path values of one example, inside its work folder `work` (inputs copied to work/in): per
    argument the valid ones (`good`) and the rest (`bad`)."""

    def __init__(self, work: Path):
        self.work = work
        i, o = work / "in", work / "out"
        rec, frames, ckpt = str(i / "rec.h5"), str(i / "frames"), str(i / "tiny.pt")
        missing = work / "missing"
        common = ["", LONG_NAME, "a/" * 2100 + "x", "é€😀", str(missing), str(i / "empty"), "/dev/null", ".",
                  str(work / "link.h5"), str(work / "hard.h5"), str(i / "garbage.bin"), rec + "/", str(work / "node"),
                  str(work / "fifo"), str(work / "loop"), str(work / "dangling"), str(i / "we\nird.h5"),
                  str(i / "%s%d{0}.h5"), str(i / "frames" / "%06d.png"), "-x.h5"]
        self.good_inputs = {
            "input": [rec, "./in/rec.h5", frames], "file": [rec, frames, "in/rec.h5"],
            "source": [str(i / "official.pth")], "config": [str(i / "train.yaml"), str(i / "eval.yaml")],
            "checkpoint": [ckpt, "./in/tiny.pt"], "data": [rec], "events": [rec],
        }
        self.bad_inputs = {
            "input": [ckpt, *common], "file": [ckpt, *common], "source": [ckpt, rec, *common],
            "config": [rec, *common], "checkpoint": [str(i / "official.pth"), rec, *common],
            "data": [frames, "sample:-1", "sample:abc", "sample:", ckpt, *common], "events": [ckpt, *common],
        }
        self.good_outputs = {
            "output": [str(o / "new.h5"), "rel.h5", str(o / "é€😀.h5"), str(o / "deep/er/x.h5"), str(o / "new.pt")],
            "out": [str(o / f"new{e}") for e in (".png", ".svg", ".pdf", ".jpg")],
            "png": [str(o / "pngs"), "relpngs"], "mp4": [str(o / "v.mp4")], "side_by_side": [str(o / "sbs.mp4")],
        }
        ext = [".h5", ".png", ".pt", ".mp4", ".svg", ".pdf", ".jpg", ".txt", ""]
        self.bad_outputs = [
            *(str(o / f"new{e}") for e in ext), str(o / "existing.h5"),
            str(o), str(o) + "/", str(o / "new.h5") + "/", "./in/rec.h5", rec, frames, ckpt,
            str(work / "link.h5"), str(work / "hard.h5"), str(i / "frames" / "x.h5"), str(i / "frames" / "x"),
            str(i / "empty"), str(i / "empty" / "x.h5"), str(work / "node"), "", ".", "..", LONG_NAME,
            str(o / LONG_NAME), str(o / ("a/" * 2100 + "x")), "in", "in/new.h5", str(o / "existing.h5" / "x"),
            str(work / "fifo"), str(work / "loop"), str(work / "dangling"), str(o / "new\nline.h5"),
            str(o / "%s%d{0}.h5"), str(i / "we\nird.h5"), "-x.h5", str(o / "new.h5") + "\x00",
        ]


def _prepare(originals: Path, work: Path) -> Paths:
    shutil.copytree(originals, work / "in", symlinks=True)
    (work / "out").mkdir()
    (work / "out" / "existing.h5").write_bytes(b"a file the user has")
    os.symlink(work / "in" / "rec.h5", work / "link.h5")
    os.link(work / "in" / "rec.h5", work / "hard.h5")
    with contextlib.suppress(OSError):  # a null device of our own (root only): never the system's /dev/null
        os.mknod(work / "node", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(work / "fifo")
    os.symlink("loop", work / "loop")
    os.symlink("missing", work / "dangling")
    shutil.copy(work / "in" / "rec.h5", work / "in" / "we\nird.h5")
    shutil.copy(work / "in" / "rec.h5", work / "in" / "%s%d{0}.h5")
    _train_config(work)
    return Paths(work)


def _pools(action: argparse.Action, command: str, paths: Paths) -> tuple[list[str], st.SearchStrategy[str]]:
    """(the valid values of `action`, a strategy of its bad and edge values)."""
    dest = action.dest
    if action.choices:
        return list(action.choices), st.sampled_from(["bogus", "", LONG_TEXT])
    if dest in OUTPUT_DESTS:
        return paths.good_outputs[dest], st.sampled_from(paths.bad_outputs)
    if dest in INPUT_DESTS:
        good = paths.good_inputs[dest]
        if command == "train":
            good = good[:1]
        return good, st.sampled_from(paths.bad_inputs[dest] + [g for g in paths.good_inputs[dest] if g not in good])
    if dest == "overrides":
        return TRAIN_GOOD, st.sampled_from(TRAIN_SETS)
    if dest == "options":
        return IMPORT_GOOD, st.sampled_from(IMPORT_SETS)
    if getattr(action.type, "__name__", "") == "_size":
        return SIZES, st.sampled_from(SIZE_EDGE)
    if dest in GOOD and action.type is None:  # strings: device, protocol, model, times
        return GOOD[dest], st.one_of(st.sampled_from(EDGE.get(dest, []) + STRINGS), st.text(max_size=6))
    return GOOD.get(dest, GOOD_NUMBER), st.one_of(
        st.sampled_from(EDGE.get(dest, []) + NUM_EDGE), st.integers(-2, 4).map(str),
        st.floats(allow_nan=True).map(repr))


def _nargs(action: argparse.Action) -> tuple[int, int]:
    n = action.nargs
    if isinstance(n, int):
        return n, n
    return {None: (1, 1), "?": (0, 1), "+": (1, 3), "*": (0, 3)}.get(n, (1, 1))


#: options never drawn (help, version) and, per command, options always given (their defaults are heavy:
#: a 2 s 260x346 sample for make-sample)
NEVER = {"help", "version"}
ALWAYS = {"make-sample": {"size", "seconds"}, "demo": {"seconds", "checkpoint"}}


@st.composite
def command_lines(draw, command: str, paths: Paths) -> list[str]:
    """A command line of `command`: in "mostly valid" examples each value is valid with probability 0.97 or 0.9,
    at most one option of a mutually exclusive group is given and positionals come first; in the others
    values are valid with probability 1/2 or 1/3. Options are given or left out at random, positionals rarely
    left out."""
    parser = build_parser()
    sub = parser.get_default("commands")[command]
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))  # uniform odds (hypothesis' own favour the edges)
    odds = rnd.choice([0.97, 0.9, 0.5, 1 / 3])
    mostly_valid = odds > 0.5

    def value(action: argparse.Action) -> str:
        good, bad = _pools(action, command, paths)
        if command == "demo" and action.dest == "seconds":  # a valid demo renders x4 and x6.5 at 260x346
            return rnd.choice([v for v in NUM_EDGE if v != " 1"] + ["1e-9"])
        return rnd.choice(good) if rnd.random() < odds else draw(bad)

    positionals: list[str] = []
    options: list[list[str]] = []
    taken: set[int] = set()  # mutually exclusive groups with a member given
    groups = {id(a): id(g) for g in sub._mutually_exclusive_groups for a in g._group_actions}
    for action in sub._actions:
        if action.dest in NEVER:
            continue
        always = action.dest in ALWAYS.get(command, ())
        if not action.option_strings:  # positional: given (rarely left out)
            lo, hi = _nargs(action)
            if not always and rnd.random() < 0.03:
                continue
            count = rnd.randint(max(lo, 1) if action.required or lo else 0, hi)
            positionals += [value(action) for _ in range(count)]
            continue
        group = groups.get(id(action))
        if mostly_valid and group is not None and group in taken:
            continue
        if not always and not action.required and rnd.random() < 0.5:
            continue
        if not always and action.required and rnd.random() < (0.02 if mostly_valid else 0.2):
            continue
        taken.add(group)
        flag = rnd.choice(action.option_strings)
        if action.nargs == 0:
            options.append([flag])
            continue
        lo, hi = _nargs(action)
        repeated = isinstance(action, (argparse._AppendAction, argparse._ExtendAction))
        for _ in range(rnd.randint(1, 2) if repeated else 1):
            values = [value(action) for _ in range(rnd.randint(lo, hi))]
            if values and values[0].startswith("-") and rnd.random() < 0.5:
                options.append([f"{flag}={values[0]}", *values[1:]])
            else:
                options.append([flag, *values])
    rnd.shuffle(options)
    args = [v for o in options for v in o]
    args = positionals + args if mostly_valid else args + positionals
    extra = rnd.choice([[]] * 12 + [["--bogus"], ["extra"], ["--"], ["-h"]])
    return [command, *args, *extra]


# ---- the contract ------------------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    """Every regular file under `folder` (links not followed) with its digest."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                out[str(p)] = _digest(p)
    return out


def _entries(folder: Path) -> set[str]:
    seen = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        seen.update(str(Path(dirpath, n)) for n in (*dirnames, *filenames))
    return seen


def _temporaries(folder: Path) -> list[str]:
    left = [p for p in _entries(folder) if TEMP_MARK in Path(p).name]
    tmp = Path(tempfile.gettempdir())
    mine = f"-pid{os.getpid()}."
    left += [str(tmp / n) for n in os.listdir(tmp) if TEMP_MARK in n and mine in n]
    return left


#: the last-resort errors of the runs so far (`egvsr.process.run_console` turns them into one line)
LAST_RESORT: list[tuple[list[str], BaseException]] = []


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`egvsr ARGV` in process: (status, stdout, stderr). An OSError, MemoryError or UnicodeError is what the
    console entry (`run_console`) reports as one line, exit status 2, so it is turned into that line here;
    any other exception propagates."""
    import torch

    from egvsr.process import last_resort_message, one_line

    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse: --help (0) or a usage mistake (2)
                rc = exc.code
            except (OSError, MemoryError, UnicodeError) as exc:
                LAST_RESORT.append((argv, exc))
                print(f"egvsr: error: {one_line(last_resort_message(exc))}", file=err)
                rc = 2
    finally:
        torch.set_num_threads(threads)
    return rc, out.getvalue(), err.getvalue()


def run_process(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """`python -m egvsr ARGV` as its own process: what a user sees, C libraries' own stderr included."""
    done = subprocess.run(cli(*argv), cwd=cwd, env=cli_env(), capture_output=True, timeout=HANG_SECONDS)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def check_contract(argv: list[str], work: Path, cwd: Path, process: bool = False) -> tuple[int, str, str]:
    """Run `argv` with `cwd` as the current folder (in process, or as its own `process`) and assert the
    contract (see the module doc)."""
    inputs = _files(work / "in")
    inputs[str(work / "out" / "existing.h5")] = _digest(work / "out" / "existing.h5")
    before = _entries(work)
    if process:
        rc, out, err = run_process(argv, cwd)
    else:
        old = os.getcwd()
        os.chdir(cwd)
        try:
            rc, out, err = run_cli(argv)
        finally:
            os.chdir(old)
    shown = f"egvsr {' '.join(map(repr, argv))} -> {rc}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert rc in (0, 1, 2), shown
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("egvsr: error: "), shown
    overwrite = "--overwrite" in argv
    for name, digest in inputs.items():
        if name.endswith("existing.h5") and overwrite and rc == 0:
            continue
        assert os.path.isfile(name) and _digest(Path(name)) == digest, f"{name} changed or removed: {shown}"
    assert not _temporaries(work), f"temporaries left: {_temporaries(work)}: {shown}"
    if rc == 2:
        new = sorted(_entries(work) - before)
        assert not new, f"new files after a refusal: {new[:5]}: {shown}"
    return rc, out, err


COMMANDS = sorted(build_parser().get_default("commands"))


@pytest.fixture
def workspace(originals, tmp_path_factory):
    """A factory of fresh work folders (one per example), each removed after its example."""
    made: list[Path] = []

    def fresh() -> Paths:
        base = tmp_path_factory.mktemp("fuzz")
        work = base / "work"
        work.mkdir()
        made.append(base)
        return _prepare(originals, work)

    yield fresh
    for base in made:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_line_keeps_the_contract(command, workspace, originals):
    """Random command lines of `command`: status 0/1/2, one error line, inputs intact, no temporaries,
    nothing new after a refusal."""

    @fuzz_settings(examples=4, deadline_s=120)
    @given(data=st.data())
    def run(data):
        paths = workspace()
        try:
            argv = data.draw(command_lines(command, paths), label="argv")
            with watchdog():
                check_contract(argv, paths.work, paths.work)
        finally:
            shutil.rmtree(paths.work.parent, ignore_errors=True)

    run()


@pytest.mark.parametrize("command", ["simulate", "render", "show"])
def test_command_lines_run_as_a_process_keep_the_contract(command, workspace):
    """A few command lines as their own process: stderr there includes what C libraries (OpenCV, HDF5,
    numba) write to it directly, which an in-process run does not see."""

    @fuzz_settings(examples=1, deadline_s=HANG_SECONDS)
    @given(data=st.data())
    def run(data):
        paths = workspace()
        try:
            argv = data.draw(command_lines(command, paths), label="argv")
            assume(not any("\x00" in a for a in argv))  # no such argument reaches a process
            check_contract(argv, paths.work, paths.work, process=True)
        finally:
            shutil.rmtree(paths.work.parent, ignore_errors=True)

    run()


# ---- what the fuzz found, one focused case each ------------------------------------------------------------
def _work(originals: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    _prepare(originals, work)
    return work


def test_train_refused_for_a_name_too_long_leaves_no_output_root(originals, tmp_path):
    """A `name` longer than a file name is refused naming it when the config loads; a level of output_root
    longer than the file system allows fails at the lock, after output_root was made: the run removes the
    levels of output_root it made, as for any run that fails before its first checkpoint."""
    work = _work(originals, tmp_path)
    rc, _, err = check_contract(["train", str(work / "in" / "train.yaml"), "--no-progress", "--set",
                                 "name=" + LONG_NAME], work, work)
    assert rc == 2 and "name: " in err and "300 bytes long; expected at most 255" in err, err
    rc, _, err = check_contract(["train", str(work / "in" / "train.yaml"), "--no-progress", "--set",
                                 f"output_root={work / 'exp' / LONG_NAME}"], work, work)
    assert rc == 2 and "lock file" in err, err
    assert not (work / "exp").exists()


@pytest.mark.parametrize("flag", ["--png", "--mp4", "--side-by-side"])
def test_render_output_at_a_link_loop_is_refused_as_a_link(originals, tmp_path, flag):
    """A render output named by a link that leads to itself: one line refusing the link (it was a
    RuntimeError traceback from resolving the path to compare the outputs)."""
    work = _work(originals, tmp_path)
    argv = ["render", str(work / "in" / "rec.h5"), str(work / "in" / "tiny.pt"), "--scale", "2",
            "--no-progress", flag, str(work / "loop")]
    rc, _, err = check_contract(argv, work, work)
    assert rc == 2 and "symbolic link" in err, err


@pytest.mark.parametrize("argv", [
    ["convert", "{in}/rec.h5", "{out}/new.h5\0"],
    ["info", "{in}/rec\0.h5"],
    ["render", "{in}/rec.h5", "{in}/tiny.pt", "--scale", "2", "--png", "{out}/p\0"],
    ["show", "{in}/rec.h5", "--out", "{out}/x\0.png"],
    ["train", "{in}/train\0.yaml"],
    ["demo", "--output", "{out}/d\0", "--checkpoint", "{in}/tiny.pt"],
], ids=lambda a: a[0])
def test_a_path_argument_holding_a_nul_byte_is_a_usage_error(originals, tmp_path, argv):
    """`main(argv)` called from Python can pass a NUL byte, which no file name holds: one usage line naming
    the argument (it was a ValueError traceback, "embedded null byte", from the first look at the path)."""
    work = _work(originals, tmp_path)
    argv = [a.format(**{"in": work / "in", "out": work / "out"}) for a in argv]
    rc, _, err = check_contract(argv, work, work)
    assert rc == 2 and "NUL byte" in err, err


def test_import_checkpoint_from_a_fifo_is_refused_without_waiting(originals, tmp_path):
    """`import-checkpoint FIFO OUT`: one line saying what the source is; it waited forever for a writer
    (the advice for a refused file read the FIFO's first bytes before the source was checked). Run as a
    process, so that a wait ends in its timeout instead of holding the test run."""
    work = _work(originals, tmp_path)
    rc, _, err = check_contract(["import-checkpoint", str(work / "fifo"), str(work / "out" / "x.pt")], work, work,
                                process=True)
    assert rc == 2 and "FIFO" in err, err
