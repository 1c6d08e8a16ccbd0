"""An events file that states no sensor size (a Prophesee RAW without a geometry line, an E2VID file without
`sensor_resolution` or images) beside a frame folder takes the frames' size: frames and events share the sensor
(docs/render.md). `render` has no --sensor-size option, so it used to stop with advice to pass one; the result is
the render of the same events in a file that states the size. Coordinates beyond the frames are still refused,
and a command without the option (voxelize, render of a recording) advises `egvsr convert --sensor-size`."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.render.model import save_untrained
from tests.events.io.test_layouts import write_e2vid, write_evt2

cv2 = pytest.importorskip("cv2")

W, H = 32, 24
T = 100_000 + 40_000 * np.arange(4)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("nosize")
    rng = np.random.default_rng(0)
    folder = d / "frames"
    folder.mkdir()
    for k in range(len(T)):
        cv2.imwrite(str(folder / f"f_{k:04d}.png"), rng.integers(0, 255, (H, W, 3)).astype(np.uint8))
    (folder / "images.txt").write_text("".join(f"{t / 1e6:.6f} f_{k:04d}.png\n" for k, t in enumerate(T)))
    n = 400
    x, y = rng.integers(0, W, n), rng.integers(0, H, n)
    t, on = np.sort(rng.integers(90_000, 230_000, n)), rng.random(n) < 0.5
    ev = {"stated": d / "stated.h5", "e2vid": d / "e2vid.h5", "raw": d / "nogeo.raw", "wide": d / "wide.raw"}
    write_e2vid(ev["stated"], x, y, t, on, sensor_resolution=(H, W))
    write_e2vid(ev["e2vid"], x, y, t, on)
    write_evt2(ev["raw"], x, y, t, on, W, H)
    write_evt2(ev["wide"], np.where(np.arange(n) == n // 2, W + 3, x), y, t, on, W, H)
    for key in ("raw", "wide"):  # the header without its size line
        head, body = ev[key].read_bytes().split(b"% end\n", 1)
        ev[key].write_bytes(b"% evt 2.0\n% end\n" + body)
    return {"folder": folder, "ck": save_untrained("egvsr-tiny", d / "ck.pt"), **ev}


def _render(inputs, events, out):
    return main(["render", str(inputs["folder"]), str(inputs["ck"]), "--events", str(inputs[events]),
                 "--scale", "2", "--png", str(out), "--no-progress"])


@pytest.mark.parametrize("events", ["e2vid", "raw"])
def test_events_without_a_stated_size_take_the_frames_size(inputs, tmp_path, events, capsys):
    assert _render(inputs, "stated", tmp_path / "stated") == 0
    assert _render(inputs, events, tmp_path / events) == 0, capsys.readouterr().err
    pngs = sorted(p.name for p in (tmp_path / "stated").glob("*.png"))
    assert len(pngs) == len(T)
    for name in pngs:
        assert (tmp_path / "stated" / name).read_bytes() == (tmp_path / events / name).read_bytes(), name


def test_coordinates_beyond_the_frames_are_still_refused(inputs, tmp_path, capsys):
    assert _render(inputs, "wide", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "wide.raw" in err and "outside the 32x24 sensor" in err
    assert not (tmp_path / "out").exists()


def test_commands_without_the_option_advise_converting(inputs, tmp_path, capsys):
    assert main(["voxelize", str(inputs["raw"]), str(tmp_path / "v.h5"), "--window-ms", "10", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "header names no sensor size" in err
    assert "pass --sensor-size HxW to egvsr info or egvsr convert" in err
    assert main(["convert", str(inputs["raw"]), str(tmp_path / "c.h5"), "--sensor-size", f"{H}x{W}",
                 "--no-progress"]) == 0
    with h5py.File(tmp_path / "c.h5") as f:
        assert (int(f.attrs["width"]), int(f.attrs["height"])) == (W, H)
