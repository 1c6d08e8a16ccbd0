"""The tonic glue without tonic: `egvsr.transforms` (arguments checked when made, windows at the ends of the
int64 µs range), `to_tonic` into a dtype with extra fields, `TonicRecording`'s frames and event windows."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.io.tonic_arrays import TONIC_DTYPE, from_tonic, to_tonic
from egvsr.tonic_data import TonicRecording
from egvsr.transforms import ToEGVSRMoments, ToVoxelGrid

MAX, MIN = 2**63 - 1, -(2**63)
W, H = 5, 4


def _events(t, p=None) -> np.ndarray:
    ev = np.zeros(len(t), TONIC_DTYPE)
    ev["t"], ev["x"], ev["y"] = t, np.arange(len(t)) % W, np.arange(len(t)) % H
    ev["p"] = np.arange(len(t)) % 2 == 0 if p is None else p
    return ev


@pytest.mark.parametrize("make", [ToVoxelGrid, ToEGVSRMoments])
@pytest.mark.parametrize("window_us", [None, 7])
def test_transforms_give_the_same_values_at_the_top_of_the_int64_range(make, window_us):
    """The window [t_first, t_last + 1) of events ending at 2**63 - 1 µs (or t_first + window_us past it) was
    refused with `t_end: 9223372036854775808 us is outside the int64 microsecond range`, an argument the caller
    never gave; the values are those of the same events anywhere else on the clock (only t - t_first counts)."""
    rel = np.array([0, 1, 1, 3, 4, 6])
    transform = make((W, H, 2), 3, window_us=window_us)
    top = transform(_events(MAX - 6 + rel))
    np.testing.assert_array_equal(top, transform(_events(1000 + rel)))
    assert np.abs(top).sum() > 0


@pytest.mark.parametrize("make", [ToVoxelGrid, ToEGVSRMoments])
def test_a_span_longer_than_int64_names_window_us(make):
    with pytest.raises(ConfigError, match=r"^window_us: the events span .* pass window_us"):
        make((W, H, 2), 2)(_events([MIN, 0, MAX]))
    assert make((W, H, 2), 2, window_us=10)(_events([MIN, 0, MAX])).sum() == 1  # only the first event


@pytest.mark.parametrize("kwargs, message", [
    (dict(sensor_size=(W, H, 2), n_time_bins=0), r"^n_time_bins: expected an integer >= 1, got 0$"),
    (dict(sensor_size=(W, H, 2), n_time_bins=2.0), r"^n_time_bins: expected an integer >= 1, got 2.0$"),
    (dict(sensor_size=(W, H, 2), n_time_bins=True), r"^n_time_bins: expected an integer >= 1, got True$"),
    (dict(sensor_size=(W, H, 2), n_time_bins=2, window_us=2**63), r"^window_us: expected a positive number"),
    (dict(sensor_size=(W, 0, 2), n_time_bins=2), r"^sensor_size \(5, 0, 2\): expected tonic's"),
    (dict(sensor_size=(W, H, 0), n_time_bins=2), r"^sensor_size \(5, 4, 0\): expected tonic's"),
])
def test_transform_arguments_are_checked_when_made_naming_them(kwargs, message):
    """Not at the first sample in a DataLoader worker, under the kernel's own name (`bins`, `moments`)."""
    with pytest.raises(ConfigError, match=message):
        ToVoxelGrid(**kwargs)
    kwargs["n_moments"] = kwargs.pop("n_time_bins")
    with pytest.raises(ConfigError, match=message.replace("n_time_bins", "n_moments")):
        ToEGVSRMoments(**kwargs)


def test_a_sensor_size_list_makes_a_hashable_picklable_transform():
    t = ToEGVSRMoments([W, H, 2], 2)
    assert t.sensor_size == (W, H, 2) and hash(t) == hash(ToEGVSRMoments((W, H, 2), 2))
    assert pickle.loads(pickle.dumps(t)) == t


def test_to_tonic_zeroes_fields_beyond_x_y_t_p():
    """`np.empty` left whatever memory held in a dtype's extra fields (e.g. 5.7e13 in a float 'q')."""
    s = from_tonic(_events(np.arange(200)), (W, H, 2))
    dtype = np.dtype([("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "?"), ("q", "f8"), ("k", "u1")])
    for _ in range(3):
        junk = np.empty(len(s), dtype)  # a block of the same size, freed: the next allocation reuses it
        junk.view(np.uint8)[:] = 0xAB
        del junk
        out = to_tonic(s, dtype)
        assert not out["q"].any() and not out["k"].any()


def _recording(frames, t=(0, 10, 20, MAX - 1, MAX)):
    return TonicRecording(_events(np.array(t)), frames, [0, 10, 20], (W, H, 2))


@pytest.mark.parametrize("channels", [2, 4])
def test_frames_of_another_channel_count_are_refused_when_the_recording_is_made(channels):
    """(N, H, W, 2) or RGBA frames were taken and failed only at `read_frame`, as an InputFileError."""
    with pytest.raises(EventValidationError, match=r"with C 1 \(gray\) or 3 \(RGB\), got uint8 \(3, 4, 5, "):
        _recording(np.zeros((3, H, W, channels), np.uint8))
    for c in (1, 3):
        assert _recording(np.zeros((3, H, W, c), np.uint8)).read_frame(0).shape == (H, W, 3)


def test_tonic_event_windows_beyond_int64_keep_the_half_open_rule():
    rec = _recording(np.zeros((3, H, W), np.uint8))
    assert rec.read_events(20, 2**63).t.tolist() == [20, MAX - 1, MAX]
    assert rec.read_events(20, 2.0**64).t.tolist() == [20, MAX - 1, MAX]
    assert len(rec.read_events(2**63, None)) == 0 and rec.read_events(MAX, None).t.tolist() == [MAX]


@pytest.mark.parametrize("make, what", [
    (lambda: _recording([np.zeros((H, W), np.uint8), np.zeros((H, W + 1), np.uint8)] * 2), "tonic: frames"),
    (lambda: TonicRecording(_events([0, 1]), np.zeros((3, H, W), np.uint8), [0, [1], 2], (W, H, 2)),
     "tonic: frame timestamps"),
])
def test_ragged_frames_or_times_are_one_clear_error(make, what):
    """A list of frames of different sizes was numpy's bare `ValueError: setting an array element with a
    sequence`, naming nothing."""
    with pytest.raises(EventValidationError, match=f"^{what}: expected an array of one shape, got a ragged list"):
        make()
