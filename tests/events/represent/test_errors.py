"""Bad inputs raise the toolkit's own errors with messages naming the argument."""

from __future__ import annotations

import os
import warnings
from fractions import Fraction

import numpy as np
import pytest

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events import EventStream
from egvsr.events.represent import (
    event_moments, event_moments_batch, time_surface, voxel_grid, voxel_grids,
)


@pytest.fixture
def s(random_stream):
    return random_stream(1000, width=16, height=12)


@pytest.mark.parametrize("bins", [0, -3, 2.5, True, "5"])
def test_bins_must_be_a_positive_integer(s, bins):
    with pytest.raises(ConfigError, match="bins: expected an integer >= 1"):
        voxel_grid(s, bins, 0, 100)
    with pytest.raises(ConfigError, match="moments: expected an integer >= 1"):
        event_moments(s, bins, 0, 100)


@pytest.mark.parametrize("t0,t1", [(100, 100), (100, 50), (0.5, 10), (0, float("nan")),
                                   (Fraction(3, 2), 10), (0, Fraction(21, 2))])
def test_window_must_be_increasing_integer_microseconds(s, t0, t1):
    with pytest.raises(ConfigError, match="t_end|t_start"):
        voxel_grid(s, 5, t0, t1)


def test_boundaries_must_strictly_increase(s):
    with pytest.raises(ConfigError, match=r"window 1 is \[10, 10\)"):
        voxel_grids(s, 5, [0, 10, 10, 20])
    with pytest.raises(ConfigError, match="shape"):
        event_moments_batch(s, 5, np.zeros((2, 3), np.int64))
    with pytest.raises(ConfigError, match="integer microseconds"):
        voxel_grids(s, 5, [0.0, 1.5])


