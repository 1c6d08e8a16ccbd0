"""Augmentations of one sample: flips, 90-degree rotations and time reversal.

Spatial transforms act identically on the LR frames, the event tensor and the HR targets; because the
HR crop is exactly the region the LR pixels cover (same pixel-centre map in both axes), a flip or a
rotation of both keeps them aligned. Time reversal plays the window backwards: frame order reversed,
normalized times t → -t, and the event tensor replaced by that of the reversed stream
(`reverse_events`), which the dataset bins anew. Reversing the forward tensor's bins and flipping its
polarity (`reverse_event_tensor`) is only a stand-in for callers without the stream: it is not the reversed
stream's tensor for every representation (a time surface decays forward in time, events on a bin
boundary change bins, and the window's ends swap).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from egvsr.errors import ConfigError
from egvsr.events.checks import INT64_MAX, INT64_MIN, is_integer
from egvsr.events.stream import EventStream

SPATIAL_KEYS = ("lr", "events", "hr")


def flip(sample: dict, axis: str) -> dict:
    """Mirror the images of `sample` left-right (`axis="x"`) or top-bottom (`"y"`), in a copy."""
    if axis not in ("x", "y"):  # anything else ("X", "horizontal") would flip top-bottom below
        raise ConfigError(f"flip axis {axis!r}: expected 'x' (left-right) or 'y' (top-bottom)")
    dim = -1 if axis == "x" else -2
    out = dict(sample)
    for k in SPATIAL_KEYS:
        out[k] = torch.flip(sample[k], dims=(dim,))
    return out


def rotate90(sample: dict, k: int) -> dict:
    """Rotate the images of `sample` by k·90 degrees counter-clockwise, in a copy."""
    if not is_integer(k):  # int() below would make 1.7 a quarter turn, and True one too
        raise ConfigError(f"rotate90 k {k!r}: expected an integer number of quarter turns")
    k = int(k) % 4
    if k == 0:
        return dict(sample)
    out = dict(sample)
    for key in SPATIAL_KEYS:
        out[key] = torch.rot90(sample[key], k, dims=(-2, -1)).contiguous()
    if k % 2:
        out["scale_eff"] = torch.flip(sample["scale_eff"], dims=(0,))
    return out


def reverse_event_tensor(events: torch.Tensor) -> torch.Tensor:
    """(M, P, h, w) → bins reversed, polarity flipped: the stand-in for the reversed window's tensor where
    its events are not at hand (nearly it for voxels and counts, not for time surfaces; module doc)."""
    rev = torch.flip(events, dims=(0,))
    if rev.shape[1] == 1:
        return -rev
    if rev.shape[1] == 2:
        return rev.flip(dims=(1,))
    raise ValueError(f"events: expected 1 (signed) or 2 (ON/OFF) polarity channels, got {rev.shape[1]}")


def reverse_time(sample: dict, backward_events: torch.Tensor | None = None, targets: dict | None = None) -> dict:
    """Play `sample` backwards: frames reversed, t → -t, and `backward_events` as the event tensor.

    `backward_events` is the tensor of the reversed window: binned from `reverse_events` (the dataset
    does), or a recording's stored backward voxels (EvTexture), already ordered from the last interval
    to the first. Without it the forward tensor is reversed (`reverse_event_tensor`, a stand-in).
    `targets` ("hr", "times", "t_us") are the reversed window's own queries where they are other than the
    forward ones mirrored: the middle query of an even number of frames is the later central frame of the
    window played, which is the earlier one of the forward window.
    """
    out = dict(sample)
    out["lr"] = torch.flip(sample["lr"], dims=(0,))
    out["frame_times"] = -torch.flip(sample["frame_times"], dims=(0,))
    out["times"] = -torch.flip(sample["times"], dims=(0,))
    out["hr"] = torch.flip(sample["hr"], dims=(0,))
    out["t_us"] = torch.flip(sample["t_us"], dims=(0,))
    out.update(targets or {})
    out["events"] = backward_events if backward_events is not None else reverse_event_tensor(sample["events"])
    out["reversed"] = not bool(sample.get("reversed", False))
    return out


def reverse_events(stream: EventStream, t0: int, t1: int) -> EventStream:
    """The events of [t0, t1] (both ends) played backwards: t → t0 + t1 - t, order reversed, polarity negated.

    Binned over [t0, t1) this is the window [t0, t1) of the recording played backwards: it holds the
    events of (t0, t1] (one exactly at t1 lands on t0; one exactly at t0 lands on t1, the excluded end).
    """
    for name, v in (("t0", t0), ("t1", t1)):
        if not is_integer(v) or not INT64_MIN <= v <= INT64_MAX:
            raise ConfigError(f"reverse_events {name} {v!r}: expected integer microseconds (int64)")
    if t1 < t0:
        raise ConfigError(f"reverse_events window [{t0}, {t1}]: expected t0 <= t1")
    s = stream.slice(int(t0), int(t1) + 1)
    # t0 + t1 - t in array arithmetic: t0 + t1 alone may pass the int64 range (clocks beyond 2**62 µs), where
    # a scalar sum warns of overflow; the array sum wraps and wraps back, exactly, to a time in [t0, t1]
    t = np.int64(t1) - s.t[::-1]
    t += np.int64(t0)
    return EventStream(
        s.x[::-1].copy(), s.y[::-1].copy(), t, (-s.p[::-1]).astype(np.int8), s.width, s.height, validate=False,
    )


def random_augment(
    sample: dict,
    rng: np.random.Generator,
    flips: bool = True,
    rotations: bool = True,
    reverse_prob: float = 0.5,
    backward_events: Callable[[], torch.Tensor | None] | None = None,
    backward_targets: Callable[[], dict] | None = None,
) -> dict:
    """Random time reversal, then a random flip and rotation, drawn from `rng` (fixed draw count).

    Reversal comes first so that `backward_events()` (the reversed window's tensor, cropped like the
    forward one) and `backward_targets()` (`reverse_time`'s `targets`) are combined with the untransformed
    sample; they are called only when reversal is drawn.
    """
    draws = rng.random(2)
    k = int(rng.integers(0, 4))
    out = sample
    if draws[1] < reverse_prob:
        out = reverse_time(out, backward_events() if backward_events is not None else None,
                           backward_targets() if backward_targets is not None else None)
    if flips and draws[0] < 0.5:
        out = flip(out, "x")
    if rotations and k:
        out = rotate90(out, k)
    return out
