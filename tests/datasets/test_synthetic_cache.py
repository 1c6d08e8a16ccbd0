"""The synthetic clip cache never reads a file at a clip's name as that clip unless its header says it is."""

from __future__ import annotations

import os
import shutil

import pytest

from egvsr.datasets.synthetic import ensure_clips
from egvsr.datasets.synthetic.cache import clip_folder
from egvsr.errors import InputFileError

SIZE = (16, 24)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Clips 0 and 1 of seed 0 and clip 0 of seed 1 (16x24, 2 frames), rendered once."""
    root = tmp_path_factory.mktemp("rendered")
    ensure_clips(root, 0, "train", [0, 1], SIZE, 2, progress=False, workers=1)
    ensure_clips(root, 1, "train", [0], SIZE, 2, progress=False, workers=1)
    return root


def _cache_with(tmp_path, rendered, seed=0):
    """A copy of the rendered cache folder of `seed`: (cache root, clip folder)."""
    folder = clip_folder(tmp_path, seed, SIZE, 2)
    shutil.copytree(clip_folder(rendered, seed, SIZE, 2), folder)
    return tmp_path, folder


def test_a_valid_cache_is_reused_untouched(tmp_path, rendered):
    cache, folder = _cache_with(tmp_path, rendered)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    paths = ensure_clips(cache, 0, "train", [0, 1], SIZE, 2, progress=False, workers=1)
    assert paths == [str(folder / "train-00000.h5"), str(folder / "train-00001.h5")]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_a_truncated_clip_is_named_not_reused(tmp_path, rendered):
    cache, folder = _cache_with(tmp_path, rendered)
    clip = folder / "train-00001.h5"
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"train-00001\.h5: the cached synthetic clip is unreadable, probably "
                                             r"truncated or damaged .*; delete it and it is rendered again$"):
        ensure_clips(cache, 0, "train", [0, 1], SIZE, 2, progress=False, workers=1)
    assert clip.read_bytes() == data[: len(data) // 2]  # left for the user to look at


def test_garbage_at_a_clips_name_is_named(tmp_path, rendered):
    cache, folder = _cache_with(tmp_path, rendered)
    (folder / "train-00000.h5").write_bytes(b"not a clip")
    with pytest.raises(InputFileError, match=r"train-00000\.h5: the cached synthetic clip is unreadable"):
        ensure_clips(cache, 0, "train", [0], SIZE, 2, progress=False, workers=1)


@pytest.mark.parametrize("source, match", [
    (("seed", 0, "train-00001.h5"), r"other settings \(index 1, expected 0\)"),  # another clip copied over it
    (("seed", 1, "train-00000.h5"), r"other settings \(seed 1, expected 0\)"),  # the same name of another seed
])
def test_a_clip_of_other_settings_at_a_clips_name_is_named(tmp_path, rendered, source, match):
    cache, folder = _cache_with(tmp_path, rendered)
    _, seed, name = source
    shutil.copy(clip_folder(rendered, seed, SIZE, 2) / name, folder / "train-00000.h5")
    with pytest.raises(InputFileError, match=r"train-00000\.h5: the cached synthetic clip is a clip of " + match):
        ensure_clips(cache, 0, "train", [0], SIZE, 2, progress=False, workers=1)


def test_a_clip_of_another_size_or_length_in_the_folder_is_named(tmp_path, rendered):
    """The folder of 3-frame clips holding a 2-frame clip (a folder renamed or copied by hand)."""
    src = clip_folder(rendered, 0, SIZE, 2)
    shutil.copytree(src, clip_folder(tmp_path, 0, SIZE, 3))
    with pytest.raises(InputFileError, match=r"other settings \(frames/t length 2, expected 3\)"):
        ensure_clips(tmp_path, 0, "train", [0], SIZE, 3, progress=False, workers=1)
    shutil.copytree(src, clip_folder(tmp_path, 0, (24, 16), 2))
    with pytest.raises(InputFileError, match=r"other settings \(height 16, expected 24\)"):
        ensure_clips(tmp_path, 0, "train", [0], (24, 16), 2, progress=False, workers=1)


def test_a_dangling_link_at_a_clips_name_is_named_not_rendered_through(tmp_path, rendered):
    cache, folder = _cache_with(tmp_path, rendered)
    os.remove(folder / "train-00000.h5")
    os.symlink(tmp_path / "gone.h5", folder / "train-00000.h5")
    with pytest.raises(InputFileError, match=r"train-00000\.h5: the cached synthetic clip is a link to nothing"):
        ensure_clips(cache, 0, "train", [0], SIZE, 2, progress=False, workers=1)
    assert not (tmp_path / "gone.h5").exists()
