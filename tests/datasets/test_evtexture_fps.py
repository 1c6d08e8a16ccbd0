"""EvTexture clips store no frame times: frame i is at i / fps. A rate that cannot give whole, distinct µs
(above 1,000,000 fps, or so low that the clip outlasts 2**53 µs) was refused as duplicated or decreasing frame
timestamps (a time cast from overflow), and True or "25" were taken as 1 and 25 fps; each is now refused naming
`fps` (docs/datasets.md, "EvTexture files")."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.datasets import open_recording
from egvsr.errors import ConfigError
from tests.datasets.test_files import write_evtexture


@pytest.fixture
def clip(tmp_path):
    hr = np.random.default_rng(0).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    return write_evtexture(tmp_path, "clip", hr, 4)[1]


@pytest.mark.parametrize("fps, match", [
    (2e6, r"clip\.h5: fps 2000000\.0: expected at most 1,000,000 frames per second"),
    (1e-300, r"clip\.h5: fps 1e-300: 4 frames at this rate last beyond 2\*\*53 µs"),
    (float("inf"), r"^fps inf: expected a positive frame rate"),
    (True, r"^fps True: expected a positive frame rate"),
    ("25", r"^fps '25': expected a positive frame rate"),
])
def test_a_frame_rate_that_cannot_time_the_frames_is_refused_by_name(clip, fps, match):
    with pytest.raises(ConfigError, match=match):
        open_recording(clip, fps=fps)


def test_frames_are_at_i_over_fps_to_the_microsecond(clip):
    assert open_recording(clip).frame_times.tolist() == [0, 40_000, 80_000, 120_000]
    assert open_recording(clip, fps=30).frame_times.tolist() == [0, 33_333, 66_667, 100_000]
    assert open_recording(clip, fps=1e6).frame_times.tolist() == [0, 1, 2, 3]
