"""The project's files cite only the project's docs: every `docs/X.md` named in egvsr/, scripts/, benchmarks/
and configs/ exists, with the section it quotes; and no file cites a document that is not in the repository
(the CED split files once cited the design notes' "methods.md A7", which a clone does not have)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("egvsr", "scripts", "benchmarks", "configs") for p in sorted((ROOT / folder).rglob("*"))
           if p.is_file() and p.suffix in (".py", ".txt", ".yaml", ".sh", ".md")]
OUTPUT_NAMES = {"results.md"}  # file names the code writes, not documents it cites


def _citations(pattern: str) -> list[tuple[str, re.Match]]:
    found = []
    for path in SOURCES:
        for match in re.finditer(pattern, path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match))
    return found


def test_every_markdown_name_is_a_project_doc():
    for where, match in _citations(r"(?<![\w/.-])([\w./-]*?)([\w-]+\.md)\b"):
        prefix, name = match.group(1), match.group(2)
        if name in OUTPUT_NAMES and prefix in ("", "/"):
            continue
        assert (ROOT / (prefix + name)).is_file() or (ROOT / "docs" / name).is_file(), \
            f"{where} cites {prefix + name}, which is not in the repository (bring the fact into docs/)"


@pytest.mark.parametrize("where,doc,section", [
    (w, m.group(1), m.group(2)) for w, m in _citations(r"(docs/[\w]+\.md)[,:]? ?\(?\"([^\"]+)\"")])
def test_cited_sections_exist(where, doc, section):
    text = (ROOT / doc).read_text(encoding="utf-8")
    heads = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    heads += re.findall(r"\*\*([^*]+)\*\*", text)
    assert any(h.startswith(section) for h in heads), f"{where}: {doc} has no section {section!r}"
