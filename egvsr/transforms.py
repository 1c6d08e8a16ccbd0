"""Our event representations as tonic-style transforms.

Frozen dataclasses called on a tonic structured event array with tonic's `sensor_size` convention, so
they slot into `tonic.transforms.Compose` and a `DataLoader` (picklable, float32 output); tonic itself
is not needed. The window is the events' own span unless `window_us` fixes it; values follow our kernels
(docs/representations.md, "Differences from tonic").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import INT64_MAX, is_integer


def _check_window_us(window_us: object) -> None:
    if window_us is not None and (not is_integer(window_us) or not 1 <= window_us <= INT64_MAX):
        raise ConfigError(f"window_us: expected a positive number of microseconds (at most 2**63 - 1), "
                          f"got {window_us!r}")


def _windowed(stream, window_us: int | None):
    """(stream, t_start, t_end): the window [t_first, t_last + 1) or [t_first, t_first + window_us) of
    `stream`'s events. Where t_end would pass the int64 range (events at 2**63 - 1 µs), the window's
    events are given shifted to start at 0: the kernels read only t - t_start, so the values are the same."""
    if not len(stream):
        return stream, 0, 1 if window_us is None else int(window_us)
    t0 = int(stream.t[0])
    length = int(stream.t[-1]) - t0 + 1 if window_us is None else int(window_us)
    if t0 + length <= INT64_MAX:
        return stream, t0, t0 + length
    if length > INT64_MAX:  # only a window of the events' own span, first to last, can be this long
        raise ConfigError(f"window_us: the events span {t0}..{int(stream.t[-1])} µs, more than the int64 "
                          "microsecond range holds; pass window_us (at most 2**63 - 1) to cut the window")
    s = stream.slice(t0, t0 + length)  # every t - t0 lies in [0, length): no wrap
    from egvsr.events.stream import EventStream

    return EventStream(s.x, s.y, s.t - np.int64(t0), s.p, s.width, s.height, validate=False), 0, length


def _check(sensor_size: object, count: object, count_name: str, window_us: object) -> tuple[int, ...]:
    """Arguments of a transform, checked when it is made (not at its first sample, in a DataLoader worker),
    naming the argument; `sensor_size` as a tuple (a list would make the frozen dataclass unhashable)."""
    from egvsr.events.io.tonic_arrays import tonic_size

    tonic_size(sensor_size)
    if not is_integer(count) or count < 1:
        raise ConfigError(f"{count_name}: expected an integer >= 1, got {count!r}")
    _check_window_us(window_us)
    return tuple(int(v) for v in sensor_size)


def _stream(events: np.ndarray, sensor_size: tuple[int, ...]):
    from egvsr.events.io.tonic_arrays import from_tonic

    return from_tonic(events, sensor_size)


@dataclass(frozen=True)
class ToVoxelGrid:
    """Zhu et al.'s event volume with our kernel: (n_time_bins, 1, H, W) float32, signed polarity.

    Same shape as `tonic.transforms.ToVoxelGrid`; unlike tonic every event keeps its full weight
    (time mapped to [0, n_time_bins - 1] over the window) and bool polarity False counts as OFF (-1).
    """

    sensor_size: tuple[int, int, int]
    n_time_bins: int
    window_us: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensor_size", _check(self.sensor_size, self.n_time_bins, "n_time_bins",
                                                       self.window_us))

    def __call__(self, events: np.ndarray) -> np.ndarray:
        from egvsr.events.represent import voxel_grid

        s, t0, t1 = _windowed(_stream(events, self.sensor_size), self.window_us)
        vox = voxel_grid(s, self.n_time_bins, t0, t1, height=s.height, width=s.width)
        return np.ascontiguousarray(vox, dtype=np.float32)[:, None]


@dataclass(frozen=True)
class ToEGVSRMoments:
    """EGVSR's event input: (n_moments, 2, H, W) float32 ON/OFF counts in equal time bins (channel 0 ON)."""

    sensor_size: tuple[int, int, int]
    n_moments: int = 8
    window_us: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensor_size", _check(self.sensor_size, self.n_moments, "n_moments",
                                                       self.window_us))

    def __call__(self, events: np.ndarray) -> np.ndarray:
        from egvsr.events.represent import event_moments

        s, t0, t1 = _windowed(_stream(events, self.sensor_size), self.window_us)
        out = event_moments(s, self.n_moments, t0, t1, height=s.height, width=s.width)
        return np.ascontiguousarray(out, dtype=np.float32)
