"""Every shipped training config trains: loaded as shipped, checked, then run for 2 steps (with a validation
and a checkpoint) on one tiny generated recording, `--set` overrides shrinking only the sizes and the length.
A key renamed in the code, a value a new check refuses, or a model/data pairing that no longer fits fails here
rather than at a user's start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from egvsr.engine.config import load_config
from egvsr.engine.train import train

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=5, seconds=0.2, size=(64, 80), fps=25.0, progress=False)


def _overrides(path: Path, rec: Path, out: Path) -> list[str]:
    """--set values that keep every key of the config but its data, sizes and length."""
    shipped = yaml.safe_load(path.read_text())
    # paths as JSON strings (valid YAML): a plain one holding "[", ", " or " #" read as something else
    sets = [f"output_root={json.dumps(str(out))}", "train.iterations=2", "train.batch_size=1", "train.val_every=2",
            "train.checkpoint_every=2", "train.num_workers=0", "train.threads=1"]
    for section in ("train", "val"):
        spec = shipped["data"][section]
        sets += [f"data.{section}.root=null", f"data.{section}.split=null",
                 f"data.{section}.recordings={json.dumps([str(rec)])}"]
        if spec.get("patch_size", 64) is not None and section == "train":
            sets.append("data.train.patch_size=8")  # x6.5 of 8 px fits the 64x80 recording
    return sets


def test_every_shipped_config_is_tested():
    assert [p.name for p in CONFIGS] == ["egvsr_ced_x2.yaml", "egvsr_ced_x4.yaml", "egvsr_sample.yaml",
                                         "egvsr_synthetic.yaml", "videoinr_sample.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_shipped_config_trains_two_steps(path, tiny_recording, tmp_path):
    sets = _overrides(path, tiny_recording, tmp_path)
    cfg = load_config(path, sets)
    shipped = load_config(path)
    for key in ("model", "eval", "seed", "name"):  # only sizes, lengths and data were changed
        assert cfg[key] == shipped[key]
    folder = train(path, sets, progress=False, log=None)
    assert (folder / "checkpoints" / "last.pt").is_file()
    assert (folder / "logs" / "val.csv").read_text().count("\n") == 2  # the header and step 2's validation
