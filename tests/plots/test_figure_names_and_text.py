"""Every plot writes the format its file's name says, and draws the text it is given as written (a `$` in a
file name, label or title is no math)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError
from egvsr.events import EventStream
from egvsr.plots.events import counts_image, plot_events

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "jpg": b"\xff\xd8\xff", "JPEG": b"\xff\xd8\xff"}


def _stream() -> EventStream:
    return EventStream(np.array([1, 3], np.uint16), np.array([0, 2], np.uint16), np.array([0, 5], np.int64),
                       np.array([1, -1], np.int8), 5, 4)


def _plots():
    """Each public plot, as a call `draw(path, text)` putting `text` in its title or labels."""
    from egvsr.plots import comparison_grid, crop_rows, plot_metric_vs_scale, plot_voxels

    img = np.zeros((6, 8), np.uint8)
    return {
        "plot_events": lambda path, text: plot_events(_stream(), path, title=text),
        "plot_voxels": lambda path, text: plot_voxels(np.ones((2, 4, 5), np.float32), path, title=text),
        "comparison_grid": lambda path, text: comparison_grid([(text, img)], path, box=(0, 0, 2, 2), title=text),
        "crop_rows": lambda path, text: crop_rows([(text, [(text, img)])], path, title=text),
        "plot_metric_vs_scale": lambda path, text: plot_metric_vs_scale(
            [{"model": text, "scale": 2, "psnr": 30.0}], path, title=text),
    }


@pytest.mark.parametrize("plot", sorted(_plots()))
def test_every_plot_writes_the_format_its_name_says(tmp_path, plot):
    """`plot_voxels(v, "v.pdf")` wrote PNG bytes under a PDF name (every plot but `show` did): the format now
    follows the suffix (any case); a name without one of those suffixes stays a PNG."""
    draw = _plots()[plot]
    for suffix, head in MAGIC.items():
        out = draw(tmp_path / f"f.{suffix}", "t")
        assert out.read_bytes().startswith(head), suffix
    draw(tmp_path / "f.svg", "t")
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:2000]
    draw(tmp_path / "figure", "t")
    assert (tmp_path / "figure").read_bytes().startswith(MAGIC["png"])


@pytest.mark.parametrize("plot", sorted(_plots()))
@pytest.mark.parametrize("name", ["f.eps", "f.TIFF", "f.gif"])
def test_a_plot_named_as_a_format_it_cannot_write_is_refused_before_drawing(tmp_path, plot, name):
    with pytest.raises(ConfigError, match=r"expected a name ending in \.png, \.jpg"):
        _plots()[plot](tmp_path / name, "t")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("plot", sorted(_plots()))
def test_a_dollar_in_a_plot_s_text_is_drawn_as_written_not_as_math(tmp_path, plot, monkeypatch):
    """`title="a$\\frac$"` crashed matplotlib's math parser while saving; `$_1$` was drawn as a subscript."""
    from matplotlib.text import Text

    seen = []
    draw = Text.draw

    def record(self, renderer):
        seen.append((self.get_text(), self._preprocess_math(self.get_text())))
        return draw(self, renderer)

    monkeypatch.setattr(Text, "draw", record)
    _plots()[plot](tmp_path / "f.png", "a$\\frac$ b$_1$")
    shown = [(text, parsed) for text, parsed in seen if "frac" in text]
    assert shown, seen
    for _text, (s, math) in shown:
        assert math is False and "a$\\frac$ b$_1$" in s


def test_show_of_a_file_whose_name_holds_dollars_draws_the_name(tmp_path, capsys, monkeypatch):
    from matplotlib.text import Text

    from egvsr.events.io.writer import write_events

    rec = write_events(tmp_path / "a$\\frac$ b$_1$.h5", _stream())
    seen = []
    draw = Text.draw
    monkeypatch.setattr(Text, "draw", lambda self, renderer: seen.append(
        self._preprocess_math(self.get_text())) or draw(self, renderer))
    assert main(["show", str(rec), "--out", str(tmp_path / "p.png")]) == 0, capsys.readouterr().err
    assert any(s.startswith("a$\\frac$ b$_1$.h5: egvsr") and math is False for s, math in seen), seen


