"""Signatures the docs spell out, `name(a, b=DEFAULT, ...)`, against the code: every keyword a doc shows with a
value is a parameter of that function with that default, and a signature docs/CONTRACTS.md states in full
(no `...`) names every parameter (it once left out `convert`'s `drop_hot_pixels`)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: where the public names the docs cite live (the first module that has a name wins)
MODULES = ("egvsr.events.io", "egvsr.events.represent", "egvsr.events.simulate", "egvsr.events.stream",
           "egvsr.models", "egvsr.plots", "egvsr.transforms", "egvsr.fsutil", "egvsr.engine")


def _resolve(name: str):
    for module in MODULES:
        obj = getattr(importlib.import_module(module), name, None)
        if callable(obj):
            return obj
    return None


def _shown() -> list[tuple[str, str, str]]:
    """(doc, name, parameter text) of each `name(...)` in backquotes whose name is a public egvsr callable."""
    found = []
    for doc in DOCS:
        for m in re.finditer(r"`([A-Za-z_]\w*)\(([^`()]*(?:\([^`()]*\)[^`()]*)*)\)", doc.read_text(encoding="utf-8")):
            if _resolve(m[1]) is not None and _parameters(m[2]) is not None:  # not a call such as `f(s, B + 1)`
                found.append((doc.name, m[1], m[2]))
    return found


def _split(text: str) -> list[str]:
    """The top-level comma-separated items of a parameter list (commas inside brackets stay)."""
    items, depth, item = [], 0, ""
    for ch in text:
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            items.append(item.strip())
            item = ""
        else:
            item += ch
    return [i for i in [*items, item.strip()] if i]


def _parameters(text: str) -> list[tuple[str, str | None]] | None:
    """[(name, default text or None)] of a shown parameter list (`...`, `/`, `*`, `**rest` skipped), or None
    when the text is no parameter list."""
    out = []
    for item in _split(" ".join(text.split())):
        if item in ("...", "/", "*") or item.startswith("*"):
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)(?:\s*:\s*[^=]+?)?(?:\s*=\s*(.*))?", item)
        if not m:
            return None
        out.append((m[1], m[2]))
    return out


SHOWN = _shown()


def test_the_docs_show_signatures_to_check():
    assert {name for _, name, _ in SHOWN} >= {"convert", "read_events", "open_events", "voxel_grid", "EventWriter"}


@pytest.mark.parametrize("doc, name, text", SHOWN, ids=[f"{d}:{n}" for d, n, _ in SHOWN])
def test_shown_defaults_are_the_code_defaults(doc, name, text):
    shown = _parameters(text)
    signature = inspect.signature(_resolve(name))
    params = signature.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, default in shown:
        if not default:
            continue  # a positional placeholder (`stream`, `path`): its name is the doc's to choose
        assert key in params or takes_any, f"{doc}: `{name}({text})` shows `{key}`, which {name}{signature} lacks"
        if key not in params:
            continue
        if "..." in _split(text):
            continue  # a call (`convert(..., drop_hot_pixels=5)`), whose values are examples
        try:
            value = ast.literal_eval(default)
        except ValueError:
            continue  # an illustration (`box=(y, x, h, w)`), not a default
        if value is Ellipsis:
            continue
        if params[key].default is inspect.Parameter.empty:
            continue  # a required keyword shown with an example value
        assert params[key].default == value, (f"{doc}: `{name}(... {key}={default})`, but {name}'s default is "
                                              f"{params[key].default!r}")


CONTRACTS = [(d, n, t) for d, n, t in SHOWN if d == "CONTRACTS.md" and "..." not in t]


@pytest.mark.parametrize("doc, name, text", CONTRACTS, ids=[n for _, n, _ in CONTRACTS])
def test_full_signatures_in_the_contracts_name_every_parameter(doc, name, text):
    shown = [key for key, _ in _parameters(text)]
    params = [p.name for p in inspect.signature(_resolve(name)).parameters.values()
              if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    assert shown == params, f"{doc}: `{name}({text})`, but the code takes {params}"
