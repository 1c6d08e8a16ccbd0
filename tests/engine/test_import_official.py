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
    err = capsys.readouterr().err
    assert f"error: {src}: 1 key(s) unknown to the egvsr-official converter: extra_head.weight" in err
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


def _error_line(argv: list[str], capsys) -> str:
    """The one error line of a refused command (exit status 2, no traceback)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("egvsr: error: "), err
    return err[0][len("egvsr: error: "):]


@pytest.fixture(scope="module")
def videoinr_fx():
    return load_fixture("videoinr_official_small.pt")


@pytest.mark.parametrize("family, key, shape, rank", [
    ("egvsr", "image_head.weight", (), "4-d"),
    ("egvsr", "image_head.weight", (16,), "4-d"),
    ("egvsr", "image_head.weight", (0, 9, 3, 3), "4-d"),
    ("egvsr", "event_head.weight", (16,), "4-d"),
    ("egvsr", "shallow_fusion_transformer.mlab.ets.0.norm1.weight", (), "1-d"),
    ("egvsr", "shallow_fusion_transformer.mlab.ets.0.norm1.weight", (0,), "1-d"),
    ("egvsr", "up_model.decoder.net.0.weight", (16, 0), "4-d or 2-d"),
    ("egvsr", "event_residual_connection.sampler_module.0.weight", (64,), "4-d or 2-d"),
    ("videoinr", "conv_first.weight", (), "4-d"),
    ("videoinr", "conv_first.weight", (0, 3, 3, 3), "4-d"),
    ("videoinr", "pcd_align.L3_dcnpack_1.conv_offset_mask.weight", (), "4-d"),
    ("videoinr", "feat_imnet.net.0.linear.weight", (), "2-d"),
    ("videoinr", "encode_imnet.net.4.weight", (3,), "2-d"),
])
def test_a_weight_the_model_size_is_read_from_of_the_wrong_rank_or_size_0_is_named(
        tmp_path, capsys, egvsr_fx, videoinr_fx, family, key, shape, rank):
    state = official_weights(egvsr_fx if family == "egvsr" else videoinr_fx)
    state[key] = torch.zeros(shape)
    src, out = tmp_path / "bad.pth", tmp_path / "a.pt"
    torch.save(state, src)
    line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    assert line.startswith(f"{src}: key {key!r} has shape {shape}, expected a {rank} weight with no size 0")
    assert not out.exists()


def test_non_finite_weights_are_refused_at_import_naming_the_key(tmp_path, capsys, egvsr_fx):
    src, out = tmp_path / "nan.pth", tmp_path / "a.pt"
    state = official_weights(egvsr_fx)
    state["channel_up.weight"] = state["channel_up.weight"].clone()
    state["channel_up.weight"][1, 2, 0, 0] = float("nan")
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, src)
    line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    assert line.startswith(f"{src}: weight 'module.channel_up.weight'[1, 2, 0, 0] is nan; expected finite weights")
    # a float64 value float32 cannot hold would become inf in the model
    state["channel_up.weight"] = official_weights(egvsr_fx)["channel_up.weight"].double()
    state["channel_up.weight"][0, 0, 0, 0] = 1e300
    torch.save(state, src)
    assert "weight 'channel_up.weight'[0, 0, 0, 0] is 1e+300, beyond float32's range" in _error_line(
        ["import-checkpoint", str(src), str(out)], capsys)
    assert not out.exists()
    # a weight the model never reads (an ARFB weight1 scale, listed as unused) does not matter
    state = official_weights(egvsr_fx)
    unused = "shallow_image_cnn.hpbs.0.encoder.weight1.scale"
    state[unused] = torch.full_like(state[unused], float("inf"))
    torch.save(state, src)
    assert main(["import-checkpoint", str(src), str(out)]) == 0
    assert unused in model_from_checkpoint(out)[1]["imported"]["unused_keys"]


def test_an_egvsr_checkpoint_needs_no_import(tmp_path, capsys):
    from egvsr.render.model import save_untrained

    ck = save_untrained("egvsr-tiny", tmp_path / "ours.pt")
    line = _error_line(["import-checkpoint", str(ck), str(tmp_path / "a.pt")], capsys)
    assert line.startswith(f"{ck}: already an egvsr checkpoint (no import needed)")
    assert not (tmp_path / "a.pt").exists()


@pytest.mark.parametrize("trainer", [True, False], ids=["trainer-dict", "state-dict"])
def test_eval_of_an_official_file_points_to_import_checkpoint(tmp_path, capsys, egvsr_fx, trainer):
    src = _trainer_file(tmp_path, egvsr_fx) if trainer else tmp_path / "plain.pth"
    if not trainer:
        torch.save(official_weights(egvsr_fx), src)
    line = _error_line(["eval", str(src), "--data", "sample:1", "--no-progress"], capsys)
    assert line.startswith(f"{src}: not an egvsr checkpoint (missing format tag 'egvsr-checkpoint'); it holds a "
                           "plain state dict of 892 weights")
    assert line.endswith(f"convert it first with egvsr import-checkpoint {src} OUT.pt")


@pytest.mark.parametrize("setting, message", [
    ("tf_half_width=abc", "{src}: --set: model 'egvsr-official': option 'tf_half_width': expected a number"),
    ("bogus=1", "{src}: --set: model 'egvsr-official': unknown option(s) ['bogus']"),
    ("heads=0", "{src}: --set: model 'egvsr-official': option 'heads': expected a value >= 1"),
    ("n_feats=7", "--set n_feats=7: the weights of {src} fix n_feats to 16; set only options the weights do not fix"),
])
def test_a_bad_set_names_set_and_the_source(tmp_path, capsys, egvsr_fx, setting, message):
    src, out = _trainer_file(tmp_path, egvsr_fx), tmp_path / "a.pt"
    line = _error_line(["import-checkpoint", str(src), str(out), "--set", setting], capsys)
    assert line.startswith(message.format(src=src)), line
    assert not out.exists()


def test_a_set_equal_to_what_the_weights_fix_is_accepted(tmp_path, capsys, egvsr_fx):
    src, out = _trainer_file(tmp_path, egvsr_fx), tmp_path / "a.pt"
    assert main(["import-checkpoint", str(src), str(out), "--set", "n_feats=16", "--set", "tf_half_width=0.02"]) == 0
    _, ck = model_from_checkpoint(out)
    assert ck["model"]["config"]["tf_half_width"] == 0.02
