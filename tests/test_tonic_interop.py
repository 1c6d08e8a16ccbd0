"""tonic interop (issue 18), checked against tonic itself: tonic's structured arrays to `EventStream`
and back, our representations as tonic transforms inside `tonic.transforms.Compose` and a torch
DataLoader, and tonic samples with frames as a `Recording` (DAVISDATA's layout, in memory: its data
cannot be downloaded in tests)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

tonic = pytest.importorskip("tonic")

from egvsr.events.io.tonic_arrays import from_tonic, to_tonic  # noqa: E402
from egvsr.events.represent import event_moments, voxel_grid  # noqa: E402
from egvsr.transforms import ToEGVSRMoments, ToVoxelGrid  # noqa: E402

W, H = 34, 26
SENSOR = (W, H, 2)
#: the event dtypes tonic's datasets use (field order differs between them)
TONIC_DTYPES = [
    tonic.io.events_struct,                                                            # x, y, t, p bool
    np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)]),        # DVSGesture
    np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]),                        # NMNIST, MVSEC
    np.dtype([("t", int), ("x", int), ("y", int), ("p", int)]),                        # DAVISDATA, ASL-DVS
]


def _events(dtype=tonic.io.events_struct, n=4000, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fields = {"x": rng.integers(0, W, n), "y": rng.integers(0, H, n), "t": np.sort(rng.integers(0, 1_000_000, n)),
              "p": rng.integers(0, 2, n).astype(bool)}
    return tonic.io.make_structured_array(*(fields[name] for name in dtype.names), dtype=dtype)


@pytest.mark.parametrize("dtype", TONIC_DTYPES, ids=["events_struct", "dvsgesture", "nmnist", "davis"])
def test_round_trip_through_every_tonic_dtype(dtype):
    ev = _events(dtype)
    before = ev.copy()
    s = from_tonic(ev, SENSOR)
    assert (s.width, s.height, len(s)) == (W, H, len(ev))
    np.testing.assert_array_equal(s.t, ev["t"])
    np.testing.assert_array_equal(s.p, np.where(ev["p"].astype(bool), 1, -1))
    back = to_tonic(s, dtype)
    for f in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(back[f], ev[f])
    np.testing.assert_array_equal(ev, before)  # the caller's array is never modified


def test_float_times_are_floored_and_bad_input_is_one_clear_error():
    ev = _events(np.dtype([("x", int), ("y", int), ("t", float), ("p", int)]))
    ev["t"] += 0.7
    assert from_tonic(ev, SENSOR).t[0] == int(np.floor(ev["t"][0]))
    from egvsr.errors import EgvsrError

    with pytest.raises(EgvsrError, match="sensor_size"):
        from_tonic(ev, (W,))
    with pytest.raises(EgvsrError, match="fields x, y, t, p"):
        from_tonic(np.zeros(3), SENSOR)
    with pytest.raises(EgvsrError, match="outside the sensor"):
        from_tonic(_events(), (W - 5, H, 2))


def test_tonic_frame_transform_agrees_with_our_stream():
    """tonic's own ToFrame on our round-tripped events counts exactly what our stream holds."""
    ev = _events()
    counts = tonic.transforms.ToFrame(sensor_size=SENSOR, event_count=len(ev))(to_tonic(from_tonic(ev, SENSOR)))
    s = from_tonic(ev, SENSOR)
    ours = np.zeros((2, H, W))
    np.add.at(ours, ((s.p > 0).astype(int), s.y, s.x), 1)
    np.testing.assert_array_equal(counts[0], ours)


def test_transforms_inside_compose_after_tonic_transforms():
    ev = _events()
    denoise = tonic.transforms.Denoise(filter_time=20_000)
    vox = tonic.transforms.Compose([denoise, ToVoxelGrid(sensor_size=SENSOR, n_time_bins=5)])(ev)
    theirs = tonic.transforms.Compose([denoise, tonic.transforms.ToVoxelGrid(sensor_size=SENSOR, n_time_bins=5)])(ev)
    assert vox.shape == theirs.shape == (5, 1, H, W) and vox.dtype == np.float32
    kept = from_tonic(denoise(ev), SENSOR)
    expected = voxel_grid(kept, 5, int(kept.t[0]), int(kept.t[-1]) + 1)
    np.testing.assert_allclose(vox[:, 0], expected, rtol=1e-6, atol=1e-6)
    assert vox.sum() == pytest.approx(kept.p.sum(), abs=1e-2)  # every event keeps its whole weight

    mom = tonic.transforms.Compose([denoise, ToEGVSRMoments(sensor_size=SENSOR, n_moments=4)])(ev)
    assert mom.shape == (4, 2, H, W) and mom.sum() == len(kept)
    np.testing.assert_array_equal(mom, event_moments(kept, 4, int(kept.t[0]), int(kept.t[-1]) + 1))
    fixed = ToVoxelGrid(sensor_size=SENSOR, n_time_bins=5, window_us=2_000_000)(ev)
    assert fixed[3:].sum() == 0  # a fixed window: events fill only its first half


