"""Augmentations of one sample: flips, 90-degree rotations and time reversal.

Spatial transforms act identically on the LR frames, the event tensor and the HR targets; because the
HR crop is exactly the region the LR pixels cover (same pixel-centre map in both axes), a flip or a
rotation of both keeps them aligned. Time reversal plays the window backwards: frame order reversed,
normalized times t → -t, the event tensor's time bins reversed and its polarity flipped (signed
channel negated, ON/OFF channels swapped), which is what binning the reversed stream gives
(`reverse_events`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from egvsr.events.stream import EventStream

SPATIAL_KEYS = ("lr", "events", "hr")


def flip(sample: dict, axis: str) -> dict:
    """Mirror the images of `sample` left-right (`axis="x"`) or top-bottom (`"y"`), in a copy."""
    dim = -1 if axis == "x" else -2
    out = dict(sample)
    for k in SPATIAL_KEYS:
        out[k] = torch.flip(sample[k], dims=(dim,))
    return out


def rotate90(sample: dict, k: int) -> dict:
    """Rotate the images of `sample` by k·90 degrees counter-clockwise, in a copy."""
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
    """(M, P, h, w) → the tensor of the time-reversed window: bins reversed, polarity flipped."""
    rev = torch.flip(events, dims=(0,))
    if rev.shape[1] == 1:
        return -rev
    if rev.shape[1] == 2:
        return rev.flip(dims=(1,))
    raise ValueError(f"events: expected 1 (signed) or 2 (ON/OFF) polarity channels, got {rev.shape[1]}")


def reverse_time(sample: dict, backward_events: torch.Tensor | None = None) -> dict:
    """Play `sample` backwards: frames reversed, t → -t, events reversed with flipped polarity.

    `backward_events` replaces the derived event tensor where a recording stores real backward
    voxels (EvTexture), already ordered from the last interval to the first.
    """
    out = dict(sample)
    out["lr"] = torch.flip(sample["lr"], dims=(0,))
    out["frame_times"] = -torch.flip(sample["frame_times"], dims=(0,))
    out["times"] = -torch.flip(sample["times"], dims=(0,))
    out["hr"] = torch.flip(sample["hr"], dims=(0,))
    out["t_us"] = torch.flip(sample["t_us"], dims=(0,))
    out["events"] = backward_events if backward_events is not None else reverse_event_tensor(sample["events"])
    out["reversed"] = not bool(sample.get("reversed", False))
    return out


def reverse_events(stream: EventStream, t0: int, t1: int) -> EventStream:
    """The events of [t0, t1) played backwards: t → t0 + t1 - t, order reversed, polarity negated.

    Binned over the same window this gives `reverse_event_tensor` of the forward tensor (an event
    exactly at t0 lands exactly on t1, the window's excluded end; bin it with t_end = t1 + 1).
    """
    s = stream.slice(t0, t1)
    return EventStream(
        s.x[::-1].copy(), s.y[::-1].copy(), (np.int64(t0) + np.int64(t1) - s.t[::-1]).astype(np.int64),
        (-s.p[::-1]).astype(np.int8), s.width, s.height, validate=False,
    )


def random_augment(
    sample: dict,
    rng: np.random.Generator,
    flips: bool = True,
    rotations: bool = True,
    reverse_prob: float = 0.5,
    backward_events: Callable[[], torch.Tensor | None] | None = None,
) -> dict:
    """Random time reversal, then a random flip and rotation, drawn from `rng` (fixed draw count).

    Reversal comes first so that `backward_events()` (stored backward voxels, cropped like the
    forward ones) is combined with the untransformed sample.
    """
    draws = rng.random(2)
    k = int(rng.integers(0, 4))
    out = sample
    if draws[1] < reverse_prob:
        out = reverse_time(out, backward_events() if backward_events is not None else None)
    if flips and draws[0] < 0.5:
        out = flip(out, "x")
    if rotations and k:
        out = rotate90(out, k)
    return out
