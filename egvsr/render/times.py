"""Output-time planning for rendering: which times to render and which K-frame window serves each.

Times are int64 µs on the recording's clock: a frame-rate factor f gives every input frame plus f-1
times between consecutive frames (the i/f points by `interval_points`, the rule make-sample's ground truth
follows; a stored ground-truth time at the point rounded the other way is taken instead, so a file written
by an older rule is matched too), or an explicit list gives times after the first frame (`0.04`,
`40ms`, `40000us`). Each time is served by `window_for`'s window (as in evaluation), and times sharing a
window are grouped so the encoder runs once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Sequence

import numpy as np

from egvsr.datasets.items import window_for
from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer, is_real
from egvsr.events.frames import interval_bounds, interval_points

# µs with the micro sign (U+00B5) or the Greek mu (U+03BC) that Greek keyboards and NFKC give
_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0, "\u00b5s": 1.0, "\u03bcs": 1.0}
_TIME = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(s|ms|us|\u00b5s|\u03bcs)?\s*$")


def _number_and_unit(text: str | float | int) -> tuple[str, str]:
    """The number of a time as written (a float's repr, the shortest decimal that reads back as it) and its
    unit (bare numbers are seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return (repr(float(text)) if isinstance(text, float) else str(int(text))), "s"
    m = _TIME.match(str(text))
    if m is None:
        raise ConfigError(
            f"`times` {text!r}: expected a number of seconds, optionally with a unit s, ms or us "
            "(e.g. 0.04, 40ms, 40000us)"
        )
    return m.group(1), m.group(2) or "s"


def parse_time(text: str | float | int) -> float:
    """A time offset in µs from `0.04`, `0.04s`, `40ms` or `40000us` (bare numbers are seconds)."""
    number, unit = _number_and_unit(text)
    us = float(number) * _UNITS[unit]
    if not math.isfinite(us):  # after the unit: 1e303 s is finite, its microseconds are not
        raise ConfigError(f"`times` {text!r}: expected a finite time (at most about 1e302 s)")
    return us


def exact_offset(text: str | float | int) -> Fraction:
    """The offset in µs of `parse_time`, exactly as written (a decimal times its unit, no float product), so
    that a tie written in s or ms (`0.0001255` s is 125.5 µs) rounds to the even µs as the same tie in µs
    does. A finite time (checked by `parse_time` first) below 1e-20 µs counts as 0, which it rounds to
    anyway: its exact value (`1e-999999999`) would take a huge denominator to hold."""
    if abs(parse_time(text)) < 1e-20:
        return Fraction(0)
    number, unit = _number_and_unit(text)
    return Fraction(Decimal(number)) * int(_UNITS[unit])


def frame_range(frame_times: np.ndarray, first: int | None, last: int | None) -> tuple[int, int]:
    """Inclusive input-frame indices [first, last] (defaults: the whole clip), checked."""
    n = len(frame_times)
    for name, value in (("first_frame", first), ("last_frame", last)):
        if value is not None and not is_integer(value):
            raise ConfigError(f"`{name}` {value!r}: expected an input frame index (an integer)")
    lo = 0 if first is None else int(first)
    hi = n - 1 if last is None else int(last)
    if not 0 <= lo < n:
        raise ConfigError(f"`first_frame` {first}: expected an input frame index in 0..{n - 1}")
    if not 0 <= hi < n:
        raise ConfigError(f"`last_frame` {last}: expected an input frame index in 0..{n - 1}")
    if hi < lo:  # inclusive: first == last renders that one frame
        raise ConfigError(f"`first_frame` {lo} / `last_frame` {hi}: expected first <= last")
    return lo, hi


MAX_OUTPUT_TIMES = 10_000_000  # output frames of one render (a bound on the times array, before any other check)


def _at_stored(points: np.ndarray, frame_times: np.ndarray, factor: int, gt_times: np.ndarray | None
               ) -> np.ndarray:
    """`points` (intervals, factor - 1) with each one that is no stored ground-truth time moved to the
    exact point's other rounding (floor for ceil, or back) where a ground-truth time is stored there and
    no other output time is: a file whose ground truth was rounded another way still meets every time."""
    if gt_times is None or len(gt_times) == 0 or points.size == 0:
        return points
    lo, hi = interval_bounds(frame_times, factor)
    other = np.where(points == lo, hi, lo).reshape(-1)
    out = points.reshape(-1).copy()
    taken = np.concatenate([out, np.asarray(frame_times, np.int64)])
    movers = np.flatnonzero(~np.isin(out, gt_times) & np.isin(other, gt_times) & ~np.isin(other, taken))
    movers = movers[np.unique(other[movers], return_index=True)[1]]  # one time to each: times stay distinct
    out[movers] = other[movers]  # within 1 µs of its exact point, so the order holds
    return out.reshape(points.shape)


def times_from_factor(frame_times: np.ndarray, factor: int, first: int | None = None,
                      last: int | None = None, gt_times: np.ndarray | None = None) -> np.ndarray:
    """Input frames first..last plus `factor - 1` evenly spaced times in each interval (µs, by
    `interval_points`; one rounded the other way where `gt_times` holds that time, see `_at_stored`)."""
    if not is_integer(factor) or factor < 1:
        raise ConfigError(f"`fps_factor` {factor!r}: expected an integer >= 1 (2 doubles the frame rate)")
    lo, hi = frame_range(frame_times, first, last)
    ft = np.asarray(frame_times[lo:hi + 1], np.int64)
    count = (len(ft) - 1) * int(factor) + 1
    if count > MAX_OUTPUT_TIMES:  # checked before the times are allocated
        raise ConfigError(f"`fps_factor` {factor}: gives {count:,} output frames, expected at most "
                          f"{MAX_OUTPUT_TIMES:,}; use a smaller factor or `first_frame`/`last_frame`")
    if len(ft) > 1 and factor > int(np.diff(ft).min()):
        raise ConfigError(
            f"`fps_factor` {factor}: input frames are too close in time for {factor - 1} distinct "
            "microsecond times between them; use a smaller factor"
        )
    points = _at_stored(interval_points(ft, int(factor)), ft, int(factor), gt_times)
    inner = np.concatenate([ft[:-1, None], points], axis=1)
    out = np.concatenate([inner.reshape(-1), ft[-1:]])
    if np.any(np.diff(out) <= 0):
        raise ConfigError(
            f"`fps_factor` {factor}: input frames are too close in time for {factor - 1} distinct "
            "microsecond times between them; use a smaller factor"
        )
    return out


def time_values(values: object) -> list:
    """The entries of `times`: a list, tuple or array of times; one string or number is refused (a
    string would be read character by character)."""
    if isinstance(values, (str, bytes)) or is_real(values) or isinstance(values, (bool, np.bool_)):
        raise ConfigError(f"`times` {values!r}: expected a list of times (e.g. [0.04, '40ms']), not a single "
                          "value")
    try:
        return list(values)
    except TypeError:
        raise ConfigError(f"`times` {values!r}: expected a list of times (e.g. [0.04, '40ms'])") from None


def _at_offset(t0: int, rel: Fraction) -> int:
    """The µs nearest `t0 + rel`, a tie to the even µs, in integers: float64 holds a time on a clock beyond
    2**53 µs (a nanosecond-based or shifted clock) only to tens of µs, so a sum in floats would move the time
    (`0` could fall before the first frame)."""
    whole = math.floor(rel)
    frac = rel - whole  # exact: the offset's fractional part
    t = t0 + whole
    return t + int(frac > 0.5 or (frac == 0.5 and t % 2 == 1))


def times_from_list(frame_times: np.ndarray, values: Sequence[str | float]) -> np.ndarray:
    """Explicit times (relative to the first input frame) as sorted unique absolute µs, range-checked."""
    values = time_values(values)
    if not values:
        raise ConfigError("`times`: give at least one time")
    t0, t1 = int(frame_times[0]), int(frame_times[-1])
    out = []
    for v in values:
        rel = parse_time(v)
        t = _at_offset(t0, exact_offset(v))
        if not t0 <= t <= t1:
            raise ConfigError(
                f"`times` {v!r}: {rel / 1e6:.6f} s after the first frame lies outside the input frames "
                f"(0 .. {(t1 - t0) / 1e6:.6f} s); a time needs input frames on both sides"
            )
        out.append(t)
    return np.unique(np.asarray(out, np.int64))


def plan_times(frame_times: np.ndarray, factor: int | None = None,
               times: Sequence[str | float] | None = None, first: int | None = None,
               last: int | None = None, gt_times: np.ndarray | None = None) -> np.ndarray:
    """The output times (int64 µs, increasing): from a frame-rate factor (meeting the stored `gt_times`,
    see `times_from_factor`) or an explicit list."""
    ft = np.asarray(frame_times)
    if ft.ndim != 1 or len(ft) < 2:
        raise ConfigError(f"input: rendering needs at least 2 input frames, got {len(ft)}")
    if times is not None and factor is not None:
        raise ConfigError("give either `fps_factor` or `times`, not both")
    if times is not None:
        if first is not None or last is not None:
            raise ConfigError("`first_frame`/`last_frame` apply to `fps_factor`; `times` are explicit")
        return times_from_list(ft, times)
    return times_from_factor(ft, 1 if factor is None else factor, first, last, gt_times)


@dataclass(frozen=True)
class WindowGroup:
    """Output times `times` (µs) all served by the K frames starting at input frame `start`."""

    start: int
    times: np.ndarray


def group_by_window(frame_times: np.ndarray, times: np.ndarray, k: int,
                    max_times: int | None = None) -> list[WindowGroup]:
    """Consecutive output times sharing a window, at most `max_times` per group (memory bound)."""
    if len(frame_times) < k:
        raise ConfigError(
            f"input: the model needs windows of num_frames={k} input frames, the clip has {len(frame_times)}"
        )
    cap = max(1, int(max_times)) if max_times else len(times)
    groups: list[WindowGroup] = []
    run: list[int] = []
    start = None
    for t in np.asarray(times, np.int64).tolist():
        s = window_for(frame_times, t, k)
        if run and (s != start or len(run) >= cap):
            groups.append(WindowGroup(start, np.asarray(run, np.int64)))
            run = []
        start = s
        run.append(t)
    if run:
        groups.append(WindowGroup(start, np.asarray(run, np.int64)))
    return groups


def output_fps(frame_times: np.ndarray, times: np.ndarray, factor: int | None) -> float:
    """Frame rate of the output video: with `factor`, the rate of the input frames rendered (the median
    spacing of those among `times`, the frames first..last) x factor; without, one frame per median spacing
    of `times` (explicit times, or the input frames alone, which is the same as factor 1); the whole clip's
    input rate where fewer than two such times are rendered."""
    times = np.asarray(times, np.int64)
    if factor is not None:
        times = times[np.isin(times, np.asarray(frame_times, np.int64))]
    if len(times) < 2:
        return 1e6 / float(np.median(np.diff(frame_times))) * (factor or 1)
    return 1e6 / float(np.median(np.diff(times))) * (factor or 1)
