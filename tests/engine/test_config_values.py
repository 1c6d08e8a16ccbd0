"""Config values at their edges: quoted numbers read exactly as YAML 1.2 reads them, integers too large for a
float, NUL bytes, an over-long experiment name, and keys the trainer would ignore; and the resume check
comparing values, not spellings. Each is one ConfigError naming the dotted key, never a traceback."""

from __future__ import annotations

import re

import pytest

from egvsr.engine.config import config_differences, load_config
from egvsr.errors import ConfigError

HUGE = "1" + "0" * 400  # an integer no float holds: math.isfinite() of it raises OverflowError


@pytest.mark.parametrize("setting, key, value", [
    ("seed='9007199254740993'", "seed", 9007199254740993),  # 2**53 + 1: a float would round it to ...992
    ("train.iterations='12345678901234567'", "train.iterations", 12345678901234567),
    ("train.lr='0x10'", "train.lr", 16),                        # as the same text unquoted reads
    ("train.lr=' 1e-3 '", "train.lr", 0.001),
    ("train.iterations='1e2'", "train.iterations", 100),
    ("data.train.sample_seconds='0.5'", "data.train.sample_seconds", 0.5),
])
def test_a_quoted_number_is_the_number_yaml_reads_in_it_exactly(setting, key, value):
    got = load_config(None, [setting])
    for part in key.split("."):
        got = got[part]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("setting", ["train.iterations='1_000'", "seed='1_0'", "train.lr='0x1p-3'"])
def test_quoted_text_yaml_does_not_read_as_a_number_is_refused(setting):
    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^config key '{key}': expected a number, got "):
        load_config(None, [setting])


@pytest.mark.parametrize("key", ["train.lr", "train.weight_decay", "train.eta_min", "train.grad_clip",
                                 "train.ema_decay", "train.max_minutes", "train.max_cpu_minutes",
                                 "data.train.scale", "data.train.fps", "data.train.reverse_prob",
                                 "data.train.sample_seconds", "data.val.scale"])
@pytest.mark.parametrize("form", ["{}", "-{}", "'{}'"])
def test_an_integer_too_large_for_a_float_is_refused_naming_its_key(key, form):
    with pytest.raises(ConfigError, match=rf"^{key}: expected .*, got '?-?1000000000"):
        load_config(None, [f"{key}={form.format(HUGE)}"])


@pytest.mark.parametrize("setting, key", [
    ("train.betas=[{}, 0.9]", "train.betas"),
    ("data.train.scale_range=[1, {}]", "data.train.scale_range"),
])
def test_an_integer_too_large_for_a_float_in_a_list_is_refused(setting, key):
    with pytest.raises(ConfigError, match=rf"^{key}: expected "):
        load_config(None, [setting.format(HUGE)])


def test_a_refused_huge_value_is_shown_cut_to_one_short_line():
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"train.lr={HUGE}"])
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("setting, key", [
    ('output_root="runs\\0x"', "output_root"),
    ('train.init_from="a\\0.pt"', "train.init_from"),
    ('data.train.recordings=["sample:1", "rec\\0.h5"]', r"data\.train\.recordings\[1\]"),
    ('data.train.sample_cache="c\\0"', "data.train.sample_cache"),
    ('data.val.root="r\\0"', "data.val.root"),
    ('model.options.output_activation="clamp\\0"', "model.options.output_activation"),
])
def test_a_text_holding_a_nul_byte_is_refused_naming_its_key(setting, key):
    """os.stat and realpath raise ValueError on a NUL byte: it used to escape as a traceback mid-run."""
    with pytest.raises(ConfigError, match=rf"^{key}: .* holds a NUL byte"):
        load_config(None, [setting])


def test_an_experiment_name_longer_than_a_file_name_is_refused_naming_the_name():
    assert load_config(None, ["name=" + "a" * 255])["name"] == "a" * 255
    with pytest.raises(ConfigError, match=r"^name: .* is 256 bytes long; expected at most 255"):
        load_config(None, ["name=" + "a" * 256])
    with pytest.raises(ConfigError, match=r"^name: .* is 256 bytes long"):
        load_config(None, ["name=" + "é" * 128])  # 2 bytes each in UTF-8


