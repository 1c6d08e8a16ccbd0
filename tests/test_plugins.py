"""`egvsr.plugins.DeclaredModules`: a registry's declaring modules load once, and again after a failure."""

from __future__ import annotations

import importlib
import sys

import pytest

from egvsr.plugins import DeclaredModules


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throwaway package `plugpkg` with two declaring modules, one plain module and a private one."""
    root = tmp_path / "plugpkg"
    root.mkdir()
    (root / "__init__.py").write_text("LOADS = []\n")
    for name, body in (("b_decl", "DECLARED = 'b'\n"), ("a_decl", "DECLARED = 'a'\n"),
                       ("plain", "x = 1\n"), ("_private", "DECLARED = 'p'\n")):
        (root / f"{name}.py").write_text(f"import plugpkg\nplugpkg.LOADS.append({name!r})\n{body}")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n == "plugpkg" or n.startswith("plugpkg.")]:
        del sys.modules[name]


def test_declaring_modules_load_once_in_order(package):
    declared = DeclaredModules("plugpkg", "DECLARED =", first=("b_decl",))
    assert declared.load() is True
    assert [m.__name__ for m in declared.modules] == ["plugpkg.b_decl", "plugpkg.a_decl"]
    assert declared.load() is False  # done: nothing imported again
    assert sys.modules["plugpkg"].LOADS == ["b_decl", "a_decl"]


def test_a_failed_import_is_retried_on_the_next_lookup(package):
    (package / "a_decl.py").write_text("DECLARED = 'a'\nraise RuntimeError('broken plug-in')\n")
    declared = DeclaredModules("plugpkg", "DECLARED =")
    with pytest.raises(RuntimeError, match="broken plug-in"):
        declared.load()
    assert declared.modules == []
    (package / "a_decl.py").write_text("DECLARED = 'a'\n")
    sys.modules.pop("plugpkg.a_decl", None)
    assert declared.load() is True
    assert [m.__name__ for m in declared.modules] == ["plugpkg.a_decl", "plugpkg.b_decl"]


def test_a_lookup_while_loading_does_not_load_again(package):
    declared = DeclaredModules("plugpkg", "DECLARED =")
    seen = []
    (package / "a_decl.py").write_text(
        "import plugpkg\nDECLARED = 'a'\nplugpkg.SEEN.append((plugpkg.DECLARED_MODULES.load(), "
        "list(plugpkg.DECLARED_MODULES.modules)))\n")
    pkg = importlib.import_module("plugpkg")
    pkg.SEEN, pkg.DECLARED_MODULES = seen, declared
    assert declared.load() is True
    assert seen == [(False, [])]  # under way: the nested lookup sees nothing registered yet
