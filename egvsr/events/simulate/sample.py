"""`make_sample`: render the embedded sample recording (frames, ground truth between them, events).

Frames at `fps` and `gt_per_interval` ground-truth frames at evenly spaced times strictly between
consecutive frames are exact renders of `SampleScene`; events are simulated from luminance renders
dense enough that nothing moves more than about one pixel per step. Deterministic from the seed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Collection

import numpy as np

from egvsr.errors import ConfigError, OutputError
from egvsr.events.checks import is_integer, is_real
from egvsr.events.frames import Frames, interval_points
from egvsr.events.io.arguments import check_path
from egvsr.events.simulate.budget import check_frame_memory
from egvsr.events.simulate.scene import SampleScene
from egvsr.events.simulate.simulator import EventSimulator, check_seed
from egvsr.events.simulate.thresholds import SimulatorConfig, draw_thresholds
from egvsr.fsutil import check_flag, check_output_path, check_writable, fmt_size, free_bytes
from egvsr.progress import bar as progress_bar

GENERATOR = "egvsr.make_sample"
GENERATOR_VERSION = 1
MIN_SIDE = 16
MAX_PX_PER_STEP = 1.0
#: events per pixel and second times the clip's lower contrast threshold (events grow as the threshold
#: falls) allowed for by the size estimate: over 9 clips (seeds 0 to 3, 6 and 106, 56 to 1384 pixels
#: wide, 1.4 to 80 events per pixel and second) the product was 0.6 to 4.6
EVENT_RATE_X_THRESHOLD = 10.0
EVENT_BYTES = 13  # x, y uint16, t int64, p int8, before compression


def _frames(scene: SampleScene, times_us: np.ndarray) -> Frames:
    """Exact RGB renders at the given times, as uint8 Frames."""
    images = [(scene.render(t / 1e6) * 255.0 + 0.5).astype(np.uint8) for t in times_us]
    return Frames(np.stack(images), times_us)


def sample_seeds(seed: int) -> tuple[int, int]:
    """Independent seeds of the scene and of the simulator, both derived from the clip's seed."""
    scene, sim = np.random.SeedSequence(int(seed)).spawn(2)
    return int(scene.generate_state(1)[0]), int(sim.generate_state(1)[0])


def frame_count(seconds: float, fps: float) -> int:
    """Input frames of a sample `seconds` long at `fps` (frames at both ends, at least two)."""
    return max(2, int(round(seconds * fps)) + 1)


def clip_thresholds(seed: int) -> tuple[float, float]:
    """(Cp, Cn) of the sample of `seed`, drawn as its simulator draws them, without building it."""
    th = draw_thresholds(SimulatorConfig(), 1, np.random.default_rng(sample_seeds(seed)[1]))
    return th.cp, th.cn


def output_bytes(seed: int, seconds: float, size: tuple[int, int], fps: float,
                 gt_per_interval: int) -> tuple[int, int, int, float]:
    """(bytes, frames, ground-truth frames, events) of a sample, estimated from above before any work:
    frames as stored uncompressed, events at `EVENT_RATE_X_THRESHOLD` over the clip's lower threshold,
    uncompressed, plus 1 MB of HDF5 structure."""
    h, w = size
    n = frame_count(seconds, fps)
    gt = (n - 1) * gt_per_interval
    events = EVENT_RATE_X_THRESHOLD / min(clip_thresholds(seed)) * h * w * (n - 1) / fps
    return int((n + gt) * h * w * 3 + events * EVENT_BYTES) + (1 << 20), n, gt, events


#: the options of `make_sample` a caller may let the user change (the advice of an error names only those)
SAMPLE_OPTIONS = ("seconds", "size", "fps", "gt_per_interval")
_SMALLER = {"seconds": "fewer `seconds`", "size": "a smaller `size`", "fps": "a lower `fps`",
            "gt_per_interval": "fewer `gt_per_interval`"}
_LARGER = {"seconds": "more `seconds`", "fps": "a higher `fps`"}


def _advice(verb: str, changes: dict[str, str], adjustable: Collection[str]) -> str:
    """'; use fewer `seconds`, a lower `fps` or ...': the `changes` the caller's user can make (the CLI shows
    each `name` as its flag), so a command never advises an option it does not have; '' when none."""
    said = [text for name, text in changes.items() if name in adjustable]
    if not said:
        return ""
    return f"; {verb} " + (said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1])


