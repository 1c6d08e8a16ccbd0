"""`egvsr import-checkpoint`: official files in, egvsr checkpoints out, through the user's path."""

from __future__ import annotations

import pickle
import shlex
import warnings

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
    # the path as the shell takes it (quoted where it holds a space or other shell characters)
    assert line.endswith(f"convert it first with egvsr import-checkpoint {shlex.quote(str(src))} OUT.pt")


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


def _signature_state(kind: str) -> dict:
    """A state dict holding only the characteristic keys of `kind` (enough to detect it, nothing more)."""
    if kind == "egvsr-official":
        return {"image_head.weight": torch.zeros(16, 9, 3, 3), "channel_up.weight": torch.zeros(64, 16, 1, 1)}
    return {"conv_first.weight": torch.zeros(8, 3, 3, 3), "feat_imnet.net.0.linear.weight": torch.zeros(4, 33)}


@pytest.mark.parametrize("change, what", [
    (lambda v: v.to_sparse(), "a sparse tensor (torch.sparse_coo)"),
    (lambda v: v.to("meta"), "a meta tensor (a shape without values)"),
    (lambda v: torch.quantize_per_tensor(v, 0.1, 0, torch.qint8), "a quantized tensor (torch.qint8)"),
    (lambda v: v.to(torch.complex64), "a complex tensor (torch.complex64)"),  # was imported, imaginary part dropped
    (lambda v: v.to(torch.int8), "an int8 tensor"),  # int8 values whose quantization scale is elsewhere
    (lambda v: v > 0, "a bool tensor"),
], ids=["sparse", "meta", "quantized", "complex", "int8", "bool"])
def test_a_weight_that_is_not_a_dense_real_float_tensor_is_named(tmp_path, capsys, change, what):
    """Sparse, meta and quantized tensors made the conversion trace back; complex ones were cast with torch's
    UserWarning leaking. Every one is refused in one line naming the file and the key, as stored."""
    state = {"module." + k: v for k, v in _signature_state("egvsr-official").items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own deprecation note on creating quantized tensors
        state["module.channel_up.weight"] = change(state["module.channel_up.weight"])
        src, out = tmp_path / "odd.pth", tmp_path / "a.pt"
        torch.save({"state_dict": state}, src)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of torch's leaks
        line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    assert line == (f"{src}: weight 'module.channel_up.weight' is {what}; expected dense real floating-point "
                    "tensors (float16, bfloat16, float32 or float64)")
    assert not out.exists()


@pytest.mark.parametrize("kind, other", [("egvsr-official", "videoinr-official"),
                                         ("videoinr-official", "egvsr-official")])
def test_from_naming_the_other_kind_says_what_the_weights_look_like(tmp_path, capsys, kind, other):
    src = tmp_path / "w.pth"
    torch.save(_signature_state(kind), src)
    line = _error_line(["import-checkpoint", str(src), str(tmp_path / "a.pt"), "--from", other], capsys)
    assert line.startswith(f"{src}: the weights look like {kind} (they have ")
    assert line.endswith(f"not --from {other}; give --from {kind} or leave it out to detect the kind")


def test_an_egvsr_dict_missing_a_characteristic_key_names_it(tmp_path, capsys):
    src = tmp_path / "w.pth"
    state = _signature_state("egvsr-official")
    del state["channel_up.weight"]
    torch.save({"state_dict": {**state, "event_head.weight": torch.zeros(16, 16, 3, 3)}}, src)
    line = _error_line(["import-checkpoint", str(src), str(tmp_path / "a.pt")], capsys)
    assert line == (f"{src}: has 'image_head.weight' of an official EGVSR checkpoint but no 'channel_up.weight'; "
                    "the file is incomplete, or of another model")


@pytest.mark.parametrize("content, message", [
    ({}, "holds an empty dict (no weights)"),
    ({"epoch": 3, "state_dict": {}}, "its 'state_dict' is an empty dict (no weights)"),
], ids=["empty", "empty-state-dict"])
def test_an_empty_dict_says_so(tmp_path, capsys, content, message):
    src = tmp_path / "w.pth"
    torch.save(content, src)
    assert _error_line(["import-checkpoint", str(src), str(tmp_path / "a.pt")], capsys).startswith(f"{src}: {message}")


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_plain_pickle_is_no_pytorch_file_and_the_advice_reads_it_with_pickle(tmp_path, capsys, protocol):
    """`pickle.dump` output: torch's multi-line note on the protocol leaked, and the suggested
    `torch.load(weights_only=False)` cannot read such a file at all."""
    src = tmp_path / "w.pth"
    with open(src, "wb") as fh:
        pickle.dump(_signature_state("egvsr-official"), fh, protocol=protocol)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = _error_line(["import-checkpoint", str(src), str(tmp_path / "a.pt")], capsys)
    assert line.startswith(f"{src}: not a PyTorch file but a plain pickle (written by pickle.dump, not torch.save)")
    assert "weights_only=False" not in line and f"pickle.load(open('{src}', 'rb'))" in line
    # a torch.save file in the legacy (non-zip) format is a pickle too, but torch's: it is still read
    legacy = tmp_path / "legacy.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert "pass --from" in _error_line(["import-checkpoint", str(legacy), str(tmp_path / "a.pt")], capsys)


def test_set_of_an_option_videoinr_weights_fix_is_refused(tmp_path, capsys, videoinr_fx):
    src, out = tmp_path / "latest_G.pth", tmp_path / "a.pt"
    torch.save(official_weights(videoinr_fx), src)
    nf = int(official_weights(videoinr_fx)["conv_first.weight"].shape[0])
    line = _error_line(["import-checkpoint", str(src), str(out), "--set", f"nf={nf + 1}"], capsys)
    assert line == (f"--set nf={nf + 1}: the weights of {src} fix nf to {nf}; set only options the weights do "
                    "not fix")
    assert main(["import-checkpoint", str(src), str(out), "--set", f"nf={nf}"]) == 0


def test_an_official_key_for_a_weight_our_model_lacks_is_refused_with_the_list(tmp_path, capsys, videoinr_fx):
    """A key the converter maps (feature_extraction.* -> encoder.front.*) to nothing in our model was a KeyError."""
    state = official_weights(videoinr_fx)
    state["feature_extraction.0.bn.weight"] = torch.ones(4)
    src, out = tmp_path / "bn.pth", tmp_path / "a.pt"
    torch.save(state, src)
    line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    assert line == (f"{src}: 1 official key(s) map to no weight of our videoinr-official model: "
                    "feature_extraction.0.bn.weight (encoder.front.0.bn.weight)")
    assert not out.exists()


@pytest.mark.parametrize("deeper", ["deep", "shallow"])
def test_unequal_shallow_and_deep_cnn_depths_are_refused_naming_both(tmp_path, capsys, egvsr_fx, deeper):
    """The official model has shallow_cnn_depth and deep_cnn_depth, ours one lcb_depth: a deeper deep CNN was a
    KeyError, a deeper shallow one a list of 200 weights without official keys."""
    state = official_weights(egvsr_fx)
    for key in list(state):
        if key.startswith(f"{deeper}_") and ".hpbs.1." in key:
            state[key.replace(".hpbs.1.", ".hpbs.2.")] = state[key].clone()
    src, out = tmp_path / "depth.pth", tmp_path / "a.pt"
    torch.save(state, src)
    line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    depths = {"shallow": 3 if deeper == "shallow" else 2, "deep": 3 if deeper == "deep" else 2}
    assert line.startswith(f"{src}: unsupported official EGVSR layout: HPBs per CNN "
                           f"shallow_image_cnn {depths['shallow']}, shallow_event_cnn {depths['shallow']}, "
                           f"deep_image_cnn {depths['deep']}, deep_event_cnn {depths['deep']} "
                           "(shallow_cnn_depth and deep_cnn_depth differ"), line
    assert not out.exists()


def test_a_size_refusal_names_the_source_file(tmp_path, capsys, egvsr_fx, monkeypatch):
    src, out = _trainer_file(tmp_path, egvsr_fx), tmp_path / "a.pt"
    monkeypatch.setenv("EGVSR_MAX_MODEL_GB", "0.00001")
    line = _error_line(["import-checkpoint", str(src), str(out)], capsys)
    assert line.startswith(f"{src}: model 'egvsr-official': the options give") and "above the limit" in line


@pytest.mark.parametrize("setting, message", [
    ("window_tokens=5", "model 'egvsr-official': option 'window_tokens' does not exist in the official model"),
    ("name_or_config=x", "model 'egvsr-official': unknown option(s) ['name_or_config']"),
])
def test_a_set_the_official_model_would_ignore_or_misread_is_refused(tmp_path, capsys, egvsr_fx, setting, message):
    src, out = _trainer_file(tmp_path, egvsr_fx), tmp_path / "a.pt"
    line = _error_line(["import-checkpoint", str(src), str(out), "--set", setting], capsys)
    assert line.startswith(f"{src}: --set: {message}"), line
    assert not out.exists()


@pytest.mark.parametrize("container, atol", [
    (lambda w: {"params": w}, 1e-4),                                      # BasicSR
    (lambda w: {"model": {"module." + k: v for k, v in w.items()}, "epoch": 3, "optimizer": {"state": {}}}, 1e-4),
    (lambda w: {"net": {"state_dict": w}, "iter": 10}, 1e-4),             # nested twice
    (lambda w: {"state_dict": {"generator": w}, "epoch": 3}, 1e-4),       # a dict of networks under state_dict
    # fp16 weights round each value by <= 2^-11 relatively: the output moves by ~1e-3, not by a bug's 0.1-2
    (lambda w: {"params": {k: v.half() for k, v in w.items()}}, 2e-2),
], ids=["params", "model-module", "net-state_dict", "state_dict-generator", "params-fp16"])
def test_a_container_holding_one_state_dict_imports_with_the_official_numbers(tmp_path, egvsr_fx, container, atol):
    """Weights one level or two inside a dict of another trainer were refused as 'entries ... are not
    tensors' although there was only one state dict to take."""
    src, out = tmp_path / "w.pth", tmp_path / "ours.pt"
    torch.save(container(official_weights(egvsr_fx)), src)
    assert main(["import-checkpoint", str(src), str(out)]) == 0
    model, ck = model_from_checkpoint(out)
    assert ck["model"]["name"] == "egvsr-official"
    size = tuple(egvsr_fx["output.sr_images"].shape[-2:])
    with torch.no_grad():
        sr = model(egvsr_fx["input.image"], torch.zeros(1, 1), size, events=egvsr_fx["input.event"])
    err = float((sr[:, 0] - egvsr_fx["output.sr_images"]).abs().max())
    assert err < atol, err


def test_several_state_dicts_in_a_container_are_named_with_the_command_that_picks_one(tmp_path, capsys, egvsr_fx):
    w = official_weights(egvsr_fx)
    src = tmp_path / "w.pth"
    torch.save({"params": w, "params_ema": w, "iter": 5}, src)
    line = _error_line(["import-checkpoint", str(src), str(tmp_path / "a.pt")], capsys)
    assert line.startswith(f"{src}: holds several sets of weights (['params'], ['params_ema']); re-save the one to "
                           f"import as a plain state dict, e.g. python -c \"import torch; c = torch.load('{src}', "
                           "weights_only=True); torch.save(c['params'], 'w.plain.pt')\"")
    assert not (tmp_path / "a.pt").exists()
