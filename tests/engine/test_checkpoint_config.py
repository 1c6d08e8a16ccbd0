"""Config strictness and checkpoint safety."""

from __future__ import annotations

import math
import pickle
import re
import random

import numpy as np
import pytest
import torch

from egvsr.engine.checkpoint_file import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from egvsr.engine.config import load_config
from egvsr.errors import CheckpointError, ConfigError, InputFileError


def test_unknown_key_names_it_and_suggests(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr' \(did you mean 'lr'\?\)"):
        load_config(cfg)


def test_overrides_and_free_form(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: demo\nmodel:\n  name: egvsr\n  options: {n_feats: 8}\n")
    c = load_config(cfg, ["train.lr=1e-3", "model.options.inr_channels=4", "eval.scales=[2, 6.5]"])
    assert c["train"]["lr"] == 1e-3 and c["model"]["options"] == {"n_feats": 8, "inr_channels": 4}
    assert c["eval"]["scales"] == [2, 6.5]
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config(cfg, ["train.batch_size=0"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(cfg, ["train.lr"])
    with pytest.raises(InputFileError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_checkpoint_roundtrip_and_model_check(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"name": "bicubic", "config": {}}, "state_dict": {"w": torch.ones(2)}})
    data = load_checkpoint(path, expect_model="bicubic")
    assert torch.equal(data["state_dict"]["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match="holds model 'bicubic', expected 'egvsr'"):
        load_checkpoint(path, expect_model="egvsr")


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


class _System:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_malicious_checkpoint_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "egvsr-checkpoint", "version": 1, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused to load: .*could run code.* \\(it references 'exec'\\)"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(raw)
    torch.save({"p": _System()}, path)  # torch words a blocked module otherwise: still named
    with pytest.raises(CheckpointError, match=r"refused to load: .*\(it references '(posix|nt).system'\)"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_corrupted_and_truncated(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"name": "x", "config": {}}, "state_dict": {"w": torch.ones(100)}})
    data = path.read_bytes()
    for cut in (100, len(data) // 2, len(data) - 10):  # the library's own text never reaches the message
        (tmp_path / "trunc.pt").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"trunc.pt: not a (complete|readable) checkpoint") as err:
            load_checkpoint(tmp_path / "trunc.pt")
        assert "Error" not in str(err.value) and "PytorchStreamReader" not in str(err.value)
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a complete checkpoint file: the end of its zip archive is missing"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"hello world")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")


def test_damaged_bytes_are_not_called_a_refused_pickle(tmp_path):
    """Bytes zeroed inside a checkpoint (its zip end intact) make the weights-only unpickler stop too: that is
    a damaged file, said so, not a file holding objects that could run code."""
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"name": "x", "config": {"a": "b" * 3000}}, "state_dict": {"w": torch.ones(100)}})
    data = bytearray(path.read_bytes())
    data[200:2000] = bytes(1800)  # inside data.pkl, the first member
    (tmp_path / "zeroed.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"zeroed.pt: not a readable checkpoint: its zip archive is damaged "
                                              r"\(Bad CRC-32 .*data.pkl'\) \(corrupted or truncated\)") as err:
        load_checkpoint(tmp_path / "zeroed.pt")
    assert "refused" not in str(err.value) and "run code" not in str(err.value)
    legacy = tmp_path / "legacy.pt"  # the pre-zip format has no checksum: a byte that is no pickle opcode
    torch.save({"w": torch.ones(3), "name": "x"}, legacy, _use_new_zipfile_serialization=False)
    data = bytearray(legacy.read_bytes())
    data[20:60] = bytes(40)
    legacy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"legacy.pt: not a readable checkpoint: its pickle holds byte 0, which "
                                              r"is no pickle opcode"):
        load_checkpoint(legacy)


def test_a_damaged_tensor_record_is_reported_not_loaded(tmp_path):
    """torch.load never checks a member's CRC-32: bytes flipped inside a weight record loaded silently and
    scored differently. Every member is checked before the load."""
    from pathlib import Path

    from egvsr.engine.checkpoint_model import model_from_checkpoint

    shipped = Path(__file__).resolve().parents[2] / "egvsr" / "data" / "egvsr-sample.pt"
    data = bytearray(shipped.read_bytes())
    for i in range(500000, 500200):
        data[i] ^= 0xFF
    flip = tmp_path / "flip.pt"
    flip.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"^.*flip.pt: not a readable checkpoint: its zip archive is damaged "
                                              r"\(Bad CRC-32 for file 'data/\d+'\) \(corrupted or truncated\)"):
        model_from_checkpoint(flip)
    assert load_checkpoint(shipped)["model"]["name"]  # the intact file still loads


