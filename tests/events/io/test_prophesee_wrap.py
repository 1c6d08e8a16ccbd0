"""Prophesee EVT2 (34-bit) and DAT (32-bit) time counters: wraps undone, other drops kept as drops, in
whole and chunked passes; expelliarmus' own warning kept off the CLI's output; `info` on unsorted files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.errors import EventValidationError
from egvsr.events import EventStream
from egvsr.events.io import open_events, prophesee, read_events, streamed
from egvsr.events.io.info import summarize
from egvsr.native_stderr import stderr_held
from tests.events.io.test_layouts import write_dat, write_evt2

W, H = 16, 8
WRITERS = {"dat": (write_dat, 32), "evt2": (write_evt2, 34)}


def _write(path, kind, t):
    t = np.asarray(t, np.int64)
    n = len(t)
    x, y, on = np.arange(n) % W, (np.arange(n) // W) % H, np.arange(n) % 3 > 0
    WRITERS[kind][0](path, x, y, t, on, W, H)
    return x, y, t, on


def _check(stream: EventStream, x, y, t, on) -> None:
    assert stream.t.tolist() == list(t)
    assert stream.x.tolist() == list(x) and stream.y.tolist() == list(y)
    assert stream.p.tolist() == list(np.where(on, 1, -1))


@pytest.fixture
def streaming(monkeypatch):
    """Small decoder chunks and no in-memory cache: every pass decodes in pieces."""
    monkeypatch.setattr(streamed, "CACHE_EVENTS", 2)
    monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 2)


@pytest.mark.parametrize("kind", ["dat", "evt2"])
@pytest.mark.parametrize("cached", [True, False])
def test_time_wraps_are_undone_in_whole_chunked_and_windowed_reads(tmp_path, kind, cached, monkeypatch):
    if not cached:
        monkeypatch.setattr(streamed, "CACHE_EVENTS", 2)
        monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 2)
    period = 1 << WRITERS[kind][1]
    # a rise of almost a whole period before the first wrap, then wraps (close to the top, then near 0) in
    # three periods, steps of a third of the range between them
    t = [100, period - 10, period + 50, period + 60, period + period // 3, period + 2 * (period // 3),
         2 * period - 3, 2 * period + 7,
         2 * period + period // 3, 2 * period + 2 * (period // 3), 3 * period - 1, 3 * period + 1, 3 * period + 2]
    path = tmp_path / ("r.dat" if kind == "dat" else "r.raw")
    x, y, t, on = _write(path, kind, t)
    with open_events(path) as src:
        assert (src._cache is not None) == cached
        assert (src.t_first, src.t_last) == (t[0], t[-1])
        _check(src.read(), x, y, t, on)
        _check(EventStream.concatenate(list(src.iter_chunks(max_events=3))), x, y, t, on)
        t0, t1 = 2 * period, 3 * period
        i0, i1 = np.searchsorted(t, t0), np.searchsorted(t, t1)
        _check(src.read(t0, t1), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1])
        _check(EventStream.concatenate(list(src.iter_chunks(max_events=2, t0=t0))), x[i0:], y[i0:], t[i0:], on[i0:])
        assert src.first_index_at(period) == 2
    out = tmp_path / "o.h5"
    assert main(["convert", str(path), str(out), "--no-progress"]) == 0
    _check(read_events(out), x, y, t, on)
    with open_events(out) as conv:  # the ms index agrees
        _check(conv.read(t0, t1), x[i0:i1], y[i0:i1], t[i0:i1], on[i0:i1])


@pytest.mark.parametrize("kind", ["dat", "evt2"])
def test_a_small_drop_is_no_wrap(tmp_path, kind, streaming):
    path = tmp_path / ("jit.dat" if kind == "dat" else "jit.raw")
    _write(path, kind, [100, 200, 150, 300])  # one event 50 µs out of order
    with open_events(path) as src:
        with pytest.raises(EventValidationError, match=r"decrease at index 2 \(200 -> 150 µs\).*convert --sort"):
            src.read()
        with pytest.raises(EventValidationError, match=r"decrease at index 2 \(200 -> 150 µs\)"):
            list(src.iter_chunks(max_events=1))
        assert src.read_all_sorted().t.tolist() == [100, 150, 200, 300]
    assert summarize(path)["first_decrease"] == 2


def test_a_drop_like_a_hidden_wrap_is_not_advised_to_be_sorted(tmp_path, capsys):
    path = tmp_path / "gap.dat"
    _write(path, "dat", [(1 << 31) + 10, 10])  # a drop of half the range, or a gap of as much across a wrap
    with open_events(path) as src, pytest.raises(EventValidationError) as err:
        src.read()
    msg = str(err.value)
    assert "decrease at index 1" in msg and "gap of 2147483648 µs" in msg and "read_all_sorted" not in msg
    assert main(["info", str(path)]) == 2
    err_line = capsys.readouterr().err
    assert "gap of 2147483648 µs" in err_line and "writes a sorted copy" not in err_line


@pytest.mark.parametrize("kind", ["dat", "evt2"])
def test_a_gap_of_more_than_half_the_range_after_a_wrap_is_reported_as_maybe_a_gap(tmp_path, kind):
    """The price of reading every step the shorter way round: a gap of over half the counter's range (35.8
    min / 2.4 h without one event) after a wrap reads as a drop, reported as maybe such a gap, never advised
    to be sorted (before the first wrap it is read as it is)."""
    period = 1 << WRITERS[kind][1]
    path = tmp_path / ("gap.dat" if kind == "dat" else "gap.raw")
    _write(path, kind, [period - 5, period + 5, period + 10 + 2 * (period // 3)])
    with open_events(path) as src, pytest.raises(EventValidationError) as err:
        src.read()
    gap = 2 * (period // 3) + 5
    assert f"gap of {gap} µs" in str(err.value) and "read_all_sorted" not in str(err.value)


@pytest.mark.parametrize("kind", ["dat", "evt2"])
def test_the_cli_prints_no_decoder_warning(tmp_path, kind, capfd):
    period = 1 << WRITERS[kind][1]
    path = tmp_path / ("r.dat" if kind == "dat" else "r.raw")
    _write(path, kind, [5, period - 5, period + 5])  # a wrap: expelliarmus warns of it
    assert main(["info", str(path)]) == 0
    assert main(["convert", str(path), str(tmp_path / "o.h5"), "--no-progress"]) == 0
    out, err = capfd.readouterr()
    assert "WARNING" not in out + err and "monotonic" not in out + err
    assert "sorted       yes" in out and err == ""


def test_stderr_held_drops_only_the_named_message(capfd):
    with stderr_held(drop=(b"noise.",)):
        os.write(2, b"noise.\nkept 1\nnoise.kept 2\n")
    assert capfd.readouterr().err == "kept 1\nkept 2\n"


def test_info_of_an_unsorted_file_gives_its_span(tmp_path, capsys):
    path = tmp_path / "rev.dat"
    _write(path, "dat", np.arange(1000)[::-1] * 1000)  # stored in reverse order
    assert main(["info", str(path)]) == 2
    out = capsys.readouterr().out
    assert "time         0 .. 999000 µs" in out
    assert "duration     0.999000 s" in out
    assert "event rate   0.001 Mev/s" in out
    assert "sorted       no (first decrease at index 1)" in out


def _unwrapped(raw, bits: int) -> list[int]:
    """Reference unwrapping, event by event: each step the shorter way round the counter (exactly half
    the range: a drop), the wraps so far never below 0."""
    period, half = 1 << bits, 1 << (bits - 1)
    out, loops = [], 0
    for k, r in enumerate(int(v) for v in raw):
        if k:
            step = r - int(raw[k - 1])
            loops += 1 if step < -half else (-1 if step >= half and loops else 0)
        out.append(r + loops * period)
    return out


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.integers(-(1 << 12), 1 << 12), min_size=1, max_size=60), cut=st.integers(1, 7),
       start=st.integers(0, (1 << 10) - 1))
def test_unwrap_times_carries_across_chunks(steps, cut, start):
    bits = 10
    raw = (start + np.cumsum(steps)) & ((1 << bits) - 1)
    whole = prophesee.unwrap_times(raw, bits, [])
    state: list[int] = []
    parts = [prophesee.unwrap_times(raw[a:a + cut], bits, state) for a in range(0, len(raw), cut)]
    assert np.concatenate(parts).tolist() == whole.tolist()
    assert (whole & ((1 << bits) - 1)).tolist() == raw.tolist()
    assert whole.tolist() == _unwrapped(raw, bits)
    assert whole.min() >= 0


@settings(max_examples=50, deadline=None)
@given(start=st.integers(0, (1 << 10) - 1), cut=st.integers(1, 7),
       steps=st.lists(st.integers(-(1 << 9) + 1, (1 << 9) - 1), max_size=60))
def test_steps_shorter_than_half_the_range_are_recovered_exactly(start, steps, cut):
    """Whatever the order of the times (jitter, drops, wraps), when no two neighbours are half the counter's
    range apart or more, the counter's values give the times back, in whole and chunked passes."""
    bits = 10
    t = start + np.cumsum([0] + steps)
    assume(t.min() >= 0)  # no time before the counter's first pass
    raw = t & ((1 << bits) - 1)
    state: list[int] = []
    parts = [prophesee.unwrap_times(raw[a:a + cut], bits, state) for a in range(0, len(raw), cut)]
    assert np.concatenate(parts).tolist() == t.tolist()