HUGE_SENSOR = r"""
import resource, sys
import numpy as np
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from egvsr.events import EventStream
from egvsr.plots.events import plot_events
side = 65535
s = EventStream(np.array([0, side - 1, 40], np.uint16), np.array([0, side - 1, 5], np.uint16),
                np.array([10, 20, 30]), np.array([1, -1, 1], np.int8), side, side)
background = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (side, side), (0, 0))  # no memory
plot_events(s, sys.argv[1], title="huge")
plot_events(s, sys.argv[2], background=background)
"""


def test_plot_events_of_a_huge_declared_sensor_draws_cells_in_bounded_memory(tmp_path):
    """A stream may declare any sensor size: `plot_events` of 3 events on 65535x65535 counted them in
    4.3 G-pixel images (tens of GB; a MemoryError under a 3 GB limit). It now draws cells of at most
    `PICTURE_MAX_SIDE` a side, as `egvsr show` does."""
    import os
    import subprocess
    import sys

    import cv2

    out, out_bg = tmp_path / "e.png", tmp_path / "b.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", HUGE_SENSOR, str(out), str(out_bg)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    for path in (out, out_bg):
        img = cv2.imread(str(path))
        assert img is not None and max(img.shape[:2]) < 2000


def test_plot_events_cells_sum_the_events_of_their_pixels(tmp_path, monkeypatch):
    """The cells hold the sum of their f x f pixels' counts (a numpy reference) and the title says so."""
    import egvsr.plots.figures as figures

    monkeypatch.setattr(figures, "PICTURE_MAX_SIDE", 4)
    rng = np.random.default_rng(3)
    n, w, h = 200, 10, 7  # f = 3: cells of 3x3 pixels, 3 rows by 4 columns (the last ones partial)
    x, y = rng.integers(0, w, n).astype(np.uint16), rng.integers(0, h, n).astype(np.uint16)
    p = rng.choice(np.array([-1, 1], np.int8), n)
    s = EventStream(x, y, np.arange(n), p, w, h)
    kept = {}
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.update(fig=fig))
    plot_events(s, tmp_path / "e.png")
    drawn = kept["fig"].axes[0].get_images()[0].get_array()
    on, off = np.zeros((3, 4)), np.zeros((3, 4))
    for xi, yi, pi in zip(x, y, p):
        (on if pi > 0 else off)[yi // 3, xi // 3] += 1
    np.testing.assert_array_equal(drawn, counts_image(on.astype(np.int64), off.astype(np.int64)))
    assert "cells of 3x3 pixels" in kept["fig"]._suptitle.get_text()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_voxel_values_near_the_float32_limit_get_their_own_colour(tmp_path, monkeypatch, dtype):
    """Values up to 3e38 overflowed float32 in matplotlib's scaling (value - vmin): a cell at a third of the
    limit was drawn at full red, with an overflow warning. The slices are now drawn in float64."""
    import warnings

    import matplotlib

    import egvsr.plots.figures as figures
    from egvsr.plots.voxels import plot_voxels

    v = np.zeros((2, 3, 3), dtype)
    v[:, 0, 0], v[:, 2, 2], v[:, 1, 1] = 3e38, -3e38, 1e38
    kept = {}
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.update(fig=fig))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_voxels(v, tmp_path / "v.png")
    im = kept["fig"].axes[0].get_images()[0]
    lo, hi = im.get_clim()
    want = matplotlib.colormaps["RdBu_r"]((1e38 - lo) / (hi - lo))
    np.testing.assert_allclose(im.to_rgba(im.get_array())[1, 1], want, atol=1e-6)
    np.testing.assert_allclose(im.to_rgba(im.get_array())[0, 0], matplotlib.colormaps["RdBu_r"](1.0), atol=1e-6)


