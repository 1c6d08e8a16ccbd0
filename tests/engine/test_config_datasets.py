"""Data sections of a config: key ranges, and errors that name the section's keys."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from egvsr.engine.config_datasets import build_dataset, check_section
from egvsr.errors import ConfigError, InputFileError


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from egvsr.events.simulate import make_sample

    path = tmp_path_factory.mktemp("rec") / "tiny.h5"
    return make_sample(path, seed=3, seconds=0.5, size=(40, 56), fps=20.0, progress=False)


@pytest.mark.parametrize("key, value, match", [
    ("synthetic_size", [2, 2], r"each 16 to 4096, e\.g\. \[128, 160\], got \[2, 2\]$"),
    ("synthetic_size", [15, 160], "each 16 to 4096"),
    ("synthetic_size", [100000, 100000], "each 16 to 4096"),
    ("synthetic_frames", 1, "an integer from 2 to 1000, got 1$"),
    ("synthetic_frames", 100_000_000, "an integer from 2 to 1000"),
    ("sample_size", [2, 2], r"each 16 to 4096, e\.g\. \[260, 346\], got \[2, 2\]$"),
    ("sample_size", [260, 5000], "each 16 to 4096"),
])
def test_generated_recording_sizes_are_bounded_by_key(key, value, match):
    with pytest.raises(ConfigError, match=f"^data.train.{key}: expected .*{match}"):
        check_section({"recordings": ["synthetic:train:0-1"], key: value}, "data.train")
    check_section({"recordings": ["synthetic:train:0-1"], "synthetic_size": [16, 16], "synthetic_frames": 1000,
                   "sample_size": [16, 4096]}, "data.train")


def test_synthetic_clips_beyond_memory_are_refused_before_the_cache_is_made(tmp_path, monkeypatch):
    from egvsr.datasets.synthetic import cache

    monkeypatch.setattr(cache, "memory_budget", lambda: 10**9)  # a machine of 1.25 GB, whatever runs the test
    spec = {"recordings": ["synthetic:train:0-0"], "synthetic_size": [4096, 4096], "sample_cache": str(tmp_path / "c")}
    with pytest.raises(ConfigError, match=r"^data.train.synthetic_size, data.train.synthetic_frames: synthetic clips "
                                          r"of 4096x4096 pixels and 5 frames need up to about .* GB of memory each"):
        build_dataset(spec, "data.train", mode="train")
    assert not (tmp_path / "c").exists()


def test_validation_errors_name_the_data_val_keys(tiny_recording):
    spec = {"recordings": [str(tiny_recording)]}
    with pytest.raises(ConfigError, match=r"^data.val.scale: mode 'eval' needs a fixed scale; set data.val.scale "):
        build_dataset(spec, "data.val", mode="eval")
    with pytest.raises(ConfigError, match=r"^data.val.patch_size: evaluation uses whole frames; leave "
                                          r"data.val.patch_size unset \(null\)$"):
        build_dataset({**spec, "scale": 2, "patch_size": 8}, "data.val", mode="eval")
    with pytest.raises(ConfigError, match=r"^patch_size: evaluation uses whole frames; leave patch_size unset "
                                          r"\(None\)$"):  # set by a command, not the section: the library's words
        build_dataset({**spec, "scale": 2}, "`data`", mode="eval", patch_size=8)


def _root(tmp_path: Path, recording: Path) -> Path:
    root = tmp_path / "root"
    (root / "splits").mkdir(parents=True)
    os.symlink(recording, root / "rec.h5")
    return root


def test_an_empty_split_file_is_named_with_the_split_key(tmp_path, tiny_recording):
    root = _root(tmp_path, tiny_recording)
    (root / "splits" / "empty.txt").write_text("# nothing yet\n\n")
    with pytest.raises(InputFileError, match=r"^data.train.split: .*/splits/empty.txt: split file lists no "
                                             r"recordings; expected one recording name per line"):
        build_dataset({"root": str(root), "split": "empty"}, "data.train", mode="train", patch_size=8)


@pytest.mark.parametrize("split", ["/abs/folder", "../other", "sub/../../other"])
def test_a_split_leading_out_of_the_root_is_refused(tmp_path, tiny_recording, split):
    root = _root(tmp_path, tiny_recording)
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(tiny_recording, other / "elsewhere.h5")
    with pytest.raises(ConfigError, match=rf"^data.train.split: split '{split}': expected a split name or a "
                                          r"sub-folder of the root, not a path leading out of it"):
        build_dataset({"root": str(root), "split": split}, "data.train", mode="train", patch_size=8)


def test_sample_seconds_beyond_what_a_sample_holds_is_named_by_its_key():
    """Was make_sample's own message, naming `seconds`, `fps` and `gt_per_interval` (no config keys)."""
    from egvsr.engine.config import load_config

    with pytest.raises(ConfigError, match=r"^data\.train\.sample_seconds: expected a positive number of seconds, "
                                          r"at most 1000 .*got 1000000000.0$"):
        load_config(None, ["data.train.sample_seconds=1e9"])


def test_the_sample_seconds_cap_is_what_make_sample_holds():
    import inspect

    from egvsr.engine.config_datasets import SAMPLE_SECONDS_MAX
    from egvsr.events.simulate.sample import MAX_SAMPLE_FRAMES, make_sample

    d = inspect.signature(make_sample).parameters
    assert SAMPLE_SECONDS_MAX * d["fps"].default * (1 + d["gt_per_interval"].default) <= MAX_SAMPLE_FRAMES + 100


def test_a_cached_sample_recording_is_reused_only_when_its_header_says_it_is_that_recording(tmp_path):
    """It is reused by its name: a truncated file, another seed's or another size's recording copied or
    renamed to it, or a dangling link is refused naming it, never trained on as the sample."""
    import shutil

    from egvsr.engine.config_datasets import resolve_recordings

    spec = {"recordings": ["sample:3"], "sample_cache": str(tmp_path), "sample_seconds": 0.2,
            "sample_size": [32, 40]}
    made = Path(resolve_recordings(spec, "data.train")[0])
    before = made.stat().st_mtime_ns
    assert resolve_recordings(spec, "data.train") == [str(made)] and made.stat().st_mtime_ns == before  # reused
    keep = tmp_path / "keep.h5"
    shutil.copy(made, keep)
    other = Path(resolve_recordings({**spec, "recordings": ["sample:4"]}, "data.train")[0])
    shutil.copy(other, made)  # seed 4's recording under seed 3's name
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(made))}: the cached sample recording is a sample "
                                             r"recording of other settings \(seed 4, expected 3\); delete it and it is "
                                             r"made"):
        resolve_recordings(spec, "data.train")
    made.write_bytes(keep.read_bytes()[:3000])  # cut short
    with pytest.raises(InputFileError, match=r"is unreadable, probably truncated or damaged"):
        resolve_recordings(spec, "data.train")
    made.unlink()
    os.symlink(tmp_path / "gone.h5", made)
    with pytest.raises(InputFileError, match=r"is a link to nothing"):
        resolve_recordings(spec, "data.train")
