"""README's "Python API" block runs as written on the recording it names (`egvsr make-sample rec.h5`) and
gives the shapes its comments state (its last line once used names it never defined)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_api_runs_verbatim(tmp_path, monkeypatch):
    from egvsr.events.simulate import make_sample

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    make_sample(tmp_path / "rec.h5", progress=False)  # what the block's comment says to run
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    names: dict = {}
    exec(compile(code, str(README), "exec"), names)
    assert names["vox"].shape == (5, 65, 86)
    assert tuple(names["out"].shape) == (1, 1, 3, 422, 559)
    assert int(names["batch"]["t_us"][0, 0]) == 1_000_000  # the sample's frame inside the events read above
    assert sum(p.numel() for p in names["model"].parameters()) / 1e6 == pytest.approx(2.6, abs=0.05)

