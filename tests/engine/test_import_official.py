"""`egvsr import-checkpoint`: official files in, egvsr checkpoints out, through the user's path."""

from __future__ import annotations

import pytest
import torch

from egvsr.cli import main
from egvsr.engine.checkpoint_model import model_from_checkpoint
from tests._official_fixtures import assert_close, load_fixture, official_weights


class NotATensor:
    """A class the weights-only loader refuses to unpickle."""


@pytest.fixture(scope="module")
def egvsr_fx():
    return load_fixture("egvsr_official_small.pt")


def _trainer_file(tmp_path, fx, prefix="module.", **extra):
    state = {prefix + k: v for k, v in official_weights(fx).items()}
    path = tmp_path / "official_egvsr.pth"
    torch.save({"epoch": 7, "state_dict": state, "optimizer": {"state": {}, "param_groups": []},
                "scheduler": {"last_epoch": 7}, **extra}, path)
    return path


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_egvsr_trainer_dict_imports_and_renders_official_numbers(tmp_path, egvsr_fx, prefix, capsys):
    src, out = _trainer_file(tmp_path, egvsr_fx, prefix), tmp_path / "ours.pt"
    assert main(["import-checkpoint", str(src), str(out)]) == 0
    assert "egvsr-official" in capsys.readouterr().out
    model, ck = model_from_checkpoint(out)
    assert ck["model"]["name"] == "egvsr-official" and len(ck["imported"]["unused_keys"]) == 32
    size = tuple(egvsr_fx["output.sr_images"].shape[-2:])
    with torch.no_grad():
        sr = model(egvsr_fx["input.image"], torch.zeros(1, 1), size, events=egvsr_fx["input.event"])
    assert_close(sr[:, 0], egvsr_fx["output.sr_images"], "imported egvsr output.sr_images")


def test_videoinr_plain_state_dict_imports(tmp_path):
    fx = load_fixture("videoinr_official_small.pt")
    src, out = tmp_path / "latest_G.pth", tmp_path / "videoinr.pt"
    torch.save(official_weights(fx), src)
    assert main(["import-checkpoint", str(src), str(out), "--from", "videoinr-official"]) == 0
    model, ck = model_from_checkpoint(out)
    assert ck["model"]["name"] == "videoinr-official"
    with torch.no_grad():
        pred = model(fx["input.x"], torch.tensor([[-0.25]]), (56, 84))
    assert_close(pred[:, 0], fx["output.pred.1"], "imported videoinr output.pred.1 (t=0.375)")


def test_unknown_and_missing_keys_are_refused_with_the_list(tmp_path, egvsr_fx, capsys):
    state = official_weights(egvsr_fx)
    state["extra_head.weight"] = torch.zeros(3)
    src = tmp_path / "unknown.pth"
    torch.save({"state_dict": state}, src)
    assert main(["import-checkpoint", str(src), str(tmp_path / "a.pt")]) == 2
    assert "unknown to the egvsr-official converter: extra_head.weight" in capsys.readouterr().err
    state.pop("extra_head.weight")
    state.pop("up_model.event_weight.scale")
    torch.save({"state_dict": state}, src)
    assert main(["import-checkpoint", str(src), str(tmp_path / "a.pt")]) == 2
    assert "have no official key: stir.w_ev.value" in capsys.readouterr().err
    assert not (tmp_path / "a.pt").exists()


def test_file_needing_arbitrary_unpickling_is_refused(tmp_path, egvsr_fx, capsys):
    src = _trainer_file(tmp_path, egvsr_fx, scheduler=NotATensor())
    assert main(["import-checkpoint", str(src), str(tmp_path / "a.pt")]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "re-save" in err and "weights_only=False" in err
    assert not (tmp_path / "a.pt").exists()


def test_existing_output_is_kept_without_overwrite(tmp_path, egvsr_fx, capsys):
    src, out = _trainer_file(tmp_path, egvsr_fx), tmp_path / "ours.pt"
    out.write_bytes(b"keep me")
    assert main(["import-checkpoint", str(src), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["import-checkpoint", str(src), str(out), "--overwrite"]) == 0
    assert model_from_checkpoint(out)[1]["model"]["name"] == "egvsr-official"


def test_unrecognised_state_dict_asks_for_from(tmp_path, capsys):
    src = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, src)
    assert main(["import-checkpoint", str(src), str(tmp_path / "a.pt")]) == 2
    assert "pass --from" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", bytes(range(7, 250)) * 20, b"a: 1\nb: [2]\n"], ids=["empty", "bytes", "yaml"])
def test_files_that_are_no_pytorch_file_say_so(tmp_path, capsys, content):
    src = tmp_path / "weights.pth"
    src.write_bytes(content)
    assert main(["import-checkpoint", str(src), str(tmp_path / "a.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a checkpoint file (neither a PyTorch zip archive nor a pickle" in err[0]
    assert "weights_only=False" not in err[0] and not (tmp_path / "a.pt").exists()


def test_a_hard_link_of_the_source_is_refused_as_output(tmp_path, capsys):
    import os

    from egvsr.engine.import_official import import_checkpoint
    from egvsr.errors import OutputExistsError

    src, out = tmp_path / "off.pth", tmp_path / "offhard.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, src)
    os.link(src, out)
    before = src.read_bytes()
    assert main(["import-checkpoint", str(src), str(out), "--overwrite"]) == 2
    assert "offhard.pth: output is the input file" in capsys.readouterr().err
    with pytest.raises(OutputExistsError, match="output is the input checkpoint"):
        import_checkpoint(src, out, overwrite=True)
    assert src.read_bytes() == before