@pytest.mark.parametrize("call, said", [
    (lambda ck: load_checkpoint(ck, map_location="xyz"),
     "`map_location` 'xyz': expected auto, cpu, cuda, cuda:N or mps"),
    (lambda ck: load_checkpoint(ck, map_location="bogus:1"), "`map_location` 'bogus:1': expected auto"),
    (lambda ck: _model(ck, device="xyz"), "`device` 'xyz': expected auto, cpu, cuda, cuda:N or mps"),
    (lambda ck: _render_model(ck, device="tpu"), "`device` 'tpu': expected auto, cpu, cuda, cuda:N or mps"),
    (lambda ck: _render_model(ck, device=True), "`device` True: expected auto"),
])
def test_a_device_is_checked_before_the_load_naming_the_parameter(tmp_path, call, said):
    """Raw RuntimeErrors and AssertionErrors, or a checkpoint called damaged, were the result."""
    ck = save_checkpoint(tmp_path / "ck.pt", {"model": {"name": "x", "config": {}}, "state_dict": {}})
    with pytest.raises(ConfigError, match="^" + re.escape(said)):
        call(ck)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", 0, torch.device("cuda")])
def test_a_cuda_device_on_a_machine_without_cuda_is_one_line(tmp_path, device):
    ck = save_checkpoint(tmp_path / "ck.pt", {"model": {"name": "x", "config": {}}, "state_dict": {}})
    with pytest.raises(ConfigError, match=r"^`device` .* requested but CUDA is not available; use cpu or auto"):
        _render_model(ck, device=device)
    with pytest.raises(ConfigError, match=r"^`map_location` .* requested but CUDA is not available"):
        load_checkpoint(ck, map_location=device)


def _model(ck, **kw):
    from egvsr.engine.checkpoint_model import model_from_checkpoint

    return model_from_checkpoint(ck, **kw)


def _render_model(ck, **kw):
    from egvsr.render.model import load_render_model

    return load_render_model(ck, **kw)


def test_a_fifo_or_device_as_a_checkpoint_is_named_as_what_it_is(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo1")
    with pytest.raises(InputFileError, match=r"fifo1: is a FIFO \(named pipe\), not a regular file or folder; "
                                             r"expected a checkpoint file \(.pt\)"):
        load_checkpoint(tmp_path / "fifo1")
    with pytest.raises(InputFileError, match=r"^/dev/null: is a character device"):
        load_checkpoint("/dev/null")
    with pytest.raises(InputFileError, match=r"nothere.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nothere.pt")


@pytest.mark.parametrize("text, key", [("1: 2\n", "config key 1:"), ("null: 2\n", "config key null:"),
                                       ("train: {1: 2}\n", "config key train.1:"),
                                       ("data: {train: {1: 2}}\n", "config key data.train.1:")])
def test_non_text_keys_are_named(tmp_path, text, key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=f"{key} keys must be names"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="config key model.options.1: keys must be names"):
        load_config(None, ["model.options={1: 2}"])


_SECTION = ["data.train.recordings=[a.h5]"]


@pytest.mark.parametrize("override, message", [
    ("data.train.flips=maybe", "data.train.flips: expected true or false, got 'maybe'"),
    ("data.train.rotations=no-thanks", "data.train.rotations: expected true or false"),
    ("data.train.quantize=x", "data.train.quantize: expected true or false"),
    ("data.train.with_coords=1", "data.train.with_coords: expected true or false"),
    ("data.train.include_frames=x", "data.train.include_frames: expected true or false"),
    ("data.train.mode=foo", "data.train.mode: expected one of train, eval"),
    ("data.train.mode=eval", "data.train.mode: data.train is always read with mode 'train'"),
    ("data.val.mode=train", "data.val.mode: data.val is always read with mode 'eval'"),
    ("data.train.fps=-5", "data.train.fps: expected a positive frame rate"),
    ("data.train.root=r", "data.train: give either 'recordings' or 'root'"),
    ("data.train.split=s", "data.train.split: a split needs data.train.root"),
    ("data.val.scale=abc", "data.val.scale: expected one number >= 1"),
    ("data.val.bins=0", "data.val.bins: expected a positive integer"),
    ("data.train.scale_range=[3, 2]", "data.train.scale_range: expected \\[low, high\\]"),
    ("data.train.polarity=both", "data.train.polarity: expected one of signed, split"),
    ("data.train.representation=nope", "data.train.representation: expected one of"),
    ("data.train.reverse_prob=2", "data.train.reverse_prob: expected a probability"),
    ("data.train.patch_size=[8]", "data.train.patch_size: expected a positive integer"),
    ("data.train.bogus=1", "unknown config key data.train.bogus"),
])
def test_data_section_values_are_checked_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, _SECTION + [override])


