"""Untrusted checkpoints: no entry point unpickles arbitrary objects, and a malformed one is a clear error.

Every payload here is live: a control test unpickles it the unsafe way and sees its marker file
appear. Then each way a checkpoint is loaded (`load_checkpoint`, `model_from_checkpoint`,
`load_render_model`, and the CLI commands `render`, `eval`, `demo --checkpoint` and `train`, which
resumes from `last.pt`) is handed each payload: the marker must never appear and the error must say
the file was refused because it could run code. Checkpoints that load safely but hold wrong types,
NaN weights or a contradictory training config must also fail with the toolkit's errors.
(tests/engine/test_checkpoint_config.py::test_malicious_checkpoint_runs_nothing covers `load_checkpoint`
with one payload; this file covers every entry point.)
"""

from __future__ import annotations

import functools
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.engine.checkpoint_model import model_from_checkpoint
from egvsr.render.model import load_render_model
from egvsr.errors import CheckpointError, EgvsrError
from tests._reliability import check_message, fuzz_settings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class _Exec:
    """Unpickling calls exec(): writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class _System:
    """Unpickling calls os.system('touch MARKER')."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Eval:
    """Unpickling calls eval() of an expression that writes the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"__import__('pathlib').Path({self.marker!r}).write_text('pwned')",))


@functools.lru_cache(maxsize=1)
def _tiny_model():
    from egvsr.models import build_model

    return build_model("egvsr-tiny")


def _tiny_state() -> dict:
    """A fresh payload dict (sharing the cached model's tensors, which no test modifies)."""

    m = _tiny_model()
    return {"model": {"name": "egvsr-tiny", "config": dict(m.config)}, "state_dict": m.state_dict(),
            "experiment": {}}


def _payloads(folder: Path, marker: Path) -> dict[str, Path]:
    """Crafted files, each of which runs code (creates `marker`) when unpickled unsafely."""
    files = {}
    # an otherwise valid egvsr checkpoint with the payload hidden in the model config
    good = _tiny_state()
    disguised = {"format": "egvsr-checkpoint", "version": 1, **good,
                 "model": {"name": "egvsr-tiny", "config": {**good["model"]["config"], "heads": _Exec(marker)}}}
    torch.save(disguised, folder / "disguised.pt")
    files["disguised"] = folder / "disguised.pt"
    torch.save({"format": "egvsr-checkpoint", "version": 1, "state_dict": {"w": _System(marker)}}, folder / "sys.pt")
    files["in-state-dict"] = folder / "sys.pt"
    torch.save(_Eval(marker), folder / "legacy.pt", _use_new_zipfile_serialization=False)
    files["legacy-format"] = folder / "legacy.pt"
    (folder / "raw.pkl").write_bytes(pickle.dumps(_Exec(marker), protocol=2))
    files["raw-pickle"] = folder / "raw.pkl"
    (folder / "raw5.pt").write_bytes(pickle.dumps({"format": "egvsr-checkpoint", "x": _Eval(marker)}, protocol=5))
    files["raw-pickle-5"] = folder / "raw5.pt"
    return files


PAYLOADS = ["disguised", "in-state-dict", "legacy-format", "raw-pickle", "raw-pickle-5"]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted")
    marker = folder / "PWNED"
    return _payloads(folder, marker), marker


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("clip")
    return make_sample(d / "clip.h5", seed=1, seconds=0.2, size=(40, 56), fps=25.0, progress=False)


def _unsafe_load(path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path, weights_only=False)
    except Exception:  # noqa: BLE001 - the payload ran (or not) during unpickling; that is all we ask
        pass


@pytest.mark.parametrize("name", PAYLOADS)
def test_control_every_payload_is_live(crafted, name):
    files, marker = crafted
    marker.unlink(missing_ok=True)
    _unsafe_load(files[name])
    assert marker.exists(), f"payload {name} did not run when unpickled unsafely: the test would prove nothing"
    marker.unlink()


def _refused(exc: BaseException, path: Path) -> None:
    check_message(exc, path.name, "refused to load", "could run code")


API = {
    "load_checkpoint": load_checkpoint,
    "model_from_checkpoint": model_from_checkpoint,
    "load_render_model": load_render_model,
}


@pytest.mark.parametrize("entry", sorted(API))
@pytest.mark.parametrize("name", PAYLOADS)
def test_api_entry_points_refuse_and_run_nothing(crafted, entry, name):
    files, marker = crafted
    marker.unlink(missing_ok=True)
    with pytest.raises(CheckpointError) as err:
        API[entry](files[name])
    assert not marker.exists(), f"{entry} ran the payload of {name}"
    _refused(err.value, files[name])


def _cli_refuses(argv: list[str], capsys, path: Path, marker: Path) -> None:
    marker.unlink(missing_ok=True)
    rc = main(argv)
    err = capsys.readouterr().err
    assert not marker.exists(), f"`egvsr {argv[0]}` ran the payload"
    assert rc == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("egvsr: error: ")
    _refused(CheckpointError(line), path)


@pytest.mark.parametrize("name", ["disguised", "raw-pickle"])
def test_render_cli_refuses(crafted, clip, tmp_path, capsys, name):
    files, marker = crafted
    out = tmp_path / "frames"
    _cli_refuses(["render", str(clip), str(files[name]), "--scale", "2", "--png", str(out), "--no-progress"],
                 capsys, files[name], marker)
    assert not out.exists()


@pytest.mark.parametrize("name", ["disguised", "legacy-format"])
def test_eval_cli_refuses(crafted, tmp_path, capsys, name):
    files, marker = crafted
    _cli_refuses(["eval", str(files[name]), "--data", "sample:1", "--scales", "2", "--output", str(tmp_path / "ev")],
                 capsys, files[name], marker)
    assert not (tmp_path / "ev").exists()


def test_demo_cli_refuses_before_any_work(crafted, tmp_path, capsys):
    files, marker = crafted
    out = tmp_path / "demo"
    _cli_refuses(["demo", "--checkpoint", str(files["disguised"]), "--output", str(out), "--no-progress"],
                 capsys, files["disguised"], marker)
    assert not out.exists() and not list(tmp_path.glob(".demo*"))


def test_train_refuses_a_crafted_last_checkpoint(crafted, clip, tmp_path, capsys):
    files, marker = crafted
    cfg = {"name": "run", "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
           "model": {"name": "egvsr-tiny", "options": {}},
           "data": {"train": {"recordings": [str(clip)], "patch_size": 12, "scale_range": [1, 2], "bins": 8},
                    "val": {}},
           "train": {"iterations": 2, "batch_size": 1}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    last = tmp_path / "exp" / "run" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(files["disguised"].read_bytes())  # someone swapped the file resumed from
    _cli_refuses(["train", str(config), "--no-progress"], capsys, last, marker)


# ---- safe to unpickle, wrong inside ----------------------------------------------------------------
def _one_weight(good: dict, change) -> dict:
    """The state dict of `good` with its first weight (stf.image_head.weight) replaced by `change(weight)`."""
    state = dict(good["state_dict"])
    key = next(iter(state))
    state[key] = change(state[key])
    return state


def _malformed_cases() -> dict[str, tuple[dict, str]]:
    good = _tiny_state()
    nan_state = {k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v)
                 for k, v in good["state_dict"].items()}
    name, config = good["model"]["name"], good["model"]["config"]
    return {
        "no-config": ({**good, "model": {"name": name}}, "must hold a name (str) and a config (mapping)"),
        "name-not-str": ({**good, "model": {"name": 5, "config": config}}, "must hold a name (str)"),
        "config-list": ({**good, "model": {"name": name, "config": [1, 2]}}, "must hold a name (str) and a config"),
        "unknown-model": ({**good, "model": {"name": "nope", "config": {"name": "nope"}}}, "unknown model 'nope'"),
        "name-not-a-model": ({**good, "model": {"name": "nosuch", "config": good["model"]["config"]}},
                             "'model.name' 'nosuch' is not a registered model"),
        "names-contradict": ({**good, "model": {"name": "videoinr", "config": good["model"]["config"]}},
                             "contradicts its 'model.config' name"),
        "bad-option": ({**good, "model": {"name": name, "config": {**config, "max_scale": -1}}},
                       "option 'max_scale'"),
        "state-list": ({**good, "state_dict": [1, 2]}, "'state_dict' is a list, expected a mapping"),
        "ema-tensor": ({**good, "ema": torch.zeros(3)}, "'ema' is a Tensor, expected a mapping"),
        "wrong-weights": ({**good, "state_dict": {"w": torch.zeros(2)}}, "weights do not fit model 'egvsr-tiny'"),
        "nan-weights": ({**good, "state_dict": nan_state}, "expected finite weights"),
        # copied into a float parameter, a complex weight lost its imaginary part (a UserWarning, no error)
        "complex-weight": ({**good, "state_dict": _one_weight(good, lambda v: v.to(torch.complex64))},
                           "weight 'state_dict.stf.image_head.weight' is a complex tensor (torch.complex64); "
                           "expected dense real floating-point tensors"),
        "sparse-weight": ({**good, "state_dict": _one_weight(good, lambda v: v.to_sparse())},
                          "'state_dict.stf.image_head.weight' is a sparse tensor (torch.sparse_coo)"),
        "meta-weight": ({**good, "state_dict": _one_weight(good, lambda v: v.to("meta"))},
                        "'state_dict.stf.image_head.weight' is a meta tensor (a shape without values)"),
        "int-weight": ({**good, "state_dict": _one_weight(good, lambda v: v.to(torch.int32))},
                       "'state_dict.stf.image_head.weight' is an int32 tensor"),
        "experiment-list": ({**good, "experiment": [1]}, "'experiment' is a list, expected a mapping"),
        "frames-text": ({**good, "experiment": {"data": {"train": {"num_frames": "x"}}}},
                        "experiment.data.train.num_frames='x', expected an integer"),
        "bins-list": ({**good, "experiment": {"data": {"train": {"bins": [8]}}}},
                      "experiment.data.train.bins=[8], expected an integer"),
        "polarity-odd": ({**good, "experiment": {"data": {"train": {"polarity": "up"}}}},
                         "experiment.data.train.polarity='up', expected one of signed, split"),
        "frames-other": ({**good, "experiment": {"data": {"train": {"num_frames": 5}}}},
                         "experiment.data.train.num_frames=5 but the model takes 3 frames"),
        "bins-other": ({**good, "experiment": {"data": {"train": {"bins": 16}}}},
                       "events of 16 bins x 2 polarities (moments, split; experiment.data.train: bins=16) but the "
                       "model takes 8 x 2"),
    }


@pytest.mark.parametrize("case", sorted(_malformed_cases()))
def test_malformed_safe_checkpoints_are_clear_errors(tmp_path, case):
    payload, needle = _malformed_cases()[case]
    path = save_checkpoint(tmp_path / f"{case}.pt", payload)
    with pytest.raises(EgvsrError) as err:
        load_render_model(path)  # model_from_checkpoint, then the training config's input options
    check_message(err.value, str(path), needle)


_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["name", "config", "data", "train", "bins", "num_frames", "polarity", "w", "heads"]), inner, max_size=3),
    max_leaves=6,
)


