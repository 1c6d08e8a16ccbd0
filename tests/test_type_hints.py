"""Public functions carry full type hints (docs/ARCHITECTURE.md), read from the source.

Checked in every module of the package: every function or method whose name and class are public
annotates each parameter and its return. Numba kernels (`@numba.njit`) are left out: numba types them from their arguments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "egvsr"
CHECKED = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) + [
    p.name for p in sorted(PACKAGE.glob("*.py"))]


def _jitted(node: ast.FunctionDef) -> bool:
    return any("njit" in ast.unparse(d) or "numba.jit" in ast.unparse(d) for d in node.decorator_list)


def unhinted(path: Path) -> list[str]:
    """`file:line name [missing]` for each public function of `path` lacking a hint."""
    found = []

    def visit(node: ast.AST, public: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, public and not child.name.startswith("_"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not public or child.name.startswith("_") or _jitted(child):
                    continue
                a = child.args
                missing = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs
                           if x.annotation is None and x.arg not in ("self", "cls")]
                missing += [f"*{v.arg}" for v in (a.vararg, a.kwarg) if v is not None and v.annotation is None]
                missing += ["return"] if child.returns is None else []
                if missing:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{child.lineno} {child.name} {missing}")

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


@pytest.mark.parametrize("where", CHECKED)
def test_public_functions_are_fully_hinted(where):
    target = PACKAGE / where
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    bad = [line for f in files for line in unhinted(f)]
    assert not bad, "\n".join(bad)
