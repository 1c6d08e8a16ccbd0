"""The house rules of docs/ARCHITECTURE.md, read from the source: no import cycle among egvsr modules,
and lower rooms never import higher ones (imports inside functions and under TYPE_CHECKING count)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "egvsr"

#: Rooms from low to high; a module may import its own room, the base and the rooms listed before it.
#: `base` (BASE) is imported by every room and imports no room;
#: `events.core` is EventStream, Frames and their checks (events/stream.py, frames.py, checks.py);
#: `events` itself is the package front of egvsr.events (lazy names).
ROOMS = ["base", "events.core", "events.io", "events.represent", "events.simulate", "events", "plots", "datasets",
         "models", "engine", "render", "cli"]

#: The base modules (top-level egvsr/*.py that every room may import).
BASE = ("errors", "fsutil", "process", "progress", "threads", "_lazy", "cvfile", "native_stderr", "plugins")

#: Top-level modules outside ROOMS, which the room order does not rank: the package front (lazy names),
#: `python -m egvsr`, and the tonic glue (checked by its own test below).
UNRANKED = ("egvsr", "__main__", "tonic_data", "transforms")

#: The one-way rules the issue names, as (lower room, higher rooms it must never import).
FORBIDDEN = {
    "events": ("datasets", "models", "engine", "render", "cli"),
    "datasets": ("models", "engine", "render", "cli"),
    "models": ("engine", "render", "cli"),
    "engine": ("render", "cli"),
    "render": ("cli",),
}

#: Imports that break a rule on purpose: (importing module, imported module) -> reason. None today.
ALLOWED: dict[tuple[str, str], str] = {}


def module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__) for every egvsr/**/*.py."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, modules: dict) -> dict[str, int]:
    """egvsr modules `name` imports anywhere in its file (module level or inside functions) -> first line."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:  # `import egvsr.a.b` names module egvsr.a.b
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == "egvsr" and target != name:
                found.setdefault(target, node.lineno)
    return found


@functools.lru_cache(maxsize=None)
def import_graph() -> dict[str, dict[str, int]]:
    modules = module_files()
    return {name: imports_of(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def room(module: str) -> str:
    """The room of a dotted module name (see ROOMS); top-level glue modules get their own name."""
    parts = module.split(".")[1:]
    if not parts:
        return "egvsr"  # the package front: lazy names only
    if parts[0] in BASE:
        return "base"
    if parts[0] == "events" and len(parts) > 1:
        return "events.core" if parts[1] in ("stream", "frames", "checks") else f"events.{parts[1]}"
    return parts[0]


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components of the module graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_scan_sees_the_package():
    graph = import_graph()
    assert len(graph) > 100 and "egvsr.events.io.layouts" in graph
    assert graph["egvsr.events.io.layouts"].keys() >= {"egvsr.events.io.declaration", "egvsr.plugins"}
    assert "egvsr.engine.train" in graph["egvsr.cli"]  # an import inside a function counts
    assert {room(m) for m in graph} >= set(ROOMS) | {"egvsr"}


def test_every_module_has_a_room():
    """A module in no room (a new top-level file, a new events subpackage) would escape the room order:
    each must be in ROOMS or named in UNRANKED, and the docs' list of the base must name every base module."""
    stray = sorted(m for m in import_graph() if room(m) not in ROOMS and room(m) not in UNRANKED)
    assert not stray, f"modules in no room of ROOMS (add them to BASE, a room, or UNRANKED): {stray}"
    doc = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    base_line = next(line for line in doc.splitlines() if line.startswith("1. base:"))
    assert not [b for b in BASE if f"`{b}`" not in base_line], base_line


def test_no_import_cycle():
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    lines = []
    for component in cycles:
        members = set(component)
        edges = [f"{a}:{graph[a][b]} -> {b}" for a in component for b in graph[a] if b in members]
        lines.append("cycle among " + ", ".join(component) + "\n    " + "\n    ".join(edges))
    assert not cycles, "\n".join(lines)


def test_lower_rooms_never_import_higher_ones():
    bad = []
    for module, imported in import_graph().items():
        here = room(module).split(".")[0]
        for target, line in imported.items():
            there = room(target).split(".")[0]
            if there in FORBIDDEN.get(here, ()) and (module, target) not in ALLOWED:
                bad.append(f"{module}:{line} imports {target} ({here} must not import {there})")
    assert not bad, "\n".join(bad)


def test_every_import_goes_down_the_rooms():
    """The full order of ROOMS (finer than FORBIDDEN): inside events core < io < represent < simulate, the
    base below everything, plots below datasets; only the package front and cli may import anything."""
    order = {name: i for i, name in enumerate(ROOMS)}
    bad = []
    for module, imported in import_graph().items():
        here = room(module)
        if here not in order:  # egvsr/__init__ (strings only), __main__, tonic_data / transforms glue
            continue
        for target, line in imported.items():
            there = room(target)
            if (module, target) in ALLOWED or there == "egvsr" and here == "cli":  # cli reads __version__
                continue
            if there == "egvsr" or order.get(there, -1) > order[here]:
                bad.append(f"{module}:{line} imports {target} ({here} is below {there})")
    assert not bad, "\n".join(bad)


def test_the_glue_modules_import_no_model_engine_render_or_cli():
    graph = import_graph()
    for module in ("egvsr.tonic_data", "egvsr.transforms"):
        assert not {room(t) for t in graph[module]} & {"models", "engine", "render", "cli"}, module
