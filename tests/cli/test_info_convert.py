"""`egvsr info` and `egvsr convert` through the real argument parser."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.events import EventStream, Frames
from egvsr.events.io import read_events, write_events


def test_info_prints_every_fact(tmp_path, capsys):
    n = 4000
    t = np.linspace(1_000_000, 3_000_000, n).astype(np.int64)  # 2 s
    p = np.where(np.arange(n) < 3000, 1, -1).astype(np.int8)  # 75% ON
    s = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, p, 64, 48)
    fr = Frames(np.zeros((5, 48, 64, 3), np.uint8), 1_000_000 + 500_000 * np.arange(5))
    path = write_events(tmp_path / "r.h5", s, frames=fr)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layout       egvsr" in out
    assert "sensor       64x48 (W x H)" in out
    assert "events       4,000" in out
    assert "duration     2.000000 s" in out
    assert "event rate   0.002 Mev/s" in out
    assert "3,000 ON / 1,000 OFF (75.0% ON)" in out
    assert "frames       5 (1000000 .. 3000000 µs, 2.00 fps, RGB)" in out


def test_info_of_an_empty_recording(tmp_path, capsys):
    path = write_events(tmp_path / "e.h5", EventStream.empty(8, 6))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "events       0" in out and "frames       none" in out


def test_info_error_is_one_line_with_status_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("egvsr: error: ") and "missing.h5: no such file" in err
    assert "Traceback" not in err


def test_convert_sort_and_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("egvsr.progress.wanted", lambda no_progress=False: not no_progress)  # a "terminal"
    monkeypatch.setattr("egvsr.progress.DELAY_S", 0.0)  # the bar at once, not after 2 s
    t = np.array([5, 3, 9, 1], np.int64)
    src = tmp_path / "e2vid.h5"
    with h5py.File(src, "w") as f:
        f["events/xs"] = np.array([1, 2, 3, 4], np.int16)
        f["events/ys"] = np.array([0, 1, 0, 1], np.int16)
        f["events/ts"] = t / 1e6
        f["events/ps"] = np.array([True, False, True, False])
        f.attrs["sensor_resolution"] = (2, 5)
    out = tmp_path / "ours.h5"
    assert main(["convert", str(src), str(out), "--no-progress"]) == 2
    assert "decrease at index 1 (5 -> 3 µs)" in capsys.readouterr().err
    assert not out.exists()
    assert main(["convert", str(src), str(out), "--sort"]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err  # the progress bar ran to completion
    s = read_events(out)
    np.testing.assert_array_equal(s.t, [1, 3, 5, 9])
    np.testing.assert_array_equal(s.x, [4, 2, 1, 3])
    np.testing.assert_array_equal(s.p, [-1, -1, 1, 1])
    assert main(["convert", str(src), str(out), "--sort", "--no-progress"]) == 2
    assert "output already exists" in capsys.readouterr().err
    assert main(["convert", str(src), str(out), "--sort", "--overwrite", "--no-progress"]) == 0


def test_convert_with_sensor_size_for_headerless_raw(tmp_path, capsys):
    raw = tmp_path / "cam.raw"
    words = np.array([(0x8 << 28) | 0, (1 << 28) | (5 << 22) | (7 << 11) | 3], "<u4")
    raw.write_bytes(b"% evt 2.0\n% end\n" + words.tobytes())
    out = tmp_path / "cam.h5"
    assert main(["convert", str(raw), str(out), "--no-progress"]) == 2
    assert "pass --sensor-size HxW" in capsys.readouterr().err
    assert main(["convert", str(raw), str(out), "--no-progress", "--sensor-size", "10x20"]) == 0
    s = read_events(out)
    assert (s.width, s.height) == (20, 10)
    assert (int(s.x[0]), int(s.y[0]), int(s.t[0]), int(s.p[0])) == (7, 3, 5, 1)


def test_info_describes_frames_without_decoding_them(tmp_path, capsys, monkeypatch):
    """A frame can declare far more bytes than memory (compressed to nothing): info reads its shape only."""
    from egvsr.events.io.e2vid_h5 import E2vidH5Source
    from egvsr.events.io.egvsr_h5 import EgvsrH5Source

    def refuse(self, i):
        raise AssertionError("info decoded a frame")

    monkeypatch.setattr(EgvsrH5Source, "read_frame", refuse)
    monkeypatch.setattr(E2vidH5Source, "read_frame", refuse)
    s = EventStream(np.zeros(3, np.uint16), np.zeros(3, np.uint16), np.arange(3, dtype=np.int64),
                    np.ones(3, np.int8), 8, 6)
    ours = write_events(tmp_path / "r.h5", s, frames=Frames(np.zeros((2, 6, 8, 1), np.uint8), np.array([0, 9])))
    e2vid = tmp_path / "e2vid.h5"
    with h5py.File(e2vid, "w") as f:
        for k, v in (("xs", np.zeros(3, np.int16)), ("ys", np.zeros(3, np.int16)), ("ts", np.arange(3) / 1e6),
                     ("ps", np.ones(3, bool))):
            f[f"events/{k}"] = v
        f["images/image000000000"] = np.zeros((6, 8, 3), np.uint8)
        f["images/image000000000"].attrs["timestamp"] = 0.0
    assert main(["info", str(ours)]) == 0
    assert "frames       2 (0 .. 9 µs, 111111.11 fps, gray)" in capsys.readouterr().out
    assert main(["info", str(e2vid)]) == 0
    assert "frames       1 (0 .. 0 µs, RGB)" in capsys.readouterr().out


@pytest.mark.parametrize("span_us,rate", [(999_000, "0.001 Mev/s"), (10_000_000, "100 ev/s"), (10**9, "1 ev/s"),
                                          (10**12, "0.001 ev/s")])
def test_info_gives_a_slow_event_rate_in_events_per_second(tmp_path, capsys, span_us, rate):
    """A rate below 500 ev/s read `0.000 Mev/s`, as if there were no events."""
    n = 1000
    t = np.linspace(0, span_us, n).astype(np.int64)
    path = write_events(tmp_path / "slow.h5", EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t,
                                                          np.ones(n, np.int8), 4, 4))
    assert main(["info", str(path)]) == 0
    assert f"event rate   {rate}\n" in capsys.readouterr().out


@pytest.mark.parametrize("sort", [False, True])
def test_convert_keeps_the_provenance_attributes_of_our_layout(tmp_path, sort):
    """Converting a file of our layout (`--sort` to repair it, or to recompress) keeps its own attributes (a
    simulation's thresholds and seed, ...): they were dropped, leaving only source_layout / source_file."""
    s = EventStream(np.array([1, 2], np.uint16), np.array([0, 1], np.uint16), np.array([10, 20], np.int64),
                    np.array([1, -1], np.int8), 4, 3)
    given = {"generator": "egvsr.simulate", "seed": 7, "sim_cp": 0.25, "thresholds": np.array([0.2, 0.3])}
    src = write_events(tmp_path / "sim.h5", s, attrs=given)
    argv = ["convert", str(src), str(tmp_path / "c.h5"), "--no-progress"] + (["--sort"] if sort else [])
    assert main(argv) == 0
    assert main(["convert", str(tmp_path / "c.h5"), str(tmp_path / "c2.h5"), "--no-progress"]) == 0
    for name in ("c.h5", "c2.h5"):
        with h5py.File(tmp_path / name) as f:
            attrs = dict(f.attrs)
        assert attrs.pop("source_layout") == "egvsr"
        assert attrs.pop("source_file") == ("sim.h5" if name == "c.h5" else "c.h5")
        np.testing.assert_array_equal(attrs.pop("thresholds"), given["thresholds"])
        assert attrs == {"generator": "egvsr.simulate", "seed": 7, "sim_cp": 0.25, "format": "egvsr", "version": 1,
                         "width": 4, "height": 3, "num_events": 2}
    assert read_events(tmp_path / "c2.h5").t.tolist() == [10, 20]


def test_convert_does_not_carry_a_foreign_layouts_attributes(tmp_path):
    """An E2VID file's root attributes (num_events, sensor_resolution) describe that layout: not copied."""
    src = tmp_path / "e2vid.h5"
    with h5py.File(src, "w") as f:
        f["events/xs"], f["events/ys"] = np.array([1], np.int16), np.array([0], np.int16)
        f["events/ts"], f["events/ps"] = np.array([1e-6]), np.array([True])
        f.attrs["sensor_resolution"], f.attrs["num_events"], f.attrs["source"] = (2, 5), 1, "esim"
    assert main(["convert", str(src), str(tmp_path / "o.h5"), "--no-progress"]) == 0
    with h5py.File(tmp_path / "o.h5") as f:
        assert sorted(f.attrs) == ["format", "height", "num_events", "source_file", "source_layout", "version",
                                   "width"]


def test_info_with_a_too_small_sensor_size_blames_the_option_given(tmp_path, capsys):
    """Events outside a sensor size the user gave are the option's fault: the advice is to give the
    recording's size or leave it out, not to 'pass --sensor-size HxW' (which they did)."""
    n = 50
    x = np.arange(n, dtype=np.uint16) % 40
    s = EventStream(x, np.zeros(n, np.uint16), np.arange(n, dtype=np.int64), np.ones(n, np.int8), 40, 30)
    path = write_events(tmp_path / "r.h5", s)
    assert main(["info", str(path), "--sensor-size", "30x20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "outside the 20x30 sensor" in err
    assert "--sensor-size 30x20 (HxW), is too small" in err and "leave the option out" in err
    assert "pass --sensor-size" not in err
    assert main(["info", str(path)]) == 0  # the file's own size: all inside
    capsys.readouterr()


@pytest.mark.parametrize("spelling", [".", "..", "sub/.."])
def test_source_file_names_a_folder_given_as_dot_or_dotdot(tmp_path, monkeypatch, spelling):
    """A CED folder given as `.` or `..` was recorded as `source_file` '' or '..': the folder's own name now."""
    from egvsr.events.io import convert
    from tests.events.io.test_windows_every_layout import write

    rec = tmp_path / "rec"
    rec.mkdir()
    folder = write("ced", rec, np.array([1, 2]), np.array([1, 1]), np.array([10, 20]), np.array([True, False]))
    (folder / "sub").mkdir()
    where = {".": folder, "..": folder / "sub", "sub/..": folder}[spelling]
    monkeypatch.chdir(where)
    out = convert(spelling, tmp_path / "out.h5", progress=False)
    with h5py.File(out, "r") as f:
        assert f.attrs["source_file"] == folder.name == "ced"


def test_convert_sort_refuses_a_recording_too_large_to_sort_in_memory(tmp_path, monkeypatch, capsys):
    """`--sort` holds every event in memory (about 40 bytes each, docs/io.md "Memory"): a recording beyond
    80% of the machine's memory is refused up front in one line, not loaded until the system kills egvsr."""
    from egvsr.events.io import source as source_module
    from egvsr.events.io.source import EventSource

    n = 1000
    stream = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), np.arange(n, dtype=np.int64),
                         np.ones(n, np.int8), 4, 3)
    src = write_events(tmp_path / "in.h5", stream)
    monkeypatch.setattr(source_module, "physical_memory", lambda: source_module.SORT_BYTES_PER_EVENT * n)
    monkeypatch.setattr(EventSource, "read_all_sorted",
                        lambda self: pytest.fail("read before the memory was checked"))
    assert main(["convert", str(src), str(tmp_path / "out.h5"), "--sort", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in.h5: sorting its 1,000 events in memory needs" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5"]
    # without --sort the conversion streams, whatever the memory
    assert main(["convert", str(src), str(tmp_path / "out.h5"), "--no-progress"]) == 0
    monkeypatch.undo()
    monkeypatch.setattr(source_module, "physical_memory", lambda: source_module.SORT_BYTES_PER_EVENT * n * 2)
    assert main(["convert", str(src), str(tmp_path / "out2.h5"), "--sort", "--no-progress"]) == 0
