"""Layouts without an index (AEDAT4, Prophesee RAW/DAT) above the in-memory size: windows read in time order
(as eval and render read them) resume one decoding pass instead of decoding the file from its start each time."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from egvsr.errors import EventValidationError, SourceClosedError
from egvsr.events.io import open_events, prophesee, streamed
from tests.events.io.test_layouts import write_evt2, write_evt3


@pytest.fixture
def recording(tmp_path, monkeypatch):
    """An EVT3 file of 4000 events over 0.2 s, read as a large recording (nothing kept in memory), with
    the decoding passes counted."""
    monkeypatch.setattr(streamed, "CACHE_EVENTS", 0)
    monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 97)
    rng = np.random.default_rng(0)
    n = 4000
    t = np.sort(rng.integers(0, 200_000, n))
    x, y, on = rng.integers(0, 32, n), rng.integers(0, 24, n), rng.integers(0, 2, n)
    path = tmp_path / "r.raw"
    write_evt3(path, x, y, t, on, 32, 24)
    passes = []
    decode = streamed.StreamedSource._decode

    def counted(self):
        passes.append(1)
        return decode(self)

    monkeypatch.setattr(streamed.StreamedSource, "_decode", counted)
    return path, t, x, passes


def _check(src, t, x, t0, t1):
    got = src.read(t0, t1)
    keep = (t >= t0) & (t < t1)
    assert got.t.tolist() == t[keep].tolist() and got.x.tolist() == x[keep].tolist(), (t0, t1)


def test_sliding_windows_decode_the_file_once(recording):
    path, t, x, passes = recording
    frames = np.arange(0, 200_001, 8_000)
    with open_events(path) as src:
        passes.clear()  # the opening scan
        for k in range(len(frames) - 2):  # windows of three frames, one frame apart: eval's windows
            _check(src, t, x, int(frames[k]), int(frames[k + 2]))
        assert len(passes) == 1


def test_a_window_before_the_last_one_starts_a_new_pass(recording):
    path, t, x, passes = recording
    with open_events(path) as src:
        passes.clear()
        for t0, t1 in ((50_000, 90_000), (60_000, 61_000), (10_000, 20_000), (10_000, 20_000), (150_000, 150_000),
                       (150_000, 250_000), (-5, 0), (0, 1), (199_000, 10**12)):
            _check(src, t, x, t0, t1)
        assert len(passes) == 3  # again at 10_000 and at -5, each then going on forward


def test_close_lets_the_open_pass_go_and_reading_after_is_refused(recording):
    path, t, x, _ = recording
    src = open_events(path)
    _check(src, t, x, 0, 50_000)
    assert src._pass is not None
    src.close()
    assert src._pass is None
    with pytest.raises(SourceClosedError):
        src.read(50_000, 60_000)


def test_a_copy_of_a_source_with_an_open_pass_reads_on_its_own(recording):
    path, t, x, _ = recording
    with open_events(path) as src:
        _check(src, t, x, 0, 50_000)
        twin = pickle.loads(pickle.dumps(src))
        _check(twin, t, x, 40_000, 90_000)
        _check(src, t, x, 40_000, 90_000)


def test_an_unsorted_file_is_refused_at_every_window_that_reaches_the_decrease(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "CACHE_EVENTS", 0)
    monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 2)
    t = np.array([10, 20, 30, 25, 40, 50])
    path = tmp_path / "u.raw"
    write_evt2(path, np.zeros(6, int), np.zeros(6, int), t, np.ones(6, int), 4, 4)
    with open_events(path) as src:
        assert src.read(0, 15).t.tolist() == [10]  # decoded no further than the decrease: read
        for _ in range(2):  # the failed pass is not kept: the next window meets the decrease again
            with pytest.raises(EventValidationError, match="decrease at index 3"):
                src.read(0, 100)