@pytest.mark.parametrize("overrides, message", [
    (["train.lr=1e38", "train.grad_clip=0"], r"train.lr: 1e\+38 makes Adam's first step, train.lr / \(1 - train.betas"
                                            r"\[0\] 0.9\) = 1e\+39, larger than float32 holds \(3.4e\+38\); "
                                            r"expected at most 3.4e\+37"),
    (["train.lr=1e-3", "train.betas=[0.9999999999999999, 0.99]", "train.lr=1e23"], "train.lr: 1e"),
    (["train.eta_min=1e38"], "train.eta_min: 1e"),
    (["train.weight_decay=1e39"], "train.weight_decay: expected at most 3.4e"),
])
def test_values_torch_holds_in_float32_are_checked_at_load(overrides, message):
    """Values beyond what Adam holds in float32 stopped training at step 1 with a traceback ("value cannot
    be converted to type float without overflow"): one line naming the key at start-up instead."""
    with pytest.raises(ConfigError, match=message):
        load_config(None, _SECTION + overrides)
    load_config(None, _SECTION + ["train.lr=3e37"])  # Adam's first step 3e38: still a float32
    load_config(None, _SECTION + ["train.eta_min=1e38", "train.schedule=constant"])  # unused without cosine


def test_float32_limit_is_where_adam_stops():
    """The first Adam step at the limit runs; just past it torch refuses the value (the check's premise)."""
    from egvsr.engine.config import FLOAT32_MAX

    for lr, ok in ((FLOAT32_MAX * 0.1 * 0.999, True), (FLOAT32_MAX * 0.1 * 1.001, False)):
        p = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.Adam([p], lr=lr, betas=(0.9, 0.99))
        p.sum().backward()
        if ok:
            opt.step()
        else:
            with pytest.raises(RuntimeError, match="overflow"):
                opt.step()


def test_data_section_key_table_covers_the_dataset_options():
    from egvsr.engine.config_datasets import SECTION_KEYS, _dataset_options, _key_types

    assert set(_key_types()) == _dataset_options() | SECTION_KEYS
    c = load_config(None, ["data.train.recordings=null", "data.train.root=r", "data.train.split=s",
                           "data.train.reverse_prob=5e-1", "data.train.flips=false", "data.train.mode=train"])
    assert c["data"]["train"]["reverse_prob"] == 0.5


def test_rng_state_roundtrip_through_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = rng_state()
    path = tmp_path / "rng.pt"
    save_checkpoint(path, {"model": {"name": "x", "config": {}}, "state_dict": {}, "rng": state})
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_rng_state_of_more_gpus_than_this_machine_has_restores_those_it_has(monkeypatch):
    """`torch.cuda.get_rng_state_all` saves one state per visible GPU; a run resumed on a machine with fewer
    (`device` may change) restores the states of the GPUs it has, where set_rng_state_all stopped at the
    first missing one (refused as a damaged 'rng' entry). No GPU is needed: torch.cuda is stood in for."""
    state = rng_state()
    state["cuda"] = [torch.full((8,), i, dtype=torch.uint8) for i in range(8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device="cuda": restored.append((int(s[0]), device)))

    def all_of_them(states):  # torch's own: one per state, failing on a GPU this machine lacks
        for i, s in enumerate(states):
            if i >= 2:
                raise RuntimeError(f"CUDA error: invalid device ordinal {i}")
            restored.append((int(s[0]), i))

    monkeypatch.setattr(torch.cuda, "set_rng_state_all", all_of_them)
    set_rng_state(state)
    assert restored == [(0, 0), (1, 1)]


def _laughs(levels: int) -> str:
    """A 'billion laughs' YAML mapping: each level names the one below twice (2**levels leaves)."""
    parts = ["a0: &a0 {x: 1}"] + [f"a{i}: &a{i} {{p: *a{i - 1}, q: *a{i - 1}}}" for i in range(1, levels + 1)]
    return "{" + ", ".join(parts) + "}"


def test_yaml_alias_bombs_are_refused_before_any_merge(tmp_path):
    """A 2 KB config whose aliases stand for 2**40 values (or that contains itself) is refused at once,
    naming the file or --set value: the merge would walk every repetition. A few aliases are fine."""
    import time

    from egvsr.engine.config import check_config

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(f"data:\n  train: {{laugh: {_laughs(40)}}}\n")
    cyclic = tmp_path / "cyclic.yaml"
    cyclic.write_text("data:\n  train: &a {x: *a}\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bomb))}: the YAML expands to more than 1000000 "
                                          r"values \(a YAML alias"):
        load_config(bomb)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(cyclic))}: the YAML holds a value that contains itself"):
        load_config(cyclic)
    with pytest.raises(ConfigError, match=r"^--set 'data.train.laugh=.*': the YAML expands to more than"):
        load_config(None, [f"data.train.laugh={_laughs(40)}"])
    shared: dict = {"x": 1}
    for _ in range(40):
        shared = {"p": shared, "q": shared}
    with pytest.raises(ConfigError, match=r"^cfg: expands to more than 1000000 values"):
        check_config({"data": {"train": {"laugh": shared}}})
    assert time.perf_counter() - started < 10
    fine = tmp_path / "fine.yaml"
    fine.write_text("data:\n  train: {recordings: &r [a.h5, b.h5]}\n  val: {recordings: *r, scale: 2}\n")
    cfg = load_config(fine)
    assert cfg["data"]["val"]["recordings"] == ["a.h5", "b.h5"]


