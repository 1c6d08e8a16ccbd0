"""The event model: edge timing and polarity, silence, thresholds, refractory period, noise, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from egvsr.events import Frames
from egvsr.events.simulate import EventSimulator, SimulatorConfig, draw_thresholds, simulate_frames

EPS = 1e-3


def _edge_frame(x: np.ndarray, pos: float, lo: float, hi: float, bright_left: bool) -> np.ndarray:
    """Exact area coverage of a vertical edge at `pos`: pixel x spans [x, x + 1)."""
    cov = np.clip(pos - x, 0.0, 1.0)
    return (lo + (hi - lo) * cov) if bright_left else (hi - (hi - lo) * cov)


@pytest.mark.parametrize("bright_left", [True, False])
def test_moving_edge_gives_events_at_the_right_times_and_polarity(bright_left):
    width, height, speed, c = 40, 3, 200.0, 0.3  # px/s; fixed thresholds, no mismatch
    lo, hi = 0.1, 0.8
    step_us = 500  # 0.1 px per sub-step
    x = np.arange(width, dtype=np.float64)
    cfg = SimulatorConfig(cp=c, cn_ratio=(1.0, 0.0), sigma=0.0, refractory_us=0)
    sim = EventSimulator(width, height, cfg, seed=0)
    pos0 = 5.0
    events = []
    for k in range(0, 150_000 // step_us + 1):
        t_us = k * step_us
        row = _edge_frame(x, pos0 + speed * t_us * 1e-6, lo, hi, bright_left)
        events.append(sim.feed(np.tile(row.astype(np.float32), (height, 1)), t_us))
    ev = [e for e in events if len(e)]
    xs = np.concatenate([e.x for e in ev])
    ys = np.concatenate([e.y for e in ev])
    ts = np.concatenate([e.t for e in ev])
    ps = np.concatenate([e.p for e in ev])
    assert (ps == (1 if bright_left else -1)).all()
    # predicted crossing times: log(I + eps) moves k * c away from its start at each event
    start = lo if bright_left else hi
    n_levels = math.floor(abs(math.log(hi + EPS) - math.log(lo + EPS)) / c)
    sign = 1 if bright_left else -1
    for px in range(6, width - 12):  # pixels the edge crosses entirely
        for row in range(height):
            sel = (xs == px) & (ys == row)
            got = np.sort(ts[sel])
            levels = (start + EPS) * np.exp(sign * c * np.arange(1, n_levels + 1)) - EPS
            cov = (levels - lo) / (hi - lo) if bright_left else (hi - levels) / (hi - lo)
            want = (px - pos0 + cov) / speed * 1e6
            assert got.shape == want.shape, (px, got, want)
            assert np.all(np.abs(got - want) <= step_us), (px, got - want)
    assert not np.isin(xs, np.arange(0, 5)).any()  # never crossed: no events


def test_static_scene_gives_no_events_without_noise():
    rng = np.random.default_rng(0)
    img = rng.random((20, 30)).astype(np.float32)
    frames = Frames((np.stack([img] * 12) * 255).astype(np.uint8), np.arange(12) * 40_000)
    for interp in ("none", "linear", "flow"):
        assert len(simulate_frames(frames, interpolation=interp, seed=3)) == 0
    sim = EventSimulator(30, 20, SimulatorConfig(sigma=0.1, cp=(0.01, 0.02)), seed=1)
    for k in range(50):
        assert len(sim.feed(img, k * 1000.0)) == 0


def test_clip_thresholds_follow_the_requested_distribution():
    cfg = SimulatorConfig(cp=(0.05, 0.5), cn_ratio=(1.0, 0.1), sigma=0.0)
    rng = np.random.default_rng(0)
    draws = [draw_thresholds(cfg, 1, rng) for _ in range(3000)]
    cp = np.array([d.cp for d in draws])
    ratio = np.array([d.cn / d.cp for d in draws])
    assert stats.kstest(cp, "uniform", args=(0.05, 0.45)).pvalue > 1e-3
    inside = (cp * ratio > 0.021) & (cp * ratio < 0.499)  # away from the [0.02, 0.5] clip
    assert abs(ratio[inside].mean() - 1.0) < 0.01
    assert abs(ratio[inside].std() - 0.1) < 0.01
    assert cp.min() >= 0.05 and cp.max() <= 0.5
    assert np.all((cp * ratio >= 0.02 - 1e-12) | ~inside)


@pytest.mark.parametrize("direction", [1, -1])
def test_measured_pixel_thresholds_match_the_requested_mismatch(direction):
    h, w, c, sigma = 40, 50, 0.15, 0.03
    cfg = SimulatorConfig(cp=c, cn_ratio=(1.0, 0.0), sigma=sigma, refractory_us=0)
    sim = EventSimulator(w, h, cfg, seed=5)
    # log intensity linear in time: L goes 4.5 log units in 1 s (per-pixel offsets keep it general)
    base = np.log(np.random.default_rng(1).uniform(0.4, 0.6, (h, w)))
    slope = 4.5 * direction
    n_frames = 101
    start = base - (4.5 if direction > 0 else 0.0)
    for k in range(n_frames):
        t = k / (n_frames - 1)
        frame = np.exp(start + slope * t) - EPS
        sim.feed(frame.astype(np.float64), t * 1e6)
    # measure: (events - 1) thresholds between first and last event of each pixel
    ev = _collect_all(sim, start, slope, n_frames, h, w)
    pix = ev.y.astype(np.int64) * w + ev.x
    assert (ev.p == direction).all()
    first = np.full(h * w, np.inf)
    last = np.full(h * w, -np.inf)
    np.minimum.at(first, pix, ev.t)
    np.maximum.at(last, pix, ev.t)
    count = np.bincount(pix, minlength=h * w)
    measured = abs(slope) * (last - first) * 1e-6 / (count - 1)
    truth = sim.thresholds.cp_map if direction > 0 else sim.thresholds.cn_map
    assert np.allclose(measured, truth, atol=2e-4)  # per pixel, within float32 frames + 1 µs
    assert abs(measured.mean() - c) < 4 * sigma / math.sqrt(h * w)
    assert abs(measured.std() / sigma - 1) < 0.08


def _collect_all(sim, start, slope, n_frames, h, w):
    """Re-run the ramp of the threshold test on a fresh simulator with the same seed; join events."""
    from egvsr.events import EventStream

    fresh = EventSimulator(w, h, sim.config, seed=sim.seed)
    parts = []
    for k in range(n_frames):
        t = k / (n_frames - 1)
        parts.append(fresh.feed((np.exp(start + slope * t) - EPS).astype(np.float64), t * 1e6))
    return EventStream.concatenate(parts)


def test_refractory_period_is_honoured():
    h, w = 8, 8
    frames = [np.exp(np.full((h, w), -5.0) + 4.0 * k / 50) - EPS for k in range(51)]  # fast ramp
    counts = {}
    for refractory in (0, 300):
        sim = EventSimulator(w, h, SimulatorConfig(cp=0.02, sigma=0.002, refractory_us=refractory), 2)
        parts = [sim.feed(f.astype(np.float32), k * 200.0) for k, f in enumerate(frames)]
        from egvsr.events import EventStream

        ev = EventStream.concatenate(parts)
        pix = ev.y.astype(np.int64) * w + ev.x
        order = np.lexsort((ev.t, pix))
        same = pix[order][1:] == pix[order][:-1]
        gaps = np.diff(ev.t[order])[same]
        if refractory:
            assert gaps.min() >= refractory
        counts[refractory] = len(ev)
    # 4 log units / 0.02 = ~200 crossings per pixel in 10 ms; 300 µs refractory keeps ~34
    assert counts[0] > 150 * h * w
    assert counts[300] <= (10_000 // 300 + 1) * h * w


def test_same_seed_same_events_other_seed_other_events():
    rng = np.random.default_rng(4)
    base = rng.random((24, 32))
    imgs = np.stack([np.roll(base, k, axis=1) for k in range(6)])
    frames = Frames((imgs * 255).astype(np.uint8), np.arange(6) * 20_000)
    kw = dict(shot_noise_hz=50.0, leak_hz=2.0, interpolation="linear")
    a = simulate_frames(frames, seed=7, **kw)
    b = simulate_frames(frames, seed=7, **kw)
    c = simulate_frames(frames, seed=8, **kw)
    assert len(a) > 100
    for k in "xytp":
        assert np.array_equal(getattr(a, k), getattr(b, k))
    assert len(a) != len(c) or not np.array_equal(a.t, c.t)


def test_leak_and_shot_noise_rates():
    h, w = 30, 40
    img = np.full((h, w), 0.5, np.float32)
    sim = EventSimulator(w, h, SimulatorConfig(cp=0.2, sigma=0.02, leak_hz=4.0, refractory_us=0), 3)
    ev = [sim.feed(img, k * 10_000.0) for k in range(201)]  # 2 s
    n = sum(len(e) for e in ev)
    assert all((e.p == 1).all() for e in ev)  # leak makes ON events
    assert abs(n / (h * w) - 8.0) <= 1.0
    sim = EventSimulator(w, h, SimulatorConfig(cp=0.2, shot_noise_hz=25.0), 3)
    ev = [sim.feed(img, k * 10_000.0) for k in range(101)]  # 1 s
    n = sum(len(e) for e in ev)
    on = sum(int((e.p == 1).sum()) for e in ev)
    expected = 25.0 * h * w
    assert abs(n - expected) < 5 * math.sqrt(expected)
    assert abs(on / n - 0.5) < 0.05


def test_noise_rates_are_bounded_in_the_config_itself():
    """A config built by hand is held to the same bounds as the keywords and flags."""
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^`shot_noise_hz` 1e\+06: expected at most 100000 events per pixel"):
        SimulatorConfig(shot_noise_hz=1e6)
    with pytest.raises(ConfigError, match=r"^`leak_hz` 1e\+09: expected at most 100000"):
        SimulatorConfig(leak_hz=1e9)
    for bad, msg in ((float("inf"), "finite"), (float("nan"), "finite"), (-1.0, ">= 0")):
        with pytest.raises(ConfigError, match=f"^`shot_noise_hz`: expected a .*{msg}"):
            SimulatorConfig(shot_noise_hz=bad)


@pytest.mark.parametrize("times, message", [
    ([0, 10**9], r"about 6.4e\+09 noise events in one frame interval \(1000 s at 8x8 pixels\) need about"),
    ([k * 10**9 for k in range(10)], r"about 5.76e\+10 noise events kept over the clip \(9000 s at 8x8 pixels\)"),
])
def test_simulate_frames_refuses_noise_beyond_memory_up_front(times, message):
    """Noise alone of one step (the first) or of the whole clip kept in memory (the second) is refused
    before the simulator is built."""
    from egvsr.errors import ConfigError

    frames = Frames(np.zeros((len(times), 8, 8), np.uint8), np.asarray(times, np.int64))
    config = SimulatorConfig(shot_noise_hz=1e5, refractory_us=0)
    with pytest.raises(ConfigError, match=r"^--shot-noise-hz 100000: " + message):
        simulate_frames(frames, config=config, interpolation="none")


@pytest.mark.parametrize("args, message", [
    (("a", 8), r"^width: expected a whole number of pixels in 1..65535, got 'a'"),
    ((10.5, 8), r"^width: expected a whole number of pixels in 1..65535, got 10.5"),
    ((8, 0), r"^height: expected a whole number of pixels in 1..65535, got 0"),
    ((8, 8, {"cp": 0.2}), r"^config: expected a SimulatorConfig, got dict"),
    ((8, 8, None, 2**63), r"^`seed`: expected an integer in 0..2\*\*63-1"),
])
def test_simulator_arguments_are_one_config_error_naming_them(args, message):
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        EventSimulator(*args)


def test_a_sensor_beyond_memory_is_refused_before_its_state_is_allocated(monkeypatch):
    from egvsr.errors import ConfigError
    from egvsr.events.simulate import budget

    monkeypatch.setattr(budget, "memory_budget", lambda: 10**6)
    monkeypatch.setattr(np.random, "default_rng", lambda *a: pytest.fail("allocated before the memory check"))
    with pytest.raises(ConfigError, match=r"^width x height: frames of 100x100 pixels need about 2.56 MB"):
        EventSimulator(100, 100)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"^width x height: frames of 65535x65535 pixels need about 1.1 TB"):
        EventSimulator(65535, 65535)


@pytest.mark.parametrize("bad", [1.0, "ab", {"mean": 1}])
def test_cn_ratio_must_be_a_pair(bad):
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^`cn_ratio`: expected \(mean, std\), got "):
        SimulatorConfig(cn_ratio=bad)
    frames = Frames(np.zeros((2, 4, 4), np.uint8), np.array([0, 10]))
    with pytest.raises(ConfigError, match=r"^`cn_ratio`: expected \(mean, std\), got "):
        simulate_frames(frames, cn_ratio=bad)


@pytest.mark.parametrize("settings", [dict(cp=20.0), dict(cp=100.0), dict(sigma=1e10), dict(log_eps=1e300)])
def test_thresholds_beyond_float_range_run_without_overflow_warnings(settings):
    """exp(L + Cp) beyond float64 or float32 range is a band edge at infinity: no pixel crosses it."""
    import warnings

    frames = np.stack([np.full((6, 8), v, np.uint8) for v in (10, 250, 10)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = simulate_frames(Frames(frames, np.array([0, 1000, 2000])), interpolation="none", **settings)
    if "sigma" not in settings:  # a step of log(250/10) is far below Cp; eps = 1e300 flattens L
        assert len(ev) == 0


def test_a_sigma_overflowing_the_thresholds_gives_the_model_s_events():
    """cp + sigma * N(0, 1) overflowed to +-inf at sigma 1e308: the kernel's branch-free selects made
    inf * 0 = NaN crossing counts (wrong events, or a crash freeing memory: `munmap_chunk(): invalid
    pointer`). The maps are finite, and the kernel gives the numpy version's events."""
    import warnings

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (7, 9), dtype=np.uint8) for _ in range(4)]
    config = SimulatorConfig(cp=1e308, sigma=1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sims = [EventSimulator(9, 7, config, seed=5, backend=b, threads=1) for b in ("numba", "numpy")]
        for sim in sims:
            assert np.isfinite(sim.thresholds.cp_map).all() and np.isfinite(sim.thresholds.cn_map).all()
        assert (sims[0].thresholds.cp_map == 0.01).any()  # both extremes: some pixels fire,
        assert (sims[0].thresholds.cn_map > 1e99).any()  # some never do
        for t, f in zip([0, 700, 1500, 4000], frames):
            a, b = (sim.feed(f, t) for sim in sims)
            for k in "xytp":
                assert np.array_equal(getattr(a, k), getattr(b, k)), k


def test_leak_events_keep_their_rate_at_a_threshold_near_float_max():
    """The leak lowers ref by leak * Cp per second: at Cp = 1e308 that product overflowed, and a static
    pixel leaking at 1 kHz emitted nothing instead of one ON event per ms."""
    frames = np.full((3, 6, 8), 128, np.uint8)
    ev = simulate_frames(Frames(frames, np.array([0, 100_000, 200_000])), interpolation="none", threads=1,
                         cp=1e308, sigma=0.0, leak_hz=1000.0, refractory_us=0.0)
    assert (ev.p == 1).all()
    assert np.array_equal(np.bincount(ev.y.astype(int) * 8 + ev.x, minlength=48), np.full(48, 200))


@pytest.mark.parametrize("knobs, message", [
    (dict(cp="0.2"), "`cp`: expected a number, got '0.2'"),
    (dict(cp=True), "`cp`: expected a number, got True"),
    (dict(cp=(0.1, "0.3")), "`cp`: expected a number, got '0.3'"),
    (dict(sigma="0.1"), "`sigma`: expected a number, got '0.1'"),
    (dict(sigma=True), "`sigma`: expected a number, got True"),
    (dict(cn_ratio=(1.0, np.bool_(False))), "`cn_ratio`: expected a number, got False"),
    (dict(refractory_us="100"), "`refractory_us`: expected a number, got '100'"),
    (dict(log_eps=True), "`log_eps`: expected a number, got True"),
])
def test_simulator_knobs_are_numbers_not_strings_or_bools(knobs, message):
    """float() took "0.2" and True (as 1.0): a typo'd config ran with a threshold nobody chose."""
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        SimulatorConfig(**knobs)
    assert str(err.value) == message
    frames = Frames(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 10_000]))
    with pytest.raises(ConfigError, match=f"^{message[:12]}"):
        simulate_frames(frames, threads=1, **knobs)
    SimulatorConfig(cp=np.float32(0.2), sigma=np.int64(0), refractory_us=100)  # NumPy numbers are numbers


