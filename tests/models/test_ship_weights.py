"""`scripts/ship_weights.py`: a training checkpoint in, the fp16 shipped file out, nothing else touched."""

from __future__ import annotations

import pytest
import torch

from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.models import build_model
from tests._model_helpers import run_script


def _checkpoint(path, step: int | None = 7, scale_bias: float | None = None):
    """An egvsr-tiny checkpoint at `path` (with `step` unless None; one weight set to `scale_bias`)."""
    model = build_model("egvsr-tiny")
    state = model.state_dict()
    if scale_bias is not None:
        state["stf.image_head.bias"][1] = scale_bias
    payload = {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": state, "ema": None,
               "experiment": {}, **({"step": step} if step is not None else {})}
    return save_checkpoint(path, payload)


def _refused(*args) -> str:
    code, _, err = run_script("ship_weights.py", *args)
    assert code == 2 and err.startswith("ship_weights.py: error: ") and len(err.splitlines()) == 1, (code, err)
    return err


def test_the_source_is_never_replaced_even_with_overwrite(tmp_path):
    src = _checkpoint(tmp_path / "last.pt")
    before = src.read_bytes()
    (tmp_path / "hard.pt").hardlink_to(src)
    for dst in (src, tmp_path / "hard.pt", tmp_path / "." / "last.pt"):
        for extra in ((), ("--overwrite",)):
            assert f"{dst}: output is the input checkpoint" in _refused(src, dst, *extra)
    assert src.read_bytes() == before


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    src, dst = _checkpoint(tmp_path / "last.pt"), tmp_path / "shipped.pt"
    dst.write_bytes(b"keep")
    assert f"{dst}: output already exists" in _refused(src, dst)
    assert dst.read_bytes() == b"keep"
    code, out, err = run_script("ship_weights.py", src, dst, "--overwrite")
    assert code == 0 and "step 7" in out, err
    assert load_checkpoint(dst)["state_dict"]["stf.image_head.weight"].dtype == torch.float16


def test_a_checkpoint_without_a_step_ships(tmp_path):
    src, dst = _checkpoint(tmp_path / "untrained.pt", step=None), tmp_path / "shipped.pt"
    code, out, err = run_script("ship_weights.py", src, dst)
    assert code == 0 and "no training step recorded" in out, err
    assert "step" not in load_checkpoint(dst)


def test_a_missing_source_is_one_line(tmp_path):
    assert "missing.pt: checkpoint not found" in _refused(tmp_path / "missing.pt", tmp_path / "out.pt")


@pytest.mark.parametrize("value", [1e5, -7e4])
def test_a_weight_beyond_float16_is_refused_naming_it_before_writing(tmp_path, value):
    src, dst = _checkpoint(tmp_path / "last.pt", scale_bias=value), tmp_path / "shipped.pt"
    err = _refused(src, dst)
    assert f"{src}: weight 'stf.image_head.bias' holds {value:g}, beyond float16's range" in err
    assert not dst.exists()


BAD_RECORDS = [
    ({"experiment": [1]}, "'experiment' is a list, expected a mapping"),
    ({"experiment": {"data": 5}}, "'experiment.data' is a int, expected a mapping"),
    ({"experiment": {"data": {"train": 3}}}, "'experiment.data.train' is a int, expected a mapping"),
    ({"experiment": {"data": {"train": {"bins": 16}}}}, "the training config gives events of 16 bins"),
    ({"step": "abc"}, "its 'step' entry is 'abc', expected a whole number >= 0"),
    ({"step": -3}, "its 'step' entry is -3, expected a whole number >= 0"),
    ({"step": 2.5}, "its 'step' entry is 2.5, expected a whole number >= 0"),
]


@pytest.mark.parametrize("script", ["ship_weights.py", "resize_time_bins.py"])
@pytest.mark.parametrize("record, message", BAD_RECORDS)
def test_a_training_record_that_render_eval_or_train_would_refuse_is_refused_before_writing(tmp_path, script,
                                                                                           record, message):
    """What a checkpoint records beside its weights travels into the file written: a training config that is
    no mapping (ship_weights.py stopped with a traceback) or whose data options contradict the model (the
    shipped file, render's and eval's default, would then be refused by both), and a step that is no whole
    number >= 0 (written as 'step abc'), are refused in one line naming SRC, and nothing is written."""
    model = build_model("egvsr-tiny")
    src, dst = tmp_path / "last.pt", tmp_path / "out.pt"
    save_checkpoint(src, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": model.state_dict(),
                          "ema": None, "experiment": {}, "step": 7, **record})
    args = ("--time-bins", str(model.config["time_bins"])) if script.startswith("resize") else ()
    code, _, err = run_script(script, src, dst, *args)
    assert code == 2 and err.startswith(f"{script}: error: {src}: ") and len(err.splitlines()) == 1, (code, err)
    assert message in err and not dst.exists()


def test_a_record_with_data_null_ships_its_weights(tmp_path):
    """An `experiment.data` of null (no training data recorded) is no error: render reads it as none."""
    model = build_model("egvsr-tiny")
    src, dst = tmp_path / "last.pt", tmp_path / "out.pt"
    save_checkpoint(src, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": model.state_dict(),
                          "experiment": {"name": "x", "data": None}, "step": 3})
    code, out, err = run_script("ship_weights.py", src, dst)
    assert code == 0 and "step 3" in out, err
    assert load_checkpoint(dst)["experiment"]["data"] == {"train": {}}