def test_odd_boundaries_are_refused_or_taken_without_numpy_noise(s):
    """A ragged list is one ConfigError naming the boundaries (not numpy's own ValueError); float16 edges are
    range-checked in float64 (2**63 cast to float16 would overflow, with a warning); a Fraction window bound
    that is no whole number (3/2) is refused, not truncated."""
    with pytest.raises(ConfigError, match=r"^boundaries: expected shape .* got a ragged list"):
        voxel_grids(s, 5, [[0, 5], [10]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = voxel_grids(s, 5, np.array([0, 60000], np.float16))
    np.testing.assert_array_equal(got, voxel_grids(s, 5, [0, 60000]))
    np.testing.assert_array_equal(voxel_grid(s, 5, Fraction(0), Fraction(60000)), got[0])  # whole values pass


@pytest.mark.parametrize("h,w", [(0, 5), (5, 0), (-1, 4), (5, None), (2.5, 4)])
def test_target_size_must_be_at_least_one_pixel(s, h, w):
    with pytest.raises(ConfigError, match="target"):
        voxel_grid(s, 5, 0, 100, h, w)


def test_unknown_sensor_size_is_rejected(s):
    ev = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    with pytest.raises(EventValidationError, match="sensor size is unknown"):
        voxel_grid(ev, 5, 0, 100)
    with pytest.raises(EventValidationError, match="expected an egvsr EventStream"):
        voxel_grid((s.x, s.y, s.t, s.p), 5, 0, 100)
    nosize = EventStream(s.x, s.y, s.t, s.p, 0, 0, validate=False)
    with pytest.raises(EventValidationError, match="sensor width is unknown"):
        event_moments(nosize, 5, 0, 100)


def test_unvalidated_out_of_sensor_events_are_reported_not_written(s):
    x = s.x.copy()
    x[10] = 40
    bad = EventStream(x, s.y, s.t, s.p, 16, 12, validate=False)
    for fn in (lambda: voxel_grid(bad, 5, 0, 1_000_000), lambda: event_moments(bad, 5, 0, 1_000_000),
               lambda: voxel_grid(bad, 5, 0, 1_000_000, 6, 8),
               lambda: time_surface(bad, 2, 0, 1_000_000)):
        with pytest.raises(EventValidationError, match="events.x: coordinate 40 is outside the 16x12"):
            fn()



@pytest.mark.parametrize("field,dtype,needle", [
    ("p", np.bool_, r"events.p: expected signed polarity -1/\+1 .*got dtype bool"),
    ("p", np.uint8, r"events.p: expected signed polarity -1/\+1 .*got dtype uint8"),
    ("x", ">u2", "events.x: expected integer values, got dtype >u2, not this machine's byte order"),
    ("t", ">i8", "events.t: expected integer values, got dtype >i8, not this machine's byte order"),
    ("y", object, "events.y: expected integer values, got dtype object"),
])
def test_unvalidated_arrays_the_kernels_would_misread_are_refused(s, field, dtype, needle):
    """A 0/1 or bool polarity can never be negative: every event counted as ON (split) or OFF events
    as 0 (signed), silently. A big-endian or object array crashed inside numba with a TypingError."""
    arrays = {"x": s.x, "y": s.y, "t": s.t, "p": s.p}
    arrays[field] = ((s.p > 0) if dtype is np.bool_ else arrays[field]).astype(dtype)
    bad = EventStream(arrays["x"], arrays["y"], arrays["t"], arrays["p"], 16, 12, validate=False)
    for fn in (lambda: voxel_grid(bad, 5, 0, 1_000_000, polarity="split"),
               lambda: event_moments(bad, 5, 0, 1_000_000), lambda: time_surface(bad, 2, 0, 1_000_000)):
        with pytest.raises(EventValidationError, match=f"^stream: {needle}"):
            fn()


def test_options_are_checked(s):
    with pytest.raises(ConfigError, match="polarity: expected one of signed, split"):
        voxel_grid(s, 5, 0, 100, polarity="bool")
    with pytest.raises(ConfigError, match="normalize"):
        voxel_grid(s, 5, 0, 100, normalize="zscore")
    with pytest.raises(ConfigError, match="threads"):
        voxel_grid(s, 5, 0, 100, threads=0)
    with pytest.raises(ConfigError, match="tau_us"):
        time_surface(s, 2, 0, 100, tau_us=-1.0)


def test_tensors_larger_than_memory_are_refused_before_allocating(s, monkeypatch):
    from egvsr.events.represent import windows

    t0, t1 = int(s.t[0]), int(s.t[-1]) + 1
    with pytest.raises(ConfigError, match=r"1000000000 bins at .* need about .* GB, more than half of this machine"):
        voxel_grid(s, 10**9, t0, t1)
    monkeypatch.setattr(windows, "physical_memory", lambda: 2 * 10**8)  # a 200 MB machine
    with pytest.raises(ConfigError, match=r"1 window\(s\) of 8 bins at 2000x2000 need about 0.1"):
        voxel_grid(s, 8, t0, t1, height=2000, width=2000)
    assert voxel_grid(s, 8, t0, t1).shape[0] == 8  # the sensor size fits
    monkeypatch.setattr(windows, "physical_memory", lambda: 0)  # unknown: no limit from us
    assert voxel_grid(s, 8, t0, t1, height=500, width=500).shape == (8, 500, 500)


def test_declared_options_decide_what_is_refused():
    """`Representation.check_options` reads the declaration: its polarities and params, nothing else."""
    from egvsr.events.represent import Representation, get_representation, register_representation
    from egvsr.events.represent.registry import unregister_representation

    decay = register_representation(Representation("decay", lambda *a, **k: None, polarities=("signed",),
                                                   params=("tau_us",)))
    try:
        assert decay.check_options() == "signed" and decay.check_options("signed", tau_us=3.0) == "signed"
        with pytest.raises(ConfigError, match="polarity 'split': representation 'decay' takes only 'signed'"):
            decay.check_options("split")
        with pytest.raises(ConfigError, match="tau_ms 2: representation 'voxel' does not use this option "
                                              "\\(only timesurface, decay do\\); leave it out"):
            get_representation("voxel").check_options(None, {"tau_us": "tau_ms"}, tau_us=2)
        assert get_representation("moments").check_options(None, tau_us=None) == "split"  # None: not given
        with pytest.raises(ConfigError, match="gamma 1: representation 'moments' does not use this option "
                                              "\\(none does\\)"):
            get_representation("moments").check_options(gamma=1)
    finally:
        unregister_representation("decay")


def test_the_thread_cap_says_where_it_comes_from(s, monkeypatch):
    """The cap of `threads` is the machine's cores, or NUMBA_NUM_THREADS when that set it lower ("(this
    machine)" either way, before)."""
    import numba

    top = numba.config.NUMBA_DEFAULT_NUM_THREADS
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", top)  # NUMBA_NUM_THREADS unset
    with pytest.raises(ConfigError, match=rf"^`threads`: expected an integer in 1..{top} \(the cores available "
                                          rf"to this process\), got {top + 1}$"):
        voxel_grid(s, 5, 0, 100, threads=top + 1)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", top + 5)  # as NUMBA_NUM_THREADS=top+5 would
    with pytest.raises(ConfigError, match=rf"^`threads`: expected an integer in 1..{top + 5} \(the environment "
                                          rf"variable NUMBA_NUM_THREADS={top + 5}\), got {top + 6}$"):
        voxel_grid(s, 5, 0, 100, threads=top + 6)


# ---- voxelize_file / read_tensors: flags and paths ------------------------------------------------------

@pytest.fixture
def rec(tmp_path, s):
    from egvsr.events.io import write_events

    return write_events(tmp_path / "rec.h5", s)


@pytest.mark.parametrize("kwargs, needle", [
    ({"between_frames": "yes"}, "`between_frames` 'yes': expected True or False"),
    ({"between_frames": 0, "window_ms": 10.0}, "`between_frames` 0: expected True or False"),
    ({"window_ms": 10.0, "progress": "no"}, "`progress` 'no': expected True or False"),
])
def test_voxelize_file_refuses_flags_that_are_not_booleans(rec, tmp_path, kwargs, needle):
    from egvsr.events.represent.voxelize import voxelize_file

    with pytest.raises(ConfigError) as err:
        voxelize_file(rec, tmp_path / "v.h5", **kwargs)
    assert str(err.value) == needle
    assert not (tmp_path / "v.h5").exists()


def test_voxelize_file_takes_numpy_booleans(rec, tmp_path):
    from egvsr.events.represent.voxelize import read_tensors, voxelize_file

    voxelize_file(rec, tmp_path / "v.h5", between_frames=np.bool_(False), window_ms=100.0, progress=np.bool_(False))
    voxelize_file(rec, tmp_path / "ref.h5", between_frames=False, window_ms=100.0, progress=False)
    got, ref = read_tensors(tmp_path / "v.h5"), read_tensors(tmp_path / "ref.h5")
    assert got[0].shape[1] == 5 and np.abs(got[0]).sum() > 0
    for a, b in zip(got[:3], ref[:3]):  # the same windows and tensors as Python's False gives
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("src, dst, needle", [(b"rec.h5", "v.h5", "voxelize src"), ("rec.h5", 5, "voxelize dst")])
def test_voxelize_file_refuses_paths_of_the_wrong_type(src, dst, needle):
    from egvsr.events.represent.voxelize import voxelize_file

    with pytest.raises(ConfigError, match=f"^{needle}: expected a file path"):
        voxelize_file(src, dst, window_ms=10.0)


def test_read_tensors_says_a_folder_is_a_folder(tmp_path):
    from egvsr.errors import InputFileError
    from egvsr.events.represent.voxelize import read_tensors

    with pytest.raises(InputFileError, match=r"is a folder; expected a tensor file \(HDF5\)"):
        read_tensors(tmp_path)
    with pytest.raises(InputFileError, match="no such file"):
        read_tensors(tmp_path / "none.h5")
    with pytest.raises(InputFileError, match=r"cannot be looked up \(File name too long\)"):
        read_tensors(tmp_path / ("b" * 300))
    with pytest.raises(ConfigError, match="expected a file path"):
        read_tensors(b"x.h5")
    os.mkfifo(tmp_path / "pipe.h5")
    with pytest.raises(InputFileError, match=r"is a FIFO \(named pipe\), not a regular file or folder; "
                                             r"expected a tensor file"):
        read_tensors(tmp_path / "pipe.h5")


@pytest.mark.parametrize("tau, message", [
    (np.array([1.0, 2.0, 3.0]), "one for all windows or one per window (2), got float64 values of shape (3,)"),
    (np.ones((2, 1)), "one for all windows or one per window (2), got float64 values of shape (2, 1)"),
    ("5", "one for all windows or one per window (2), got '5'"),
    (True, "one for all windows or one per window (2), got True"),
    ([1.0, [2.0, 3.0]], "one for all windows or one per window (2), got [1.0, [2.0, 3.0]]"),
    (np.array([5.0, -1.0]), "got float64 values of shape (2,) (-1.0 for window 1)"),
    (0, "got 0"),
])
def test_time_surface_tau_is_one_number_or_one_per_window(s, tau, message):
    """An array of another length was a raw numpy broadcast error; "5" was read as 5 µs."""
    from egvsr.events.represent import time_surfaces

    with pytest.raises(ConfigError) as err:
        time_surfaces(s, 4, np.array([0, 500, 1000]), tau_us=tau)
    assert str(err.value) == f"tau_us: expected a positive decay time in microseconds, {message}"
    one = time_surfaces(s, 4, np.array([0, 500, 1000]), tau_us=np.array([100.0, 100.0]))
    assert np.array_equal(one, time_surfaces(s, 4, np.array([0, 500, 1000]), tau_us=100))


def test_few_events_of_a_huge_sensor_at_a_small_size_are_not_refused_for_unused_scratch(monkeypatch):
    """The check counted a sensor-size plane per bin (85.9 GB for 5 bins of 65535x65535) that only
    dense or thread-split windows allocate; 4 events splatted to 10x10 need a few kB."""
    from egvsr.events.represent import time_surface, windows
    from egvsr.events.represent.reference import event_moments_ref, voxel_grid_ref

    monkeypatch.setattr(windows, "physical_memory", lambda: 10**9)
    side = 65535
    s = EventStream(np.array([0, 1, 2, side - 1]), np.array([0, 1, 2, side - 1]), np.array([1, 2, 3, 4]),
                    np.array([1, -1, 1, 1], np.int8), side, side)
    for threads in (1, 2):
        got = voxel_grid(s, 5, 0, 10, height=10, width=10, threads=threads)
        assert np.allclose(got, voxel_grid_ref(s.x, s.y, s.t, s.p, side, side, 5, 0, 10, size=(10, 10)), atol=1e-6)
        got = event_moments(s, 3, 0, 10, height=10, width=10, threads=threads)
        assert np.allclose(got, event_moments_ref(s.x, s.y, s.t, s.p, side, side, 3, 0, 10, size=(10, 10)), atol=1e-6)
        assert time_surface(s, 2, 0, 10, height=10, width=10, threads=threads).shape == (2, 2, 10, 10)


def test_the_scratch_of_dense_windows_is_counted(monkeypatch):
    """A dense voxel window accumulates in a complex64 scratch at the sensor size (8 bytes per cell and
    segment): counted, so a machine that holds the output but not the scratch refuses before allocating."""
    from egvsr.events.represent import windows

    n = 200_000  # about 49 events per scratch cell: dense
    rng = np.random.default_rng(0)
    s = EventStream(rng.integers(0, 64, n), rng.integers(0, 64, n), np.sort(rng.integers(0, 1000, n)),
                    rng.choice(np.array([-1, 1], np.int8), n), 64, 64)
    # output 5 x 8 x 8 float32 = 1.3 kB; scratch 4 segments x 64 x 64 x 8 bytes = 131 kB
    monkeypatch.setattr(windows, "physical_memory", lambda: 200_000)
    with pytest.raises(ConfigError) as err:
        voxel_grid(s, 5, 0, 1000, height=8, width=8, threads=1)
    assert str(err.value).startswith("representation 'voxel': 1 window(s) of 5 bins at 8x8 need about 0.000132 GB "
                                     "(0.000131 GB of it working memory), more than half of this machine's")
    sparse = s.take(0, 100)  # scattered straight into the output: no scratch
    assert voxel_grid(sparse, 5, 0, 1000, height=8, width=8, threads=1).shape == (5, 8, 8)


@pytest.mark.parametrize("rep", ["voxel", "moments", "frames"])
def test_an_option_the_representation_does_not_declare_is_refused_naming_it(s, rep):
    """`represent` with tau_us for a voxel grid raised a TypeError from deep inside the kernels' driver."""
    from egvsr.events.represent import represent, represent_batch

    with pytest.raises(ConfigError, match=rf"^`tau_us` 3: representation '{rep}' does not use this option "
                                          r"\(only timesurface does\); leave it out$"):
        represent(s, rep, 2, 0, 1000, tau_us=3)
    with pytest.raises(ConfigError, match=rf"^`gamma` 1: representation '{rep}' does not use this option"):
        represent_batch(s, rep, 2, [0, 10, 20], gamma=1)
    # left at None it is not given: the same tensor as without it
    np.testing.assert_array_equal(represent(s, rep, 2, 0, 1000, tau_us=None), represent(s, rep, 2, 0, 1000))