@pytest.mark.parametrize("t", ["5000", True, None, b"1"])
def test_frame_times_are_numbers(t):
    from egvsr.errors import ConfigError

    sim = EventSimulator(4, 4, threads=1)
    with pytest.raises(ConfigError) as err:
        sim.feed(np.zeros((4, 4), np.uint8), t)
    assert str(err.value) == f"`t_us` {t!r}: expected a number of microseconds"
    sim.feed(np.zeros((4, 4), np.uint8), np.int64(0))
    sim.feed(np.zeros((4, 4), np.uint8), np.float32(10.5))
    assert sim.t_last == 10.5


@pytest.mark.parametrize("shape", [(3, 1, 20, 3), (3, 20, 1, 1)])
def test_simulate_frames_refuses_frames_too_small_to_interpolate(shape):
    """As `egvsr simulate` does (`_check_frame_size`); np.gradient raised a raw ValueError here."""
    from egvsr.errors import ConfigError

    frames = Frames(np.zeros(shape, np.uint8), np.array([0, 10_000, 20_000]))
    h, w = shape[1:3]
    for method in ("flow", "linear"):
        with pytest.raises(ConfigError) as err:
            simulate_frames(frames, cp=0.2, threads=1, interpolation=method)
        assert str(err.value) == (f"frames: frames of {w}x{h} pixels are too small for interpolation={method!r} "
                                  "(it needs at least 2x2); pass interpolation=\"none\" or larger frames")
    assert len(simulate_frames(frames, cp=0.2, threads=1, interpolation="none")) == 0


