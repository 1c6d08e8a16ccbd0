"""A package the installed `egvsr` command imports and that is missing (a `pip install --no-deps`, an extra
not installed, a dependency removed since): one line naming the package and the pip command, exit 2, never a
traceback. The packages are hidden from a subprocess by a sitecustomize that refuses their import, as
Python refuses a package that is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from egvsr import process

REPO = Path(__file__).resolve().parents[1]

BLOCKER = '''
import os, sys
_HIDDEN = set(os.environ["HIDE_PACKAGES"].split(","))

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
'''


def _egvsr_without(tmp_path: Path, hidden: str, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "hide"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "HIDE_PACKAGES": hidden}
    return subprocess.run([sys.executable, "-m", "egvsr", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)


@pytest.mark.parametrize("hidden", ["numpy", "h5py"])
def test_a_missing_dependency_is_one_line_naming_it(tmp_path, hidden):
    """numpy is imported with the command line itself (even `--help` needs it); h5py with every reader."""
    done = _egvsr_without(tmp_path, hidden, "info", "rec.h5")
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"egvsr: error: package '{hidden}' is not installed; this command needs it: " \
                          f"pip install {hidden}\n"
    assert done.stdout == ""


def test_show_without_matplotlib_is_one_line(tmp_path, random_stream):
    from egvsr.events.io import write_events

    write_events(tmp_path / "rec.h5", random_stream(1000, 64, 48))
    done = _egvsr_without(tmp_path, "matplotlib", "show", "rec.h5", "--out", "preview.png")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == ["egvsr: error: package 'matplotlib' is not installed; this command needs "
                                        "it: pip install matplotlib"]
    assert not (tmp_path / "preview.png").exists()


@pytest.mark.parametrize("module, expected", [
    ("tensorboard", "pip install tensorboard (or: pip install 'egvsr[tensorboard]')"),
    ("hdf5plugin", "pip install hdf5plugin (or: pip install 'egvsr[dsec]')"),
    ("skimage.io", "pip install scikit-image (or: pip install 'egvsr[train]')"),
    ("cv2", "pip install opencv-python-headless"),
    ("yaml", "pip install pyyaml"),
    ("PIL.Image", "pip install pillow"),
])
def test_the_line_names_what_pip_installs_and_the_extra(module, expected, monkeypatch):
    monkeypatch.delitem(sys.modules, module.partition(".")[0], raising=False)  # as if never imported
    line = process.missing_package_message(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert line == f"package '{module.partition('.')[0]}' is not installed; this command needs it: {expected}"


def test_a_package_without_the_module_egvsr_imports_is_named_for_an_upgrade():
    """The package imports (it is in sys.modules), one of its modules does not: too old or incomplete."""
    import numpy  # noqa: F401

    line = process.missing_package_message(ModuleNotFoundError("No module named 'numpy.nonesuch'",
                                                               name="numpy.nonesuch"))
    assert line == ("package 'numpy' has no module 'numpy.nonesuch'; expected a complete, current numpy: "
                    "pip install -U numpy")


@pytest.mark.parametrize("exc", [ModuleNotFoundError("No module named 'egvsr.gone'", name="egvsr.gone"),
                                 ModuleNotFoundError("no name given"), ImportError("x", name="numpy")])
def test_a_broken_egvsr_or_other_import_error_is_not_called_a_missing_package(exc):
    assert process.missing_package_message(exc) is None


def test_the_tables_name_the_packages_of_pyproject():
    """Every extra's package maps to its extra, and every pip name differs from the import name only
    where the table says so."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def dist(requirement: str) -> str:
        return requirement.split(";")[0].split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()

    required = {dist(r) for r in project["dependencies"]}
    extras = {extra: {dist(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()
              if extra != "test"}
    for module, extra in process.EXTRAS.items():
        assert process.PIP_NAMES.get(module, module) in extras[extra], (module, extra)
    for extra, dists in extras.items():
        for name in dists:
            modules = [m for m in process.EXTRAS if process.PIP_NAMES.get(m, m) == name]
            assert modules and all(process.EXTRAS[m] == extra for m in modules), (extra, name)
    for module, pip in process.PIP_NAMES.items():
        assert pip in required | set().union(*extras.values()), pip


def test_eval_without_matplotlib_is_refused_before_scoring(tmp_path, monkeypatch):
    """eval's results end with a plot: a missing matplotlib is one line before any scoring, not after it."""
    from egvsr.engine import evaluation

    scored = []
    monkeypatch.setattr(evaluation, "_score", lambda *a, **k: scored.append(1) or [])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # `import` raises ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError) as caught:
        evaluation.evaluate_checkpoint(None, [str(tmp_path / "rec.h5")], [2.0], output=tmp_path / "out",
                                       progress=False, log=None)
    assert caught.value.name == "matplotlib.figure" and not scored
    assert process.missing_package_message(caught.value) is not None
