"""The installed `egvsr` command on a read-only system (`docker run --read-only`, a locked-down cluster
node): no writable home, package folder or temporary folder. What needs no folder runs; numba's and
matplotlib's own refusals stay theirs, each one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# run_console as the console script runs it, where no folder can be written and Python finds no temporary
# folder (tempfile.gettempdir raises FileNotFoundError, as it does when every candidate is read-only)
READ_ONLY = """
import json, os, sys, tempfile
from egvsr import process

def no_temporary_folder():
    raise FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp']")

tempfile.tempdir = None
tempfile.gettempdir = no_temporary_folder
process._writable_folder = lambda folder: folder == os.environ.get("NUMBA_CACHE_DIR")
process._usable_folder = lambda folder: False

def main(argv):
    print(json.dumps({k: os.environ.get(k) for k in ("NUMBA_CACHE_DIR", "MPLCONFIGDIR")}))
    return 0

raise SystemExit(process.run_console(main, ["--version"]))
"""


def _run(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MPLCONFIGDIR")}
    return subprocess.run([sys.executable, "-c", READ_ONLY], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": str(REPO), "HOME": "/nonexistent-home", **env})


def test_a_command_runs_where_no_temporary_folder_can_be_written(tmp_path):
    """The user set NUMBA_CACHE_DIR (as the numba line advises); matplotlib has no folder either, but
    `egvsr --version` or `egvsr info` draws nothing: they run, rather than end in 'file system: No usable
    temporary directory found'."""
    done = _run(NUMBA_CACHE_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip() == f'{{"NUMBA_CACHE_DIR": "{tmp_path}", "MPLCONFIGDIR": null}}'


def test_nothing_is_set_where_nothing_can_be_written():
    """numba's refusal of its kernels ("no locator available") is then the one line naming
    NUMBA_CACHE_DIR (tests/test_process.py), not the temporary folder's."""
    done = _run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"NUMBA_CACHE_DIR": null, "MPLCONFIGDIR": null}'