@pytest.mark.parametrize("backend,threads", [("numba", 1), ("numba", 2), ("numpy", 1)])
def test_a_pixel_returning_to_an_earlier_intensity_returns_to_its_earlier_state(backend, threads):
    """Cp = Cn, no mismatch: a pixel flickering between intensities a and b emits floor(|La - Lb| / C)
    events every half-cycle (after the first crossings of a return, D lies exactly on a threshold:
    a tie, which fires). The rounding of ref's sums must not drop a crossing at such a tie: the pixel
    would then stay a whole threshold off, one event short every half-cycle for the rest of the clip."""
    pairs = [(0.5, 0.25), (0.8, 0.1), (1.0, 0.0), (0.3, 0.7), (0.9, 0.45), (0.02, 0.6)]
    for c in (0.01, 0.05, 0.1, 0.123, 0.2, 0.3):
        config = SimulatorConfig(cp=c, cn_ratio=(1.0, 0.0), sigma=0.0, refractory_us=0.0)
        sim = EventSimulator(len(pairs), 1, config, 0, backend=backend, threads=threads)
        a, b = (np.array([p[j] for p in pairs], np.float32)[None] for j in (0, 1))
        L = [np.log(v[0].astype(np.float64) + EPS) for v in (a, b)]
        want = np.floor(np.abs(L[0] - L[1]) / c + 1e-9)
        for k in range(40):
            ev = sim.feed(a if k % 2 == 0 else b, 1000.0 * k)
            if k:
                counts = np.bincount(ev.x, minlength=len(pairs))
                assert np.array_equal(counts, want), (c, k, counts, want)
                up = np.sign(L[0] - L[1]) * (1 if k % 2 == 0 else -1)  # towards a on even k
                assert np.array_equal(ev.p, up[ev.x])


