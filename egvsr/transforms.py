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


def _window(stream, window_us: int | None) -> tuple[int, int]:
    t0 = int(stream.t[0]) if len(stream) else 0
    if window_us is None:
        return t0, (int(stream.t[-1]) + 1 if len(stream) else t0 + 1)
    if isinstance(window_us, bool) or not isinstance(window_us, (int, np.integer)) or window_us < 1:
        raise ConfigError(f"window_us: expected a positive number of microseconds, got {window_us!r}")
    return t0, t0 + int(window_us)


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

    def __call__(self, events: np.ndarray) -> np.ndarray:
        from egvsr.events.represent import voxel_grid

        s = _stream(events, self.sensor_size)
        t0, t1 = _window(s, self.window_us)
        vox = voxel_grid(s, self.n_time_bins, t0, t1, height=s.height, width=s.width)
        return np.ascontiguousarray(vox, dtype=np.float32)[:, None]


@dataclass(frozen=True)
class ToEGVSRMoments:
    """EGVSR's event input: (n_moments, 2, H, W) float32 ON/OFF counts in equal time bins (channel 0 ON)."""

    sensor_size: tuple[int, int, int]
    n_moments: int = 8
    window_us: int | None = None

    def __call__(self, events: np.ndarray) -> np.ndarray:
        from egvsr.events.represent import event_moments

        s = _stream(events, self.sensor_size)
        t0, t1 = _window(s, self.window_us)
        out = event_moments(s, self.n_moments, t0, t1, height=s.height, width=s.width)
        return np.ascontiguousarray(out, dtype=np.float32)
