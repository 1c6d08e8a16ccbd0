"""Sizes a simulation is checked against before it spends memory or disk: its noise events.

Signal events depend on the video and are only known once simulated, but noise events (shot noise,
leak) are rate x pixels x time, capped by the refractory period: a clip whose noise alone cannot fit
is refused up front, with the figures (docs/simulator.md, "Input: videos and frame folders").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from egvsr.errors import ConfigError, OutputError
from egvsr.events.simulate.thresholds import SimulatorConfig, knob_flag
from egvsr.fsutil import fmt_size, free_bytes
from egvsr.process import PLANNED_MEMORY_SHARE, physical_memory

#: Bytes per shot event drawn for one step: pixel int64, time float64, polarity int8 (17), x 1.2.
SHOT_DRAW_BYTES = 20
#: Bytes per event emitted in one step: candidates, the time sort, the output arrays and the writer's
#: copy (measured 37 to 42 on noise-only steps of 20 M events), x 1.2.
STEP_EVENT_BYTES = 50
#: Bytes per event `simulate_frames` keeps: every step's chunk (x, y uint16, t int64, p int8) and
#: their concatenation.
KEPT_EVENT_BYTES = 26
#: Bytes per noise event in the gzip-compressed file: below the 1.7 to 3.0 measured (64x64 to
#: 1280x720, shot noise or leak), so a clip whose noise does fit is never refused.
DISK_EVENT_BYTES = 1.5


#: Bytes per pixel of a simulation: the simulator's state (thresholds, reference levels, bands, scratch:
#: about 150) with the frames, flows and sub-frames (float32 planes) and the frames waiting to be written.
#: Peak RSS measured 205 to 232 on clips of 3 to 12 frames (1000x1000 to 2000x2000 RGB, flow interpolation,
#: no events; a two-frame clip holds less, 161), with a tenth more as margin.
BYTES_PER_PIXEL = 256


def memory_budget() -> int:
    """Bytes a simulation may plan to hold: `PLANNED_MEMORY_SHARE` of this machine's memory (16 GB if unknown)."""
    return int(PLANNED_MEMORY_SHARE * (physical_memory() or 16 << 30))


def check_frame_memory(width: int, height: int, what: str | os.PathLike,
                       advice: str = "pass a smaller --size HxW") -> None:
    """Refuse frames of `width` x `height` the machine cannot simulate, before any is read or rendered
    or the simulator allocates its state; `what` (the input, output or sensor) starts the message."""
    need, have = width * height * BYTES_PER_PIXEL, memory_budget()
    if need > have:
        raise ConfigError(
            f"{what}: frames of {width}x{height} pixels need about {fmt_size(need)} to simulate, more than "
            f"{PLANNED_MEMORY_SHARE:.0%} of this machine's memory ({fmt_size(have)}); {advice}"
        )


@dataclass(frozen=True)
class ClipSpan:
    """The frame times a simulation covers, in seconds: the longest interval between two frames (the
    most one step may span: a static pair gets one step), the whole span and the interval count (None
    when a video does not state its frame count)."""

    longest_s: float
    total_s: float | None
    intervals: int | None

    @classmethod
    def of_times(cls, t_us: np.ndarray) -> "ClipSpan":
        """The span of frame times `t_us` (µs, increasing)."""
        t = np.asarray(t_us, np.float64)
        if t.size < 2:
            return cls(0.0, 0.0, 0)
        return cls(float(np.max(np.diff(t))) * 1e-6, float(t[-1] - t[0]) * 1e-6, int(t.size - 1))

    @classmethod
    def of_rate(cls, fps: float, frames: int | None) -> "ClipSpan":
        """The span of `frames` frames at `fps` (frames None: unknown length)."""
        if frames is None:
            return cls(1.0 / fps, None, None)
        n = max(0, int(frames) - 1)
        return cls(1.0 / fps if n else 0.0, n / fps, n)


def noise_rate(config: SimulatorConfig) -> float:
    """Noise events per pixel per second before the refractory filter: shot noise plus leak."""
    return config.shot_noise_hz + config.leak_hz


def emitted_noise(config: SimulatorConfig, pixels: int, seconds: float, intervals: int,
                  least: bool = False) -> float:
    """Noise events out of `pixels` over `seconds` in `intervals` steps: rate x pixels x time, thinned
    by the refractory period tau. At most one per tau and pixel (plus one per step, after a quiet
    pixel); with `least`, the expected count of Poisson events through that dead time, rate / (1 +
    rate tau) per second, which the leak's regular events exceed."""
    rate, tau = noise_rate(config), config.refractory_us * 1e-6
    if least:
        return pixels * seconds * rate / (1.0 + rate * tau)
    per_pixel = rate * seconds
    if tau > 0:
        per_pixel = min(per_pixel, seconds / tau + intervals)
    return pixels * per_pixel