def check_output_space(dst: str | os.PathLike, seed: int, seconds: float, size: tuple[int, int], fps: float,
                       gt_per_interval: int, adjustable: Collection[str] = SAMPLE_OPTIONS) -> None:
    """Refuse, before any rendering, a sample larger than the free space of `dst`'s file system
    (`adjustable`: the options the advice may name)."""
    need, n, gt, events = output_bytes(seed, seconds, size, fps, gt_per_interval)
    free = free_bytes(Path(dst).parent)
    if free is not None and need > free:
        raise OutputError(
            f"{dst}: the sample would take up to about {fmt_size(need)} ({n:,} frames and {gt:,} ground-truth "
            f"frames of {size[0]}x{size[1]} RGB, up to about {events:.3g} events), more than the "
            f"{fmt_size(free)} free in {Path(dst).parent}{_advice('use', _SMALLER, adjustable)}, or write "
            "elsewhere"
        )


def sample_times(seconds: float, fps: float, gt_per_interval: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (int64 µs, k / fps up to `seconds`) and the ground-truth times between them: the
    j / (gt_per_interval + 1) points of each interval by `interval_points`, the rule `render --fps-factor`
    uses for its in-between times."""
    n = frame_count(seconds, fps)
    t = np.round(np.arange(n) * (1e6 / fps)).astype(np.int64)
    return t, interval_points(t, gt_per_interval + 1).reshape(-1)


MAX_SAMPLE_FRAMES = 100_000  # input plus ground-truth frames of one sample recording


def _named(name: str, adjustable: Collection[str]) -> str:
    """How a message names option `name`: `name` (the CLI shows its flag) when the caller's user can set
    it, else plainly (the demo fixes the sample's `fps`: `--fps` is no option of it)."""
    return f"`{name}`" if name in adjustable else name


def _check(seconds, size, fps, gt_per_interval,
           adjustable: Collection[str]) -> tuple[float, tuple[int, int], float, int]:
    sec, rate, gt, side = (_named(k, adjustable) for k in ("seconds", "fps", "gt_per_interval", "size"))
    for name, v in (("seconds", seconds), ("fps", fps)):
        if not (is_real(v) and math.isfinite(v) and v > 0):  # NumPy's numbers too; a bool or str is none
            raise ConfigError(f"`{name}`: expected a positive number, got {v!r}")
    sides = list(size) if isinstance(size, (tuple, list, np.ndarray)) and np.ndim(size) == 1 else []
    if len(sides) != 2 or not all(is_integer(v) for v in sides):  # 16.9 or "20" is no side, not truncated
        raise ConfigError(f"{side}: expected (height, width), two whole numbers of pixels, got {size!r}")
    h, w = (int(v) for v in sides)
    if min(h, w) < MIN_SIDE or max(h, w) > 4096:
        raise ConfigError(f"{side} {h}x{w}: expected sides between {MIN_SIDE} and 4096 pixels")
    if isinstance(gt_per_interval, bool) or not isinstance(gt_per_interval, (int, np.integer)) \
            or gt_per_interval < 0:
        raise ConfigError(f"`gt_per_interval`: expected an integer >= 0, got {gt_per_interval!r}")
    frames = seconds * fps * (gt_per_interval + 1)
    if frames > MAX_SAMPLE_FRAMES:  # before any time or frame is allocated
        raise ConfigError(
            f"{sec} {seconds:g} at {rate} {fps:g} with {gt} {gt_per_interval}: {frames:.3g} frames, "
            f"expected at most {MAX_SAMPLE_FRAMES:,} (about {MAX_SAMPLE_FRAMES * h * w * 3 / 1e9:.3g} GB at "
            f"{h}x{w}){_advice('use', {k: v for k, v in _SMALLER.items() if k != 'size'}, adjustable)}"
        )
    if seconds * fps < 1:
        raise ConfigError(
            f"{sec} {seconds:g} at {rate} {fps:g}: shorter than one frame interval ({1 / fps:g} s); a sample "
            f"needs at least two frames{_advice('give', _LARGER, adjustable)}"
        )
    if 1e6 / fps < gt_per_interval + 1:
        raise ConfigError(
            f"{rate} {fps} with {gt} {gt_per_interval}: frames are too close in time for "
            "distinct microsecond ground-truth times"
            f"{_advice('use', {k: _SMALLER[k] for k in ('fps', 'gt_per_interval')}, adjustable)}"
        )
    return float(seconds), (h, w), float(fps), int(gt_per_interval)


def check_sample_options(dst: str | os.PathLike, seed: int, seconds: float, size: tuple[int, int], fps: float,
                         gt_per_interval: int, adjustable: Collection[str] = SAMPLE_OPTIONS
                         ) -> tuple[float, tuple[int, int], float, int]:
    """`make_sample`'s options, checked before any work (the seed, the lengths, the frame count and the
    memory of frames of `size`); returns (seconds, (h, w), fps, gt_per_interval). `adjustable`: the
    options the caller's user can change, the only ones an error advises (the demo fixes all but `seconds`)."""
    check_seed(seed)
    seconds, (h, w), fps, gt_per_interval = _check(seconds, size, fps, gt_per_interval, adjustable)
    check_frame_memory(w, h, dst)
    return seconds, (h, w), fps, gt_per_interval


def make_sample(
    dst: str | os.PathLike,
    seed: int = 0,
    seconds: float = 2.0,
    size: tuple[int, int] = (260, 346),
    fps: float = 25.0,
    gt_per_interval: int = 3,
    overwrite: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> Path:
    """Write the sample recording to `dst` (our layout with `frames`, `gt` and events); return it.

    `size` is (H, W). The photo's camera path, the objects and the simulator's thresholds (default
    `SimulatorConfig`) all follow from `seed`, not from the simulator's numba `threads`.
    """
    from egvsr.events.io import EventWriter

    dst = check_path(dst, "dst")
    seconds, (h, w), fps, gt_per_interval = check_sample_options(dst, seed, seconds, size, fps, gt_per_interval)
    progress = check_flag(progress, "progress")
    check_output_path(dst, overwrite)
    check_writable(dst)  # before the free space: a read-only file system is said as such, not as full
    check_output_space(dst, seed, seconds, (h, w), fps, gt_per_interval)
    frame_t, gt_t = sample_times(seconds, fps, gt_per_interval)
    scene_seed, sim_seed = sample_seeds(seed)
    scene = SampleScene(scene_seed, h, w)
    config = SimulatorConfig()
    sim = EventSimulator(w, h, config, sim_seed, threads=threads)
    attrs = {
        "generator": GENERATOR, "generator_version": GENERATOR_VERSION, "seed": int(seed),
        "fps": fps, "seconds": seconds, "gt_per_interval": gt_per_interval,
        "sim_cp": sim.thresholds.cp, "sim_cn": sim.thresholds.cn,
        "sim_max_px_per_step": MAX_PX_PER_STEP, **config.as_attrs(),
        "scene_background": "matplotlib sample_data/grace_hopper.jpg",
        "scene_objects": len(scene.layers),
    }
    bar = progress_bar(len(frame_t), "make-sample", progress, unit="frame")
    try:
        with EventWriter(dst, w, h, overwrite=overwrite, attrs=attrs) as writer:
            sim.reset(scene.render(frame_t[0] / 1e6, rgb=False), float(frame_t[0]))
            writer.write_frames(_frames(scene, frame_t[:1]))
            bar.update(1)
            for k in range(1, len(frame_t)):
                ta, tb = float(frame_t[k - 1]), float(frame_t[k])
                steps = scene.steps(ta / 1e6, tb / 1e6, MAX_PX_PER_STEP)
                for j in range(1, steps + 1):  # dense luminance renders -> events
                    t = tb if j == steps else ta + (tb - ta) * j / steps
                    writer.append(sim.feed(scene.render(t / 1e6, rgb=False), t))
                writer.write_frames(_frames(scene, frame_t[k:k + 1]))
                for j in range((k - 1) * gt_per_interval, k * gt_per_interval):  # one at a time: bounded memory
                    writer.write_gt(_frames(scene, gt_t[j:j + 1]))
                bar.update(1)
                bar.set_postfix_str(f"{writer.num_events:,} events")
    finally:
        bar.close()
    return Path(dst)
