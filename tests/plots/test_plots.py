"""Pictures: event colours, voxel slices, comparison grids, crops, and `egvsr show` previews."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.errors import ConfigError, OutputExistsError
from egvsr.events import EventStream
from egvsr.plots.compare import comparison_grid, crop_rows, pick_crop, scale_box
from egvsr.plots.events import event_counts, event_image, plot_events
from egvsr.plots.voxels import plot_voxels, signed_slices


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8),
                                                                st.sampled_from([-1, 1])), max_size=60))
def test_event_counts_match_a_loop(h, w, events):
    events = [(x, y, p) for x, y, p in events if x < w and y < h]
    x = np.array([e[0] for e in events], np.uint16)
    y = np.array([e[1] for e in events], np.uint16)
    p = np.array([e[2] for e in events], np.int8)
    on, off = event_counts(x, y, p, h, w)
    ref_on, ref_off = np.zeros((h, w), int), np.zeros((h, w), int)
    for xi, yi, pi in events:
        (ref_on if pi > 0 else ref_off)[yi, xi] += 1
    np.testing.assert_array_equal(on, ref_on)
    np.testing.assert_array_equal(off, ref_off)


def test_on_red_off_blue_on_white_and_over_a_frame():
    s = EventStream(np.array([1, 3, 3], np.uint16), np.array([0, 2, 2], np.uint16),
                    np.array([0, 1, 2], np.int64), np.array([1, -1, -1], np.int8), 5, 4)
    img = event_image(s)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    r, g, b = (int(v) for v in img[0, 1])
    assert r > 150 and r > g + 80 and r > b + 80  # ON: red
    r, g, b = (int(v) for v in img[2, 3])
    assert b > r + 80 and b > 100  # OFF: blue
    assert (img[1, 0] == 255).all()  # no events: white
    frame = np.full((4, 5), 40, np.uint8)
    over = event_image(s, background=frame)
    gray = over[1, 0]
    assert gray[0] == gray[1] == gray[2] and 100 < gray[0] < 200  # the frame, lightened, in gray
    assert over[0, 1, 0] > over[0, 1, 2] + 80
    with pytest.raises(ConfigError, match="background"):
        event_image(s, background=np.zeros((3, 3), np.uint8))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(2, 12), st.integers(1, 5), st.integers(1, 5), st.integers(0, 10**6))
def test_pick_crop_is_the_best_window(h, w, bh, bw, seed):
    wmap = np.random.default_rng(seed).random((h, w))
    y, x, ch, cw = pick_crop(wmap, (bh, bw))
    ch_, cw_ = min(bh, h), min(bw, w)
    assert (ch, cw) == (ch_, cw_)
    best = max(wmap[i:i + ch_, j:j + cw_].sum() for i in range(h - ch_ + 1) for j in range(w - cw_ + 1))
    assert wmap[y:y + ch, x:x + cw].sum() == pytest.approx(best)


def test_scale_box_maps_hr_boxes_to_lr():
    assert scale_box((40, 80, 20, 40), (260, 344), (65, 86)) == (10, 20, 5, 10)
    assert scale_box((0, 0, 1, 1), (100, 100), (10, 10)) == (0, 0, 1, 1)


def test_figures_are_written_atomically_and_not_overwritten(tmp_path):
    rng = np.random.default_rng(0)
    vox = rng.normal(size=(5, 2, 12, 16)).astype(np.float32)
    assert signed_slices(vox).shape == (5, 12, 16)
    out = plot_voxels(vox, tmp_path / "vox.png")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 50
    with pytest.raises(OutputExistsError):
        plot_voxels(vox, out)
    hr = rng.random((40, 56, 3))
    lr = rng.random((10, 14, 3))
    grid = comparison_grid([("LR", lr), ("ours", hr), ("ground truth", hr)], tmp_path / "cmp.png", box=(8, 8, 16, 20))
    grid_img = cv2.imread(str(grid))
    assert grid_img is not None and grid_img.shape[1] > 1.5 * grid_img.shape[0]  # three panels side by side
    rows = crop_rows([("x4", [("a", hr[:10, :10]), ("b", lr[:3, :3])])], tmp_path / "rows.png", title="t")
    assert cv2.imread(str(rows)) is not None
    s = EventStream(np.array([1, 2], np.uint16), np.array([1, 1], np.uint16), np.array([0, 5], np.int64),
                    np.array([1, -1], np.int8), 8, 6)
    shown = cv2.imread(str(plot_events(s, tmp_path / "ev.png", title="two events")))[..., ::-1].reshape(-1, 3)
    picture = event_image(s)  # the ON pixel at (1, 1), the OFF pixel at (2, 1), each in its own colour
    on, off = (np.all(shown == picture[1, k], axis=1).sum() for k in (1, 2))
    assert on > 100 and off > 100 and 0.8 < on / off < 1.25  # both events drawn, as cells of one size
    assert not list(tmp_path.glob(".*egvsr-partial*"))
    with pytest.raises(ConfigError, match="voxels"):
        plot_voxels(np.zeros((2, 3, 4, 4)), tmp_path / "bad.png")


def test_show_writes_a_preview_of_our_layout_and_refuses_overwrite(tmp_path, capsys, monkeypatch):
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=0, seconds=0.08, size=(24, 32), progress=False)
    monkeypatch.chdir(tmp_path)
    assert main(["show", str(rec)]) == 0
    out = tmp_path / "clip.preview.png"
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] > img.shape[0]
    before = out.read_bytes()
    assert main(["show", str(rec)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_show_writes_the_format_its_output_is_named_and_refuses_other_names(tmp_path, capsys):
    """`--out p.jpg` wrote PNG bytes under a JPEG name (and `.gif`, or no suffix, PNG too): the format now
    follows the name, and a name of another format is one line before the recording is read."""
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=0, seconds=0.08, size=(24, 32), progress=False)
    magic = {"p.jpg": b"\xff\xd8\xff", "q.JPEG": b"\xff\xd8\xff", "p.png": b"\x89PNG", "p.pdf": b"%PDF"}
    for name, head in magic.items():
        assert main(["show", str(rec), "--out", str(tmp_path / name)]) == 0, capsys.readouterr().err
        assert (tmp_path / name).read_bytes().startswith(head), name
    assert cv2.imread(str(tmp_path / "p.jpg")).shape == cv2.imread(str(tmp_path / "p.png")).shape
    assert main(["show", str(rec), "--out", str(tmp_path / "p.svg")]) == 0
    assert b"<svg" in (tmp_path / "p.svg").read_bytes()[:2000]
    for name in ("p.gif", "preview", "p.png.bak"):
        assert main(["show", str(rec), "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: expected a preview file name ending in .png, .jpg" in err, err
        assert not (tmp_path / name).exists()
    assert not list(tmp_path.glob(".*egvsr-partial*"))


def test_show_refuses_a_frame_larger_than_memory_before_decoding_it(tmp_path, capsys, monkeypatch):
    from egvsr.events.io.egvsr_h5 import EgvsrH5Source
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=0, seconds=0.08, size=(24, 32), progress=False)
    monkeypatch.setattr("egvsr.plots.show.physical_memory", lambda: 100_000)  # a 24x32 preview needs 61 kB
    monkeypatch.setattr(EgvsrH5Source, "read_frame", lambda self, i: pytest.fail("decoded a frame"))
    out = tmp_path / "p.png"
    assert main(["show", str(rec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clip.h5: a preview of its 32x24 frames needs about" in err
    assert not out.exists()


def test_show_a_real_events_only_file(shared_data, tmp_path):
    out = tmp_path / "aedat.png"
    assert main(["show", str(shared_data / "aedat4" / "sample.aedat4"), "--out", str(out)]) == 0
    assert cv2.imread(str(out)) is not None


def test_show_pictures_a_crowded_window_from_a_bounded_sample_of_it(tmp_path, monkeypatch):
    """The window's event count comes from the index; beyond `PREVIEW_EVENTS` only evenly spaced runs
    adding up to that many are read (the whole window never is), and the panel's title says so."""
    import egvsr.plots.figures as figures
    import egvsr.plots.show as show
    from egvsr.events import Frames
    from egvsr.events.io import open_events, write_events
    from egvsr.events.io.source import EventSource

    rng = np.random.default_rng(0)
    n = 3000
    stream = EventStream(rng.integers(0, 32, n).astype(np.uint16), rng.integers(0, 24, n).astype(np.uint16),
                         np.sort(rng.integers(0, 80_000, n)), np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
                         32, 24)
    frames = Frames(np.full((3, 24, 32, 1), 128, np.uint8), np.array([0, 40_000, 80_000]))
    rec = write_events(tmp_path / "clip.h5", stream, frames=frames)
    with open_events(rec) as src:
        ft = src.frame_times()
        i0, i1 = src.index_range(int(ft[0]), int(ft[1]))
        on, off = event_counts(*(getattr(src.read(int(ft[0]), int(ft[1])), k) for k in "xyp"), 24, 32)
        assert i1 - i0 > 400
        # a window within the limit: every event, the same counts as reading it whole
        got_on, got_off, read, count = show.window_counts(src, int(ft[0]), int(ft[1]))
        assert (read, count) == (i1 - i0, i1 - i0)
        np.testing.assert_array_equal(got_on, on)
        np.testing.assert_array_equal(got_off, off)
    monkeypatch.setattr(show, "PREVIEW_EVENTS", 200)
    monkeypatch.setattr(show, "PREVIEW_RUN", 50)
    runs = show.preview_runs(i0, i1, 200, 50)
    assert len(runs) == 4 and all(b - a == 50 for a, b in runs) and runs[0][0] == i0 and runs[-1][1] <= i1
    assert all(b <= c for (_, b), (c, _) in zip(runs, runs[1:]))  # spread, not overlapping
    asked = []
    read_index = EventSource.read_index
    monkeypatch.setattr(EventSource, "read", lambda *a, **k: pytest.fail("read the whole window"))
    monkeypatch.setattr(EventSource, "read_index",
                        lambda self, a, b, *args, **kw: asked.append(b - a) or read_index(self, a, b, *args, **kw))
    titles = []
    save_figure = figures.save_figure
    monkeypatch.setattr(figures, "save_figure", lambda fig, out, overwrite=False, fmt="png": titles.extend(
        ax.get_title() for ax in fig.axes) or save_figure(fig, out, overwrite, fmt))
    show.show_recording(rec, tmp_path / "p.png")
    assert sum(a for a in asked if a == 50) == 200  # the preview's runs (the event rate reads in chunks)
    assert any(f"first interval: 200 of {i1 - i0:,}, sampled evenly" in t for t in titles), titles


