"""`voxelize_file --window-ms` on a clock near the end of int64: windows whose end would be 2**63 (not an
int64) wrapped to -2**63, and the read range [first start, -2**63) was empty, so every event was dropped and
an all-zero file was written. Such windows are refused now; windows ending at 2**63 - 1 or before keep
every event."""

import numpy as np
import pytest

from egvsr.errors import ConfigError
from egvsr.events.io.writer import write_events
from egvsr.events.represent import read_tensors, voxelize_file
from egvsr.events.stream import EventStream

MAX = 2**63 - 1


def _file(path, t):
    n = len(t)
    s = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.asarray(t, np.int64),
                    np.ones(n, np.int8), 2, 2)
    return write_events(path, s)


@pytest.mark.parametrize("t, window_ms", [
    ([MAX - 9, MAX - 1], 0.01),      # one window [MAX - 9, 2**63)
    ([MAX - 10, MAX - 5, MAX], 0.001),  # the last event at MAX needs a window ending at 2**63
    ([MAX - 1, MAX], 0.001),
])
def test_windows_ending_at_2_63_are_refused_not_emptied(tmp_path, t, window_ms):
    src = _file(tmp_path / "a.h5", t)
    with pytest.raises(ConfigError, match="beyond the int64 microsecond range"):
        voxelize_file(src, tmp_path / "o.h5", "voxel", 2, window_ms=window_ms, progress=False)
    assert not (tmp_path / "o.h5").exists()


def test_windows_ending_at_int64_max_keep_every_event(tmp_path):
    src = _file(tmp_path / "a.h5", [MAX - 9, MAX - 4, MAX - 1])
    out = voxelize_file(src, tmp_path / "o.h5", "voxel", 2, window_ms=0.003, progress=False)
    tensors, t_start, t_end, attrs = read_tensors(out)
    assert t_start.tolist() == [MAX - 9, MAX - 6, MAX - 3] and t_end.tolist() == [MAX - 6, MAX - 3, MAX]
    assert tensors.sum(axis=(1, 2, 3)).tolist() == [1.0, 1.0, 1.0] and attrs["window_us"] == 3
