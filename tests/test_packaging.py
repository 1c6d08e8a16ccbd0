"""The package as it is built and set up: what the sdist and wheel hold, and scripts/bootstrap.sh, demo.sh and
train_shipped.sh on a .venv left broken (half made, its Python gone, the clone moved). No network: pip gets
no index, and the .venv under test sees this interpreter's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
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
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"):
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
                 "egvsr/datasets/splits/vid4.txt", "README.md", "LICENSE"):
        assert name in sdist, name
    # the license text travels with the wheel (its dist-info), as its metadata names it
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel), wheel
    assert "\nLicense-Expression: MIT\n" in metadata
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


# --- scripts/bootstrap.sh on a broken .venv ---------------------------------------------------------------------


def _probe_project(root: Path) -> Path:
    """A folder with this checkout's scripts/bootstrap.sh and pyproject.toml, whose .venv is already set up
    (marker newer than pyproject.toml), so that a bootstrap that repairs the .venv installs nothing."""
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "bootstrap.sh", root / "scripts" / "bootstrap.sh")
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    os.utime(root / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    return root


def _make_venv(project: Path) -> Path:
    """A .venv made without pip (what a Ctrl-C during `python3 -m venv` leaves), seeing this interpreter's
    packages through a .pth file (torch, egvsr, pytest ...: nothing to install)."""
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", str(project / ".venv")], check=True, timeout=300)
    site = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "zz_probe.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    (project / ".venv" / ".egvsr-installed").touch()
    return Path(site)


def _bootstrap(project: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"  # `python3` on PATH: the interpreter behind this one
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python3").exists():
        (bin_dir / "python3").symlink_to(BASE_PYTHON)
    (tmp_path / "wheels").mkdir(exist_ok=True)
    full = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(tmp_path / "wheels"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONPATH": str(REPO), **env}
    full.pop("PYTHONHOME", None)
    full.pop("VIRTUAL_ENV", None)
    return subprocess.run(["bash", str(project / "scripts" / "bootstrap.sh")], env=full, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_bootstrap_remakes_a_venv_whose_python_is_gone_keeping_its_packages(tmp_path):
    project = _probe_project(tmp_path / "clone")
    site = _make_venv(project)
    (site / "users_own.py").write_text("")
    # the Python that made .venv was removed or upgraded (pyenv, Homebrew): its links point nowhere
    for link in (project / ".venv" / "bin").glob("python*"):
        link.unlink()
        link.symlink_to(tmp_path / "gone" / "python3")
    done = _bootstrap(project, tmp_path)
    assert done.returncode == 0, done.stderr
    check = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", "import users_own, torch, egvsr"],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr


@pytest.mark.slow
def test_bootstrap_installs_through_python_m_pip_in_a_venv_left_without_pip(tmp_path):
    """A Ctrl-C during `python3 -m venv` (or a Python without ensurepip) leaves .venv/bin/python without
    .venv/bin/pip: the next bootstrap must not stop on the missing script, every time."""
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != "2.13.0":
        pytest.skip("pip's 'already satisfied' needs this interpreter's torch to be bootstrap's pin, 2.13.0")
    project = _probe_project(tmp_path / "clone")
    _make_venv(project)
    # the .venv's first `import torch` fails, as in a .venv without torch; later ones load the real one
    stub = tmp_path / "stub"
    (stub / "torch").mkdir(parents=True)
    (stub / "torch" / "__init__.py").write_text(
        "import importlib, os, sys\n"
        "flag = os.environ['PROBE_FLAG']\n"
        "if not os.path.exists(flag):\n"
        "    open(flag, 'w').close()\n"
        "    raise ImportError('probe: no torch yet')\n"
        f"sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != {str(stub)!r}]\n"
        "del sys.modules['torch']\n"
        "importlib.import_module('torch')\n")
    done = _bootstrap(project, tmp_path, PYTHONPATH=f"{stub}{os.pathsep}{REPO}",
                      PROBE_FLAG=str(tmp_path / "first-import-done"))
    assert (tmp_path / "first-import-done").exists()  # it did take the install branch
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script, args, expected", [
    ("demo.sh", ["--seconds", "0.1"], "-m egvsr demo --seconds 0.1"),
    ("train_shipped.sh", [], "-m egvsr train configs/egvsr_synthetic.yaml --set name=egvsr-synthetic"),
])
def test_scripts_run_egvsr_through_the_venvs_python_so_a_moved_clone_works(tmp_path, script, args, expected):
    """.venv/bin/egvsr starts with the absolute path of the .venv it was made in: after `mv clone other` it
    names a folder that is gone. The scripts call `.venv/bin/python -m egvsr` instead."""
    project = tmp_path / "moved"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / script, project / "scripts" / script)
    (project / "scripts" / "bootstrap.sh").write_text("exit 0\n")  # the .venv is set up
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    log = tmp_path / "calls.txt"
    (venv_bin / "python").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')  # records each call
    (venv_bin / "egvsr").write_text(f"#!{tmp_path}/old-place/.venv/bin/python3\n")
    for exe in ("python", "egvsr"):
        (venv_bin / exe).chmod(0o755)
    done = subprocess.run(["bash", str(project / "scripts" / script), *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines()[0] == expected


def _stub_script_project(tmp_path, script):
    """A copy of one script whose .venv's python only records its arguments (the .venv is 'set up')."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / script, project / "scripts" / script)
    (project / "scripts" / "bootstrap.sh").write_text("exit 0\n")
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    log = tmp_path / "calls.txt"
    (venv_bin / "python").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (venv_bin / "python").chmod(0o755)
    return project, log


def test_train_shipped_control_passes_ignore_events_to_every_stage(tmp_path):
    project, log = _stub_script_project(tmp_path, "train_shipped.sh")
    done = subprocess.run(["bash", str(project / "scripts" / "train_shipped.sh"), "--control"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    trains = [line for line in log.read_text().splitlines() if "-m egvsr train" in line]
    assert len(trains) == 7 and all("model.options.ignore_events=true" in line for line in trains)
    assert not any("ship_weights" in line for line in log.read_text().splitlines())  # the control is not shipped


@pytest.mark.parametrize("args", [["--contrl"], ["--control", "extra"], [""]])
def test_train_shipped_refuses_an_unknown_argument_before_training(tmp_path, args):
    """A mistyped --control used to be ignored: hours of training of the events model, then the shipped
    file replaced."""
    project, log = _stub_script_project(tmp_path, "train_shipped.sh")
    done = subprocess.run(["bash", str(project / "scripts" / "train_shipped.sh"), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "expected no argument or --control" in done.stderr
    assert not log.exists()