@pytest.mark.parametrize("text, value", [("1e-2", 0.01), ("2e0", 2.0), ("2E+3", 2000.0), (".5e1", 5.0),
                                         ("1.5e3", 1500.0), ("-.5", -0.5), ("1.0e+3", 1000.0), ("7", 7)])
def test_yaml_reads_numbers_as_yaml_12(tmp_path, text, value):
    """PyYAML (YAML 1.1) reads `1e-2` or `2e0` as text, so they were refused as not numbers in a file and
    in --set; text that merely looks like a number stays text when quoted, also through a saved config."""
    from egvsr.engine.config import dump_config
    from egvsr.engine.yamltext import safe_load

    assert safe_load(f"v: {text}") == {"v": value} and type(safe_load(text)) is type(value)
    assert safe_load(f"v: '{text}'") == {"v": text}
    assert safe_load(dump_config({"v": text})) == {"v": text}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"train:\n  lr: {text.lstrip('-')}\n")
    assert load_config(cfg)["train"]["lr"] == abs(value)
    assert load_config(None, [f"train.lr={text.lstrip('-')}"])["train"]["lr"] == abs(value)


def test_set_takes_a_yaml_12_number_where_any_value_may_go():
    """data.val.scale has no numeric default to convert text by: `2e0` was refused as not a number."""
    c = load_config(None, _SECTION + ["data.val.recordings=[a.h5]", "data.val.scale=2e0"])
    assert c["data"]["val"]["scale"] == 2.0


def test_yaml_floats_leave_pyyaml_itself_alone():
    import yaml

    from egvsr.engine.yamltext import safe_load

    assert safe_load("1e-2") == 0.01 and yaml.safe_load("1e-2") == "1e-2"


