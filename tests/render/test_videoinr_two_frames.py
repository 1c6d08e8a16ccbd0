"""VideoINR takes two frames in and any time between them out: a VideoINR checkpoint whose config states no
`num_frames` (imported official weights, an untrained one) works on windows of two frames, so a two-frame clip
renders and evaluates; a trained config's `num_frames` still decides."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.engine.checkpoint_model import derive_inputs
from egvsr.models import build_model


@pytest.fixture(scope="module")
def two_frames(tmp_path_factory):
    from egvsr.events.simulate import make_sample
    from egvsr.render.model import save_untrained

    d = tmp_path_factory.mktemp("two")
    clip = make_sample(d / "two.h5", seed=1, seconds=0.04, size=(24, 32), fps=25.0, progress=False)
    return clip, save_untrained("videoinr-tiny", d / "vi.pt")


def test_videoinr_without_a_stated_num_frames_takes_windows_of_two():
    model = build_model("videoinr-tiny")
    assert derive_inputs(model, {}, "x")[0] == 2
    assert derive_inputs(model, {"num_frames": 3}, "x")[0] == 3  # a trained config's K decides
    assert derive_inputs(build_model("egvsr-tiny"), {}, "x")[0] == 3  # EGVSR fixes its own


def test_a_two_frame_clip_renders_and_evaluates_with_videoinr(two_frames, tmp_path, capsys):
    clip, ck = two_frames
    out = tmp_path / "o"
    assert main(["render", str(clip), str(ck), "--scale", "2", "--fps-factor", "4", "--png", str(out),
                 "--no-progress"]) == 0, capsys.readouterr().err
    np.testing.assert_allclose(np.loadtxt(out / "timestamps.txt"), [0, 0.01, 0.02, 0.03, 0.04], atol=1e-6)
    assert len(list(out.glob("frame_*.png"))) == 5
    assert main(["eval", str(ck), "--data", str(clip), "--scales", "2", "--queries", "gt", "--no-progress"]) == 0
    assert "(5 frames)" in capsys.readouterr().out  # 2 frame times and 3 ground-truth times between them