@pytest.mark.parametrize("base", [1_700_000_000_000_000, 2**52 - 2**40 + 7, 2**53 - 200_000])
def test_events_do_not_depend_on_where_the_clip_sits_in_time(base):
    """The model is invariant to a whole-µs shift of the frame times. In float64, µs since 1970
    (1.7e15) step by 0.25 µs and near 2**52 by 1 µs: crossing times rounded there would put ~1 event in 8
    a µs late, and sub-frame times between frames 2 µs apart would collide (a valid clip refused as 'times
    must strictly increase'). So the model runs on times since the first frame's whole µs, and the
    pipeline gives sub-frames exact (rational) times."""
    rng = np.random.default_rng(0)
    img = (rng.random((12, 16)) * 255).astype(np.uint8)
    imgs = np.stack([np.roll(img, 3 * k, axis=1) for k in range(4)])
    kw = dict(cp=0.2, seed=3, interpolation="linear", shot_noise_hz=500.0, leak_hz=5.0, threads=1)
    for step in (33_333, 2):
        t = np.arange(4, dtype=np.int64) * step + 5
        want = simulate_frames(Frames(imgs, t), **kw)
        got = simulate_frames(Frames(imgs, t + base), **kw)
        assert len(want) > 100
        assert len(got) == len(want)
        assert np.array_equal(got.t - base, want.t)
        for k in "xyp":
            assert np.array_equal(getattr(got, k), getattr(want, k))
    sim = EventSimulator(16, 12, SimulatorConfig(cp=0.2), 3, threads=1)  # the streaming API alike
    sim0 = EventSimulator(16, 12, SimulatorConfig(cp=0.2), 3, threads=1)
    for k, f in enumerate(imgs):
        a, b = sim.feed(f, base + 1000 * k), sim0.feed(f, 1000 * k)
        assert np.array_equal(a.t - base, b.t) and np.array_equal(a.x, b.x)


