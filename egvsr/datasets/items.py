"""Which items a dataset has: frame windows, and the times inside them that have ground truth.

Training: one item per window of K consecutive frames (stride configurable). Evaluation: one item per
target time, in clip and time order (every frame; in space-time mode also every ground-truth frame),
each with the window that holds it as centrally as the clip allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egvsr.datasets.recording import Recording
from egvsr.errors import ConfigError


@dataclass(frozen=True)
class Item:
    """Recording `rec`, window frames start..start+K-1, and (evaluation only) the target time."""

    rec: int
    start: int
    target_us: int | None = None


class Targets:
    """The times of one recording that have an HR frame: frames first, then ground-truth frames."""

    def __init__(self, rec: Recording, include_frames: bool = True, include_gt: bool = True) -> None:
        table: dict[int, tuple[str, int]] = {}
        if include_gt:
            for j, t in enumerate(rec.gt_times.tolist()):
                table[int(t)] = ("gt", j)
        if include_frames:
            for i, t in enumerate(rec.frame_times.tolist()):
                table[int(t)] = ("frame", i)  # a frame wins over a GT image at the same time
        self.table = table
        self.times = np.array(sorted(table), dtype=np.int64)

    def between(self, t0: int, t1: int) -> np.ndarray:
        """Target times with t0 <= t <= t1 (both ends: the window's frames are targets too)."""
        i0 = int(np.searchsorted(self.times, t0, side="left"))
        i1 = int(np.searchsorted(self.times, t1, side="right"))
        return self.times[i0:i1]

    def lookup(self, t: int) -> tuple[str, int]:
        return self.table[int(t)]


def gt_outside_frames(rec: Recording) -> int:
    """How many ground-truth times lie outside the frames' span [first frame, last frame]: no window holds
    them, so evaluation scores none of them (`eval_items`)."""
    gt, ft = rec.gt_times, rec.frame_times
    if not len(ft):
        return len(gt)
    return int(np.count_nonzero((gt < ft[0]) | (gt > ft[-1])))


def ground_truth_coverage(recs: list[Recording]) -> tuple[list[Recording], list[tuple[Recording, int]]]:
    """(recordings with no ground-truth frame inside their frames' span, [(recording, ground-truth frames
    outside it)] for the others that have some outside): what scoring with queries 'gt' must refuse, leave
    out or report, for `eval --queries gt` and training's data.val alike."""
    outside = [(r, gt_outside_frames(r)) for r in recs]
    lacking = [r for r, n in outside if len(r.gt_times) == n]
    return lacking, [(r, n) for r, n in outside if n and len(r.gt_times) != n]


def check_length(rec: Recording, k: int) -> None:
    """Raise unless `rec` has at least `k` frames."""
    if rec.num_frames == 0:  # events only (a DVXplorer, a Prophesee camera): no model of any window takes it
        raise ConfigError(
            f"{rec.path}: recording has no frames (events only), and the model reads windows of num_frames={k} "
            "frames; leave it out of the data (or give its frames: render takes a folder of frames with --events)"
        )
    if rec.num_frames < k:
        what = f"only {rec.num_frames} frame(s)"
        raise ConfigError(
            f"{rec.path}: recording has {what}, shorter than the window of num_frames={k} consecutive "
            "frames the model reads; leave it out of the data (or train a model with a smaller num_frames)"
        )


def train_items(recs: list[Recording], k: int, stride: int) -> list[Item]:
    """Every window start 0, stride, ... of every recording."""
    out = []
    for r, rec in enumerate(recs):
        check_length(rec, k)
        out.extend(Item(r, s) for s in range(0, rec.num_frames - k + 1, stride))
    return out


def window_times(t_us: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """Times in µs -> [-1, 1] over the window [t0, t1] as float32 (the models' time input); the offsets
    are taken in int64 first, so the result is exact at any clock value (float64 of a time near 2**63
    is off by up to 1 ms)."""
    offsets = np.asarray(t_us, np.int64) - np.int64(t0)
    return (2.0 * offsets / float(t1 - t0) - 1.0).astype(np.float32)


def window_frame_times(frame_times_us: object, where: str) -> np.ndarray:
    """`window_times` of a window's own frames, which must stay strictly increasing in float32: frame
    intervals more than ~10**7 times apart within one window cannot be told apart there."""
    ft = np.asarray(frame_times_us, np.int64)
    out = window_times(ft, int(ft[0]), int(ft[-1]))
    if len(out) > 1 and not (np.diff(out) > 0).all():
        gaps = np.diff(ft)
        raise ConfigError(
            f"{where}: the intervals between these input frames are too uneven ({int(gaps.min()):,} µs beside "
            f"{int(gaps.max()):,} µs) for the model's time input (float32 over the window); render or "
            "evaluate the frames on either side of the long gap separately"
        )
    return out


def window_for(frame_times: np.ndarray, t: int, k: int) -> int:
    """Start of the K-frame window that holds time `t` most centrally (clamped to the clip).

    For even K a frame time has two equally central windows; it gets the one where it is frame K//2,
    the later of the two central frames, which is where training's middle query puts it (`queries
    "middle"`), so a model is evaluated at the time it was trained for."""
    n = len(frame_times)
    j = int(np.searchsorted(frame_times, t, side="right")) - 1  # interval j: f_j <= t < f_{j+1}
    j = min(max(j, 0), n - 1)
    pos = float(j)
    if j + 1 < n:
        pos += (t - frame_times[j]) / float(frame_times[j + 1] - frame_times[j])
    if k % 2:
        start = int(np.floor(pos - (k - 1) / 2.0 + 0.5))
    else:  # frame j + (K/2 - 1) .. j + K/2 is the central interval; a frame time sits at index K/2
        start = int(np.ceil(pos - k / 2.0))
    return min(max(start, 0), n - k)


def eval_items(recs: list[Recording], targets: list[Targets], k: int) -> list[Item]:
    """One item per target time inside the frame span of each recording, in order."""
    out = []
    for r, (rec, tg) in enumerate(zip(recs, targets)):
        check_length(rec, k)
        ft = rec.frame_times
        for t in tg.between(int(ft[0]), int(ft[-1])).tolist():
            out.append(Item(r, window_for(ft, t, k), int(t)))
    return out