@pytest.mark.parametrize("kind", ["dat", "evt2"])
@pytest.mark.parametrize("cached", [True, False])
def test_jitter_straddling_a_wrap_stays_a_small_drop(tmp_path, kind, cached, monkeypatch):
    """An event a few µs out of order across a wrap of the counter: read as a rise (almost a whole period)
    it moved every later event a period (71.6 min / 4 h 46 min) on, silently (the times still rose)."""
    if not cached:
        monkeypatch.setattr(streamed, "CACHE_EVENTS", 2)
        monkeypatch.setattr(prophesee, "_DECODE_CHUNK", 2)
    period = 1 << WRITERS[kind][1]
    t = [period - 100, period - 50, period + 10, period - 5, period + 20, period + 30]
    path = tmp_path / ("jit.dat" if kind == "dat" else "jit.raw")
    x, y, t, on = _write(path, kind, t)
    with open_events(path) as src:
        assert src.t_last == period + 30
        with pytest.raises(EventValidationError, match=rf"decrease at index 3 \({period + 10} -> {period - 5} µs\)"
                                                       r".*convert --sort"):
            src.read()
        assert src.read_all_sorted().t.tolist() == sorted(t.tolist())
    assert summarize(path)["t_max_us"] == period + 30
    out = tmp_path / "o.h5"
    assert main(["convert", "--sort", str(path), str(out), "--no-progress"]) == 0
    assert read_events(out).t.tolist() == sorted(t.tolist())


@pytest.mark.parametrize("kind", ["dat", "evt2"])
def test_a_step_back_across_a_wrap_before_the_first_is_a_rise(tmp_path, kind):
    """No time lies before the counter's first pass: a rise of more than half the range at the start (EVT2
    events before the first EV_TIME_HIGH, a long gap) stays a rise, never a time below 0."""
    period = 1 << WRITERS[kind][1]
    path = tmp_path / ("gap.dat" if kind == "dat" else "gap.raw")
    x, y, t, on = _write(path, kind, [3, 5, period - 100, period - 90, period + 7])
    _check(read_events(path), x, y, t, on)
