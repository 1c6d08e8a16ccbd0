"""Synthetic scenes of any clip length and shape: the motion stays within its speed bound and plays back and forth,
and the memory estimate holds the background photo however it is scaled up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egvsr.datasets.synthetic.clip import clip_seed
from egvsr.datasets.synthetic.scene import TURN_S, LayeredScene
from egvsr.datasets.synthetic.sensor import draw_sensor
from egvsr.events.simulate.scene import _apply, _invert


def _scene(index, size=(16, 16)):
    scene_ss, sensor_ss, _, _ = clip_seed(0, "train", index).spawn(4)
    sensor = draw_sensor(np.random.default_rng(sensor_ss))
    return LayeredScene(np.random.default_rng(scene_ss), *size, sensor.fps), sensor


def _content_speed(scene, t, dt=1e-5):
    """Most px per second any visible point of the scene moves at time t, measured from `render`'s warps: where
    each output pixel's content (background or layer point) is at t + dt. Warps are read from `render` itself."""
    import cv2

    warps = []
    real = cv2.warpAffine

    def spy(src, m, size, **kw):
        warps.append((src.shape[:2], m.copy()))
        return real(src, m, size, **kw)

    for when in (t, t + dt):
        cv2.warpAffine = spy
        try:
            scene.render(when)
        finally:
            cv2.warpAffine = real
    half = len(warps) // 2
    ys, xs = np.mgrid[0:scene.height, 0:scene.width]
    p = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    fastest = 0.0
    for k, ((sh, sw), m0) in enumerate(warps[:half]):
        src = _apply(m0, p)  # what each output pixel shows (a source point), at t
        seen = np.ones(len(p), bool) if k == 0 else \
            (src[:, 0] >= 0) & (src[:, 0] <= sw) & (src[:, 1] >= 0) & (src[:, 1] <= sh)
        if seen.any():
            moved = _apply(_invert(warps[half + k][1]), src[seen]) - p[seen]  # where it is at t + dt
            fastest = max(fastest, float(np.max(np.hypot(*moved.T))) / dt)
    return fastest


@pytest.mark.parametrize("frames", [5, 200, 1000])
def test_no_point_moves_faster_than_the_bound_the_time_grid_is_made_from(frames):
    """The clip's time grid (frames' exposure steps, the simulator's steps) takes `max_speed` as the fastest
    motion; over a long clip the acceleration and the zoom grew it 70-fold past the bound (35 px per step)."""
    for index in range(6):
        scene, sensor = _scene(index)
        span = (frames - 1) / sensor.fps + sensor.exposure / sensor.fps / 2
        bound = scene.max_speed(span)
        for t in np.linspace(-sensor.exposure / sensor.fps / 2, span, 60):
            assert _content_speed(scene, float(t)) <= bound


def test_a_long_clip_plays_its_motion_back_and_forth():
    """Past TURN_S the scene runs backwards, then forwards again: a clip of any length shows what its first
    TURN_S seconds show (the camera's zoom otherwise reached exp(+-20) by a 1000-frame clip's end)."""
    for index in range(3):
        scene, _ = _scene(index, (24, 32))
        for t in (0.05, 0.4, 0.93):
            for later, same in ((2 * TURN_S - t, t), (4 * TURN_S + t, t), (-2 * TURN_S - t, t), (-4 * TURN_S + t, t)):
                assert np.allclose(scene.render(later), scene.render(same), atol=1e-4)


class _RangeEnds:
    """A generator that draws every uniform setting at one end of its range (`high`: the upper one)."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def random(self) -> float:
        return 0.5

    def uniform(self, low: float, high: float) -> float:
        return high if self.high else low

    def normal(self, loc: float, scale: float) -> float:
        return loc


def test_a_short_clip_is_never_folded():
    """A default clip (`render_clip`'s frame count at the lowest frame rate `draw_sensor` draws, half its longest
    exposure either side) lies within TURN_S: the scene's clock is never folded for it."""
    import inspect

    from egvsr.datasets.synthetic.clip import render_clip
    from egvsr.datasets.synthetic.scene import scene_time

    frames = inspect.signature(render_clip).parameters["num_frames"].default
    slowest, longest = draw_sensor(_RangeEnds(high=False)).fps, draw_sensor(_RangeEnds(high=True)).exposure
    drawn = [draw_sensor(np.random.default_rng(k)) for k in range(50)]
    assert all(s.fps >= slowest and s.exposure <= longest for s in drawn)  # the ends of what is drawn
    span = (frames - 1) / slowest + longest / slowest / 2
    assert span < TURN_S and scene_time(span) == span and scene_time(-longest / slowest / 2) == -longest / slowest / 2
    assert math.isfinite(_scene(0)[0].max_speed(1e9))


@pytest.mark.parametrize("size", [(16, 4096), (17, 4096), (4096, 16), (16, 16), (128, 160), (4096, 4096)])
def test_the_memory_estimate_holds_the_photo_scaled_up_for_any_clip_shape(size):
    """A background photo too small for the clip is scaled up evenly to cover it, so a 16x4096 clip scales a
    512x512 photo to 8600x8600 (0.9 GB of float32 RGB): the estimate (94 MB there before) covers every photo's."""
    from egvsr.datasets.synthetic.cache import clip_memory_bytes
    from egvsr.datasets.synthetic.scene import BG_UPSCALE_SLACK, background_side
    from egvsr.datasets.synthetic.sources import IMAGES, load_image

    bh, bw = background_side(size[0]), background_side(size[1])
    largest = 0
    for _, _, name in IMAGES:
        h, w = load_image(name).shape[:2]
        if h < bh or w < bw:  # the scene's rule
            f = max(bh / h, bw / w) * BG_UPSCALE_SLACK
            largest = max(largest, math.ceil(w * f) * math.ceil(h * f) * 12)
    assert clip_memory_bytes(size, 2) > largest + size[0] * size[1] * 400


def test_the_photo_aspect_bound_holds_for_every_bundled_photo():
    from egvsr.datasets.synthetic.sources import IMAGES, PHOTO_ASPECT, load_image

    shapes = [load_image(name).shape[:2] for _, _, name in IMAGES]
    assert max(h / w for h, w in shapes) <= PHOTO_ASPECT[0] and max(w / h for h, w in shapes) <= PHOTO_ASPECT[1]


def test_a_long_clips_gain_drifts_back_and_forth_not_to_black(tmp_path):
    """The gain change follows the scene's clock: over a 200-frame clip (8.5 s) a falling gain (d log(gain)/dt
    = -1.5) reached exp(-12) and the frames went black; now it never falls below exp(-1.5 * TURN_S)."""
    import h5py

    from egvsr.datasets.synthetic.clip import render_clip

    path = render_clip(tmp_path / "g.h5", 0, "train", 0, (16, 16), 200, sensor_override={"gain_rate": -1.5})
    with h5py.File(path, "r") as f:
        means = f["frames/images"][:].reshape(200, -1).mean(axis=1)
    # radiance x exp(-1.5) keeps exp(-1.5 / gamma) > 0.5 of each frame value (gamma >= 1.8)
    assert means.min() > 0.4 * means[0]