def test_metric_curves_name_a_scale_they_cannot_draw(tmp_path, monkeypatch):
    """A NaN or infinite scale left its point out as silently as a NaN metric did; the legend names it too."""
    import egvsr.plots.curves as curves
    from egvsr.plots.curves import plot_metric_vs_scale

    kept = {}
    real = curves.new_figure
    monkeypatch.setattr(curves, "new_figure", lambda *a, **k: kept.setdefault("fig", real(*a, **k)))
    rows = [{"model": "a", "scale": float("inf"), "psnr": 31.0}, {"model": "a", "scale": 3, "psnr": 30.0},
            {"model": "b", "scale": float("nan"), "psnr": 29.0}]
    plot_metric_vs_scale(rows, tmp_path / "c.png")
    (ax,) = kept["fig"].axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (xinf 31.0: not drawn)", "b (xnan 29.0: not drawn)"]


_XY = np.array([1, 2]), np.array([0, 1])


@pytest.mark.parametrize("kw, named", [
    ({"height": 6.5}, "height 6.5"), ({"width": "8"}, "width '8'"), ({"height": True}, "height True"),
    ({"height": 0}, "height 0"), ({"width": -1}, "width -1"),
    ({"x": np.array([1.7, 2.2])}, "x: expected a 1-D array of integer pixel coordinates"),
    ({"x": np.array([1])}, "y: expected a 1-D array of integer pixel coordinates, as long as x (1)"),
    ({"p": np.array([1, -1, 1])}, "p: expected a 1-D array of polarities"),
    ({"y": np.array([[0, 1]])}, "y: expected a 1-D array"),
    ({"height": 2**40, "width": 2**40}, "height, width 1099511627776x1099511627776: a picture of that many pixels"),
])
def test_event_image_refuses_arguments_it_would_truncate_or_broadcast_naming_them(kw, named):
    """A float size or coordinate was truncated (height 6.5 drew 6 rows, x 1.7 drew column 1), an x of
    another length broadcast against y, and a size beyond memory was an OverflowError or a MemoryError."""
    from egvsr.plots.events import event_image

    args = {"x": _XY[0], "y": _XY[1], "p": np.array([1, -1]), "height": 3, "width": 8, **kw}
    with pytest.raises(ConfigError, match="^" + re.escape(named)):
        event_image(**args)


def test_event_image_beyond_half_the_memory_is_refused_before_it_is_made(monkeypatch):
    import egvsr.process
    from egvsr.plots.events import event_image

    monkeypatch.setattr(egvsr.process, "physical_memory", lambda: 100_000_000)
    with pytest.raises(ConfigError, match=r"^height, width 1000x1000: .* more than half of this machine's 0.1 GB"):
        event_image(x=_XY[0], y=_XY[1], p=np.array([1, -1]), height=1000, width=1000)
    assert event_image(x=_XY[0], y=_XY[1], p=np.array([1, -1]), height=500, width=500).shape == (500, 500, 3)
    assert event_image(x=[], y=[], p=[], height=2, width=3).shape == (2, 3, 3)  # no events: any dtype


def test_a_picture_of_something_that_is_no_event_stream_is_refused_naming_it(tmp_path):
    """A tonic structured array given to `plot_events` / `event_image` was an AttributeError ('x')."""
    from egvsr.events.io.tonic_arrays import TONIC_DTYPE
    from egvsr.plots.events import event_image

    events = np.zeros(3, TONIC_DTYPE)
    for draw in (lambda: event_image(events), lambda: plot_events(events, tmp_path / "e.png")):
        with pytest.raises(ConfigError, match=r"^stream: expected an EventStream, got ndarray .*from_tonic"):
            draw()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", [(3000, 1), (1, 3000)])