def test_model_options_from_a_file_take_yaml_12_numbers(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  name: egvsr\n  options: {tf_half_width: 1e-2}\n")
    assert load_config(cfg)["model"]["options"]["tf_half_width"] == 0.01


@pytest.mark.parametrize("key", ["train..lr", ".lr", "train.", "train.lr."])
def test_a_set_key_with_an_empty_part_is_refused(key):
    """`--set train..lr=1` set train.lr: the empty part was dropped."""
    with pytest.raises(ConfigError, match=rf"^--set '{re.escape(key)}=1': key '{re.escape(key)}' has an empty part; "
                                          r"expected dotted names, e.g. train.lr=1e-4$"):
        load_config(None, [f"{key}=1"])


def test_a_key_given_twice_is_refused_naming_it_and_both_lines(tmp_path):
    """YAML 1.1 kept the last of two `train:` sections silently, dropping the first."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  lr: 1.0e-3\nseed: 1\ntrain:\n  iterations: 5\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML \(line 4, column 1: key 'train' appears twice in "
                                          r"one mapping \(first at line 1, again at line 4\); expected each key once\)$"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="key 'lr' appears twice"):
        load_config(None, ["train={lr: 1, lr: 2}"])
    cfg.write_text("base: &b {lr: 1.0e-3, iterations: 3}\ntrain:\n  <<: *b\n  iterations: 5\n")
    from egvsr.engine.yamltext import safe_load  # a merge key's values may still be overridden

    assert safe_load(cfg.read_text())["train"] == {"lr": 1.0e-3, "iterations": 5}


@pytest.mark.parametrize("text, value", [("0100", 100), ("010", 10), ("0777", 777), ("0o17", 15), ("0x1F", 31),
                                         ("1:30", "1:30"), ("1_000", "1_000"), ("yes", "yes"), ("off", "off"),
                                         ("on", "on"), ("y", "y"), ("True", True), ("FALSE", False), (".inf", math.inf)])
def test_yaml_reads_integers_and_booleans_as_yaml_12(text, value):
    """YAML 1.1 read `0100` as 64, `1:30` as 90 and `yes`/`on` as booleans; a saved config reads back the same."""
    from egvsr.engine.config import dump_config
    from egvsr.engine.yamltext import safe_load

    got = safe_load(f"v: {text}")["v"]
    assert got == value and type(got) is type(value)
    assert safe_load(dump_config({"v": text})) == {"v": text}


@pytest.mark.parametrize("setting, message", [
    ("train.iterations=0100", None), ("train.max_minutes=1:30", r"config key 'train.max_minutes': expected a number, "
                                                                 r"got '1:30'$"),
    ("data.train.flips=yes", r"^data.train.flips: expected true or false, got 'yes'$"),
    ("train.amp=on", r"^train.amp: expected true or false, got 'on'$")])
def test_set_values_are_yaml_12(setting, message):
    if message is None:
        assert load_config(None, _SECTION + [setting])["train"]["iterations"] == 100
        return
    with pytest.raises(ConfigError, match=message):
        load_config(None, _SECTION + [setting])


@pytest.mark.parametrize("text, kind", [("[]", "list"), ("false", "bool"), ("0", "int"), ('""', "str"),
                                        ("[a, b]", "list")])
def test_a_file_holding_anything_but_a_mapping_is_refused(tmp_path, text, kind):
    """`[]`, `false`, `0` or `""` were read as an empty config (`or {}`), while `[a, b]` was refused."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError, match=rf"c\.yaml: expected a mapping at the top level, got {kind}$"):
        load_config(cfg)
    for empty in ("", "# nothing\n", "null\n"):
        cfg.write_text(empty)
        assert load_config(cfg) == load_config(None)


@pytest.mark.parametrize("setting, message", [
    ('train.batch_size="0"', "got 0$"),      # a whole number in quotes is shown as one, not as 0.0
    ('train.batch_size="2.5"', "got 2.5$"),
])
def test_a_quoted_number_is_checked_as_the_number_it_reads(setting, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [setting])


def test_a_quoted_whole_number_reads_as_an_integer():
    assert load_config(None, ['train.batch_size="4"'])["train"]["batch_size"] == 4
    assert isinstance(load_config(None, ['train.batch_size="4"'])["train"]["batch_size"], int)


@pytest.mark.parametrize("setting", ["model.name=5", "model.name=null", "model.name=''"])
def test_a_model_name_that_is_not_text_is_named_by_its_key(setting):
    with pytest.raises(ConfigError, match=r"^model\.name: expected a registered model name"):
        load_config(None, [setting])


@pytest.mark.parametrize("file_value, setting, key, value", [
    ("device: 0", "device=cpu", "device", "cpu"),                    # a CUDA index in the file, text by --set
    ("device: {a: 1}", "device=cpu", "device", "cpu"),
    ("output_root: 5", "output_root=runs", "output_root", "runs"),
    ("train: {init_from: 7}", "train.init_from=shipped", "train.init_from", "shipped"),
])
def test_a_set_value_is_read_by_the_key_not_by_the_value_the_file_gave_it(tmp_path, file_value, setting, key, value):
    """What a key takes comes from DEFAULTS: a file's number at a text key does not make `--set` of that key
    "expect a number" (nor a file's mapping "expect a mapping")."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(file_value + "\n")
    got = load_config(cfg, [setting])
    for part in key.split("."):
        got = got[part]
    assert got == value


@pytest.mark.parametrize("setting, message", [
    ("eval.scales=[0.5, 2]", r"^eval\.scales 0\.5: expected a finite scale >= 1"),
    ("eval.scales=[2, 2.0]", r"^eval\.scales: scale 2 is given twice"),
    ("eval.scales=[]", r"^eval\.scales: give at least one scale"),
    ("eval.scales=4", r"^eval\.scales 4: expected a list of scales"),
    ("eval.scales=[true]", r"^eval\.scales: True is not a number"),
])
def test_eval_scales_are_checked_at_load_as_egvsr_eval_reads_them(setting, message):
    """`egvsr eval CHECKPOINT` takes the run's eval.scales: a value it refuses (below 1, given twice) is refused
    when the config loads, not after the training, at the first evaluation."""
    with pytest.raises(ConfigError, match=message):
        load_config(None, [setting])
