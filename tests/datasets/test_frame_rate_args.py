"""Every `fps` argument takes the same frame rates (`egvsr.events.checks.is_frame_rate`): a real, finite number
> 0, NumPy's included; True, "25", inf, NaN, 0 and negatives are refused naming `fps` (EvTexture clips, frame
folders and videos, render's options)."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.datasets import open_recording
from egvsr.errors import ConfigError
from egvsr.events.checks import is_frame_rate
from egvsr.events.simulate.video_input import check_video_args
from egvsr.render.plan import RenderOptions, _check_options
from tests.datasets.test_files import write_evtexture

BAD = [True, np.bool_(True), "25", float("inf"), float("nan"), np.float64("nan"), 0, 0.0, -25.0, np.int64(-1)]
GOOD = [25, 29.97, np.float32(29.97), np.int64(30), 1e-3]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    hr = np.random.default_rng(0).integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
    return write_evtexture(tmp_path_factory.mktemp("evtexture"), "clip", hr, 4)[1]


@pytest.mark.parametrize("fps", BAD, ids=repr)
def test_a_value_that_is_no_frame_rate_is_refused_everywhere(clip, tmp_path, fps):
    assert not is_frame_rate(fps)
    with pytest.raises(ConfigError, match="fps"):
        check_video_args(tmp_path, fps, None)
    with pytest.raises(ConfigError, match=r"^fps .*expected a positive frame rate"):
        open_recording(clip, fps=fps)
    with pytest.raises(ConfigError, match=r"^`fps` .*expected a positive frame rate"):
        _check_options(RenderOptions(scale=2.0, fps=fps, png=str(tmp_path / "out")))


@pytest.mark.parametrize("fps", GOOD, ids=repr)
def test_a_frame_rate_is_taken_everywhere(clip, tmp_path, fps):
    assert is_frame_rate(fps)
    assert check_video_args(tmp_path, fps, None)[1] == float(fps)
    assert len(open_recording(clip, fps=fps).frame_times) == 3
    _check_options(RenderOptions(scale=2.0, fps=fps, png=str(tmp_path / "out")))
