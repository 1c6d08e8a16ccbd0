"""Every public writer of a picture or a checkpoint checks its output path first, as the events writers do:
a path that is not a str or os.PathLike, is empty or holds a NUL byte is one `ConfigError` naming the
argument (not Python's bare TypeError / "embedded null byte"), and an existing output is refused without
`overwrite` before any drawing or model building is spent (docs/io.md, "Outputs")."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.errors import ConfigError, OutputExistsError
from egvsr.events import EventStream


def _stream() -> EventStream:
    return EventStream(np.array([1, 2], np.uint16), np.array([0, 1], np.uint16), np.array([0, 5], np.int64),
                       np.array([1, -1], np.int8), 4, 3)


def _writers(tmp_path):
    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.plots import comparison_grid, crop_rows, plot_events, plot_metric_vs_scale, plot_voxels
    from egvsr.render.model import save_untrained

    img = np.zeros((8, 8, 3), np.uint8)
    return {
        "plot_events": ("path", lambda out, **k: plot_events(_stream(), out, **k)),
        "plot_voxels": ("path", lambda out, **k: plot_voxels(np.zeros((2, 4, 4), np.float32), out, **k)),
        "comparison_grid": ("path", lambda out, **k: comparison_grid([("a", img)], out, **k)),
        "crop_rows": ("path", lambda out, **k: crop_rows([("row", [("a", img)])], out, **k)),
        "plot_metric_vs_scale": ("path", lambda out, **k: plot_metric_vs_scale(
            [{"model": "m", "scale": 2, "psnr": 30.0}], out, **k)),
        "save_checkpoint": ("path", lambda out, **k: save_checkpoint(out, {"state_dict": {}}, **k)),
        "save_untrained": ("path", lambda out, **k: save_untrained("bicubic", out, **k)),
    }


NAMES = ["plot_events", "plot_voxels", "comparison_grid", "crop_rows", "plot_metric_vs_scale", "save_checkpoint",
         "save_untrained"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, said", [("", "the path is empty"), ("a\0b", "holds a NUL byte"),
                                       (5, "expected an output file path .*got int"),
                                       (None, "expected an output file path .*got NoneType")])
def test_a_bad_output_path_is_one_config_error_naming_it(tmp_path, monkeypatch, name, bad, said):
    monkeypatch.chdir(tmp_path)
    arg, write = _writers(tmp_path)[name]
    with pytest.raises(ConfigError, match=rf"^{arg}\b.*{said}"):
        write(bad)
    assert list(tmp_path.iterdir()) == []


def test_show_recordings_bad_out_png_is_one_config_error_naming_it(tmp_path):
    from egvsr.plots import show_recording

    rec = tmp_path / "r.h5"
    from egvsr.events.io import write_events

    write_events(rec, _stream())
    for bad, said in (("a\0b", "holds a NUL byte"), (5, "got int")):
        with pytest.raises(ConfigError, match=rf"^out_png\b.*{said}"):
            show_recording(rec, bad)
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


@pytest.mark.parametrize("name", NAMES)
def test_an_existing_output_is_refused_before_any_work(tmp_path, monkeypatch, name):
    import egvsr.models
    import egvsr.plots.figures

    def no_work(*args, **kwargs):
        raise AssertionError("work was spent before the output was checked")

    arg, write = _writers(tmp_path)[name]
    monkeypatch.setattr(egvsr.plots.figures, "new_figure", no_work)
    monkeypatch.setattr(egvsr.models, "build_model", no_work)
    out = tmp_path / "mine.png"
    out.write_bytes(b"the user's file")
    with pytest.raises(OutputExistsError, match=rf"^{out}: output already exists; .*overwrite=True"):
        write(out)
    assert out.read_bytes() == b"the user's file"
    assert [p.name for p in tmp_path.iterdir()] == ["mine.png"]
