"""An EvTexture clip whose frames or voxels are not all of one size is refused when it is opened, naming the file
and the odd dataset, from the declared shapes alone (as E2VID images and CED PNGs are), not when a sample first
reaches that frame part-way through `eval` or `train` (docs/datasets.md)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.datasets import EventVSRDataset, open_recording
from egvsr.errors import FormatError
from tests.datasets.test_files import write_evtexture

N, H, W, S = 5, 48, 64, 4


@pytest.fixture
def clip(tmp_path):
    hr = np.random.default_rng(0).integers(0, 255, (N, H, W, 3)).astype(np.uint8)
    return write_evtexture(tmp_path / "evt", "clip", hr, S)


def _replace(path, key, shape):
    with h5py.File(path, "r+") as f:
        dtype = f[key].dtype
        del f[key]
        f[key] = np.zeros(shape, dtype)


@pytest.mark.parametrize("side,key,shape,pattern", [
    ("lr", "images/000003", (H // S * 2, W // S * 2, 3), r"LRx4/test/clip\.h5: images/000003 has shape \(24, 32, 3\), "
     r"but images/000000 is 12x16 \(height x width\); all frames of a clip must have one size"),
    ("hr", "images/000004", (H, W // 2, 3), r"HR/test/clip\.h5: images/000004 has shape \(48, 32, 3\), but "
     r"images/000000 is 48x64"),
    ("lr", "voxels_f/000002", (5, W // S, H // S), r"LRx4/test/clip\.h5: voxels_f/000002 has shape \(5, 16, 12\), "
     r"expected \(5, 12, 16\) \(bins, height, width\) as voxels_f/000000"),
    ("lr", "voxels_b/000003", (7, H // S, W // S), r"voxels_b/000003 has shape \(7, 12, 16\), expected \(5, 12, 16\)"),
])
def test_a_frame_or_voxel_of_another_size_is_refused_at_open(clip, side, key, shape, pattern):
    hr, lr = clip
    _replace(hr if side == "hr" else lr, key, shape)
    with pytest.raises(FormatError, match=pattern):
        open_recording(lr)
    with pytest.raises(FormatError, match=pattern):
        EventVSRDataset([str(lr)], mode="eval", scale=4.0, num_frames=3, representation="voxel", bins=5,
                        polarity="signed")


def test_a_clip_of_one_size_still_opens(clip):
    _, lr = clip
    with open_recording(lr) as rec:
        assert (rec.num_frames, rec.lr_scale, rec.bins) == (N, S, 5)