def test_transforms_in_a_dataloader():
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Events(Dataset):
        def __init__(self, transform):
            self.transform = transform

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return self.transform(_events(seed=i, n=1000)), i

    transform = tonic.transforms.Compose([ToVoxelGrid(sensor_size=SENSOR, n_time_bins=3)])
    pickle.loads(pickle.dumps(transform))  # what DataLoader workers need
    batches = list(DataLoader(Events(transform), batch_size=2))
    assert len(batches) == 2 and batches[0][0].shape == (2, 3, 1, H, W) and batches[0][0].dtype == torch.float32
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3]]
    for i in range(4):  # each batched sample is the transform of its own events
        np.testing.assert_array_equal(batches[i // 2][0][i % 2].numpy(), transform(_events(seed=i, n=1000)))


def test_davis_style_sample_with_frames_is_a_recording_for_our_dataset():
    from egvsr.datasets import EventVSRDataset
    from egvsr.tonic_data import from_davis_sample

    n_frames, rng = 5, np.random.default_rng(1)
    ev = _events(np.dtype([("t", int), ("x", int), ("y", int), ("p", int)]), n=20000)
    ev["t"] = np.sort(rng.integers(0, 400_000, len(ev)))
    images = {"frames": rng.integers(0, 256, (n_frames, H, W), dtype=np.uint8),
              "ts": np.arange(n_frames) * 100_000}
    rec = from_davis_sample((ev, None, images), sensor_size=SENSOR)
    assert (rec.width, rec.height, rec.num_frames) == (W, H, n_frames)
    assert rec.read_frame(2).shape == (H, W, 3)
    window = rec.read_events(100_000, 200_000)
    assert len(window) == int(((ev["t"] >= 100_000) & (ev["t"] < 200_000)).sum())
    ds = EventVSRDataset([rec], mode="eval", scale=2, num_frames=3, bins=4)
    sample = ds[0]
    assert sample["hr"].shape[-2:] == (H // 2 * 2, W // 2 * 2)
    shifted = from_davis_sample((ev, None, images), sensor_size=SENSOR, frame_offset_us=1000)
    assert shifted.frame_times[0] == 1000


def _recording(times, **kw):
    from egvsr.tonic_data import TonicRecording

    ev = _events(np.dtype([("t", int), ("x", int), ("y", int), ("p", int)]), n=100)
    return TonicRecording(ev, np.zeros((len(times), H, W), np.uint8), np.asarray(times), SENSOR, **kw)


def test_a_nan_frame_time_is_named_as_nan():
    from egvsr.errors import EventValidationError

    with pytest.raises(EventValidationError, match=r"^tonic: frame timestamp 1 is NaN, expected a finite time in µs"):
        _recording([0.0, np.nan, 2.0])


def test_frame_times_of_another_shape_are_refused_without_a_cast_warning():
    """(N, 1) float frame times holding a NaN were floored and cast first: a RuntimeWarning before the refusal."""
    import warnings

    from egvsr.errors import EventValidationError

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(EventValidationError, match=r"frame timestamps: expected 1-D integer µs timestamps"):
            _recording(np.array([[0.0], [np.nan], [2.0]]))


@pytest.mark.parametrize("offset, message", [
    (2**63 - 2, r"frame_offset_us 9223372036854775806 puts frame times at 9223372036854775808 µs, beyond the int64"),
    (-2**63, r"frame_offset_us -9223372036854775808 puts frame times at -9223372036854775809 µs"),
    (2**64, r"frame_offset_us 18446744073709551616 puts frame times at"),
    (1.5, r"frame_offset_us 1.5: expected a whole number of µs"),
    (True, r"frame_offset_us True: expected a whole number of µs"),
])
def test_a_frame_offset_that_would_wrap_the_frame_times_is_refused(offset, message):
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^tonic: " + message):
        _recording([-1, 1, 2], frame_offset_us=offset)
    assert _recording([0, 1, 2], frame_offset_us=-2**63).frame_times[0] == -2**63  # at the limit: kept


def test_tonic_event_window_follows_every_recording():
    """As `SourceRecording`: floats round up, None is unbounded, NaN or a str names t0 / t1."""
    from egvsr.errors import ConfigError

    rec = _recording([0, 1, 2])
    everything = rec.read_events(None, None)
    assert len(everything) == len(rec.stream)
    t = int(everything.t[len(everything) // 2])
    assert np.array_equal(rec.read_events(t - 0.5, None).t, everything.t[everything.t >= t])
    assert np.array_equal(rec.read_events(None, t + 0.5).t, everything.t[everything.t <= t])
    with pytest.raises(ConfigError, match=r"^t0: expected a finite time in microseconds, got nan$"):
        rec.read_events(float("nan"), 0)
    with pytest.raises(ConfigError, match=r"^t1: expected a time in microseconds \(int\), got '5'$"):
        rec.read_events(0, "5")


def test_tonic_recording_gets_the_clock_and_no_event_notices_as_files_do():
    """Its event span is read at construction, so events on another clock (or none) are noticed."""
    rec = _recording([0, 100_000, 200_000])
    assert rec.event_span is not None and rec.events_outside_frames() is None
    shifted = _recording([0, 100_000, 200_000], frame_offset_us=10**15)
    assert "no event falls within the frames' span" in shifted.events_outside_frames()
    from egvsr.tonic_data import TonicRecording

    empty = TonicRecording(_events(np.dtype([("t", int), ("x", int), ("y", int), ("p", int)]), n=0),
                           np.zeros((3, H, W), np.uint8), np.arange(3) * 1000, SENSOR)
    assert empty.event_span is None and "holds no events" in empty.events_outside_frames()
