"""`egvsr voxelize`: streamed file -> tensors equal the in-memory batched kernels; errors; atomicity."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.cli import main
from egvsr.errors import ConfigError, OutputExistsError
from egvsr.events import EventStream, Frames
from egvsr.events.io import write_events
from egvsr.events.represent import (
    event_frames_batch, event_moments_batch, read_tensors, time_surfaces, voxel_grids,
    voxelize_file,
)
from egvsr.events.represent import voxelize as vx
from egvsr.events.represent.normalization import normalize_windows

TOL = dict(rtol=1e-5, atol=3e-5)


@pytest.fixture
def recording(tmp_path):
    """40k events on 48x36, many equal timestamps, frames every 40 ms (events start before them)."""
    rng = np.random.default_rng(5)
    n = 40_000
    t = np.sort(rng.integers(0, 100_000, n)) * 10  # µs multiples of 10: duplicates
    s = EventStream(rng.integers(0, 48, n).astype(np.uint16), rng.integers(0, 36, n).astype(np.uint16),
                    t, rng.choice([-1, 1], n).astype(np.int8), 48, 36)
    ft = np.arange(20_000, 1_000_000, 40_000)
    frames = Frames(np.zeros((len(ft), 36, 48, 3), np.uint8), ft)
    return write_events(tmp_path / "rec.h5", s, frames=frames), s, ft


@pytest.mark.parametrize("chunk", [997, 1 << 22])
@pytest.mark.parametrize("rep", ["voxel", "moments", "frames", "timesurface"])
def test_between_frames_equals_in_memory(tmp_path, recording, chunk, rep):
    src, s, ft = recording
    out = voxelize_file(src, tmp_path / f"{rep}.h5", rep, bins=4, between_frames=True,
                        progress=False, chunk_events=chunk)
    got, a, b, attrs = read_tensors(out)
    np.testing.assert_array_equal(a, ft[:-1])
    np.testing.assert_array_equal(b, ft[1:])
    want = {"voxel": lambda: voxel_grids(s, 4, ft), "moments": lambda: event_moments_batch(s, 4, ft),
            "frames": lambda: event_frames_batch(s, 4, ft), "timesurface": lambda: time_surfaces(s, 4, ft)}
    np.testing.assert_allclose(got, want[rep](), **TOL)
    assert attrs["representation"] == rep and attrs["bins"] == 4 and attrs["windows"] == "between_frames"


@pytest.mark.parametrize("rep", ["voxel", "timesurface"])
def test_small_output_batches_and_chunks(tmp_path, recording, monkeypatch, rep):
    src, s, _ = recording
    monkeypatch.setattr(vx, "OUTPUT_BATCH_BYTES", 2 * 4 * 3 * 2 * 36 * 48)  # two windows per batch
    out = voxelize_file(src, tmp_path / "b.h5", rep, bins=3, window_ms=7.5, progress=False,
                        chunk_events=3001, polarity="split")
    got, a, b, _ = read_tensors(out)
    rows = np.stack([a, b], 1)
    want = voxel_grids(s, 3, rows, polarity="split") if rep == "voxel" else time_surfaces(s, 3, rows)
    assert len(a) > 100
    np.testing.assert_allclose(got, want, **TOL)


def test_tiny_windows_are_written_in_bounded_blocks_of_multi_window_chunks(tmp_path, recording, monkeypatch):
    """Many tiny windows: each write covers at most OUTPUT_BATCH_WINDOWS windows (HDF5 needs KBs per chunk a
    write touches: 300k one-window chunks in one write took 2 GB) and a chunk holds many windows."""
    src, s, _ = recording
    monkeypatch.setattr(vx, "OUTPUT_BATCH_WINDOWS", 64)
    written = []
    put = vx._Writer.put
    monkeypatch.setattr(vx._Writer, "put", lambda self, k0, tensors: (written.append(len(tensors)),
                                                                        put(self, k0, tensors))[1])
    out = voxelize_file(src, tmp_path / "t.h5", "voxel", bins=1, window_ms=0.05, size=(1, 1), progress=False)
    got, a, b, _ = read_tensors(out)
    assert len(a) > 10 * 64 and max(written) <= 64 and sum(written) == len(a)
    import h5py

    with h5py.File(out) as f:
        assert f["tensors"].chunks == (64, 1, 1, 1)
    np.testing.assert_allclose(got, voxel_grids(s, 1, np.stack([a, b], 1), 1, 1), **TOL)


def test_cli_window_ms_size_split_normalized(tmp_path, recording):
    src, s, _ = recording
    out = tmp_path / "w.h5"
    rc = main(["voxelize", str(src), str(out), "--repr", "voxel", "--bins", "3", "--window-ms", "70",
               "--size", "12x16", "--polarity", "split", "--normalize", "standard", "--no-progress"])
    assert rc == 0
    got, a, b, attrs = read_tensors(out)
    assert a[0] == s.t[0] and (b - a == 70_000).all() and b[-1] > s.t[-1] and a[-1] <= s.t[-1]
    want = normalize_windows(voxel_grids(s, 3, np.stack([a, b], 1), 12, 16, polarity="split"),
                             "standard")
    assert got.shape == (len(a), 3, 2, 12, 16)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert (attrs["height"], attrs["width"], attrs["sensor_height"]) == (12, 16, 36)


def test_cli_errors_exit_2_with_one_line(tmp_path, recording, capsys):
    src, s, _ = recording
    out = tmp_path / "o.h5"
    assert main(["voxelize", str(src), str(out), "--bins", "0", "--between-frames"]) == 2
    assert "--bins: expected an integer >= 1, got 0" in capsys.readouterr().err
    assert not out.exists()
    noframes = write_events(tmp_path / "nof.h5", s)
    assert main(["voxelize", str(noframes), str(out), "--between-frames", "--no-progress"]) == 2
    assert "--between-frames needs at least 2 frame timestamps" in capsys.readouterr().err
    assert main(["voxelize", str(src), str(out), "--window-ms", "50", "--no-progress"]) == 0
    assert main(["voxelize", str(src), str(out), "--window-ms", "50", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["voxelize", str(src), str(out), "--window-ms", "50", "--no-progress",
                 "--overwrite"]) == 0
    with pytest.raises(SystemExit):
        main(["voxelize", str(src), str(out), "--window-ms", "50", "--size", "0x5"])
    assert main(["voxelize", str(tmp_path / "missing.h5"), str(tmp_path / "x.h5"),
                 "--window-ms", "5"]) == 2


@pytest.mark.parametrize("rep,option,message", [
    ("voxel", {"tau_ms": 5}, "`tau_ms` 5: representation 'voxel' does not use this option \\(only timesurface does\\)"),
    ("frames", {"tau_ms": 1.5}, "`tau_ms` 1.5: representation 'frames'"),
    ("moments", {"polarity": "signed"}, "`polarity` 'signed': representation 'moments' takes only 'split'"),
    ("timesurface", {"polarity": "signed"}, "representation 'timesurface' takes only 'split'"),
])
def test_an_option_the_representation_does_not_take_is_refused(tmp_path, recording, rep, option, message):
    """What a representation takes is what it declares (polarities, params); a given option outside that
    is refused before any output is made, one left at its default never is."""
    src, _, _ = recording
    out = tmp_path / "o.h5"
    with pytest.raises(ConfigError, match=message) as exc:
        voxelize_file(src, out, rep, 3, window_ms=50, progress=False, **option)
    assert "\n" not in str(exc.value) and not out.exists()
    name, value = next(iter(option.items()))
    argv = ["voxelize", str(src), str(out), "--repr", rep, "--window-ms", "50", "--no-progress",
            f"--{name.replace('_', '-')}", str(value)]
    assert main(argv) == 2 and not out.exists()
    # left at their defaults, the same representations run, with their own polarity
    attrs = read_tensors(voxelize_file(src, out, rep, 3, window_ms=50, progress=False))[3]
    assert attrs["polarity"] == ("signed" if rep in ("voxel", "frames") else "split")


def test_options_a_representation_declares_are_accepted(tmp_path, recording):
    src, s, _ = recording
    got = read_tensors(voxelize_file(src, tmp_path / "t.h5", "timesurface", 3, window_ms=50, progress=False,
                                     polarity="split", tau_ms=5))
    np.testing.assert_allclose(got[0], time_surfaces(s, 3, np.stack([got[1], got[2]], 1), tau_us=5000.0), **TOL)
    got = read_tensors(voxelize_file(src, tmp_path / "m.h5", "moments", 3, window_ms=50, progress=False,
                                     polarity="split"))
    assert got[3]["polarity"] == "split"


def test_failure_midway_leaves_no_output(tmp_path, recording, monkeypatch):
    src, _, _ = recording
    calls = {"n": 0}
    real = vx.represent_windows

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(vx, "represent_windows", flaky)
    out = tmp_path / "o.h5"
    with pytest.raises(KeyboardInterrupt):
        voxelize_file(src, out, "voxel", 5, between_frames=True, progress=False, chunk_events=5000)
    assert not out.exists() and not list(tmp_path.glob(".o.h5*"))


def test_real_aedat4_recording_keeps_every_event(tmp_path, shared_data):
    from egvsr.events.io import read_events

    path = shared_data / "aedat4" / "sample.aedat4"
    s = read_events(path)
    out = voxelize_file(path, tmp_path / "m.h5", "moments", bins=8, window_ms=50, progress=False,
                        size=(60, 80), chunk_events=30_000)
    got, a, b, _ = read_tensors(out)
    assert got.shape[1:] == (8, 2, 60, 80)
    assert got.sum() == pytest.approx(len(s), rel=1e-5)
    np.testing.assert_allclose(got, event_moments_batch(s, 8, np.stack([a, b], 1), 60, 80), **TOL)


def test_library_refuses_an_output_that_is_its_input(tmp_path, recording):
    """voxelize_file, like the CLI, never replaces the recording it reads, even with overwrite."""
    src, _, _ = recording
    before = src.read_bytes()
    with pytest.raises(OutputExistsError, match="output is the input file"):
        voxelize_file(src, src, between_frames=True, overwrite=True, progress=False)
    assert src.read_bytes() == before


@pytest.mark.parametrize("window_ms", [1e308, 1e300, 1e16])
def test_window_beyond_the_int64_range_is_refused_in_one_line(tmp_path, recording, window_ms):
    src, _, _ = recording
    with pytest.raises(ConfigError, match=r"^`window_ms`: \S+ ms is longer than the int64 microsecond range"
                                          r" \(at most 9.22e\+15 ms\)$"):
        voxelize_file(src, tmp_path / "o.h5", window_ms=window_ms, progress=False)


@pytest.mark.parametrize("window_ms", [0.0015, 0.0025, 1.0005, 7.3333, np.float32(0.0015)])
def test_window_not_a_whole_number_of_microseconds_is_refused(window_ms):
    """Not rounded half-to-even in silence (0.0015 and 0.0025 both gave 2 µs windows, 1.0005 gave 1000 µs)."""
    class Rec:
        path, num_events, t_first, t_last = "rec.h5", 1, 0, 10

    with pytest.raises(ConfigError, match=r"^`window_ms`: \S+ ms is \S+ µs, not a whole number of microseconds "
                                          r"\(the time resolution is 1 µs\); expected a multiple of 0.001 ms$"):
        vx._windows(Rec(), False, window_ms)


@pytest.mark.parametrize("window_ms,step", [(1.1, 1100), (0.3, 300), (0.001, 1), (7.3, 7300), (9e15, 9 * 10**18),
                                             (np.float32(0.1), 100), (np.float32(33.3), 33300), (np.float16(0.5), 500)])
def test_window_ms_with_decimal_rounding_is_taken_exactly(window_ms, step):
    """W * 1000 in floats is off by an ulp for most decimal W (1.1 -> 1100.0000000000002): still W ms."""
    class Rec:
        path, num_events, t_first, t_last = "rec.h5", 1, 0, 10

    starts, ends, _ = vx._windows(Rec(), False, window_ms)
    assert int(ends[0] - starts[0]) == step


def test_windows_past_int64_name_their_end_readably():
    """A window that fits int64 but ends past it from a late first event: the end is shown as %.3g."""
    class Late:
        path, num_events, t_first, t_last = "late.h5", 1, 2**62, 2**62

    with pytest.raises(ConfigError, match=r"^late.h5: `window_ms` 9e\+15 ms windows from \d+ µs to \d+ µs "
                                          r"end at 1.36e\+19 µs, beyond") as exc:
        vx._windows(Late(), False, 9e15)
    assert len(str(exc.value)) < 250


@pytest.mark.parametrize("size,message", [
    (5, r"^`size`: expected \(height, width\), two integers >= 1, got 5$"),
    ("16x20", r"^`size`: expected \(height, width\), two integers >= 1, got '16x20'$"),
    ((1, 2, 3), r"^`size`: expected \(height, width\)"),
    ((2.5, 4), r"^`size` height: expected an integer number of pixels, got 2.5$"),
    ((8, 0), r"^`size` width: expected at least 1 pixel, got 0$"),
    ((99999, 4), r"^`size` height: expected at most 65535 pixels, got 99999$"),
])
def test_size_must_be_a_pair_of_positive_integers(tmp_path, recording, size, message):
    src, _, _ = recording
    with pytest.raises(ConfigError, match=message):
        voxelize_file(src, tmp_path / "o.h5", window_ms=50, size=size, progress=False)
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("argv,message", [
    (["--window-ms", "50", "--bins", "0"], "egvsr: error: --bins: expected an integer >= 1, got 0\n"),
    (["--window-ms", "50", "--threads", "0"], "egvsr: error: --threads: expected an integer in 1.."),
    (["--window-ms", "0.0001"], "egvsr: error: --window-ms: 0.0001 ms is shorter than 1 µs"),
    (["--window-ms", "1e306"], "egvsr: error: --window-ms: 1e+306 ms is longer than the int64 microsecond range"),
    (["--window-ms", "0.0015"], "egvsr: error: --window-ms: 0.0015 ms is 1.5 µs, not a whole number of microseconds "
                                "(the time resolution is 1 µs)"),
    (["--window-ms", "50", "--size", "99999x99999"], "egvsr: error: --size height: expected at most 65535 pixels"),
    (["--window-ms", "50", "--repr", "timesurface", "--tau-ms", "1e306"],
     "egvsr: error: --tau-ms: 1e+306 ms is too long to count in microseconds"),
    (["--window-ms", "50", "--tau-ms", "5"], "egvsr: error: --tau-ms 5.0: representation 'voxel' does not use"),
    (["--window-ms", "50", "--repr", "moments", "--polarity", "signed"],
     "egvsr: error: --polarity 'signed': representation 'moments' takes only 'split'"),
])
def test_cli_messages_name_the_flag(tmp_path, recording, capsys, argv, message):
    src, _, _ = recording
    assert main(["voxelize", str(src), str(tmp_path / "o.h5"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "`" not in err


def test_between_frames_with_no_event_within_the_frames_warns(tmp_path, recording, capsys):
    """As render and eval say it: every tensor would be zero (events on another clock than the frames)."""
    src, s, ft = recording
    far = write_events(tmp_path / "far.h5", EventStream(s.x, s.y, s.t + 10**15, s.p, s.width, s.height),
                       frames=Frames(np.zeros((len(ft), 36, 48, 3), np.uint8), ft))
    assert main(["voxelize", str(far), str(tmp_path / "v.h5"), "--between-frames", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"egvsr: warning: {far}: no event falls within the frames' span (events {int(s.t[0]) + 10**15}.."
                   f"{int(s.t[-1]) + 10**15} µs, frames {ft[0]}..{ft[-1]} µs), so the event tensors will be zero; "
                   "are the clocks of events and frames aligned?"]
    main(["voxelize", str(src), str(tmp_path / "w.h5"), "--between-frames", "--no-progress"])
    assert capsys.readouterr().err == ""


def test_windows_too_large_to_stream_are_refused_before_the_output_is_made(tmp_path, recording, monkeypatch):
    """One window fitting half the memory is not enough: a block in the writer, the block computed and the
    window open across chunks are held at once."""
    src, _, _ = recording
    window = 4 * 400 * 36 * 48  # one voxel window of 400 bins: 2.8 MB
    monkeypatch.setattr(vx, "OUTPUT_BATCH_BYTES", window)  # one window per block, as for huge windows
    monkeypatch.setattr(vx, "physical_memory", lambda: 4 * window)  # half: two windows, not three
    out = tmp_path / "o.h5"
    with pytest.raises(ConfigError, match=r"^`bins`: voxelize would hold 3 windows of 400x36x48 float32 at once"):
        voxelize_file(src, out, "voxel", 400, window_ms=50, progress=False)
    assert not out.exists() and not list(tmp_path.glob("*o.h5*"))
    # a recording of one window holds one
    got = read_tensors(voxelize_file(src, out, "voxel", 400, window_ms=2_000, progress=False))[0]
    assert got.shape == (1, 400, 36, 48)


def test_between_frames_on_a_recording_without_events_warns_and_writes_zeros(tmp_path, recording, capsys):
    """No events at all: the documented behaviour (zero tensors) with the same kind of notice."""
    import h5py

    _, s, ft = recording
    none = write_events(tmp_path / "none.h5", EventStream.empty(s.width, s.height),
                        frames=Frames(np.zeros((len(ft), 36, 48, 3), np.uint8), ft))
    assert main(["voxelize", str(none), str(tmp_path / "v.h5"), "--between-frames", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"egvsr: warning: {none}: holds no events, so the event tensors will be zero and the model "
                   "renders what it renders from the frames alone"]
    with h5py.File(tmp_path / "v.h5") as f:
        assert not np.asarray(f["tensors"]).any()


@pytest.mark.parametrize("option", [{"representation": np.str_("moments")}, {"polarity": np.str_("split")}])
def test_numpy_strings_are_taken_as_their_text(tmp_path, recording, option):
    """A NumPy str_ (a str, as from np.array(["voxel", ...])) names the same choice as its text; HDF5 cannot
    store it as an attribute, so it was a TypeError after the output had been started."""
    src, s, ft = recording
    out = voxelize_file(src, tmp_path / "n.h5", bins=2, between_frames=True, progress=False, **option)
    got, _, _, attrs = read_tensors(out)
    rep = str(option.get("representation", "voxel"))
    assert attrs["representation"] == rep and attrs["polarity"] == "split"
    want = event_moments_batch(s, 2, ft) if rep == "moments" else voxel_grids(s, 2, ft, polarity="split")
    np.testing.assert_allclose(got, want, **TOL)


def test_a_file_cut_short_is_voxelized_with_one_warning(tmp_path, capsys):
    """A Prophesee file that ends inside a word: its whole words are read, never in silence (docs/io.md), as
    `convert` and `info` say; voxelize said nothing."""
    from tests.events.io.test_layouts import write_evt2

    t = np.arange(0, 5000, 100, dtype=np.int64)
    n = len(t)
    raw = tmp_path / "cut.raw"
    write_evt2(raw, np.arange(n) % 8, np.arange(n) % 4, t, np.arange(n) % 2 == 0, 8, 4)
    raw.write_bytes(raw.read_bytes()[:-2])  # half of the last event's word
    out = tmp_path / "v.h5"
    assert main(["voxelize", str(raw), str(out), "--window-ms", "10", "--bins", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"egvsr: warning: {raw}: the file ends 2 bytes into a 32-bit EVT2 word")
    got = read_tensors(out)[0]
    assert got.shape[0] == 1 and float(np.abs(got).sum()) == pytest.approx(n - 1)  # the whole words' events
