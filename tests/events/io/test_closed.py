"""A source used after `close()`: every reading method of every layout raises one `SourceClosedError`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from egvsr.errors import EgvsrError, SourceClosedError
from egvsr.events import EventStream, Frames
from egvsr.events.io import open_events, write_events
from egvsr.events.io.source import READING
from tests.events.io import test_layouts as L

W, H = 64, 48
X, Y, T, ON = L._events(600, W, H, t0=1_000_000, span=100_000)


def _egvsr(d: Path) -> Path:
    s = EventStream(X.astype(np.uint16), Y.astype(np.uint16), T, np.where(ON, 1, -1).astype(np.int8), W, H)
    frames = Frames(np.zeros((3, H, W, 3), np.uint8), np.array([1_000_000, 1_040_000, 1_080_000]))
    return write_events(d / "ours.h5", s, frames=frames)


def _ced(d: Path) -> Path:
    rows = np.stack([T * 1000.0, X, Y, ON], axis=1)
    L.write_ced(d / "ced", [(int(rows[0, 0]), rows[:300]), (int(rows[300, 0]), rows[300:])],
                [(int(T[0]) * 1000, np.zeros((H, W, 3), np.uint8))])
    return d / "ced"


WRITERS = {
    "egvsr": _egvsr,
    "e2vid": lambda d: L.write_e2vid(d / "e.h5", X, Y, T, ON, sensor_resolution=(H, W)) or d / "e.h5",
    "dsec": lambda d: L.write_dsec(d / "d.h5", X, Y, T, ON, t_offset=500_000) or d / "d.h5",
    "ced": _ced,
    "evt2": lambda d: L.write_evt2(d / "r2.raw", X, Y, T, ON, W, H) or d / "r2.raw",
    "evt3": lambda d: L.write_evt3(d / "r3.raw", X, Y, T, ON, W, H) or d / "r3.raw",
    "dat": lambda d: L.write_dat(d / "r.dat", X, Y, T, ON, W, H) or d / "r.dat",
    "aedat4": lambda d: L.write_aedat4(d / "r.aedat4", [(T, X, Y, ON)], W, H) or d / "r.aedat4",
}

CALLS = {
    "t_first": lambda s: s.t_first, "t_last": lambda s: s.t_last,
    "first_index_at": lambda s: s.first_index_at(1_050_000), "index_range": lambda s: s.index_range(0, 2),
    "read": lambda s: s.read(), "read_index": lambda s: s.read_index(0, 10),
    "read_all_sorted": lambda s: s.read_all_sorted(), "iter_chunks": lambda s: s.iter_chunks(100),
    "polarity_counts": lambda s: s.polarity_counts(), "num_frames": lambda s: s.num_frames,
    "frame_times": lambda s: s.frame_times(), "frame_shape": lambda s: s.frame_shape(),
    "read_frame": lambda s: s.read_frame(0),
    "read_frames": lambda s: s.read_frames(), "gt_times": lambda s: s.gt_times(),
    "read_gt": lambda s: s.read_gt(0), "read_gt_frames": lambda s: s.read_gt_frames(),
    "gt_shape": lambda s: s.gt_shape(), "check_frame_sizes": lambda s: s.check_frame_sizes(),
}


def test_every_reading_method_is_covered():
    assert set(CALLS) == set(READING)


@pytest.fixture(scope="module", params=sorted(WRITERS))
def recording(request, tmp_path_factory):
    if request.param == "aedat4":
        pytest.importorskip("aedat", reason="AEDAT4 decoding needs the 'aedat' package")
    path = WRITERS[request.param](tmp_path_factory.mktemp(request.param))
    with open_events(path) as src:
        assert src.layout == request.param and len(src.read()) == len(T)  # readable while open
        return path, (src.width, src.height)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_reading_a_closed_source_raises_one_line(recording, call):
    recording, size = recording
    src = open_events(recording)
    src.close()
    with pytest.raises(SourceClosedError, match="the event source is closed") as exc:
        CALLS[call](src)
    assert isinstance(exc.value, (EgvsrError, ValueError))
    assert str(exc.value).startswith(f"{recording}: ") and "\n" not in str(exc.value)
    assert (src.width, src.height, src.num_events, src.closed) == (*size, len(T), True)  # metadata stays
    src.close()  # closing twice is harmless


def test_after_the_with_block_and_mid_iteration(recording):
    with open_events(recording[0]) as src:
        chunks = src.iter_chunks(max_events=100)
        assert len(next(chunks)) == 100
    with pytest.raises(SourceClosedError):
        src.read(1_000_000, 1_050_000)
    with pytest.raises(SourceClosedError):  # a pass begun before close() stops at its next read
        list(chunks)
