"""An events-only recording (no frames at all) in eval's or training's data is refused naming the file and
the missing frames, without advising a smaller num_frames (no window length takes a recording of no frames)."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.events import EventStream
from egvsr.events.io import write_events


def test_eval_of_an_events_only_recording_names_the_missing_frames(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 500
    s = EventStream(rng.integers(0, 16, n).astype(np.uint16), rng.integers(0, 12, n).astype(np.uint16),
                    np.sort(rng.integers(0, 100_000, n)).astype(np.int64),
                    np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8), 16, 12)
    path = write_events(tmp_path / "events.h5", s)
    code = main(["eval", "--data", str(path), "--scales", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{path}: recording has no frames (events only)" in err
    assert "smaller num_frames" not in err