@pytest.mark.parametrize("cp, ratio, cn", [
    (0.3, 1.0, 0.3),      # inside [0.02, 0.5]: Cn = Cp * ratio
    (0.3, 2.0, 0.5),      # above: clipped to 0.5
    (0.3, 0.01, 0.02),    # below: clipped to 0.02
    ((0.6, 0.6), 1.0, 0.6),      # a requested Cp range above 0.5 widens the clip to contain it
    ((0.6, 0.6), 2.0, 0.6),
    ((0.011, 0.011), 1.0, 0.011),  # and one below 0.02 too
    ((0.011, 0.011), 0.5, 0.011),
])
def test_clip_cn_is_cp_times_the_ratio_clipped_to_the_widened_range(cp, ratio, cn):
    cfg = SimulatorConfig(cp=cp, cn_ratio=(ratio, 0.0), sigma=0.0)
    th = draw_thresholds(cfg, 7, np.random.default_rng(0))
    assert th.cp == (cp if np.isscalar(cp) else cp[0])
    assert th.cn == pytest.approx(cn, rel=1e-12)
    # sigma 0: every pixel has exactly the clip's values
    assert np.array_equal(th.cp_map, np.full(7, th.cp)) and np.array_equal(th.cn_map, np.full(7, th.cn))


def test_pixel_thresholds_are_the_clip_value_plus_mismatch_floored_and_capped():
    from egvsr.events.simulate.thresholds import MAX_THRESHOLD, MIN_THRESHOLD
    cfg = SimulatorConfig(cp=0.05, cn_ratio=(1.0, 0.0), sigma=0.05)
    th = draw_thresholds(cfg, 20_000, np.random.default_rng(1))
    for value, m in ((th.cp, th.cp_map), (th.cn, th.cn_map)):
        assert m.min() == MIN_THRESHOLD  # about 21 % of N(0.05, 0.05) lies below 0.01: floored there
        above = m[m > MIN_THRESHOLD]
        assert abs(above.mean() - value) < 0.02 and above.max() > value + 0.1
        assert np.mean(m == MIN_THRESHOLD) == pytest.approx(0.2119, abs=0.02)  # P(N(0,1) < -0.8)
    huge = draw_thresholds(SimulatorConfig(cp=0.05, sigma=1e308), 2000, np.random.default_rng(2))
    assert huge.cp_map.max() == MAX_THRESHOLD and huge.cp_map.min() == MIN_THRESHOLD


@pytest.mark.parametrize("knobs, message", [
    (dict(cp=(np.float64(0.3), np.float64(0.1))), "`cp` (0.3, 0.1): range LO HI must have LO <= HI"),
    (dict(cp=np.float64("inf")), "`cp`: expected a finite number, got inf"),
    (dict(cn_ratio=(np.float32(0.1), np.float64(-1.0))),
     "`cn_ratio` (0.1, -1.0): expected a positive mean and a non-negative std (Cn = Cp * N(mean, std))"),
    (dict(log_eps=np.float32(-0.5)), "`log_eps`: expected a positive number, got -0.5"),
])
def test_knob_messages_show_numpy_values_as_plain_numbers(knobs, message):
    """NumPy 2 writes np.float64(0.3) and np.False_ for repr(): a message quoting a value a script passed as a
    NumPy scalar said `got np.float64(inf)` (and `got inf` under NumPy 1); it says the number."""
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        SimulatorConfig(**knobs)
    assert str(err.value) == message
