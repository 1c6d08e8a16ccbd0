"""docs/training.md's config reference against the code: the same keys, the same defaults, and every
shipped config listed. A key added, renamed or given another default in `DEFAULTS`, `SECTION_DEFAULTS` or
`EventVSRDataset` without the table following fails here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from egvsr.engine.config import DEFAULTS, FREE_FORM
from egvsr.engine.config_datasets import IGNORED_KEYS, _key_types, section_defaults

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `([^`]+)` \| (?:`([^`]*)`|\(none\)) \| (.+) \|$")


def _table_after(marker: str) -> dict[str, tuple[str | None, str]]:
    """{key: (default text or None, what)} of the first `| key | default | what |` table after `marker`."""
    start = DOC.index(marker)
    head = DOC.index("| key | default | what |", start)
    rows: dict[str, tuple[str | None, str]] = {}
    for line in DOC[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"unreadable row of the config reference: {line}"
        assert match[1] not in rows, f"{match[1]} is listed twice"
        rows[match[1]] = (match[2], match[3])
    return rows


def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        dotted = prefix + key
        if isinstance(value, dict) and dotted not in FREE_FORM:
            out.update(_leaves(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def test_every_config_key_is_documented_with_its_default():
    rows = _table_after("**Config keys.**")
    leaves = _leaves(DEFAULTS)
    assert sorted(rows) == sorted(leaves)
    for key, (text, _) in rows.items():
        assert yaml.safe_load(text) == leaves[key], f"{key}: the docs say {text}, the code {leaves[key]!r}"


def test_every_data_section_key_is_documented_with_its_default():
    rows = _table_after("A data section (`data.train`, `data.val`) takes these keys")
    train, val = section_defaults("data.train"), section_defaults("data.val")
    assert sorted(rows) == sorted(_key_types())
    for key, (text, what) in rows.items():
        want = train.get(key)  # recordings and root have none
        assert (text is None) == (key not in train), key
        if text is not None:
            assert yaml.safe_load(text) == want, f"{key}: the docs say {text}, the code {want!r}"
        if val.get(key) != want:  # a key whose data.val default differs says so
            assert "data.val" in what, key
    for where, keys in IGNORED_KEYS.items():
        for key in keys:
            assert f"`{where}.{key}` is refused" in DOC


def test_every_shipped_config_is_listed():
    table = DOC[DOC.index("| config | what |"):DOC.index("**Config keys.**")]
    listed = set(re.findall(r"`(configs/[^`]+)`", table))
    expanded = set()
    for entry in listed:
        if "{" in entry:
            stem, names, suffix = re.match(r"(.*)\{(.*)\}(.*)", entry).groups()
            expanded |= {f"{stem}{name}{suffix}" for name in names.split(",")}
        else:
            expanded.add(entry)
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml")}
    assert expanded == shipped
