"""Hot pixels: found by their count against their neighbours', dropped by `convert --drop-hot-pixels`."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from egvsr.cli import main
from egvsr.errors import ConfigError, InputFileError
from egvsr.events import EventStream, Frames
from egvsr.events.io import convert, read_events, write_events
from egvsr.events.io import hot_pixels
from egvsr.events.io.hot_pixels import hot_pixel_mask, pixel_counts


def reference_mask(counts: np.ndarray, factor: float, min_events: int) -> np.ndarray:
    """The rule written out pixel by pixel: count > factor x mean of the existing 8 neighbours + min_events."""
    h, w = counts.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            nb = [counts[j, i] for j in range(y - 1, y + 2) for i in range(x - 1, x + 2)
                  if (j, i) != (y, x) and 0 <= j < h and 0 <= i < w]
            out[y, x] = bool(nb) and counts[y, x] > factor * (sum(nb) / len(nb)) + min_events
    return out


@settings(max_examples=60, deadline=None)
@given(counts=arrays(np.int64, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=st.integers(0, 2000)),
       factor=st.floats(1.5, 20), min_events=st.integers(0, 100))
def test_the_mask_is_the_documented_rule(counts, factor, min_events):
    np.testing.assert_array_equal(hot_pixel_mask(counts, factor, min_events),
                                  reference_mask(counts, factor, min_events))


def test_an_isolated_busy_pixel_is_hot_and_an_edge_is_not():
    counts = np.zeros((9, 9), np.int64)
    counts[4, :] = 1000  # a moving edge lights a whole line of pixels
    counts[1, 1] = 100  # one pixel firing alone
    mask = hot_pixel_mask(counts)
    assert mask[1, 1] and mask.sum() == 1


@pytest.mark.parametrize("factor", [1, 0.5, -3, float("nan"), float("inf"), True, "5"])
def test_a_bad_factor_is_one_config_error(factor):
    with pytest.raises(ConfigError, match="expected a finite number > 1"):
        hot_pixel_mask(np.zeros((3, 3)), factor)


def _recording_with_hot_pixels(path, rng):
    """A 40x30 recording of scattered events plus three hot pixels; returns (path, the hot pixels)."""
    w, h, n = 40, 30, 20_000
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    hot = [(3, 5), (20, 0), (39, 29)]  # (x, y): inside, on the border and in a corner
    hx = np.repeat([p[0] for p in hot], 300)
    hy = np.repeat([p[1] for p in hot], 300)
    xs, ys = np.concatenate([x, hx]), np.concatenate([y, hy])
    t = np.sort(rng.integers(0, 1_000_000, xs.size))
    order = rng.permutation(xs.size)
    p = np.where(rng.random(xs.size) < 0.5, 1, -1).astype(np.int8)
    stream = EventStream(xs[order].astype(np.uint16), ys[order].astype(np.uint16), t, p, w, h)
    frames = Frames(rng.integers(0, 255, (3, h, w, 3), dtype=np.uint8), np.array([0, 500_000, 1_000_000]))
    return write_events(path, stream, frames=frames), set(hot)


@pytest.mark.parametrize("sort", [False, True])
def test_convert_drops_exactly_the_hot_pixels_events(tmp_path, sort):
    src, hot = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(0))
    dst = convert(src, tmp_path / "out.h5", sort=sort, progress=False, chunk_events=777, drop_hot_pixels=5)
    before, after = read_events(src), read_events(dst)
    keep = np.array([(int(x), int(y)) not in hot for x, y in zip(before.x, before.y)])
    for name in "xytp":
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name)[keep])
    with h5py.File(dst, "r") as f, h5py.File(src, "r") as g:
        assert int(f.attrs["hot_pixels_dropped"]) == 3
        assert int(f.attrs["hot_pixel_events_dropped"]) == int((~keep).sum()) >= 900
        np.testing.assert_array_equal(f["frames/images"][:], g["frames/images"][:])


def test_convert_without_the_option_keeps_every_event_and_says_nothing(tmp_path):
    src, _ = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(1))
    dst = convert(src, tmp_path / "out.h5", progress=False)
    assert len(read_events(dst)) == len(read_events(src))
    with h5py.File(dst, "r") as f:
        assert "hot_pixels_dropped" not in f.attrs


def test_the_cli_says_how_many_it_dropped(tmp_path, capsys):
    src, _ = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(2))
    assert main(["convert", str(src), str(tmp_path / "out.h5"), "--drop-hot-pixels", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("dropped 3 hot pixels (") and "wrote " in out


@pytest.mark.parametrize("value", ["1", "0.9", "nan", "inf", "five"])
def test_the_cli_refuses_a_bad_factor_in_one_line(tmp_path, capsys, value):
    src, _ = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(3))
    with pytest.raises(SystemExit) as exit_:
        main(["convert", str(src), str(tmp_path / "out.h5"), f"--drop-hot-pixels={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--drop-hot-pixels" in err[0] and "expected a finite number > 1" in err[0]
    assert not (tmp_path / "out.h5").exists()


def test_a_sensor_too_large_to_search_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    src, _ = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(4))
    monkeypatch.setattr(hot_pixels, "physical_memory", lambda: 40 * 30 * hot_pixels.BYTES_PER_PIXEL)
    with pytest.raises(InputFileError, match=r"in\.h5: finding hot pixels on a 40x30 sensor needs"):
        convert(src, tmp_path / "out.h5", progress=False, drop_hot_pixels=5)
    assert list(tmp_path.iterdir()) == [src]


def test_pixel_counts_sum_the_chunks():
    a = EventStream(np.array([0, 1, 1], np.uint16), np.array([0, 0, 2], np.uint16), np.arange(3), np.ones(3, np.int8), 2, 3)
    counts = pixel_counts([a, a.take(1, 3)], 2, 3)
    np.testing.assert_array_equal(counts, [[1, 2], [0, 0], [0, 2]])


def test_the_search_stays_within_the_memory_it_is_checked_against():
    """`check_memory` plans BYTES_PER_PIXEL per sensor pixel, the count image included: the search must not
    take more (its float temporaries had gone past it)."""
    import tracemalloc

    h, w = 300, 400
    counts = np.random.default_rng(5).integers(0, 200, (h, w))
    counts[7, 9] = 10**6
    tracemalloc.start()
    try:
        mask = hot_pixel_mask(counts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mask[7, 9]
    assert counts.nbytes + peak <= hot_pixels.BYTES_PER_PIXEL * h * w, (counts.nbytes + peak) / (h * w)


@pytest.mark.parametrize("cli", [False, True])
def test_sort_and_drop_hot_pixels_together_on_an_unsorted_file(tmp_path, capsys, cli):
    """`--sort` is the documented remedy for an unsorted file; with `--drop-hot-pixels` its counting pass
    read the file in chunks, which refuse unsorted times, so the pair failed telling the user to add --sort."""
    from tests.events.io.test_layouts import write_dat

    rng = np.random.default_rng(3)
    w, h, n = 20, 10, 3000
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    x[:400], y[:400] = 7, 4  # one hot pixel
    t = rng.integers(0, 100_000, n)  # unsorted, with ties
    on = rng.random(n) < 0.5
    src = tmp_path / "rec.dat"
    write_dat(src, x, y, t, on, w, h)
    dst = tmp_path / "out.h5"
    if cli:
        assert main(["convert", str(src), str(dst), "--sort", "--drop-hot-pixels", "--no-progress"]) == 0
        assert capsys.readouterr().out.startswith("dropped 1 hot pixel (")
    else:
        convert(src, dst, sort=True, progress=False, chunk_events=500, drop_hot_pixels=5)
    order = np.argsort(t, kind="stable")
    keep = ~((x[order] == 7) & (y[order] == 4))
    after = read_events(dst)
    np.testing.assert_array_equal(after.t, t[order][keep])
    np.testing.assert_array_equal(after.x, x[order][keep])
    np.testing.assert_array_equal(after.y, y[order][keep])
    np.testing.assert_array_equal(after.p, np.where(on[order], 1, -1)[keep])
    with h5py.File(dst, "r") as f:
        assert (int(f.attrs["hot_pixels_dropped"]), int(f.attrs["hot_pixel_events_dropped"])) == (1, int((~keep).sum()))


def test_a_huge_factor_finds_nothing_without_an_overflow_warning(tmp_path, capsys):
    """`--drop-hot-pixels 1e308` is a valid factor (finite, > 1): factor x mean overflowed to inf with a
    RuntimeWarning on stderr; the bound is inf, nothing is dropped, and nothing else is printed."""
    import warnings

    counts = np.array([[3, 900, 2], [5, 7, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hot_pixel_mask(counts, 1e308).any()
    src, _ = _recording_with_hot_pixels(tmp_path / "in.h5", np.random.default_rng(5))
    assert main(["convert", str(src), str(tmp_path / "out.h5"), "--drop-hot-pixels", "1e308", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("dropped 0 hot pixels (0 events)") and err == ""


def test_read_all_sorted_checks_its_memory_before_reading(tmp_path, monkeypatch) -> None:
    """The library's in-memory sort is refused up front, as `convert --sort` is, naming the file."""
    from egvsr.events.io import open_events
    from egvsr.events.io import source as source_module

    n = 500
    stream = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.arange(n, dtype=np.int64),
                         np.ones(n, np.int8), 4, 3)
    path = write_events(tmp_path / "rec.h5", stream)
    monkeypatch.setattr(source_module, "physical_memory", lambda: source_module.SORT_BYTES_PER_EVENT * n)
    with open_events(path) as src:
        with pytest.raises(InputFileError, match=r"rec.h5: sorting its 500 events in memory needs"):
            src.read_all_sorted()
    monkeypatch.setattr(source_module, "physical_memory", lambda: source_module.SORT_BYTES_PER_EVENT * n * 2)
    with open_events(path) as src:
        assert np.array_equal(src.read_all_sorted().t, stream.t)
