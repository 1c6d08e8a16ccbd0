"""`voxelize_file` on a time surface (not additive: the open window's events are carried between chunks)
computed the open window again at every chunk, on all its events read so far, and copied them all again:
a window spanning C chunks cost about C**2 / 2 chunks of kernel work and copies. Now its parts are kept
and it is computed once, when complete; the tensors are unchanged."""

import numpy as np
import pytest

from egvsr.events.io import write_events
from egvsr.events.represent import read_tensors, time_surfaces, voxelize_file
from egvsr.events.represent import voxelize as vx
from egvsr.events.stream import EventStream


@pytest.mark.parametrize("window_ms", [0.1, 1.0])  # 3 windows of many chunks each; one window of 40 chunks
def test_a_window_spanning_many_chunks_is_computed_once(tmp_path, monkeypatch, window_ms):
    n, rng = 400, np.random.default_rng(7)
    s = EventStream(rng.integers(0, 8, n).astype(np.uint16), rng.integers(0, 6, n).astype(np.uint16),
                    np.sort(rng.integers(0, 250, n)), (rng.integers(0, 2, n) * 2 - 1).astype(np.int8), 8, 6)
    src = write_events(tmp_path / "a.h5", s)
    seen = []
    real = vx.represent_windows

    def counting(ev, *args, **kwargs):
        seen.append(len(ev))
        return real(ev, *args, **kwargs)

    monkeypatch.setattr(vx, "represent_windows", counting)
    out = voxelize_file(src, tmp_path / "o.h5", "timesurface", 3, window_ms=window_ms, progress=False,
                        chunk_events=10, threads=1)
    assert sum(seen) <= 2 * n  # each event reaches the kernel about once (old: ~ n * chunks / 2)
    tensors, t_start, t_end, _ = read_tensors(out)
    expected = time_surfaces(s, 3, np.stack([t_start, t_end], 1), threads=1)
    np.testing.assert_allclose(tensors, expected, rtol=0, atol=1e-6)
