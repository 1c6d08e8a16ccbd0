"""docs/models.md lists every registered preset with its exact parameter count, and every option of the
EGVSR, VideoINR and bicubic families with its default (the options table once lacked mlp_activation,
event_norm and ignore_events, and the models table the shipped egvsr-small)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from egvsr.models import FAMILIES, PRESETS, count_parameters

DOC = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text(encoding="utf-8")


def _models_table() -> dict[str, str]:
    """name -> params cell of the first table (`| name | params | what |`)."""
    rows = {}
    for line in DOC[:DOC.index("`egvsr models` prints")].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = re.findall(r"`([^`]+)`", cells[0])
            counts = [c.strip() for c in cells[1].split(",")]
            rows.update(zip(names, counts if len(counts) == len(names) else counts * len(names)))
    return rows


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_in_the_models_table_with_its_count(name):
    table = _models_table()
    assert name in table, f"{name} missing from docs/models.md's models table"
    printed = table[name].rstrip("M")
    decimals = len(printed.partition(".")[2])
    assert float(printed) == round(count_parameters(name) / 1e6, decimals), (name, table[name])


@pytest.mark.parametrize("family", ["egvsr", "videoinr", "bicubic"])
def test_every_option_is_documented(family):
    for field in dataclasses.fields(FAMILIES[family].options):
        assert re.search(rf"`{field.name}[`=]", DOC), f"option {family}.{field.name} is not in docs/models.md"


def test_egvsr_options_table_gives_the_code_defaults():
    options = FAMILIES["egvsr"].options()
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`") or cells[1] in ("default", "params"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        defaults = [d.strip().strip('`"') for d in cells[1].split(",")]
        if len(names) != len(defaults) or not all(hasattr(options, n) for n in names):
            continue
        for name, text in zip(names, defaults):
            value = getattr(options, name)
            if isinstance(value, bool):
                assert text == str(value).lower(), (name, text)
            elif isinstance(value, (int, float)):
                assert float(text) == value, (name, text)
            else:
                assert text == value, (name, text)


def test_the_shipped_weights_differ_from_their_preset_as_the_models_table_says():
    """The models table called `egvsr-small` "the architecture of egvsr/data/egvsr-sample.pt", but the shipped
    file sets more options (5 latent time bins, so more parameters): the row names each option the file sets
    beyond the preset, with the value, and the file's parameter count."""
    import torch
    import yaml

    from egvsr.engine.weights import shipped_checkpoint
    from egvsr.models import build_model

    with shipped_checkpoint() as path:
        if path is None:
            pytest.skip("this install has no shipped weights")
        shipped = torch.load(path, map_location="cpu", weights_only=True)["model"]
    assert shipped["name"] == "egvsr-small"
    with torch.device("meta"):
        preset = dict(build_model("egvsr-small").config)
    differ = {k: v for k, v in shipped["config"].items() if preset.get(k) != v}
    row = next(line for line in DOC.splitlines() if line.startswith("| `egvsr-small` |"))
    said = dict(re.findall(r"`(\w+): ([\w.]+)`", row))
    assert {k: yaml.safe_load(v) for k, v in said.items()} == differ
    count = re.search(r"\((\d+\.\d+)M\) \|$", row)
    assert count and float(count[1]) == round(count_parameters(shipped["config"]) / 1e6, 3)
