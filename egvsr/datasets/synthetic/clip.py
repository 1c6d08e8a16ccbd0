"""One synthetic training clip: a `LayeredScene` seen by a `SensorSettings` camera, written as a recording.

Frames (and ground truth between them) integrate the scene's radiance over the exposure window centred
on their timestamp; events come from the ESIM-style simulator fed with the scene's instantaneous
luminance on a time grid fine enough that nothing moves more than half a pixel per step, plus hot
pixels. Everything follows from (seed, split, index): the same clip is rendered on any machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from egvsr.datasets.synthetic.limits import check_clip_shape, check_gt_per_interval
from egvsr.datasets.synthetic.scene import LayeredScene, scene_time
from egvsr.datasets.synthetic.sensor import draw_sensor, encode_frame, hot_pixel_events, override_sensor, radiance
from egvsr.errors import ConfigError
from egvsr.events.checks import is_integer
from egvsr.events.frames import Frames
from egvsr.events.simulate.luminance import LUMA
from egvsr.events.simulate.sample import sample_times
from egvsr.events.stream import EventStream

GENERATOR = "egvsr.synthetic"
GENERATOR_VERSION = 2  # 2: the motion folds at TURN_S (the default clips are version 1's; docs/datasets.md)
MAX_PX_PER_STEP = 0.5
SPLIT_IDS = {"train": 0, "val": 1}
T0_US = 100_000  # first frame time: the exposure window of the first frame starts after 0
GT_PER_INTERVAL = 3


def check_clip_id(seed: object, split: object, index: object) -> tuple[int, str, int]:
    """(seed, split, index) of one clip, or one line naming the argument: `seed` an integer 0..2**63-1 (as a
    config's synthetic_seed; a float is refused, not truncated into another seed's clip), `split` one of
    `SPLIT_IDS`, `index` an integer >= 0."""
    if not is_integer(seed) or not 0 <= seed < 2**63:  # type: ignore[operator]
        raise ConfigError(f"seed {seed!r}: expected an integer in 0..2**63-1")
    if not isinstance(split, str) or split not in SPLIT_IDS:
        raise ConfigError(f"split {split!r}: expected one of {', '.join(sorted(SPLIT_IDS))}")
    if not is_integer(index) or index < 0:  # type: ignore[operator]
        raise ConfigError(f"index {index!r}: expected an integer >= 0 (a clip number)")
    return int(seed), split, int(index)  # type: ignore[call-overload]


def clip_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The seed sequence of clip `index` of `split` under the engine seed `seed` (checked: `check_clip_id`)."""
    seed, split, index = check_clip_id(seed, split, index)
    return np.random.SeedSequence([seed, SPLIT_IDS[split], index])


def render_clip(path: str | os.PathLike, seed: int, split: str, index: int, size: tuple[int, int] = (128, 160),
                num_frames: int = 5, gt_per_interval: int = GT_PER_INTERVAL,
                sensor_override: dict | None = None) -> Path:
    """Write clip `index` of `split` to `path` (our HDF5 layout with frames, gt and events).

    `sensor_override` replaces drawn sensor settings by name (measurements that vary one setting).
    """
    from egvsr.events.io import EventWriter
    from egvsr.events.simulate.simulator import EventSimulator

    h, w = check_clip_shape(size, num_frames)
    gt_per_interval = check_gt_per_interval(gt_per_interval)
    scene_ss, sensor_ss, sim_ss, noise_ss = clip_seed(seed, split, index).spawn(4)
    sensor = draw_sensor(np.random.default_rng(sensor_ss))
    if sensor_override:
        sensor = override_sensor(sensor, sensor_override)
    scene = LayeredScene(np.random.default_rng(scene_ss), h, w, sensor.fps, split)
    noise_rng = np.random.default_rng(noise_ss)
    ft, gt = (t + T0_US for t in sample_times((num_frames - 1) / sensor.fps, sensor.fps, gt_per_interval))
    t_ref = float(ft[0])

    # the gain follows the scene's clock: it drifts back and forth, never past exp(rate * TURN_S); where the clock
    # is not folded the product is formed as version 1 formed it (rate * dt_us * 1e-6, not rate * seconds), which
    # keeps the default clips byte-identical to version 1's
    def gain(t_us: float) -> float:
        dt = t_us - t_ref
        folded = scene_time(dt * 1e-6)
        return math.exp(sensor.gain_rate * (dt if folded == dt * 1e-6 else folded * 1e6) * 1e-6)

    def lin(t_us: float) -> np.ndarray:
        return radiance(scene.render((t_us - t_ref) * 1e-6), gain(t_us))

    exposure_us = sensor.exposure * 1e6 / sensor.fps
    # the scene is rendered from half an exposure before the first frame to half one after the last
    px_per_us = scene.max_speed((float(ft[-1] - ft[0]) + exposure_us / 2) * 1e-6) * 1e-6

    def frame(t_us: float) -> np.ndarray:
        n = max(1, math.ceil(px_per_us * exposure_us / MAX_PX_PER_STEP))
        offs = (np.arange(n) + 0.5) / n - 0.5
        acc = sum(lin(t_us + o * exposure_us) for o in offs)
        return encode_frame(acc / n, sensor, noise_rng)

    frames = Frames(np.stack([frame(float(t)) for t in ft]), ft)
    gts = Frames(np.stack([frame(float(t)) for t in gt]), gt)
    sim = EventSimulator(w, h, sensor.simulator_config(), int(sim_ss.generate_state(1)[0] >> 1), threads=1)
    steps = max(1, math.ceil(px_per_us * (ft[-1] - ft[0]) / MAX_PX_PER_STEP))
    grid = np.linspace(float(ft[0]), float(ft[-1]), steps + 1)

    def luma(t_us: float) -> np.ndarray:  # a gain above 1 saturates the sensor, as the frames clip it
        return np.clip(lin(t_us) @ LUMA, 0.0, 1.0)

    sim.reset(luma(grid[0]), grid[0])
    parts = [sim.feed(luma(t), t) for t in grid[1:]]
    hx, hy, ht, hp = hot_pixel_events(noise_rng, sensor, h, w, float(ft[0]), float(ft[-1]))
    x = np.concatenate([p.x for p in parts] + [hx.astype(np.uint16)])
    y = np.concatenate([p.y for p in parts] + [hy.astype(np.uint16)])
    t = np.concatenate([p.t for p in parts] + [ht])
    p = np.concatenate([p.p for p in parts] + [hp.astype(np.int8)])
    order = np.argsort(t, kind="stable")
    events = EventStream(x[order], y[order], t[order], p[order], w, h)
    attrs = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "seed": int(seed),
             "split": split, "index": int(index), "scene_images": ",".join(scene.image_names),
             "scene_layers": len(scene.layers), **sensor.as_attrs(),
             # the thresholds used: the simulator caps Cn at max(0.5, Cp), in some clips below Cp * sensor_cn_ratio
             # (docs/datasets.md says how many)
             "sim_cp": sim.thresholds.cp, "sim_cn": sim.thresholds.cn}
    with EventWriter(path, w, h, overwrite=False, attrs=attrs) as writer:
        writer.write_frames(frames)
        writer.append(events)
        writer.write_gt(gts)
    return Path(path)
