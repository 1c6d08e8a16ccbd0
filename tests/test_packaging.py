"""The package as it is built and set up: what the sdist and wheel hold, and scripts/bootstrap.sh, demo.sh and
train_shipped.sh on a .venv left broken (half made, its Python gone, the clone moved). No network: pip gets
no index, and the .venv under test sees this interpreter's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import egvsr

REPO = Path(__file__).resolve().parents[1]
BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable
pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None, reason="POSIX shell scripts")


def _copy_project(dest: Path) -> Path:
    """The files a build reads, copied (a build writes egvsr.egg-info beside pyproject.toml)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", ".hypothesis", ".pytest_cache")
    for name in ("egvsr", "configs", "docs", "tests", "scripts", "benchmarks", ".ci"):
        shutil.copytree(REPO / name, dest / name, ignore=skip)
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    return dest


def _build(project: Path, out: Path) -> tuple[list[str], list[str], str]:
    pytest.importorskip("setuptools")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    names = []
    for hook in ("build_sdist", "build_wheel"):  # one process each: setuptools keeps state between them
        code = f"import sys; from setuptools import build_meta as b; print('built', b.{hook}(sys.argv[1]))"
        done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=project, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        names.append([line for line in done.stdout.splitlines() if line.startswith("built ")][-1].split()[1])
    sdist_name, wheel_name = names
    with tarfile.open(out / sdist_name) as tar:
        sdist = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    with zipfile.ZipFile(out / wheel_name) as whl:
        wheel = whl.namelist()
        metadata = whl.read(next(n for n in wheel if n.endswith(".dist-info/METADATA"))).decode()
    return sdist, wheel, metadata


def test_sdist_and_wheel_hold_what_each_needs_and_no_caches_or_leftovers(tmp_path):
    project = _copy_project(tmp_path / "src")
    # what a working tree holds besides the sources: caches of Python and numba, a temporary of an
    # interrupted write beside the shipped weights
    for folder in (project / "egvsr" / "events" / "represent" / "__pycache__", project / "tests" / "__pycache__"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "x.cpython-311.pyc").write_bytes(b"\0")
        (folder / "kernels.f-1.py311.nbi").write_bytes(b"\0")
    (project / "egvsr" / "data" / "egvsr-sample.pt.123.x.egvsr-partial").write_bytes(b"\0")
    (tmp_path / "dist").mkdir()
    sdist, wheel, metadata = _build(project, tmp_path / "dist")

    # the sdist is the project: the configs the docs train with, the docs the README links, the whole test
    # suite with its conftest, the scripts the README runs
    for name in ("configs/egvsr_sample.yaml", "configs/eval/ours.yaml", "docs/training.md", "tests/conftest.py",
                 "tests/cli/__init__.py", "scripts/bootstrap.sh", ".ci/run", "egvsr/data/egvsr-sample.pt",
                 "egvsr/datasets/splits/vid4.txt", "README.md"):
        assert name in sdist, name
    # the wheel is the package: the shipped weights and split lists, nothing of the repository around it
    for name in ("egvsr/data/egvsr-sample.pt", "egvsr/datasets/splits/vid4.txt",
                 "egvsr/datasets/splits/ced_test.txt", "egvsr/datasets/splits/ced_excluded.txt"):
        assert name in wheel, name
    assert all(n.startswith(("egvsr/", "egvsr-")) for n in wheel), [n for n in wheel if not n.startswith("egvsr")]
    for names in (sdist, wheel):
        leftovers = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc", ".egvsr-partial"))]
        assert leftovers == []
    # one version: the one `egvsr --version` prints
    assert f"\nVersion: {egvsr.__version__}\n" in metadata