@fuzz_settings(25)
@given(model=_plain, state=_plain | st.just({"w": torch.zeros(2)}), ema=_plain, experiment=_plain,
       keep_config=st.booleans())
def test_random_plain_checkpoint_contents_give_toolkit_errors(tmp_path_factory, model, state, ema, experiment,
                                                              keep_config):
    if keep_config:  # a real model spec, so the weights and training config get checked too
        model = {"name": "egvsr-tiny", "config": _tiny_state()["model"]["config"]}
    path = save_checkpoint(tmp_path_factory.mktemp("ck") / "ck.pt",
                           {"model": model, "state_dict": state, "ema": ema, "experiment": experiment})
    try:
        load_render_model(path)
    except EgvsrError as exc:
        check_message(exc)


def test_numpy_objects_in_a_checkpoint_are_refused(tmp_path):
    """numpy arrays pickle through numpy's own reconstructors: not on the weights-only allow-list."""
    path = tmp_path / "np.pt"
    torch.save({"format": "egvsr-checkpoint", "version": 1, "state_dict": {"w": np.zeros(3)}}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    _refused(err.value, path)


def test_a_model_config_of_shared_references_is_refused_before_any_model_is_built(tmp_path):
    """A few KB of pickle whose `model.config` shares references stands for 2**40 values: every reader
    (render, eval, init_from, resume) refuses it at load, naming the file, instead of walking it."""
    import time

    from egvsr.models import build_model

    model = build_model("egvsr-tiny")
    shared: dict = {"x": 1}
    for _ in range(40):
        shared = {"p": shared, "q": shared}
    spec = {"name": "egvsr-tiny", "config": {**model.config, "fold": shared}}
    path = save_checkpoint(tmp_path / "ck.pt", {"model": spec, "state_dict": model.state_dict(), "experiment": {}})
    started = time.perf_counter()
    for read in (load_checkpoint, model_from_checkpoint, load_render_model):
        with pytest.raises(CheckpointError, match=r"ck\.pt: its 'model' entry expands to more than 1000000 values"):
            read(path)
    assert time.perf_counter() - started < 30