def step_noise_bytes(config: SimulatorConfig, pixels: int, seconds: float) -> float:
    """Memory of one step of `seconds` for its noise: the shot events drawn and the events emitted."""
    drawn = config.shot_noise_hz * pixels * seconds
    return drawn * SHOT_DRAW_BYTES + emitted_noise(config, pixels, seconds, 1) * STEP_EVENT_BYTES


def _seconds(s: float) -> str:
    """A duration for a message: "40 ms", "1000 s"."""
    return f"{s:.4g} s" if s >= 1 else f"{s * 1e3:.4g} ms"


def _rates(config: SimulatorConfig) -> str:
    """The noise options in force, as flags: "--shot-noise-hz 1e+05 and --leak-hz 5"."""
    on = [(n, getattr(config, n)) for n in ("shot_noise_hz", "leak_hz") if getattr(config, n) > 0]
    return " and ".join(f"{knob_flag(n)} {v:g}" for n, v in on)


def check_noise_memory(config: SimulatorConfig, width: int, height: int, span: ClipSpan,
                       state_bytes: int, keep_all: bool = False) -> None:
    """Refuse noise whose events need more memory than `memory_budget()` with the simulator's
    `state_bytes`: those of the longest frame interval (one step), and with `keep_all` (events kept
    in memory, `simulate_frames`) those of the whole clip as well. Nothing is spent before."""
    if noise_rate(config) <= 0:
        return
    pixels = width * height
    step = step_noise_bytes(config, pixels, span.longest_s)
    kept = emitted_noise(config, pixels, span.total_s or 0.0, span.intervals or 0) if keep_all else 0.0
    need, have = state_bytes + step + kept * KEPT_EVENT_BYTES, memory_budget()
    if need <= have:
        return
    if kept * KEPT_EVENT_BYTES > step:
        what = f"about {kept:.3g} noise events kept over the clip ({_seconds(span.total_s or 0.0)}"
    else:
        n = noise_rate(config) * pixels * span.longest_s
        what = f"about {n:.3g} noise events in one frame interval ({_seconds(span.longest_s)}"
    raise ConfigError(
        f"{_rates(config)}: {what} at {width}x{height} pixels) need about {fmt_size(need)} of memory at once, "
        f"more than {PLANNED_MEMORY_SHARE:.0%} of this machine's memory ({fmt_size(have)}); lower the noise rate "
        "or use smaller frames (--size)"
    )


def noise_checked(frames: Iterable[tuple[int, np.ndarray]], config: SimulatorConfig, width: int, height: int,
                  planned_s: float, state_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    """`frames` (t_us, image), each interval longer than the `planned_s` checked up front by
    `check_noise_memory` checked in turn before it is simulated: a video timed by its own timestamps (variable
    frame rate) may hold a pause far longer than 1 / fps, whose noise is drawn in one step."""
    last = None
    for t, img in frames:
        if last is not None and (t - last) * 1e-6 > planned_s:
            check_noise_memory(config, width, height, ClipSpan((t - last) * 1e-6, None, None), state_bytes)
        last = t
        yield t, img


def check_noise_disk(config: SimulatorConfig, width: int, height: int, span: ClipSpan,
                     dst: str | os.PathLike) -> None:
    """Refuse noise whose events alone, compressed, need more than the free space beside `dst`
    (a floor of their size: `DISK_EVENT_BYTES` each). Unknown clip length or free space: no check."""
    if noise_rate(config) <= 0 or span.total_s is None:
        return
    n = emitted_noise(config, width * height, span.total_s, span.intervals or 0, least=True)
    need, folder = n * DISK_EVENT_BYTES, Path(dst).absolute().parent
    free = free_bytes(folder)
    if free is not None and need > free:
        raise OutputError(
            f"{dst}: {_rates(config)} gives at least {n:.3g} noise events over the clip "
            f"({_seconds(span.total_s)} at {width}x{height} pixels), at least {fmt_size(need)} on disk, more than "
            f"the {fmt_size(free)} free in {folder}; lower the noise rate, simulate a shorter clip or smaller frames "
            "(--size), or write elsewhere"
        )