def test_comparison_and_crop_grids_of_a_line_image_stay_small(tmp_path, monkeypatch, shape):
    """A 3000x1 panel made a comparison grid 2.6 * 3000 * 2 inches tall (a MemoryError while saving) and a
    crop grid 6600 inches tall: the figures are now bounded by `PANEL_ASPECTS`, as the other plots are, the
    grid's full panel drawn at that shape with its title saying so."""
    import egvsr.plots.figures as figures
    from egvsr.plots.compare import comparison_grid, crop_rows

    kept = []
    monkeypatch.setattr(figures, "save_as_named", lambda fig, path, overwrite=False: kept.append(fig))
    img = np.zeros(shape, np.uint8)
    comparison_grid([("line", img)], tmp_path / "c.png", box=(0, 0, min(shape[0], 10), min(shape[1], 10)))
    crop_rows([("row", [("line", img)])], tmp_path / "r.png")
    for fig in kept:
        w, h = fig.get_size_inches()
        assert w < 25 and h < 25, (w, h)  # 2.6 * 4 * 2 + 0.6 inches at most for one panel
    title = kept[0].axes[0].get_title()
    assert title.startswith("line (") and ", pixels drawn 750x " in title, title


def test_metric_curves_name_a_model_whose_name_starts_with_an_underscore(tmp_path, monkeypatch):
    """matplotlib leaves a label starting with "_" out of a legend: model "_base" had a line but no entry."""
    import egvsr.plots.curves as curves
    from egvsr.plots.curves import plot_metric_vs_scale

    kept = {}
    real = curves.new_figure
    monkeypatch.setattr(curves, "new_figure", lambda *a, **k: kept.setdefault("fig", real(*a, **k)))
    rows = [{"model": "_base", "scale": 2, "psnr": 31.0}, {"model": "ours", "scale": 2, "psnr": 32.0}]
    plot_metric_vs_scale(rows, tmp_path / "c.png")
    (ax,) = kept["fig"].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["_base", "ours"]


@pytest.mark.parametrize("plot", sorted(_plots()) + ["show"])
def test_every_plot_is_drawn_without_tex_whatever_the_user_s_matplotlibrc(tmp_path, plot, monkeypatch):
    """`text.usetex: True` in a user's matplotlibrc made every plot hand its titles to LaTeX (a crash while
    saving where none is installed, file names read as TeX); the plots draw under `HOUSE_RC`, and the
    caller's setting is left as it was."""
    import matplotlib
    from matplotlib.text import Text

    seen = []
    draw = Text.draw
    monkeypatch.setattr(Text, "draw", lambda self, renderer: seen.append(self.get_usetex()) or draw(self, renderer))
    with matplotlib.rc_context({"text.usetex": True}):
        if plot == "show":
            from egvsr.events.io.writer import write_events

            assert main(["show", str(write_events(tmp_path / "r.h5", _stream())), "--out",
                         str(tmp_path / "p.png")]) == 0
        else:
            _plots()[plot](tmp_path / "f.png", "t")
        assert matplotlib.rcParams["text.usetex"] is True
    assert seen and not any(seen)


def test_a_dollar_is_drawn_as_written_also_where_the_user_turned_math_parsing_off(tmp_path, monkeypatch):
    import matplotlib
    from matplotlib.text import Text

    seen = []
    draw = Text.draw
    monkeypatch.setattr(Text, "draw", lambda self, renderer: seen.append(
        self._preprocess_math(self.get_text())[0]) or draw(self, renderer))
    with matplotlib.rc_context({"text.parse_math": False}):
        plot_events(_stream(), tmp_path / "e.png", title="cost$_1$")
    assert any(s.startswith("cost$_1$\n") for s in seen), seen


@pytest.mark.parametrize("frame", [np.full((4, 5), 60000, np.uint16), np.full((4, 5), -3, np.int16)])
def test_an_integer_background_beyond_0_255_is_refused_not_drawn_white(frame):
    """A 16-bit frame (values up to 65535) as the background of an event picture was drawn all white."""
    from egvsr.plots.events import event_image

    with pytest.raises(ConfigError, match=r"^background: expected a frame of values 0\.\.255 \(uint8\), got "):
        event_image(x=np.array([1]), y=np.array([1]), p=np.array([1]), height=4, width=5, background=frame)
    ok = event_image(x=np.array([1]), y=np.array([1]), p=np.array([1]), height=4, width=5,
                     background=np.full((4, 5), 200, np.int64))  # integers within 0..255 are drawn as before
    assert ok[0, 0].tolist() == [228] * 3