def test_data_train_seed_is_refused_since_training_ignores_it():
    """The trainer builds the training set with the top-level seed and draws every sample's seed from
    (seed, step): a data.train.seed changed nothing, yet a resume counted it as a change."""
    with pytest.raises(ConfigError, match=r"^data\.train\.seed: .*top-level `seed`.*leave data\.train\.seed out$"):
        load_config(None, ["data.train.seed=5"])
    assert load_config(None, ["data.val.seed=5"])["data"]["val"]["seed"] == 5


def test_an_unknown_data_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"^unknown config key data\.train\.bin \(did you mean 'bins'\?\)"):
        load_config(None, ["data.train.bin=8"])


# ---- the resume check --------------------------------------------------------------------------------
def _cfg(*settings):
    return load_config(None, ["data.train.recordings=[sample:1]", *settings])


@pytest.mark.parametrize("old, new", [
    (["data.train.recordings=sample:1"], ["data.train.recordings=[sample:1]"]),
    (["data.train.patch_size=8"], ["data.train.patch_size=[8, 8]"]),
    ([], ["data.train.patch_size=[64, 64]"]),            # the default, written as a pair
    (["data.val.recordings=x.h5", "data.val.scale=4"], ["data.val.recordings=[x.h5]", "data.val.scale=4.0"]),
])
def test_one_value_written_two_ways_is_no_change_on_resume(old, new):
    assert config_differences(_cfg(*old), _cfg(*new)) == []


def test_a_real_change_is_still_found():
    assert config_differences(_cfg("data.train.patch_size=8"), _cfg("data.train.patch_size=[8, 9]")) == [
        "data.train.patch_size: 8 -> [8, 9]"]  # each side as written
    assert config_differences(_cfg("data.train.patch_size=[8, 8]"), _cfg("data.train.patch_size=[8, 9]")) == [
        "data.train.patch_size[1]: 8 -> 9"]
    assert config_differences(_cfg(), _cfg("data.train.recordings=sample:2")) == [
        "data.train.recordings: ['sample:1'] -> 'sample:2'"]


def test_a_change_deep_in_a_long_list_is_named_by_its_index():
    """Two lists of one length are compared element by element: each side cut at 60 characters would read
    the same for lists differing late."""
    many = [f"/data/recordings/clip_{i:03d}.h5" for i in range(20)]
    changed = many[:17] + ["/data/recordings/other.h5"] + many[18:]
    diffs = config_differences(_cfg(f"data.train.recordings={many}"), _cfg(f"data.train.recordings={changed}"))
    assert diffs == ["data.train.recordings[17]: '/data/recordings/clip_017.h5' -> '/data/recordings/other.h5'"]
    shorter = config_differences(_cfg(f"data.train.recordings={many}"), _cfg(f"data.train.recordings={many[:3]}"))
    assert len(shorter) == 1 and shorter[0].startswith("data.train.recordings: [")


@pytest.mark.parametrize("reader", ["train", "eval"])
def test_a_file_too_large_for_a_config_is_refused_before_it_is_read(tmp_path, monkeypatch, reader):
    """A recording or checkpoint given as the config is refused by its size, unread: read whole into memory
    (a multi-gigabyte one exhausts it) before YAML finds its first byte wrong, it would never get that far."""
    from pathlib import Path

    from egvsr.engine import yamltext
    from egvsr.engine.evaluation import eval_options

    big = tmp_path / "recording.h5"
    with open(big, "wb") as f:
        f.truncate(yamltext.MAX_CONFIG_BYTES + 1)  # sparse: no disk used
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(ConfigError,
                       match=rf"^{re.escape(str(big))}: is 67,108,865 bytes; expected the .*at most 67,108,864 bytes"):
        load_config(big) if reader == "train" else eval_options(big)
