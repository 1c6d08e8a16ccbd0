"""The console entry point sets passive OpenMP waiting before torch loads; the library import sets nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# replaces egvsr.cli.main with a probe that reports the environment and whether torch/numba were loaded
PROBE = """
import json, os, runpy, sys
import egvsr.cli

def probe(argv=None):
    seen = {k: os.environ.get(k) for k in %r}
    seen["loaded"] = sorted(m for m in ("torch", "numba") if m in sys.modules)
    print(json.dumps(seen))
    return 0

egvsr.cli.main = probe
if sys.argv[1] == "module":
    runpy.run_module("egvsr", run_name="__main__")
else:
    sys.exit(egvsr.cli.console_main())
""" % (KEYS,)


def run_probe(how: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    proc = subprocess.run([sys.executable, "-c", PROBE, how], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["console", "module"])
def test_entry_point_sets_passive_waiting_before_torch(how: str) -> None:
    seen = run_probe(how)
    assert seen["OMP_WAIT_POLICY"] == "PASSIVE" and seen["KMP_BLOCKTIME"] == "0"
    assert seen["loaded"] == []  # set before torch or numba could read it


def test_entry_point_keeps_the_users_choice() -> None:
    seen = run_probe("console", OMP_WAIT_POLICY="ACTIVE")
    assert seen["OMP_WAIT_POLICY"] == "ACTIVE" and seen["KMP_BLOCKTIME"] is None
    seen = run_probe("module", KMP_BLOCKTIME="5")
    assert seen["OMP_WAIT_POLICY"] == "PASSIVE" and seen["KMP_BLOCKTIME"] == "5"


def test_library_import_sets_nothing() -> None:
    code = ("import os, egvsr, egvsr.models, egvsr.render.run, egvsr.cli; "
            f"print(any(k in os.environ for k in {KEYS!r}))")
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**clean, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_configure_returns_what_it_set() -> None:
    from egvsr.threads import configure_process_environment

    env: dict[str, str] = {"KMP_BLOCKTIME": "1"}
    assert configure_process_environment(env) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"KMP_BLOCKTIME": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    assert configure_process_environment({"OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_train_on_a_busy_machine_uses_the_free_cores() -> None:
    from egvsr.threads import command_of, configure_process_environment, torch_threads

    assert command_of(["--no-progress", "train", "cfg.yaml"]) == "train"
    assert command_of([]) is None
    assert torch_threads("train", 2, 3.5) == 1
    assert torch_threads("train", 2, 1.2) == 1
    assert torch_threads("train", 2, 0.3) is None  # an idle machine keeps torch's default
    assert torch_threads("train", 8, 2.6) == 5  # the cores the load leaves free
    assert torch_threads("render", 2, 9.0) is None
    assert torch_threads("train", 1, 9.0) is None
    env: dict[str, str] = {"MKL_NUM_THREADS": "2"}
    assert "OMP_NUM_THREADS" not in configure_process_environment(env, ["train", "x.yaml"])  # the user's count wins


def test_console_train_sets_the_thread_count_before_torch(monkeypatch) -> None:
    import egvsr.threads

    monkeypatch.setattr(egvsr.threads.os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    monkeypatch.setattr(egvsr.threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(egvsr.threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    env: dict[str, str] = {}
    done = egvsr.threads.configure_process_environment(env, ["train", "x.yaml"])
    assert env["OMP_NUM_THREADS"] == done["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in egvsr.threads.configure_process_environment({}, ["render", "a", "b"])


def test_train_counts_only_the_cores_this_process_may_run_on(monkeypatch) -> None:
    """A process held to 2 of a 16-core machine's cores (`taskset`, a container's cpuset, a batch job)
    while other jobs load the machine 3: torch's default already takes the 2 cores, and the 13 cores the
    load leaves free elsewhere are not this process's (13 threads would share its 2 cores)."""
    import egvsr.threads
    from egvsr.threads import torch_threads

    assert torch_threads("train", 16, 3.0, usable=2) is None  # both usable cores are free: torch's default
    assert torch_threads("train", 16, 14.2, usable=4) == 2  # the machine has 2 free cores left
    assert torch_threads("train", 16, 30.0, usable=4) == 1
    assert torch_threads("train", 16, 30.0, usable=1) is None  # one core: torch's default is one thread
    monkeypatch.setattr(egvsr.threads.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(egvsr.threads.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(egvsr.threads.os, "sched_getaffinity", lambda pid: {4, 5}, raising=False)
    assert egvsr.threads.usable_cores() == 2
    assert "OMP_NUM_THREADS" not in egvsr.threads.configure_process_environment({}, ["train", "x.yaml"])
    monkeypatch.setattr(egvsr.threads.os, "getloadavg", lambda: (15.0, 15.0, 15.0))
    assert egvsr.threads.configure_process_environment({}, ["train", "x.yaml"])["OMP_NUM_THREADS"] == "1"


def test_an_empty_value_is_no_choice() -> None:
    """`OMP_WAIT_POLICY=` (an empty export) chose nothing: scripts/*.sh (`${OMP_WAIT_POLICY:-PASSIVE}`) set
    PASSIVE for it, libgomp rejects it ("Invalid value") and spins. The console entry kept it as the user's
    choice, so a direct `egvsr` spun where the script did not."""
    seen = run_probe("console", OMP_WAIT_POLICY="", KMP_BLOCKTIME=" ")
    assert seen["OMP_WAIT_POLICY"] == "PASSIVE" and seen["KMP_BLOCKTIME"] == "0"
    assert seen["loaded"] == []
    seen = run_probe("module", OMP_NUM_THREADS="")  # libgomp's warning at every start, and no choice either
    assert seen["OMP_NUM_THREADS"] is None and seen["OMP_WAIT_POLICY"] == "PASSIVE"


def test_a_value_in_any_case_is_kept() -> None:
    seen = run_probe("module", OMP_WAIT_POLICY=" passive ", OMP_NUM_THREADS="2,1")
    assert seen["OMP_WAIT_POLICY"] == " passive " and seen["KMP_BLOCKTIME"] is None
    assert seen["OMP_NUM_THREADS"] == "2,1"


@pytest.mark.parametrize("key, value", [("OMP_WAIT_POLICY", "sleep"), ("OMP_WAIT_POLICY", "passive-ish"),
                                        ("OMP_NUM_THREADS", "0"), ("OMP_NUM_THREADS", "abc"),
                                        ("OMP_NUM_THREADS", "2,"), ("MKL_NUM_THREADS", "-1")])
def test_a_value_the_runtimes_cannot_take_is_one_line(key: str, value: str) -> None:
    """libgomp prints its own "Invalid value" line and goes on spinning, or on all cores."""
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    proc = subprocess.run([sys.executable, "-m", "egvsr", "models"], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, "PYTHONPATH": str(ROOT), key: value}, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    what = ("expected PASSIVE or ACTIVE (or leave it unset: PASSIVE)" if key == "OMP_WAIT_POLICY" else
            "expected a whole number of threads >= 1 (or leave it unset: torch's default)")
    assert proc.stderr == f"egvsr: error: environment variable {key}={value!r}: {what}\n"


def test_an_empty_thread_count_leaves_train_its_choice(monkeypatch) -> None:
    import egvsr.threads

    monkeypatch.setattr(egvsr.threads.os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    monkeypatch.setattr(egvsr.threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(egvsr.threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    env = {"OMP_NUM_THREADS": "", "MKL_NUM_THREADS": " "}
    assert egvsr.threads.configure_process_environment(env, ["train", "x.yaml"])["OMP_NUM_THREADS"] == "1"
    env = {"OMP_NUM_THREADS": "", "MKL_NUM_THREADS": "2"}  # the user's MKL count: torch keeps it
    assert "OMP_NUM_THREADS" not in egvsr.threads.configure_process_environment(env, ["train", "x.yaml"])
    assert "OMP_NUM_THREADS" not in env


def test_train_threads_hold_for_the_run_only(tmp_path) -> None:
    """`train.threads` was torch's count for the rest of the process: a notebook (or `main` called twice)
    that trains and then renders rendered with the training's one thread."""
    torch = pytest.importorskip("torch")
    from egvsr.engine.train import train
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "tiny.h5", seed=3, seconds=0.3, size=(40, 56), fps=20.0, progress=False, threads=1)
    cfg = {"name": "t", "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
           "model": {"name": "egvsr-tiny", "options": {}},
           "data": {"train": {"recordings": [str(rec)], "patch_size": 12, "scale_range": [1, 2], "bins": 8}},
           "train": {"iterations": 1, "batch_size": 1, "threads": 1, "checkpoint_every": 100}}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        train(cfg=cfg, progress=False, log=None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_thread_counts_as_libgomp_reads_them() -> None:
    from egvsr.errors import ConfigError
    from egvsr.threads import check_thread_environment

    for value in ("2", "+2", " 2 , 1", "02"):
        check_thread_environment({"OMP_NUM_THREADS": value})
    for value in ("0", "2,", "1.5", "\u0663", "-1"):  # (U+0663: a digit, but not one libgomp reads)
        with pytest.raises(ConfigError, match="OMP_NUM_THREADS"):
            check_thread_environment({"OMP_NUM_THREADS": value})
    for value in ("Passive", " active "):
        check_thread_environment({"OMP_WAIT_POLICY": value})
