"""Recipe "a new event file layout", done from outside the package: declare a toy text layout, register
it, and `egvsr info`, `egvsr convert`, `open_events` and `read_events` read it without any edit of egvsr/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError, InputFileError
from egvsr.events.io import (
    LAYOUTS, EventSource, Layout, detect_layout, open_events, read_events, register_layout, unregister_layout,
)

MAGIC = b"TOYEVENTS 1\n"


class ToySource(EventSource):
    """`TOYEVENTS 1`, then `width height`, then one `t x y p` line per event (p = +1 / -1)."""

    layout = "toy"

    def __init__(self, path: Path, sensor_size: tuple[int, int] | None = None) -> None:
        lines = Path(path).read_text().splitlines()
        width, height = (int(v) for v in lines[1].split())
        if sensor_size is not None:
            height, width = sensor_size
        rows = np.array([[int(v) for v in line.split()] for line in lines[2:]], np.int64).reshape(-1, 4)
        self._t, self._x, self._y, self._p = rows.T
        super().__init__(path, width, height, len(rows))

    def _read_arrays(self, i0, i1):
        return self._x[i0:i1], self._y[i0:i1], self._t[i0:i1], self._p[i0:i1].astype(np.int8)


TOY = Layout("toy", "toy text events (TOYEVENTS 1 magic, then t x y p lines)",
             sniff=lambda head: head.startswith(MAGIC), open=ToySource)


@pytest.fixture
def toy_layout():
    register_layout(TOY)
    try:
        yield TOY
    finally:
        unregister_layout("toy")


def write_toy(path: Path) -> Path:
    rows = [(100, 1, 2, 1), (200, 3, 4, -1), (300, 7, 5, 1), (400, 0, 0, 1), (500, 6, 1, -1)]
    path.write_bytes(MAGIC + b"8 6\n" + "".join(f"{t} {x} {y} {p}\n" for t, x, y, p in rows).encode())
    return path


def test_a_registered_layout_is_sniffed_by_egvsr_info(tmp_path, toy_layout, capsys):
    path = write_toy(tmp_path / "rec.events")  # the name says nothing: content decides
    assert detect_layout(path) == "toy" and "toy" in LAYOUTS
    assert main(["info", str(path)]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[1] == "layout       toy: toy text events (TOYEVENTS 1 magic, then t x y p lines)"
    assert report[2:4] == ["sensor       8x6 (W x H)", "events       5"]
    assert "polarity     3 ON / 2 OFF (60.0% ON)" in report


def test_a_registered_layout_is_read_and_converted(tmp_path, toy_layout, capsys):
    path = write_toy(tmp_path / "rec.txt")
    with open_events(path) as src:
        assert (src.layout, src.width, src.height, src.num_events) == ("toy", 8, 6, 5)
    window = read_events(path, t0=200, t1=400)
    assert window.t.tolist() == [200, 300] and window.x.tolist() == [3, 7] and window.p.tolist() == [-1, 1]
    out = tmp_path / "rec.h5"
    assert main(["convert", str(path), str(out), "--no-progress"]) == 0
    copy = read_events(out)
    assert detect_layout(out) == "egvsr" and copy.t.tolist() == [100, 200, 300, 400, 500]


def test_unregistered_and_duplicate_layouts(tmp_path, toy_layout):
    with pytest.raises(ConfigError, match="layout 'toy' is already registered"):
        register_layout(TOY)
    path = write_toy(tmp_path / "rec.txt")
    unregister_layout("toy")
    try:
        assert "toy" not in LAYOUTS
        with pytest.raises(InputFileError, match="not a recognised event recording"):
            detect_layout(path)
        with pytest.raises(ConfigError, match="layout 'toy' is not known"):
            open_events(path, layout="toy")
    finally:
        register_layout(TOY)  # the fixture unregisters it
