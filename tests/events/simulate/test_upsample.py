"""Temporal upsampling: sub-steps follow the measured motion; flow beats blending; fallbacks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from egvsr.errors import ConfigError
from egvsr.events import Frames
from egvsr.events.simulate import Upsampler, simulate_frames


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.5)
    return (img - img.min()) / np.ptp(img)


def _shifted(base: np.ndarray, dx: float) -> np.ndarray:
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(base, m, (base.shape[1], base.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


@pytest.mark.parametrize("shift", [0.0, 2.0, 5.0, 9.0])
def test_steps_follow_the_motion(shift):
    base = _texture(96, 128)
    plan, subs = Upsampler("flow").between(base, _shifted(base, shift))
    assert plan.method == "flow"
    assert abs(plan.motion_px - shift) < 0.6 + 0.15 * shift
    assert plan.steps == max(1, int(np.ceil(plan.motion_px - 0.05)))
    assert len(subs) == plan.steps - 1
    assert [round(t, 6) for t, _ in subs] == [round(j / plan.steps, 6) for j in range(1, plan.steps)]


def test_step_cap_and_resolution():
    base = _texture(96, 128)
    plan, subs = Upsampler("flow", max_px_per_step=0.5, max_subframes=6).between(
        base, _shifted(base, 5.0))
    assert plan.steps == 6 and len(subs) == 5
    plan, _ = Upsampler("flow", max_px_per_step=0.5).between(base, _shifted(base, 4.0))
    assert plan.steps >= 7


def test_flow_interpolation_beats_linear_blending():
    base = _texture(96, 128, seed=3)
    a, b, mid = base, _shifted(base, 6.0), _shifted(base, 3.0)
    inner = (slice(10, -10), slice(15, -15))

    def middle(method):
        _, subs = Upsampler(method, max_subframes=2).between(a, b)
        assert len(subs) == 1 and subs[0][0] == 0.5
        return subs[0][1]

    err_flow = np.abs(middle("flow") - mid)[inner].mean()
    err_lin = np.abs(middle("linear") - mid)[inner].mean()
    assert err_flow < 0.4 * err_lin


@pytest.mark.parametrize("kind", ["scene cut", "noise"])
def test_unexplained_pairs_fall_back_to_blending(kind):
    rng = np.random.default_rng(0)
    if kind == "scene cut":
        a, b = _texture(64, 80, seed=1), _texture(64, 80, seed=2)
    else:
        a, b = rng.random((64, 80)).astype(np.float32), rng.random((64, 80)).astype(np.float32)
    plan, subs = Upsampler("flow", max_subframes=4).between(a, b)
    assert plan.method == "linear"
    for tau, img in subs:
        assert np.allclose(img, (1 - tau) * a + tau * b, atol=1e-6)


def test_tiny_frames_use_blending_and_none_adds_nothing():
    a = np.zeros((8, 10), np.float32)
    b = a.copy()
    b[:, 5:] = 1.0
    plan, subs = Upsampler("flow").between(a, b)
    assert plan.method == "linear" and len(subs) == plan.steps - 1
    plan, subs = Upsampler("none").between(a, b)
    assert plan.method == "none" and subs == []


def test_bad_upsampler_settings():
    for kwargs, msg in ((dict(interpolation="spline"), "interpolation 'spline'"),
                        (dict(max_px_per_step=0), "max_px_per_step"),
                        (dict(max_subframes=0), "max_subframes")):
        with pytest.raises(ConfigError, match=msg):
            Upsampler(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_px_per_step=1e-12), r"max_px_per_step: expected a finite number of pixels >= 0.01 .*got 1e-12$"),
    (dict(max_px_per_step=float("inf")), r"max_px_per_step: .*got inf$"),
    (dict(max_px_per_step=float("nan")), r"max_px_per_step: .*got nan$"),
    (dict(max_px_per_step=True), r"max_px_per_step: .*got True$"),
    (dict(max_px_per_step="1"), r"max_px_per_step: .*got '1'$"),
    (dict(max_subframes="x"), r"`max_subframes`: expected an integer >= 1, got 'x'$"),
    (dict(max_subframes=2.5), r"`max_subframes`: expected an integer >= 1, got 2.5$"),
    (dict(max_subframes=True), r"`max_subframes`: expected an integer >= 1, got True$"),
])
def test_step_settings_that_would_explode_or_mislead_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Upsampler(**kwargs)
    frames = Frames(np.zeros((2, 8, 8), np.uint8), np.array([0, 1000]))
    with pytest.raises(ConfigError, match=message):
        simulate_frames(frames, **kwargs)


def test_sub_steps_are_bounded_and_made_one_at_a_time():
    """The finest step gives at most diagonal / 0.01 sub-steps, `max_subframes` caps them, and the
    sub-frames are computed when read, not held all at once."""
    from egvsr.events.simulate.upsample import MIN_PX_PER_STEP, SubFrames

    fine = Upsampler("linear", max_px_per_step=MIN_PX_PER_STEP)
    assert fine._steps(1e9, 30, 40) == 5000  # motion counted up to the 50 px diagonal
    a = _texture(96, 128)
    b = _shifted(a, 6.0)
    plan, subs = Upsampler("linear", max_px_per_step=MIN_PX_PER_STEP, max_subframes=7).between(a, b)
    assert plan.steps == 7 and len(subs) == 6 and isinstance(subs, SubFrames)
    plan, subs = fine.between(a, b)
    assert plan.steps > 400 and len(subs) == plan.steps - 1
    made = []
    lazy = SubFrames(plan.steps, lambda tau: made.append(tau) or (1 - tau) * a + tau * b)
    tau, img = lazy[-1]
    assert made == [tau] and tau == (plan.steps - 1) / plan.steps
    tau, img = subs[2]
    assert tau == 3 / plan.steps and np.array_equal(img, ((1 - tau) * a + tau * b).astype(np.float32))
    with pytest.raises(IndexError):
        subs[len(subs)]


def test_flow_upsampling_recovers_the_events_of_dense_frames():
    """10 fps frames of a panning texture + flow upsampling ~ events of frames rendered every 2.5 ms."""
    tex = _texture(120, 400, seed=3)

    def frame(t_us):  # the texture pans at 60 px/s: 6 px between the 10 fps frames
        m = np.array([[1.0, 0.0, 60.0 * t_us * 1e-6], [0.0, 1.0, 0.0]])
        img = cv2.warpAffine(tex, m, (160, 120), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return (img * 255 + 0.5).astype(np.uint8)

    def frames(times):
        return Frames(np.stack([frame(t) for t in times]), times)

    def voxels(ev):  # signed event counts per pixel and 20 ms bin
        v = np.zeros((25, 120 * 160))
        np.add.at(v, (np.minimum(ev.t // 20_000, 24), ev.y.astype(np.int64) * 160 + ev.x), ev.p)
        return v.ravel()

    kw = dict(cp=0.2, sigma=0.0, refractory_us=0, seed=2)
    truth = voxels(simulate_frames(frames(np.arange(0, 500_001, 2_500)), interpolation="none", **kw))
    coarse = frames(np.arange(6) * 100_000)
    corr = {m: np.corrcoef(voxels(simulate_frames(coarse, interpolation=m, **kw)), truth)[0, 1]
            for m in ("flow", "none")}
    assert corr["flow"] > 0.9 and corr["none"] < 0.7, corr


def test_flow_does_not_depend_on_earlier_pairs():
    """OpenCV's DIS object keeps settings from the sizes it saw; each pair must get a fresh one."""
    base = _texture(96, 128)
    b = _shifted(base, 9.0)
    first = Upsampler("flow").between(base, b)[0]
    small = _texture(24, 32, seed=5)
    Upsampler("flow").between(small, np.roll(small, 1, axis=1))
    assert Upsampler("flow").between(base, b)[0] == first
