"""Recipe "a new representation": declared from outside the package, then accepted everywhere.

A toy event-count image (events per time bin and pixel, polarity ignored, one declared channel) is
registered with `register_representation` without editing egvsr/, then used by `voxelize_file`, by
`egvsr voxelize` (in process) and by the dataset; the registry is restored afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.datasets import EventVSRDataset
from egvsr.errors import ConfigError
from egvsr.events import EventStream, Frames
from egvsr.events.io import write_events
from egvsr.events.represent import (
    EventFrames, Moments, Representation, TimeSurface, VoxelGrid, event_frames_batch, event_moments,
    get_representation, read_tensors, register_representation, represent, representation_names,
    time_surface, unregister_representation, voxel_grid, voxelize_file,
)

H, W = 24, 32


def count_image(stream: EventStream, starts: np.ndarray, ends: np.ndarray, bins: int,
                size: tuple[int, int] | None, polarity: str, threads: int) -> np.ndarray:
    """(K, bins, 1, h, w) event counts; at a target size each event goes to the pixel holding its centre."""
    oh, ow = size if size is not None else (stream.height, stream.width)
    rows = np.minimum(((stream.y + 0.5) * oh / stream.height).astype(np.int64), oh - 1)
    cols = np.minimum(((stream.x + 0.5) * ow / stream.width).astype(np.int64), ow - 1)
    out = np.zeros((len(starts), bins, 1, oh, ow), np.float32)
    t = stream.t.astype(np.int64)
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        inside = (t >= a) & (t < b)
        bin_ = (bins * (t[inside] - a)) // (b - a)
        np.add.at(out[k], (bin_, 0, rows[inside], cols[inside]), 1.0)
    return out


@pytest.fixture
def toy():
    """The toy declared and registered; the registry as it was afterwards."""
    before = representation_names()
    decl = register_representation(Representation("count", count_image, "events per bin and pixel",
                                                  channels=1, unit=1.0))
    yield decl
    unregister_representation("count")
    assert representation_names() == before


@pytest.fixture
def recording(tmp_path):
    rng = np.random.default_rng(3)
    n = 6_000
    ft = np.arange(6, dtype=np.int64) * 40_000 + 100_000
    t = np.sort(rng.integers(int(ft[0]) - 5_000, int(ft[-1]) + 5_000, n)).astype(np.int64)
    s = EventStream(rng.integers(0, W, n).astype(np.uint16), rng.integers(0, H, n).astype(np.uint16), t,
                    rng.choice([-1, 1], n).astype(np.int8), W, H)
    frames = Frames(rng.integers(0, 256, (len(ft), H, W, 3)).astype(np.uint8), ft)
    return write_events(tmp_path / "rec.h5", s, frames=frames), s, ft


def test_toy_is_listed_and_removed(toy):
    assert "count" in representation_names() and get_representation("count") is toy
    with pytest.raises(ConfigError, match="already registered"):
        register_representation(Representation("count", count_image, channels=1))


def test_voxelize_library_and_cli_accept_the_toy(toy, recording, tmp_path):
    src, s, ft = recording
    rows = np.stack([ft[:-1], ft[1:]], 1)
    want = count_image(s, ft[:-1], ft[1:], 4, (12, 16), "split", 1)
    assert want.sum() > 0
    out = voxelize_file(src, tmp_path / "lib.h5", "count", bins=4, between_frames=True, size=(12, 16),
                        progress=False, chunk_events=997)  # windows straddle chunks: the toy is additive
    got, a, b, attrs = read_tensors(out)
    assert attrs["representation"] == "count" and got.shape == (len(rows), 4, 1, 12, 16)
    np.testing.assert_array_equal(np.stack([a, b], 1), rows)
    np.testing.assert_array_equal(got, want)
    assert main(["voxelize", str(src), str(tmp_path / "cli.h5"), "--repr", "count", "--bins", "4",
                 "--between-frames", "--size", "12x16", "--no-progress"]) == 0
    np.testing.assert_array_equal(read_tensors(tmp_path / "cli.h5")[0], want)
    one = represent(s, "count", 4, int(ft[0]), int(ft[1]), 12, 16)  # the functional entry point
    np.testing.assert_array_equal(one, want[0])


def test_dataset_yields_the_toys_tensor(toy, recording):
    src, s, ft = recording
    ds = EventVSRDataset([src], representation="count", bins=4, patch_size=None, scale_range=(2.0, 2.0),
                         flips=False, rotations=False, reverse_prob=0.0)
    sample = ds[(0, 2.0, 0)]
    h, w = sample["lr"].shape[-2:]
    want = count_image(s, ft[:1], ft[2:3], 4, (h, w), "split", 1)[0]  # window of frames 0..2
    assert sample["events"].shape == (4, 1, h, w) and want.sum() > 0
    np.testing.assert_array_equal(sample["events"].numpy(), want)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="representation: expected one of voxel, moments, frames, timesurface"):
        get_representation("count")
    with pytest.raises(SystemExit) as exc:  # argparse: --repr's choices are the registry's names
        main(["voxelize", "in.h5", "out.h5", "--repr", "count", "--between-frames"])
    assert exc.value.code == 2


def test_option_objects_are_the_functions(recording):
    _, s, ft = recording
    t0, t1 = int(ft[0]), int(ft[2])
    np.testing.assert_array_equal(VoxelGrid(bins=5, polarity="split", normalization="standard")(s, t0, t1),
                                  voxel_grid(s, 5, t0, t1, polarity="split", normalize="standard"))
    np.testing.assert_array_equal(Moments(bins=8)(s, t0, t1, 12, 16), event_moments(s, 8, t0, t1, 12, 16))
    np.testing.assert_array_equal(EventFrames(bins=3).batch(s, ft), event_frames_batch(s, 3, ft))
    np.testing.assert_array_equal(TimeSurface(bins=2, tau_us=5_000.0)(s, t0, t1),
                                  time_surface(s, 2, t0, t1, tau_us=5_000.0))
    assert VoxelGrid(bins=5)(s, t0, t1).shape == (5, H, W) and Moments()(s, t0, t1).shape == (32, 2, H, W)
