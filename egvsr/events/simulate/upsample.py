"""Temporal upsampling of ordinary video before simulation, so motion between sub-frames stays near 1 px.

Per frame pair, optical flow both ways (OpenCV's DIS) sets the number of sub-steps; intermediate frames
warp both frames along the flow and blend them, and pairs the flow does not explain (scene cuts,
flicker) fall back to linear blending (docs/simulator.md, "Temporal upsampling").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import is_real

METHODS = ("flow", "linear", "none")
MIN_FLOW_SIDE = 24  # smaller images: no reliable pyramid flow, blend linearly
MOTION_PERCENTILE = 99.0
STEP_TOLERANCE = 0.05  # 2.03 px of motion takes 2 steps of 1 px, not 3
#: Finest `max_px_per_step`: finer steps than 1/100 px change nothing the flow can measure, and would only
#: multiply the sub-steps (at most the frame diagonal / this per pair).
MIN_PX_PER_STEP = 0.01


def _cv2():
    import cv2

    return cv2


@dataclass(frozen=True)
class PairPlan:
    """How one frame pair is upsampled: sub-steps, measured motion (px) and the method used."""

    steps: int
    motion_px: float
    method: str


def _gray8(lum: np.ndarray) -> np.ndarray:
    if lum.dtype == np.uint8:
        return lum
    return np.clip(lum * 255.0 + 0.5, 0, 255).astype(np.uint8)


def dense_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow a -> b, float32 (H, W, 2), from two 2-D luminance images.

    A new DIS object per call (~60 µs): a reused one keeps settings derived from earlier image
    sizes, so its result would depend on what it saw before.
    """
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_gray8(a), _gray8(b), None)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx, gy


def _warp(img: np.ndarray, flow: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Backward warp: out(x) = img(x + flow(x)), bilinear, edges replicated."""
    cv2 = _cv2()
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _reliable(a: np.ndarray, b: np.ndarray, f01: np.ndarray, f10: np.ndarray, gx, gy) -> bool:
    """True when the flows explain the pair: forward and backward agree on most pixels, and warping
    b along the flow removes at least half of its difference to a (a scene cut or flicker does not).
    """
    back = _warp(f10, f01, gx, gy)
    err = np.hypot(*(f01 + back).transpose(2, 0, 1))
    mag = np.hypot(f01[..., 0], f01[..., 1])
    if float(np.mean(err > 1.0 + 0.5 * mag)) >= 0.5:
        return False
    before = float(np.mean(np.abs(b - a)))
    after = float(np.mean(np.abs(_warp(b, f01, gx, gy) - a)))
    return before < 1e-3 or after <= 0.5 * before


def _px_per_step(v) -> float:
    """`max_px_per_step` as a float: a finite number of pixels from `MIN_PX_PER_STEP` up."""
    if not (is_real(v) and math.isfinite(v) and v >= MIN_PX_PER_STEP):
        raise ConfigError(f"max_px_per_step: expected a finite number of pixels >= {MIN_PX_PER_STEP:g} "
                          f"(finer sub-steps only multiply the run time), got {v!r}")
    return float(v)


def _subframe_cap(v) -> int | None:
    """`max_subframes` as an int (None: no cap but the motion's)."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"`max_subframes`: expected an integer >= 1, got {v!r}")
    return int(v)


class Upsampler:
    """Chooses sub-steps per frame pair from measured motion and synthesises the sub-frames."""

    def __init__(self, interpolation: str = "flow", max_px_per_step: float = 1.0,
                 max_subframes: int | None = None) -> None:
        if interpolation not in METHODS:
            raise ConfigError(f"interpolation {interpolation!r}: expected one of {', '.join(METHODS)}")
        self.interpolation = interpolation
        self.max_px_per_step = _px_per_step(max_px_per_step)
        self.max_subframes = _subframe_cap(max_subframes)

    def between(self, a: np.ndarray, b: np.ndarray) -> tuple[PairPlan, Sequence[tuple[float, np.ndarray]]]:
        """Plan and sub-frames strictly between 2-D luminance frames a and b: [(tau in (0,1), frame)],
        made one at a time as they are read (`SubFrames`)."""
        if self.interpolation == "none":
            return PairPlan(1, float("nan"), "none"), []
        h, w = a.shape
        fa, fb = _float(a), _float(b)
        if min(h, w) < MIN_FLOW_SIDE:
            return self._linear(fa, fb, _intensity_motion(a, b))
        f01 = dense_flow(a, b)
        f10 = dense_flow(b, a)
        mag = np.hypot(f01[..., 0], f01[..., 1])
        motion = float(np.percentile(mag, MOTION_PERCENTILE))
        gx, gy = _grid(h, w)
        if self.interpolation == "linear" or not _reliable(fa, fb, f01, f10, gx, gy):
            return self._linear(fa, fb, motion)

        def warped(tau: float) -> np.ndarray:
            ft0 = -(1 - tau) * tau * f01 + tau * tau * f10
            ft1 = (1 - tau) ** 2 * f01 - tau * (1 - tau) * f10
            img = (1 - tau) * _warp(fa, ft0, gx, gy) + tau * _warp(fb, ft1, gx, gy)
            return img.astype(np.float32)

        steps = self._steps(motion, h, w)
        return PairPlan(steps, motion, "flow"), SubFrames(steps, warped)

    def _steps(self, motion: float, h: int, w: int) -> int:
        """Sub-steps for `motion` px: motion / max_px_per_step, the motion counted up to the frame's
        diagonal (beyond it nothing in view is tracked), capped by `max_subframes`."""
        motion = min(motion, math.hypot(h, w))
        n = max(1, math.ceil(motion / self.max_px_per_step - STEP_TOLERANCE))
        return n if self.max_subframes is None else min(n, self.max_subframes)

    def _linear(self, fa: np.ndarray, fb: np.ndarray, motion: float):
        def blended(tau: float) -> np.ndarray:
            return ((1 - tau) * fa + tau * fb).astype(np.float32)

        steps = self._steps(motion, *fa.shape)
        return PairPlan(steps, motion, "linear"), SubFrames(steps, blended)


class SubFrames(Sequence):
    """The `steps - 1` sub-frames of one pair as (tau, frame), tau = j / steps, each made when read:
    a pair may take thousands of sub-steps, and the simulator needs one at a time."""

    def __init__(self, steps: int, make: Callable[[float], np.ndarray]) -> None:
        self._steps, self._make = steps, make

    def __len__(self) -> int:
        return self._steps - 1

    def __getitem__(self, j):
        j = operator.index(j)
        if j < 0:
            j += len(self)
        if not 0 <= j < len(self):
            raise IndexError(j)
        tau = (j + 1) / self._steps
        return tau, self._make(tau)


def _float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


def _intensity_motion(a: np.ndarray, b: np.ndarray) -> float:
    """Motion proxy for tiny images: largest intensity change over local gradient, in px (<= side)."""
    fa, fb = _float(a), _float(b)
    gy, gx = np.gradient(fa)
    g = np.hypot(gx, gy)
    d = np.abs(fb - fa)
    sel = g > 1e-3
    if not sel.any():
        return 1.0 if d.max(initial=0) > 0 else 0.0
    return float(min(np.percentile(d[sel] / g[sel], MOTION_PERCENTILE), max(a.shape)))
