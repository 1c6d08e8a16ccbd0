"""A file of another format given as a checkpoint (a TorchScript or torch.export archive, a safetensors file,
a NumPy file, an event recording, a zip of something else) is named as what it is, in one line naming the
file, by every command that takes a checkpoint, not called "damaged (corrupted or truncated)", which would send
the user after a download or disk problem that is not there. The checkpoint scripts refuse a crafted pickle
without running it, like the commands (tests/engine/test_untrusted_checkpoints.py)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from egvsr.cli import main
from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
from egvsr.engine.import_official import read_official
from egvsr.errors import CheckpointError
from tests._model_helpers import run_script
from tests._reliability import check_message

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class _Doubler(torch.nn.Module):
    def forward(self, x):
        return x * 2


def _safetensors(path: Path) -> None:
    """A safetensors file written from its specification (the package is not a dependency)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "__metadata__": {"format": "pt"}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + np.zeros(2, "<f4").tobytes())


def _make(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    elif kind == "torch-export":
        torch.export.save(torch.export.export(_Doubler(), (torch.ones(2),)), str(path))
    elif kind == "safetensors":
        _safetensors(path)
    elif kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, weight=np.zeros(3, np.float32))
    elif kind == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3, np.float32))
    elif kind == "other-zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("frames/readme.txt", "not weights")
    elif kind == "recording":
        from egvsr.events.simulate import make_sample

        path = make_sample(folder / "recording.h5", seed=1, seconds=0.2, size=(24, 32), fps=25.0, progress=False)
    return path


#: kind -> what the message must call it
KINDS = {
    "torchscript": "a TorchScript archive (torch.jit.save",
    "torch-export": "a torch.export archive (torch.export.save",
    "safetensors": "a safetensors file",
    "npz": "a NumPy .npz archive",
    "npy": "a NumPy .npy array",
    "other-zip": "a zip archive without the data.pkl of a PyTorch checkpoint (it holds frames/readme.txt)",
    "recording": "an HDF5 file (an event recording?)",
}


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("foreign")
    return {kind: _make(kind, folder) for kind in KINDS}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    return make_sample(tmp_path_factory.mktemp("clip") / "clip.h5", seed=2, seconds=0.2, size=(24, 32), fps=25.0,
                       progress=False)


def _one_line(capsys, path: Path, kind: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"egvsr: error: {path}: not a checkpoint file but {KINDS[kind]}"), err
    assert "damaged" not in err[0] and "corrupted" not in err[0]
    return err[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_library_loaders_name_the_format(foreign, kind):
    path = foreign[kind]
    for load in (load_checkpoint, read_official):
        with pytest.raises(CheckpointError) as e:
            load(path)
        msg = check_message(e.value, f"{path}: not a checkpoint file but {KINDS[kind]}", "expected a .pt file")
        assert "damaged" not in msg and "corrupted" not in msg


@pytest.mark.parametrize("kind", KINDS)
def test_render_eval_and_import_name_the_format(foreign, clip, kind, tmp_path, capsys):
    path = foreign[kind]
    assert main(["render", str(clip), str(path), "--scale", "2", "--png", str(tmp_path / "png"), "--no-progress"]) == 2
    _one_line(capsys, path, kind)
    assert main(["eval", str(path), "--data", str(clip), "--output", str(tmp_path / "ev"), "--no-progress"]) == 2
    _one_line(capsys, path, kind)
    assert main(["import-checkpoint", str(path), str(tmp_path / "out.pt")]) == 2
    assert "written by torch.save (an official EGVSR or VideoINR checkpoint)" in _one_line(capsys, path, kind)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("script", ["ship_weights.py", "resize_time_bins.py"])
@pytest.mark.parametrize("kind", ["torchscript", "safetensors", "other-zip"])
def test_the_checkpoint_scripts_name_the_format(foreign, kind, script, tmp_path):
    path = foreign[kind]
    args = ("--time-bins", "5") if script.startswith("resize") else ()
    code, _, err = run_script(script, path, tmp_path / "out.pt", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"{script}: error: {path}: not a checkpoint file but {KINDS[kind]}"), err
    assert not (tmp_path / "out.pt").exists()


def test_the_torchscript_advice_gives_its_weights(foreign, tmp_path):
    """The command the message gives re-saves the archive's weights as a plain state dict."""
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(foreign["torchscript"])
    command = str(e.value).split('python -c "', 1)[1].rsplit('"', 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(command, {})  # noqa: S102 - the advice printed to the user, on a file this test wrote
    finally:
        os.chdir(cwd)
    state = torch.load(tmp_path / "torchscript.plain.pt", weights_only=True)
    assert set(state) == {"weight", "bias"}


def _config(tmp: Path, clip: Path, **train) -> Path:
    cfg = {"name": "run", "seed": 1, "device": "cpu", "output_root": str(tmp / "exp"),
           "model": {"name": "egvsr-tiny", "options": {}},
           "data": {"train": {"recordings": [str(clip)], "patch_size": 12, "scale_range": [1, 2], "bins": 8},
                    "val": {}},
           "train": {"iterations": 1, "batch_size": 1, "log_every": 1, **train}}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("kind", ["torchscript", "safetensors"])
def test_train_names_the_format_of_init_from_and_of_last_pt(foreign, clip, kind, tmp_path, capsys):
    path = foreign[kind]
    assert main(["train", str(_config(tmp_path, clip, init_from=str(path))), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: not a checkpoint file but {KINDS[kind]}" in err[0], err
    assert not (tmp_path / "exp").exists()
    last = tmp_path / "exp" / "run" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(path.read_bytes())
    assert main(["train", str(_config(tmp_path, clip)), "--no-progress"]) == 2
    _one_line(capsys, last, kind)
    assert last.read_bytes() == path.read_bytes()


def test_a_torch_save_checkpoint_is_no_foreign_file(tmp_path):
    """The member names of a real checkpoint (and of torch's legacy format) pass the format check."""
    for legacy in (False, True):
        path = tmp_path / f"legacy-{legacy}.pt"
        save_checkpoint(path, {"model": {"name": "x"}, "state_dict": {}})
        if legacy:
            torch.save(load_checkpoint(path), path, _use_new_zipfile_serialization=False)
        assert load_checkpoint(path)["model"] == {"name": "x"}


# ---- the checkpoint scripts never unpickle arbitrary objects ---------------------------------------------
class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("script", ["ship_weights.py", "resize_time_bins.py"])
@pytest.mark.parametrize("legacy", [False, True])
def test_the_checkpoint_scripts_refuse_a_crafted_pickle_and_run_nothing(tmp_path, script, legacy):
    marker = tmp_path / "PWNED"
    src = tmp_path / "crafted.pt"
    torch.save({"format": "egvsr-checkpoint", "version": 1, "model": {"name": "egvsr-tiny"},
                "state_dict": {"w": _Touch(marker)}}, src, _use_new_zipfile_serialization=not legacy)
    args = ("--time-bins", "5") if script.startswith("resize") else ()
    code, _, err = run_script(script, src, tmp_path / "out.pt", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "refused to load" in err and "could run code" in err and "posix.system" in err
    assert not marker.exists() and not (tmp_path / "out.pt").exists()
