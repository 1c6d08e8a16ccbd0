"""Frames in, events out: upsample each frame pair, feed the simulator, hand every chunk on.

Shared by `simulate_frames` (in memory) and `simulate_video` (streamed to a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable

import numpy as np

from egvsr.events.simulate.luminance import to_luminance
from egvsr.events.simulate.simulator import EventSimulator, check_time
from egvsr.events.simulate.upsample import Upsampler
from egvsr.events.stream import EventStream


@dataclass
class RunStats:
    """What a run did: frames, sub-frames fed, events, and how many pairs fell back to blending."""

    frames: int = 0
    subframes: int = 0
    events: int = 0
    linear_pairs: int = 0


def run(
    frames: Iterable[tuple[int, np.ndarray]],
    sim: EventSimulator,
    upsampler: Upsampler,
    on_events: Callable[[EventStream], None],
    on_frame: Callable[[int, np.ndarray, RunStats], None] | None = None,
) -> RunStats:
    """Simulate events over (t_us, image) pairs in time order; return run statistics.

    `on_events` gets every non-empty chunk; `on_frame(t, image, stats)` every input frame after its
    interval's events.
    """
    stats = RunStats()
    h, w = sim.height, sim.width
    prev, t_prev = None, 0
    for t, img in frames:
        check_time(t)  # named as given, before it makes any sub-frame time
        lum = to_luminance(img, h, w).reshape(h, w)
        if prev is None:
            sim.reset(lum, t)
        else:
            if t <= t_prev:
                sim.feed(lum, t)  # raises the ordering error, naming both times
            plan, subs = upsampler.between(prev, lum)
            stats.linear_pairs += plan.method == "linear"
            t0, span, steps = Fraction(t_prev), Fraction(t) - Fraction(t_prev), len(subs) + 1
            for j, (_, sub) in enumerate(subs):  # exact times: float64 epoch µs step by 0.25 µs
                _emit(sim.feed(sub, t0 + Fraction(j + 1, steps) * span), on_events, stats)
            stats.subframes += len(subs) + 1
            _emit(sim.feed(lum, t), on_events, stats)
        prev, t_prev = lum, t
        stats.frames += 1
        if on_frame is not None:
            on_frame(t, img, stats)
    return stats


def _emit(chunk: EventStream, on_events, stats: RunStats) -> None:
    stats.events += len(chunk)
    if len(chunk):
        on_events(chunk)
