"""The benchmarks' command lines refuse a bad count or size in one argparse line, before any work."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _args  # noqa: E402


@pytest.mark.parametrize("parse, text", [
    (_args.positive_int, "0"), (_args.positive_int, "-3"), (_args.positive_int, "1.5"), (_args.positive_int, "x"),
    (_args.count, "-1"), (_args.positive_float, "0"), (_args.positive_float, "nan"), (_args.positive_float, "inf"),
    (_args.nonnegative_float, "-0.1"), (_args.nonnegative_float, "nan"),
])
def test_bad_values_are_refused(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text).replace(".", r"\.")):
        parse(text)


@pytest.mark.parametrize("parse, text, value", [
    (_args.positive_int, "3", 3), (_args.count, "0", 0), (_args.positive_float, "6.5", 6.5),
    (_args.nonnegative_float, "0", 0.0),
])
def test_good_values_pass(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("script, argument", [("render.py", "--repeats"), ("models.py", "--repeats"),
                                              ("quality.py", "--val-clips")])
def test_a_benchmark_refuses_a_zero_count_in_one_line(script, argument):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), argument, "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"{script}: error: argument {argument}: expected an integer >= 1, got '0'")
    assert "Traceback" not in run.stderr


# ---- each script's own checks, run in this process (fast: torch and egvsr are already imported) ----------

_SCRIPTS: dict[str, object] = {}
_NUMBA_CACHE: list[str] = []


def script(name: str):
    """benchmarks/NAME.py as a module of its own (`benchmark_NAME`: `io` would shadow the standard library),
    imported once; what the import sets in os.environ or sys.path (models.py and threads.py set OpenMP
    variables, every script puts its checkout first) is undone, so the other tests see nothing of it.
    Its numba kernels (`cache=True`) cache into a folder of this process: a kernel compiled in a module
    no other process can import would otherwise leave benchmarks/__pycache__ an entry that every later
    run of the script loads and fails on (`No module named '<dynamic>'`)."""
    import importlib.util
    import os
    from unittest import mock

    import numba

    if name not in _SCRIPTS:
        path = list(sys.path)
        try:
            with mock.patch.dict(os.environ), mock.patch.object(numba.config, "CACHE_DIR", _numba_cache()):
                spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
        finally:
            sys.path[:] = path
        _SCRIPTS[name] = module
    return _SCRIPTS[name]


def _numba_cache() -> str:
    """A numba cache folder of this test process alone, removed when it exits."""
    import atexit
    import shutil
    import tempfile

    if not _NUMBA_CACHE:
        _NUMBA_CACHE.append(tempfile.mkdtemp(prefix="egvsr-benchmark-numba-"))
        atexit.register(shutil.rmtree, _NUMBA_CACHE[0], ignore_errors=True)
    return _NUMBA_CACHE[0]


def refused(capsys, call, *args) -> str:
    """The last stderr line of `call(*args)`, which must end the script with status 2 and no traceback;
    argparse writes its usage line first, a check after parsing (`_args.refuse`) writes its line alone."""
    with pytest.raises(SystemExit) as exit_:
        call(*args)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and not any("Traceback" in line for line in lines)
    assert len(lines) == 1 or lines[0].startswith("usage:")
    return lines[-1]


@pytest.mark.parametrize("name, argv, said", [
    ("direct", ["--before", "/nonexistent", "--commands", "bogus"],
     "argument --before: expected an egvsr checkout (a folder holding egvsr/__init__.py), got '/nonexistent'"),
    ("direct", ["--before", str(BENCHMARKS.parent), "--commands", "simulate,bogus"],
     "argument --commands: expected a comma-separated list of simulate, train, got 'bogus'"),
    ("render", ["--before", "/nonexistent"], "argument --before: expected an egvsr checkout"),
    ("render", ["--frames", "1"], "argument --frames: expected an integer from 2 to 9, got '1'"),
    ("render", ["--frames", "10"], "argument --frames: expected an integer from 2 to 9, got '10'"),
    ("render", ["--models", "nosuch"], "argument --models: expected a comma-separated list of egvsr-small, egvsr"),
    ("render", ["--scale", "0.5"], "argument --scale: expected a scale from 1 to 16, got '0.5'"),
    ("io", ["--dir", "/dev/null/folder"],  # never a folder (a bare /nonexistent may exist: HOME of some jobs)
     "argument --dir: expected an existing folder this user can write in"),
    ("dataloader", ["--device", "foo"], "argument --device: invalid choice: 'foo'"),
    ("quality", ["--scales", "0.5"], "argument --scales: expected a finite scale >= 1"),
    ("quality", ["--val-size", "15", "16"], "argument --val-size: expected an integer from 16 to 4096, got '15'"),
])
def test_a_bad_argument_is_refused_by_the_parser(capsys, name, argv, said):
    assert said in refused(capsys, script(name).parse_args, argv)


def test_good_lists_and_checkouts_parse():
    root = BENCHMARKS.parent
    a = script("direct").parse_args(["--before", str(root), "--commands", "train"])
    assert (a.before, a.commands) == (root, ["train"])
    assert script("render").parse_args(["--models", "egvsr", "--frames", "9"]).models == ["egvsr"]


@pytest.mark.parametrize("name, argv, said", [
    ("simulate", ["--size", "abc"], "expected HxW with sides from 16 to 4096 pixels, e.g. 260x346, got 'abc'"),
    ("simulate", ["--size", "0x0"], "got '0x0'"),
    ("simulate", ["--size", "5x5"], "got '5x5'"),
    ("simulate", ["--size", "100000x100000"], "got '100000x100000'"),
    ("encoder_flops", ["--size", "100000", "100000"], "argument --size: expected an integer from 1 to 4096"),
    ("official_effects", ["--bogus"], "unrecognized arguments: --bogus"),
    ("models", ["--models", "nosuch"], "error: --models 'nosuch': unknown model; expected comma-separated names"),
])
def test_a_bad_argument_is_refused_before_any_work(capsys, name, argv, said):
    assert said in refused(capsys, script(name).main, argv)


def test_cuda_is_refused_up_front_where_torch_sees_none(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for call in (script("dataloader").parse_args, script("models").main):
        assert refused(capsys, call, ["--device", "cuda"]).endswith(
            "error: --device cuda: torch sees no CUDA device on this machine; use --device cpu or auto")


def test_sizes_beyond_memory_are_refused_before_allocating(capsys, monkeypatch):
    import egvsr.models.call_memory

    simulate = script("simulate")
    monkeypatch.setattr(simulate, "memory_budget", lambda: 1000)
    assert "--size 16x16: its " in refused(capsys, simulate.main, ["--size", "16x16", "--quick"])
    monkeypatch.setattr(egvsr.models.call_memory, "memory_budget_bytes", lambda device="cpu": (1000, "a test budget"))
    assert "--size 260 346: the inputs and one encoder pass need about" in refused(
        capsys, script("encoder_flops").check_memory, 260, 346)


def test_voxelize_prints_na_where_a_thread_read_no_cpu_time(capsys, monkeypatch):
    voxelize = script("voxelize")
    monkeypatch.setattr(voxelize, "thread_cpu", lambda: {"1": (5, 0)})  # schedstat still at its last tick
    voxelize.scaling(lambda: None, lambda: None, 1)
    assert "critical path n/a (too short to time)" in capsys.readouterr().out


def test_io_generates_fewer_events_than_a_chunk(tmp_path):
    import h5py

    script("io").generate_e2vid(tmp_path / "small.h5", 1000)
    with h5py.File(tmp_path / "small.h5") as f:
        assert f["events/ts"].shape == (1000,)


def test_official_effects_skips_in_one_line_without_the_fixtures(capsys, monkeypatch, tmp_path):
    effects = script("official_effects")
    monkeypatch.setattr(effects, "FIXTURES", tmp_path)
    assert effects.main([]) == 0
    out = capsys.readouterr()
    assert out.out.strip().splitlines() == [
        f"skipped: official fixture {tmp_path / 'egvsr_official_small.pt'} not found "
        "(../shared/data/fixtures exists only on project machines)"]
    assert not out.err


@pytest.mark.parametrize("argv, said", [
    (["--scales", "40"], "error: --scales 40: above the max_scale 16 of the EGVSR column"),
    (["--checkpoint", "/nonexistent.pt"], "error: --checkpoint: /nonexistent.pt: checkpoint not found"),
    (["--frames-only", "/nonexistent.pt"], "error: --frames-only: /nonexistent.pt: checkpoint not found"),
    (["--val-size", "16", "16", "--scales", "2"], "error: --val-size 16 16: at x2 the held-out clips' output is "
                                                  "16x16, smaller than protocol 'ours' scores (at least 19x19"),
])
def test_quality_checks_its_setup_before_rendering_any_clip(capsys, tmp_path, argv, said):
    quality = script("quality")
    args = quality.parse_args([*argv, "--workdir", str(tmp_path / "work")])
    assert said in refused(capsys, quality.check_setup, args)
    assert not (tmp_path / "work").exists()


def test_quality_accepts_the_smallest_clips_each_scale_can_score():
    quality = script("quality")
    quality.check_val_size([19, 19], [1.0])
    quality.check_val_size([20, 20], [6.5])
    quality.check_val_size([32, 32], [16.0])


@pytest.mark.parametrize("name, call", [("quality", "parse_args"), ("event_noise", "main")])
def test_the_default_work_folder_is_named_in_help(capsys, name, call):
    with pytest.raises(SystemExit) as exit_:
        getattr(script(name), call)(["--help"])
    assert exit_.value.code == 0
    assert "under the current directory" in " ".join(capsys.readouterr().out.split())


def test_threads_refuses_an_unknown_workload_in_one_line():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "threads.py"), "--workloads", "render,bogus"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "threads.py: error: argument --workloads: expected a comma-separated list of render, train, got 'bogus'")


def _imports_egvsr(node) -> bool:
    import ast

    return (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "egvsr"
            or isinstance(node, ast.Import) and any(a.name.split(".")[0] == "egvsr" for a in node.names))


def _inserts_path(node) -> bool:
    import ast

    return any(isinstance(n, ast.Call) and ast.unparse(n.func) == "sys.path.insert" for n in ast.walk(node))


@pytest.mark.parametrize("path", sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")),
                         ids=lambda p: p.name)
def test_a_benchmark_imports_the_egvsr_of_its_own_checkout(path):
    """Run from another checkout's folder (or with another egvsr installed), a script must still time its
    own code: it puts its checkout first on sys.path before it imports egvsr."""
    import ast

    tree = ast.parse(path.read_text())
    if not any(_imports_egvsr(n) for n in ast.walk(tree)):
        return
    first_import = next((i for i, n in enumerate(tree.body) if _imports_egvsr(n)), len(tree.body))
    before = tree.body[:first_import] if first_import < len(tree.body) else tree.body
    assert any(_inserts_path(n) for n in before), f"{path.name} imports egvsr without putting its checkout first"


def test_io_refuses_an_event_count_beyond_memory_or_disk_before_generating(capsys, monkeypatch, tmp_path):
    import _budget

    io = script("io")
    monkeypatch.setattr(_budget, "memory_budget", lambda: 10**6)
    said = refused(capsys, io.main, ["--events", "100000", "--dir", str(tmp_path)])
    assert said.endswith("error: --events 100,000: needs about 2 MB of memory, more than the 1 MB this machine "
                         "allows; choose fewer --events")
    monkeypatch.setattr(_budget, "memory_budget", lambda: 10**12)
    monkeypatch.setattr(_budget, "free_bytes", lambda folder: 10**6)
    said = refused(capsys, io.main, ["--events", "100000", "--dir", str(tmp_path)])
    assert said.endswith(f"--events 100,000: needs about 2 MB of disk in {tmp_path}, more than the 1 MB free "
                         "there; choose fewer --events")
    assert list(tmp_path.iterdir()) == []  # nothing generated


def test_io_ends_in_one_line_where_a_conversion_fails(capsys, tmp_path):
    io = script("io")
    said = refused(capsys, io.run_child, "import sys; sys.exit('h5py: no space left')", tmp_path / "a.h5",
                   tmp_path / "b.h5", "naive")
    assert said.endswith("error: the naive conversion failed: exit 1: h5py: no space left; "
                         "--skip-naive leaves the naive peer out")


def test_voxelize_refuses_event_counts_beyond_memory_or_disk_before_making_arrays(capsys, monkeypatch, tmp_path):
    import _budget

    voxelize = script("voxelize")
    monkeypatch.setattr(voxelize, "make_arrays", lambda *a: pytest.fail("arrays made before the check"))
    monkeypatch.setattr(_budget, "memory_budget", lambda: 10**6)
    assert refused(capsys, voxelize.main, ["--events", "100000", "--no-e2e"]).endswith(
        "error: --events 100,000: needs about 2.6 MB of memory, more than the 1 MB this machine allows; "
        "choose fewer --events")
    monkeypatch.setattr(_budget, "memory_budget", lambda: 10**12)
    monkeypatch.setattr(_budget, "free_bytes", lambda folder: 10**6)
    monkeypatch.setenv("EGVSR_BENCH_TMP", str(tmp_path))
    assert f"error: --e2e-events 1,000: needs about 14.4 MB of disk in {tmp_path}, more than the 1 MB free" in refused(
        capsys, voxelize.main, ["--events", "1000", "--e2e-events", "1000"])
    monkeypatch.setenv("EGVSR_BENCH_TMP", str(tmp_path / "missing"))
    assert refused(capsys, voxelize.main, ["--events", "1000", "--e2e-events", "1000"]).endswith(
        f"error: EGVSR_BENCH_TMP: expected an existing folder this user can write in, got '{tmp_path / 'missing'}'")


@pytest.mark.parametrize("text", ["5e-4", "2:5", "-1e-3:100", "5e-4:-1", "nan:100", "5e-4:inf", "a:b", "1:2:3"])
def test_event_noise_refuses_a_bad_hot_pixel_setting_in_one_line(capsys, text):
    said = refused(capsys, script("event_noise").main, [f"--hot={text}"])
    assert said.endswith(f"got {text!r}") and "FRACTION:RATE" in said


def test_event_noise_hot_pixels_join_the_recording_in_time_order(tmp_path):
    import numpy as np

    from egvsr.events.io import read_events
    from egvsr.events.simulate.sample import make_sample

    src = tmp_path / "clean.h5"
    make_sample(src, seconds=0.4, size=(40, 50), seed=2)
    event_noise = script("event_noise")
    event_noise.with_hot_pixels(src, tmp_path / "hot.h5", 0.02, 2000.0)
    clean, hot = read_events(str(src)), read_events(str(tmp_path / "hot.h5"))
    assert np.all(np.diff(hot.t) >= 0)
    added = hot.t.size - clean.t.size
    # 2% of 2000 pixels = 40 hot pixels at 2 kHz over the frames' span (~0.4 s): ~32000 events
    assert 20_000 < added < 45_000, added
    counts = np.bincount(hot.y.astype(np.int64) * 50 + hot.x, minlength=2000) - np.bincount(
        clean.y.astype(np.int64) * 50 + clean.x, minlength=2000)
    assert 30 <= (counts > 400).sum() <= 50  # the hot pixels stand out: ~800 events each, few elsewhere


def test_direct_and_render_warm_every_checkout_before_timing_any(monkeypatch, tmp_path, capsys):
    """numba compiles into each checkout's own cache (cache=True): a warm-up of this checkout alone timed
    the old checkout's compilation in its first run, a speed-up in our favour; render.py warmed none."""
    before = tmp_path / "old"
    (before / "egvsr").mkdir(parents=True)
    (before / "egvsr" / "__init__.py").write_text("")
    direct = script("direct")
    calls: list[tuple[Path, str]] = []
    monkeypatch.setattr(direct, "run", lambda tree, args: calls.append((Path(tree), " ".join(args))) or 1.0)
    direct.main(["--before", str(before), "--commands", "train", "--repeats", "2"])
    timed = [i for i, (_, args) in enumerate(calls) if "warm-up" not in args]
    assert {tree for tree, _ in calls[:timed[0]]} == {before, direct.ROOT}
    assert len(timed) == 4

    render = script("render")
    runs: list[Path] = []
    monkeypatch.setattr(render, "make_inputs", lambda folder: {"recording": folder / "r.h5",
                                                               **{label: folder / "c.pt" for label in render.MODELS}})
    monkeypatch.setattr(render, "frame_difference", lambda a, b: (0, 0.0))

    def run_cli(tree, env, rec, ckpt, out, frames, scale, args):
        runs.append(Path(tree))
        return 1.0, 1.0
    monkeypatch.setattr(render, "run_cli", run_cli)
    render.main(["--before", str(before), "--models", "egvsr-small", "--repeats", "1"])
    # three variants (before, before+passive, after): one untimed round, then one timed round
    assert runs == [before, before, render.ROOT] * 2
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| egvsr-small")]
    assert len(rows) == 4