def test_show_refuses_frames_of_another_size_than_the_sensor_naming_the_file(tmp_path, capsys, monkeypatch):
    import h5py

    from egvsr.events.io.egvsr_h5 import EgvsrH5Source
    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=0, seconds=0.08, size=(24, 32), progress=False)
    with h5py.File(rec, "r+") as f:
        n = f["frames/images"].shape[0]
        del f["frames/images"]
        f["frames/images"] = np.zeros((n, 48, 64, 3), np.uint8)
    monkeypatch.setattr(EgvsrH5Source, "read_frame", lambda self, i: pytest.fail("decoded a frame"))
    out = tmp_path / "p.png"
    assert main(["show", str(rec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"egvsr: error: {rec}: frames are 64x48 (WxH) but the events' sensor is 32x24; frames and "
                   "events must share the sensor size\n")
    assert not out.exists()


@pytest.mark.parametrize("t0, span", [(1_700_000_000_000_000, 0), (1_700_000_000_000_000, 3), (-2**62, 2**63)])
def test_event_rate_counts_every_event_in_whole_microsecond_bins_without_warnings(tmp_path, t0, span):
    """Events on the unix clock (~1.7e15 µs, where float64 has no sub-µs resolution), all at one
    timestamp, or spanning more than int64 can subtract: finite rates, every event counted, no warning."""
    import warnings

    from egvsr.events.io import open_events, write_events
    from egvsr.plots.show import RATE_MIN_SPAN_US, event_rate

    n = 2000
    u = np.sort(np.random.default_rng(0).integers(0, span + 1, n, dtype=np.uint64))
    u[0], u[-1] = 0, span
    t = (u + np.uint64(t0 % 2**64)).view(np.int64)  # t0 + u, without passing through int64 overflow
    p = np.where(np.arange(n) % 3 == 0, 1, -1).astype(np.int8)
    rec = write_events(tmp_path / "r.h5", EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, p, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_events(rec) as src:
            centres, on, off = event_rate(src)
    width_s = centres[1] - centres[0]
    assert np.isfinite(on).all() and np.isfinite(off).all() and width_s > 0
    assert round(on.sum() * width_s) == int((p > 0).sum()) and round(off.sum() * width_s) == int((p < 0).sum())
    assert centres[-1] + width_s / 2 >= max(span + 1, RATE_MIN_SPAN_US) / 1e6


def test_show_of_events_sharing_one_unix_timestamp_warns_nothing(tmp_path, recwarn):
    from egvsr.events import Frames
    from egvsr.events.io import write_events

    n, t0 = 500, 1_700_000_000_000_000
    stream = EventStream(np.arange(n, dtype=np.uint16) % 8, np.zeros(n, np.uint16), np.full(n, t0, np.int64),
                         np.where(np.arange(n) % 2 == 0, 1, -1).astype(np.int8), 8, 6)
    frames = Frames(np.full((2, 6, 8, 3), 90, np.uint8), np.array([t0, t0 + 100_000]))
    rec = write_events(tmp_path / "one.h5", stream, frames=frames)
    assert main(["show", str(rec), "--out", str(tmp_path / "p.png")]) == 0
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in recwarn]
    assert cv2.imread(str(tmp_path / "p.png")) is not None


def _line_sensor(path, width: int, height: int):
    """An events-only egvsr file of a `width` x `height` sensor holding 10 events."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=width, height=height, num_events=10)
        g = f.create_group("events")
        g["x"] = (np.arange(10) % width).astype(np.uint16)
        g["y"] = (np.arange(10) % height).astype(np.uint16)
        g["t"], g["p"] = np.arange(10, dtype=np.int64), np.ones(10, np.int8)
    return path


@pytest.mark.parametrize("width, height", [(1, 60000), (60000, 1), (1, 1000)])
def test_show_of_a_line_sensor_draws_a_bounded_picture_without_warnings(tmp_path, recwarn, width, height):
    """The figure was 4 * height / width + 1 inches tall: 15.5 GB and 140 s for 1x1000, a traceback at
    1x60000, a raw 'Tight layout not applied' warning at 60000x1."""
    from egvsr.plots.show import show_recording

    out = show_recording(_line_sensor(tmp_path / "line.h5", width, height), tmp_path / "p.png")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] <= 2000 and img.shape[1] <= 2000
    assert not [str(w.message) for w in recwarn]


def test_show_counts_the_pictures_own_pixels_in_its_memory_check(tmp_path, monkeypatch, capsys):
    """A 1x1 sensor needs 80 bytes by the frame count alone; the PNG itself takes megabytes."""
    rec = _line_sensor(tmp_path / "dot.h5", 1, 1)
    monkeypatch.setattr("egvsr.plots.show.physical_memory", lambda: 200_000)
    assert main(["show", str(rec), "--out", str(tmp_path / "p.png")]) == 2
    assert "dot.h5: a preview of its 1x1 sensor needs about" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_show_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    import errno
    import os

    from egvsr.events.simulate import make_sample

    rec = make_sample(tmp_path / "clip.h5", seed=0, seconds=0.08, size=(24, 32), progress=False)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full)
    out = tmp_path / "p.png"
    assert main(["show", str(rec), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"egvsr: error: {out}: cannot write the output (the disk is full); nothing "
                                       "was written under this name: free some space or choose another path\n")
    assert list(tmp_path.iterdir()) == [rec]


@pytest.mark.parametrize("h, w", [(3000, 1), (1, 3000)])
def test_event_and_voxel_figures_of_a_line_sensor_stay_small(tmp_path, h, w):
    """A 1-pixel-wide (or -high) sensor was a figure 6 * h / w inches tall: 18000 inches for 3000x1."""
    along = np.arange(4, dtype=np.uint16)
    x, y = (np.zeros(4, np.uint16), along) if w == 1 else (along, np.zeros(4, np.uint16))
    s = EventStream(x, y, np.arange(4), np.array([1, -1, 1, 1], np.int8), w, h)
    for path in (plot_events(s, tmp_path / "e.png"), plot_voxels(np.ones((2, 2, h, w), np.float32), tmp_path / "v.png")):
        img = cv2.imread(str(path))
        assert img is not None and max(img.shape[:2]) < 3000, (path.name, img.shape)


def test_show_of_a_huge_declared_sensor_draws_cells_in_bounded_memory(tmp_path):
    """A file may declare any sensor size: 65535x65535 with 3 events was refused as needing 343 GB (and a
    declared 10000x10000 took 8 GB); the events are now counted in f x f cells of at most
    `PICTURE_MAX_SIDE` a side, whatever the declared size."""
    import egvsr.plots.show as show
    from egvsr.events.io import open_events, write_events

    side = 65535
    s = EventStream(np.array([0, side - 1, 5], np.uint16), np.array([0, side - 1, 40], np.uint16),
                    np.array([10, 20, 30]), np.array([1, -1, 1], np.int8), side, side)
    rec = write_events(tmp_path / "huge.h5", s)
    f = show.cell_size(side, side)
    assert f == 32
    with open_events(rec) as src:
        on, off, read, count = show.window_counts(src, 0, 100, f)
    assert on.shape == off.shape == (2048, 2048) and (read, count) == (3, 3)
    assert on[0, 0] == 1 and on[1, 0] == 1 and off[-1, -1] == 1 and on.sum() + off.sum() == 3
    img = cv2.imread(str(show.show_recording(rec, tmp_path / "p.png")))
    assert img is not None and max(img.shape[:2]) < 2000


def test_show_cells_sum_the_events_and_sample_the_frame(tmp_path, monkeypatch):
    """Cells of f x f pixels hold the sum of their pixels' counts (a numpy reference), the frame is drawn at
    each cell's top-left pixel and the titles say so."""
    import egvsr.plots.figures as figures
    import egvsr.plots.show as show
    from egvsr.events import Frames
    from egvsr.events.io import open_events, write_events

    rng = np.random.default_rng(1)
    n, w, h = 500, 32, 24
    x, y = rng.integers(0, w, n).astype(np.uint16), rng.integers(0, h, n).astype(np.uint16)
    p = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    frames = Frames(rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8), np.array([0, 100_000]))
    rec = write_events(tmp_path / "c.h5", EventStream(x, y, np.sort(rng.integers(0, 100_000, n)), p, w, h),
                       frames=frames)
    monkeypatch.setattr(figures, "PICTURE_MAX_SIDE", 7)
    f = show.cell_size(h, w)
    assert f == 5 and show.cells(h, w, f) == (5, 7)
    with open_events(rec) as src:
        on, off, _, _ = show.window_counts(src, 0, 100_000, f)
    want_on, want_off = np.zeros((5, 7), np.int64), np.zeros((5, 7), np.int64)
    np.add.at(want_on, (y[p > 0] // 5, x[p > 0] // 5), 1)
    np.add.at(want_off, (y[p < 0] // 5, x[p < 0] // 5), 1)
    np.testing.assert_array_equal(on, want_on)
    np.testing.assert_array_equal(off, want_off)
    drawn = {}
    save_figure = figures.save_figure
    monkeypatch.setattr(figures, "save_figure", lambda fig, out, overwrite=False, fmt="png": drawn.update(
        {ax.get_title(): ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()})
        or save_figure(fig, out, overwrite, fmt))
    show.show_recording(rec, tmp_path / "p.png")
    (first, image), (_, overlay) = drawn.items()
    assert "cells of 5x5 pixels" in first and image.shape == overlay.shape == (5, 7, 3)
    np.testing.assert_array_equal(np.asarray(image), frames.images[0][::5, ::5])


def test_voxel_colour_limits_come_from_the_finite_values(tmp_path, monkeypatch):
    """One NaN made the shared limit NaN (a wrong picture: whole bins blank or saturated); an infinity made
    it infinite. NaN is drawn blank, infinity at full colour, the limit is the finite values' 99th percentile."""
    import warnings

    import egvsr.plots.figures as figures

    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 2, 8, 10)).astype(np.float32)
    s = v[:, 0].astype(np.float64) - v[:, 1]  # the slices are drawn in float64
    want = float(np.percentile(np.abs(s[s != 0]), 99))
    v[0, 0, 0, 0], v[1, 0, 2, 3] = np.nan, np.inf
    limits = []
    save_as_named = figures.save_as_named
    monkeypatch.setattr(figures, "save_as_named", lambda fig, out, overwrite=False: limits.extend(
        im.get_clim() for ax in fig.axes for im in ax.get_images()) or save_as_named(fig, out, overwrite))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_voxels(v, tmp_path / "v.png")
    finite = s[np.isfinite(v[:, 0].astype(np.float64) - v[:, 1])]
    lim = float(np.percentile(np.abs(finite[finite != 0]), 99))
    assert len(limits) == 3 and all(c == (-lim, lim) for c in limits) and abs(lim - want) < 0.2 * want
    plot_voxels(np.full((2, 4, 4), np.nan, np.float32), tmp_path / "nan.png")  # nothing finite: a blank grid


@pytest.mark.parametrize("shape", [(0, 4, 4), (2, 0, 5), (2, 2, 5, 0)])
def test_empty_voxels_are_refused_naming_them(tmp_path, shape):
    with pytest.raises(ConfigError, match=r"^voxels: expected at least one time bin of at least 1x1 pixels"):
        plot_voxels(np.zeros(shape, np.float32), tmp_path / "v.png")
    assert not list(tmp_path.iterdir())


def test_panels_with_nan_are_drawn_without_warnings(tmp_path):
    """A float panel holding NaN or infinity (a diverged output) was cast to uint8 with a RuntimeWarning
    and an undefined value; NaN is black, +inf white, -inf black."""
    import warnings

    from egvsr.plots.compare import _as_rgb

    img = np.full((4, 5, 3), 0.5)
    img[0, 0], img[0, 1], img[0, 2] = np.nan, np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = _as_rgb(img)
        comparison_grid([("a", img), ("b", img[::2, ::2])], tmp_path / "g.png", box=(0, 0, 2, 2))
        crop_rows([("r", [("a", img)])], tmp_path / "c.png")
        counts = event_image(x=np.array([1]), y=np.array([1]), p=np.array([1]), height=4, width=5,
                             background=img[..., 0] * np.nan)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [255] * 3 and rgb[0, 2].tolist() == [0, 0, 0]
    assert counts[0, 0].tolist() == [128] * 3  # a NaN background pixel is black, lightened


def test_pick_crop_skips_non_finite_weights_and_refuses_an_empty_crop():
    """A NaN weight made every box holding it NaN and argmax picked the first NaN box (0, 0)."""
    w = np.zeros((12, 12))
    w[8:11, 7:10] = 1.0
    w[0, 0] = np.nan
    w[0, 11] = np.inf
    assert pick_crop(w, (3, 3)) == (8, 7, 3, 3)
    for size in [(0, 3), (3, -1), ("a", 3), None]:
        with pytest.raises(ConfigError, match=r"^size: expected a crop \(h, w\) of positive integers"):
            pick_crop(w, size)
    with pytest.raises(ConfigError, match=r"^weight: expected a non-empty \(H, W\) map"):
        pick_crop(np.zeros((0, 4)), (2, 2))


def test_metric_curves_leave_the_callers_matplotlib_alone(tmp_path, monkeypatch, recwarn):
    """The curves switched the process's matplotlib backend to Agg (a notebook's inline plots stopped
    showing) and drew through pyplot; with no rows they warned about an empty legend."""
    import matplotlib

    from egvsr.plots.curves import plot_metric_vs_scale

    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: pytest.fail("changed the matplotlib backend"))
    rows = [{"model": "a", "scale": 2, "psnr": float("nan")}, {"model": "a", "scale": 4, "psnr": 30.0},
            {"model": "b", "scale": 2, "psnr": float("inf")}]
    assert cv2.imread(str(plot_metric_vs_scale(rows, tmp_path / "c.png"))) is not None
    assert cv2.imread(str(plot_metric_vs_scale([], tmp_path / "e.png"))) is not None
    assert not [str(w.message) for w in recwarn]


def _drawn_grid(monkeypatch, panels, box):
    """comparison_grid's figure, drawn (Agg) instead of saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import egvsr.plots.figures as figures

    kept = {}
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.update(fig=fig))
    comparison_grid(panels, "unused.png", box=box)
    fig = kept["fig"]
    FigureCanvasAgg(fig).draw()
    return fig, np.asarray(fig.canvas.buffer_rgba())[..., :3]


def test_every_zoom_of_a_comparison_grid_shows_the_box_s_region_at_a_scale_that_is_no_whole_number(monkeypatch):
    # a 10x10 HR panel beside a 4x4 LR one (x2.5): HR columns 2..5 are LR columns 0.8..2.4, so the LR
    # zoom shows 0.2 of LR column 0, all of column 1 and 0.4 of column 2 (1/8, 5/8, 2/8 of its width),
    # not the three whole columns; the box drawn on the LR panel is that region too
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    lr = np.repeat(colours[None], 4, axis=0)  # column j in colour j
    hr = np.zeros((10, 10, 3), np.uint8)
    fig, px = _drawn_grid(monkeypatch, [("HR", hr), ("LR", lr)], box=(0, 2, 10, 4))
    zoom = fig.axes[3]  # row 2, column 2
    x0, y0, x1, y1 = zoom.get_window_extent().extents
    row = px[px.shape[0] - int((y0 + y1) / 2), int(np.ceil(x0)) + 1:int(x1) - 1].astype(int)
    share = [float(np.mean(np.abs(row - c).sum(-1) < 60)) for c in colours]
    assert share == pytest.approx([1 / 8, 5 / 8, 2 / 8, 0], abs=0.03), share
    (rect,) = fig.axes[1].patches
    assert (rect.get_x(), rect.get_width()) == pytest.approx((0.8 - 0.5, 1.6))
    assert (rect.get_y(), rect.get_height()) == pytest.approx((-0.5, 4.0))


@pytest.mark.parametrize("box", [(10, 10, 8, 8), (0, 0, 17, 1), (-1, 0, 4, 4), (0, 0, 0, 4), (1, 2, 8),
                                 (1.5, 2, 8, 8), (True, 0, 4, 4), "0,0,4,4"])
def test_a_comparison_box_not_inside_the_largest_panel_is_refused_naming_it(tmp_path, box):
    # a box reaching past the image was cut to what fits, silently; a short one failed to unpack
    with pytest.raises(ConfigError, match=r"^box "):
        comparison_grid([("a", np.zeros((16, 16))), ("b", np.zeros((4, 4)))], tmp_path / "g.png", box=box)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("img", [np.full((8, 8), 200, np.int64), np.full((8, 8, 3), 40000, np.uint16),
                                 np.full((8, 8), 1 + 0j)])
def test_a_panel_of_integers_other_than_uint8_is_refused_naming_it_not_drawn_white(tmp_path, img):
    # 0..255 held in int64 (what np.array of a list of ints gives) was read as intensities in [0, 1]:
    # every pixel above 1 drawn white
    for draw in (lambda: comparison_grid([("ours", img)], tmp_path / "g.png"),
                 lambda: crop_rows([("x2", [("ours", img)])], tmp_path / "r.png")):
        with pytest.raises(ConfigError, match=r"^panel 'ours': expected a uint8 image \(0\.\.255\) or floats"):
            draw()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_panel_of_a_crop_grid_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"^panel 'b': expected an image of at least 1x1 pixels"):
        crop_rows([("x2", [("a", np.zeros((4, 4))), ("b", np.zeros((0, 4)))])], tmp_path / "r.png")


@pytest.mark.parametrize("saturate", [0, -1, float("nan"), float("inf"), "5", True])
def test_event_image_refuses_a_saturation_that_is_no_positive_count(saturate):
    # nan coloured nothing (with a RuntimeWarning), -1 coloured every pixel fully, 0 meant the default
    with pytest.raises(ConfigError, match=r"^saturate .*: expected a positive count"):
        event_image(x=np.array([1]), y=np.array([1]), p=np.array([1]), height=4, width=4, saturate=saturate)
    img = event_image(x=np.array([1, 1, 2]), y=np.array([1, 1, 2]), p=np.array([1, 1, 1]), height=4, width=4,
                      saturate=2)
    assert tuple(img[1, 1]) == (214, 39, 40) and tuple(img[2, 2]) != (214, 39, 40)  # 2 events full, 1 not


@pytest.mark.parametrize("name, value", [("max_cols", 0), ("max_bins", 0), ("max_cols", 2.5), ("max_bins", -3)])
def test_voxel_grid_layout_options_are_positive_integers(tmp_path, name, value):
    # max_cols 0 divided by zero; max_bins 0 blamed the voxels' shape
    with pytest.raises(ConfigError, match=rf"^{name} {value!r}: expected a positive integer"):
        plot_voxels(np.ones((2, 8, 8)), tmp_path / "v.png", **{name: value})
    assert not (tmp_path / "v.png").exists()


def test_metric_curves_refuse_rows_without_the_metric_naming_it(tmp_path):
    from egvsr.plots.curves import plot_metric_vs_scale

    with pytest.raises(ConfigError, match=r"^rows: expected 'model', 'scale' and 'lpips' in every row"):
        plot_metric_vs_scale([{"model": "a", "scale": 2, "psnr": 30.0}], tmp_path / "c.png", metric="lpips")
    with pytest.raises(ConfigError, match=r"^rows: psnr 'n/a' of model 'a': expected a number"):
        plot_metric_vs_scale([{"model": "a", "scale": 2, "psnr": "n/a"}], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("bins, max_bins, said", [(40, 32, "the first 32 of 40 time bins, 8x6"),
                                                   (5, 32, "5 time bins, 8x6"), (1, 1, "1 time bin, 8x6")])
def test_the_voxel_grid_title_says_how_many_bins_it_shows_of_how_many(tmp_path, monkeypatch, bins, max_bins, said):
    # 40 bins drawn as their first 32 were titled "32 time bins", as if the tensor had 32
    import egvsr.plots.figures as figures

    kept = {}
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.update(fig=fig))
    plot_voxels(np.ones((bins, 6, 8)), tmp_path / "v.png", max_bins=max_bins)
    assert kept["fig"]._suptitle.get_text() == said


def test_show_of_one_frame_and_one_event_says_them_in_the_singular(tmp_path, monkeypatch):
    # the title said "1 events, 1 frames"
    import egvsr.plots.figures as figures
    from egvsr.events.frames import Frames
    from egvsr.events.io.writer import EventWriter
    from egvsr.plots.show import show_recording

    titles = []
    monkeypatch.setattr(figures, "save_figure",
                        lambda fig, path, overwrite=False, fmt="png": titles.append(fig._suptitle.get_text()))
    one = EventStream(np.array([3], np.uint16), np.array([4], np.uint16), np.array([10], np.int64),
                      np.array([1], np.int8), 16, 16)
    for name, frames, events in (("one.h5", 1, one), ("two.h5", 2, None)):
        with EventWriter(tmp_path / name, 16, 16) as w:
            if events is not None:
                w.append(events)
            w.write_frames(Frames(np.full((frames, 16, 16), 128, np.uint8), np.arange(frames) * 40_000))
        show_recording(tmp_path / name, tmp_path / f"{name}.png")
    assert titles == ["one.h5: egvsr, 16x16, 1 event, 1 frame", "two.h5: egvsr, 16x16, 0 events, 2 frames"]


def test_a_crop_grid_draws_square_pixels_whatever_the_first_panel_s_shape(monkeypatch):
    # every panel was stretched to the first one's shape: a 2x8 crop beside an 8x8 one drawn 8x8
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import egvsr.plots.figures as figures

    kept = {}
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.update(fig=fig))
    wide = np.zeros((2, 8, 3), np.uint8)
    wide[..., 0] = 255  # red
    crop_rows([("x2", [("square", np.full((8, 8), 1.0)), ("wide", wide)])], "unused.png")
    fig = kept["fig"]
    FigureCanvasAgg(fig).draw()
    px = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    red = (px[..., 0] > 200) & (px[..., 1] < 60) & (px[..., 2] < 60)
    ys, xs = np.nonzero(red)
    ratio = (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)
    assert ratio == pytest.approx(4.0, rel=0.05), ratio


def test_metric_curves_say_which_values_they_cannot_draw(tmp_path, monkeypatch):
    # a NaN or infinite value was left out of its line without a word (a model with none drawn at all
    # still had its legend entry)
    import egvsr.plots.curves as curves
    from egvsr.plots.curves import plot_metric_vs_scale

    kept = {}
    real = curves.new_figure
    monkeypatch.setattr(curves, "new_figure", lambda *a, **k: kept.setdefault("fig", real(*a, **k)))
    rows = [{"model": "a", "scale": 2, "psnr": float("inf")}, {"model": "a", "scale": 3, "psnr": 30.0},
            {"model": "b", "scale": 4.5, "psnr": float("nan")}, {"model": "c", "scale": 2, "psnr": 25.0}]
    plot_metric_vs_scale(rows, tmp_path / "c.png")
    (ax,) = kept["fig"].axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (x2 inf: not drawn)", "b (x4.5 nan: not drawn)", "c"]


def test_the_curves_average_row_is_evals_summary_row():
    # plots sits below engine, so curves spells eval's summary clip again: the two must stay one name
    from egvsr.engine.tables import SUMMARY_CLIP
    from egvsr.plots.curves import AVERAGE_CLIP

    assert AVERAGE_CLIP == SUMMARY_CLIP
