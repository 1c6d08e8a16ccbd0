"""A leading `~` in a config's paths is the user's home folder, as a shell would read it."""

from __future__ import annotations

import os

import pytest

from egvsr.engine.config import check_config, load_config


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return str(folder)


def test_paths_in_a_yaml_file_expand_the_home_folder(tmp_path, home):
    path = tmp_path / "c.yaml"
    path.write_text("output_root: ~/runs\ntrain: {init_from: ~/w.pt}\n"
                    "data:\n  train: {recordings: [~/a.h5, sample:3, b/~c.h5], sample_cache: ~/cache}\n"
                    "  val: {root: ~/CED, split: ced_test}\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg["output_root"] == os.path.join(home, "runs")
    assert cfg["train"]["init_from"] == os.path.join(home, "w.pt")
    assert cfg["data"]["train"]["recordings"] == [os.path.join(home, "a.h5"), "sample:3", "b/~c.h5"]
    assert cfg["data"]["train"]["sample_cache"] == os.path.join(home, "cache")
    assert cfg["data"]["val"]["root"] == os.path.join(home, "CED")


def test_set_overrides_and_a_single_recording_expand_too(home):
    cfg = load_config(None, ["data.train.recordings=~/x.h5", "output_root=~/"])
    assert cfg["data"]["train"]["recordings"] == os.path.join(home, "x.h5")
    assert cfg["output_root"] == home + "/"


def test_names_that_only_contain_a_tilde_and_shipped_stay(home):
    cfg = load_config(None, ["output_root=runs~1", "train.init_from=shipped"])
    assert cfg["output_root"] == "runs~1" and cfg["train"]["init_from"] == "shipped"
    assert cfg["data"] == {"train": {}, "val": {}}


def test_a_python_config_expands_without_changing_the_callers_mapping(home):
    mine = {"output_root": "~/runs", "data": {"train": {"recordings": ["~/a.h5"]}}}
    cfg = check_config(mine)
    assert cfg["output_root"] == os.path.join(home, "runs")
    assert cfg["data"]["train"]["recordings"] == [os.path.join(home, "a.h5")]
    assert mine == {"output_root": "~/runs", "data": {"train": {"recordings": ["~/a.h5"]}}}