def test_render_stages_profile_every_checkout_after_an_unprofiled_run(monkeypatch, tmp_path, capsys):
    """--stages --before OLD: the old checkout's first profiled render compiled its numba kernels (its
    own cache) into the "inputs" stage; each checkout now renders once unprofiled first."""
    import json
    import types

    before = tmp_path / "old"
    (before / "egvsr").mkdir(parents=True)
    (before / "egvsr" / "__init__.py").write_text("")
    render = script("render")
    monkeypatch.setattr(render, "make_inputs", lambda folder: {"recording": folder / "r.h5",
                                                               **{label: folder / "c.pt" for label in render.MODELS}})
    trees: list[str] = []
    result = json.dumps({"total": 1.0, **dict.fromkeys(render.STAGES, 0.5)})

    def run(cmd, env, **kwargs):
        trees.append(env["PYTHONPATH"])
        return types.SimpleNamespace(returncode=0, stdout=result + "\n", stderr="")
    monkeypatch.setattr(render.subprocess, "run", run)
    render.main(["--stages", "--before", str(before), "--models", "egvsr-small"])
    assert trees == [str(render.ROOT), str(before)] * 2
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| egvsr-small")]
    assert len(rows) == 2


def test_io_children_time_their_conversion_after_an_untimed_one(monkeypatch, tmp_path):
    """Our conversion's child loaded numba's kernels (~0.5 s, a fixed cost the h5py peer has not) inside
    its clock; each child now converts the source's first events once untimed, and times the whole file."""
    import h5py

    io = script("io")
    src = tmp_path / "source.h5"
    io.generate_e2vid(src, 3000)
    hook = tmp_path / "hook"
    hook.mkdir()
    log = tmp_path / "calls.txt"
    (hook / "sitecustomize.py").write_text(
        "import egvsr.events.io as m\n"
        "real = m.convert\n"
        "def convert(src, dst, **kw):\n"
        f"    open({str(log)!r}, 'a').write(str(src) + '\\n')\n"
        "    return real(src, dst, **kw)\n"
        "m.convert = convert\n")
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{BENCHMARKS.parent}")
    secs, rss = io.run_child(io._CHILD_OURS, src, tmp_path / "ours.h5", "ours")
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and calls[0] != str(src) and calls[1] == str(src)
    monkeypatch.delenv("PYTHONPATH")
    io.run_child(io._CHILD_NAIVE, src, tmp_path / "naive.h5", "naive")
    for name in ("ours.h5", "naive.h5"):
        with h5py.File(tmp_path / name) as f:
            assert f["events/t"].shape == (3000,)  # the whole file, not the warm-up's slice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.txt", "hook", "naive.h5", "ours.h5", "source.h5"]


def test_encoder_flops_times_both_sides_after_an_untimed_round(monkeypatch, capsys):
    """With --repeats 1 the matmul (the peak the rate is divided by) and each pass were timed cold, once;
    a round of both now runs untimed first."""
    flops = script("encoder_flops")
    calls = []

    def timed(fn):
        calls.append(fn)
        return 1000.0 if len(calls) <= 2 * len(flops.CASES) else 1.0  # the first round is the cold one
    monkeypatch.setattr(flops, "timed", timed)
    flops.main(["--size", "8", "8", "--threads", "1", "--repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| egvsr")]
    assert len(rows) == len(flops.CASES) and all(row.split(" | ")[3] == "1.00" for row in rows)
