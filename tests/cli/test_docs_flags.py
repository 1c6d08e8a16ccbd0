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
