"""README.md and docs/*.md against the parser: every option a command's `--help` lists is documented, and
every `egvsr COMMAND ... --flag` the docs show (command lines and synopses) is an option of that command
(eval's `--no-bicubic` was in `--help` only; demo's synopsis left out `--seed` and `--device`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egvsr.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands() -> dict:
    return build_parser().parse_args(["models"]).commands


def _long_flags(command) -> set[str]:
    return {o for action in command._actions for o in action.option_strings if o.startswith("--")} - {"--help"}


def _shown_lines() -> list[tuple[str, str, str]]:
    """(doc, command, text) for each `egvsr COMMAND ...` line in a code block or backquotes, with its
    continuation lines (a trailing backslash, or a synopsis indented under it)."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        for block in blocks:
            lines = block.splitlines()
            for i, line in enumerate(lines):
                m = re.match(r"\s*(?:torchrun .*?-m )?egvsr ([a-z-]+)\b(.*)", line)
                if not m:
                    continue
                body = [m.group(2)]
                j = i + 1
                while j < len(lines) and (body[-1].rstrip().endswith("\\") or
                                          (lines[j].startswith(" ") and not lines[j].strip().startswith(
                                              ("egvsr", "#", "torchrun")))):
                    body.append(lines[j])
                    j += 1
                found.append((doc.name, m.group(1), " ".join(body)))
        for m in re.finditer(r"`egvsr ([a-z-]+)( [^`]*)`", text):
            found.append((doc.name, m.group(1), m.group(2)))
    return found


def test_every_option_of_every_command_is_documented():
    text = "\n".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    missing = [f"{name} {flag}" for name, command in _commands().items() for flag in sorted(_long_flags(command))
               if not re.search(re.escape(flag) + r"(?![\w-])", text)]
    assert not missing, f"options in --help that no doc names: {missing}"


@pytest.mark.parametrize("doc, name, line", _shown_lines())
def test_every_option_the_docs_show_is_taken_by_its_command(doc, name, line):
    commands = _commands()
    assert name in commands, f"{doc}: `egvsr {name}` is no command"
    code = line.split("#")[0]  # a comment after the command names other things
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", code))
    unknown = shown - _long_flags(commands[name])
    assert not unknown, f"{doc}: `egvsr {name}{line}` shows {sorted(unknown)}, which {name} does not take"


def test_the_docs_show_command_lines_to_check():
    shown = {name for _, name, _ in _shown_lines()}
    assert {"render", "demo", "voxelize", "simulate", "make-sample", "eval", "train", "info", "convert"} <= shown


def _stated_defaults() -> list[tuple[str, str, str, str]]:
    """(where, command, flag, stated) for each default a doc or a `--help` line states as a number or a word:
    "`--flag ...` (default X" in the docs, "(default X" in an option's help."""
    commands = _commands()
    found = []
    for doc in DOCS:
        for m in re.finditer(r"`(?:egvsr ([a-z-]+) [^`]*?)?(--[a-z][a-z0-9-]*)[^`]*`,?\s\(?default:? ([\w.]+)",
                             doc.read_text(encoding="utf-8")):
            names = [m[1]] if m[1] else [n for n, c in commands.items() if m[2] in _long_flags(c)]
            found += [(doc.name, name, m[2], m[3]) for name in names]
    for name, command in commands.items():
        for action in command._actions:
            m = re.search(r"\(default:? ([\w.]+)", action.help or "")
            if m and action.option_strings:
                found.append(("--help", name, max(action.option_strings, key=len), m[1]))
    return found


def _resolved_default(name: str, action):
    """What the option gives when left out: the parser's default (its const for `--flag [VALUE]`), or for
    `simulate`'s threshold and noise options, which the parser leaves None, `SimulatorConfig`'s."""
    default = action.const if action.nargs == "?" else action.default
    if default is None and name == "simulate":
        import dataclasses

        from egvsr.events.simulate.thresholds import SimulatorConfig

        default = {f.name: f.default for f in dataclasses.fields(SimulatorConfig)}.get(action.dest)
    return default


@pytest.mark.parametrize("where, name, flag, stated", _stated_defaults())
def test_every_stated_default_is_the_parsers(where, name, flag, stated):
    """A default the docs or `--help` state is the one the option takes (where the parser leaves None for the
    code to fill, `--fps-factor`'s 1, the code's own tests check it)."""
    action = next(a for a in _commands()[name]._actions if flag in a.option_strings)
    default = _resolved_default(name, action)
    if default is None or isinstance(default, bool):
        return
    if isinstance(default, tuple):  # `--size` (260, 346) reads 260x346; `--cp` 0.05 0.5 is stated from its first
        ok = stated == "x".join(map(str, default)) or stated == str(default[0])
    elif isinstance(default, (int, float)):
        ok = re.fullmatch(r"[\d.]+", stated) is not None and float(stated) == default
    else:
        ok = stated == default
    assert ok, f"{where}: `egvsr {name} {flag}` defaults to {stated}, the code to {default!r}"


def test_stated_defaults_are_found():
    assert {(n, f) for _, n, f, _ in _stated_defaults()} >= {("render", "--chunk-size"), ("demo", "--seconds"),
                                                             ("convert", "--drop-hot-pixels"), ("demo", "--fallback-minutes")}
