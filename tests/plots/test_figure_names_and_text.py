"""Every plot writes the format its file's name says, and draws the text it is given as written (a `$` in a
file name, label or title is no math)."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError
from egvsr.events import EventStream

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "jpg": b"\xff\xd8\xff", "JPEG": b"\xff\xd8\xff"}


def _stream() -> EventStream:
    return EventStream(np.array([1, 3], np.uint16), np.array([0, 2], np.uint16), np.array([0, 5], np.int64),
                       np.array([1, -1], np.int8), 5, 4)


def _plots():
    """Each public plot, as a call `draw(path, text)` putting `text` in its title or labels."""
    from egvsr.plots import comparison_grid, crop_rows, plot_events, plot_metric_vs_scale, plot_voxels

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
