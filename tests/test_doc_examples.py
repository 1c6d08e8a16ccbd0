"""The Python blocks of README.md and docs/*.md run as written, top to bottom: each parses, each name it imports
from egvsr exists, each call of an egvsr function passes arguments that function takes, and no block writes one
output twice (the library never replaces an existing output unless asked, so a block that did would stop at
its second write with "output already exists")."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: egvsr writers: function -> positions of its output path arguments; keyword outputs are OUTPUT_KEYWORDS
WRITERS = {"write_events": (0,), "EventWriter": (0,), "convert": (1,), "make_sample": (0,), "simulate_video": (1,),
           "voxelize_file": (1,), "import_checkpoint": (1,), "show_recording": (1,)}
OUTPUT_KEYWORDS = {"mp4", "png", "side_by_side", "out_png", "dst", "output"}


def _blocks() -> list[tuple[str, int, str]]:
    """(doc name, line, code) of every ```python block, dedented (a block may sit in a list item)."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^( *)```python\n(.*?)^ *```", text, re.S | re.M):
            found.append((doc.name, text[:m.start()].count("\n") + 1, textwrap.dedent(m.group(2))))
    return found


BLOCKS = _blocks()


def _egvsr_names(tree: ast.AST) -> dict[str, object]:
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "egvsr":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "egvsr":
                    names[alias.asname or alias.name] = importlib.import_module(alias.name)
    return names


def _callee(node: ast.Call, names: dict[str, object]) -> tuple[str, object] | None:
    f = node.func
    if isinstance(f, ast.Name) and f.id in names:
        return f.id, names[f.id]
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in names:
        owner = names[f.value.id]
        assert hasattr(owner, f.attr), f"{f.value.id} has no {f.attr}"
        return f.attr, getattr(owner, f.attr)
    return None


def test_the_docs_have_python_blocks_to_check():
    assert len(BLOCKS) >= 15 and {doc for doc, _, _ in BLOCKS} >= {"README.md", "io.md", "render.md", "models.md"}


@pytest.mark.parametrize("doc, line, code", BLOCKS, ids=[f"{d}:{n}" for d, n, _ in BLOCKS])
def test_block_imports_and_calls_match_the_api(doc, line, code):
    tree = ast.parse(code, filename=f"{doc}:{line}")
    names = _egvsr_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (found := _callee(node, names)) is None or not callable(found[1]):
            continue
        try:
            signature = inspect.signature(found[1])
        except (TypeError, ValueError):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            continue
        try:
            signature.bind_partial(*node.args, **{k.arg: None for k in node.keywords})
        except TypeError as exc:
            pytest.fail(f"{doc}:{line}: `{ast.unparse(node)}` does not fit {found[0]}{signature}: {exc}")


@pytest.mark.parametrize("doc, line, code", BLOCKS, ids=[f"{d}:{n}" for d, n, _ in BLOCKS])
def test_block_writes_each_output_once(doc, line, code):
    written: dict[str, str] = {}
    calls = sorted((n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)),
                   key=lambda n: (n.lineno, n.col_offset))  # in the order they run
    for node in calls:
        if any(k.arg == "overwrite" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in node.keywords):
            continue  # replacing an output is what it asks for
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        paths = [node.args[i] for i in WRITERS.get(name, ()) if i < len(node.args)]
        paths += [k.value for k in node.keywords if k.arg in OUTPUT_KEYWORDS]
        for p in paths:
            if isinstance(p, ast.Constant) and isinstance(p.value, str):
                key = str(Path(p.value))
                assert key not in written, (f"{doc}:{line}: `{ast.unparse(node)}` writes {p.value!r}, which "
                                            f"`{written[key]}` wrote before it: the block stops there (output "
                                            "already exists)")
                written[key] = ast.unparse(node)


def _concrete_command_lines() -> list[tuple[str, str, str]]:
    """(doc, command, rest) of the `egvsr ...` examples the docs show with real values (synopses with
    placeholders, `[...]`, `a|b` or `...` are checked flag by flag in tests/cli/test_docs_flags.py)."""
    from tests.cli.test_docs_flags import _shown_lines

    texts = {doc.name: doc.read_text(encoding="utf-8") for doc in DOCS}
    out = []
    for doc, name, line in _shown_lines():
        if f"`egvsr {name}{line}`" in texts[doc]:
            continue  # a fragment in running text (`egvsr render --tile`), not a command line
        code = line.split("#")[0].replace("\\", " ")
        if not re.search(r"\[|\||\.\.\.|<|\b[A-Z][A-Z_0-9]+\b", code):
            out.append((doc, name, code))
    return out


@pytest.mark.parametrize("doc, name, line", _concrete_command_lines())
def test_concrete_command_lines_parse(doc, name, line, capsys):
    """Each example command line is one the parser takes as written: its positionals, the values of its options
    (types, choices, counts) and no option left over."""
    import shlex

    from egvsr.cli import build_parser

    try:
        args, unknown = build_parser().parse_known_args([name, *shlex.split(line)])
    except SystemExit:
        pytest.fail(f"{doc}: `egvsr {name}{line}` is refused: {capsys.readouterr().err.strip()}")
    assert not unknown, f"{doc}: `egvsr {name}{line}` leaves {unknown} unparsed"


def test_the_docs_show_concrete_command_lines():
    assert {name for _, name, _ in _concrete_command_lines()} >= {"render", "train", "eval", "import-checkpoint"}


def test_training_doc_spells_the_step_checkpoint_names_as_written(tmp_path):
    """docs/training.md tells a user to copy the newest `checkpoints/step-N.pt` over `last.pt`; the files are
    named with N in 8 digits, and the doc's example name is the one the code makes for that step."""
    from egvsr.engine.experiment import Experiment

    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    m = re.search(r"`(step-\d+\.pt)`", text)
    assert m, "docs/training.md gives no example step checkpoint name"
    step = int(m.group(1)[len("step-"):-len(".pt")])
    assert Experiment(tmp_path, "x").step_checkpoint(step).name == m.group(1)
