"""The numba kernels against their plain numpy references: same model, same events, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events.simulate import EventSimulator, SimulatorConfig
from egvsr.events.simulate.noise import shot_events
from egvsr.events.simulate.scene import over, over_reference


def _run(backend, frames, times, config, seed, threads=1):
    """Events of each frame; `threads` above this machine's numba threads still splits the work
    into that many chunks (prange runs them on the threads there are)."""
    h, w = frames[0].shape
    sim = EventSimulator(w, h, config, seed, backend=backend, threads=1)
    sim._model.threads = threads
    return [sim.feed(f, t) for f, t in zip(frames, times)], sim


def _assert_same(a, b):
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for k in "xytp":
            assert np.array_equal(getattr(ea, k), getattr(eb, k)), k


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 9), w=st.integers(1, 11), n=st.integers(2, 6),
    cp=st.floats(0.03, 0.6), sigma=st.floats(0.0, 0.08),
    refractory=st.sampled_from([0.0, 1.0, 37.0, 250.0, 5000.0]),
    leak=st.sampled_from([0.0, 0.0, 3.0, 400.0]), shot=st.sampled_from([0.0, 0.0, 20.0, 3000.0]),
    seed=st.integers(0, 2**31), threads=st.sampled_from([1, 2, 3, 7]), data=st.data(),
)
def test_numba_equals_numpy_reference(h, w, n, cp, sigma, refractory, leak, shot, seed, threads, data):
    rng = np.random.default_rng(seed)
    frames = [rng.random((h, w)).astype(np.float32) for _ in range(n)]
    if data.draw(st.booleans()):  # some pixels static, some saturated at 0 or 1
        frames = [np.where(rng.random((h, w)) < 0.3, frames[0], f) for f in frames]
        frames[-1][0, 0] = 0.0
    steps = data.draw(st.lists(st.floats(0.5, 20_000.0), min_size=n, max_size=n))
    times = np.cumsum(steps) + data.draw(st.floats(-1e6, 1e6))  # negative times too
    config = SimulatorConfig(cp=cp, sigma=sigma, refractory_us=refractory, leak_hz=leak,
                             shot_noise_hz=shot)
    a, _ = _run("numba", frames, times, config, seed, threads)
    b, _ = _run("numpy", frames, times, config, seed)
    _assert_same(a, b)


def test_threaded_steps_equal_serial_on_a_scene_with_noise():
    """The threaded kernel splits pixels, then candidates, into chunks and joins their events: on a
    rendered scene with leak, shot noise and a refractory period that drops events (so chunks leave
    gaps to close), any chunk count gives the serial kernel's events."""
    from egvsr.events.simulate.scene import SampleScene

    scene = SampleScene(4, 48, 64)
    times = np.arange(25) * 4000.0
    frames = [scene.render(t * 1e-6, rgb=False) for t in times]
    config = SimulatorConfig(cp=0.1, refractory_us=900.0, leak_hz=50.0, shot_noise_hz=400.0)
    serial, _ = _run("numba", frames, times, config, 2, threads=1)
    assert sum(len(e) for e in serial) > 2000
    for threads in (2, 3, 8):
        _assert_same(_run("numba", frames, times, config, 2, threads)[0], serial)


def test_agreement_on_a_rendered_scene_with_defaults():
    from egvsr.events.simulate.scene import SampleScene

    scene = SampleScene(3, 40, 56)
    times = np.arange(30) * 2500.0
    frames = [scene.render(t * 1e-6, rgb=False) for t in times]
    a, sim = _run("numba", frames, times, SimulatorConfig(), 11)
    b, _ = _run("numpy", frames, times, SimulatorConfig(), 11)
    assert sum(len(e) for e in a) > 100
    _assert_same(a, b)


def test_shot_events_are_poisson_sorted_and_keyed():
    n_pix, rate, dt = 5000, 40e-6, 2000.0  # 40 Hz per pixel, 2 ms
    counts = []
    for interval in range(200):
        pix, t, p = shot_events(9, interval, n_pix, rate, 1000.0, dt)
        assert np.all(np.diff(pix) >= 0)
        same = np.diff(pix) == 0
        assert np.all(np.diff(t)[same] >= 0)
        assert t.min(initial=1000.0) >= 1000.0 and t.max(initial=0.0) < 1000.0 + dt
        assert set(np.unique(p)) <= {-1, 1}
        counts.append(len(pix))
    lam = rate * dt * n_pix
    assert abs(np.mean(counts) - lam) < 4 * np.sqrt(lam / len(counts))
    assert abs(np.var(counts) / lam - 1) < 0.35
    a, b = shot_events(9, 3, n_pix, rate, 0.0, dt), shot_events(9, 3, n_pix, rate, 0.0, dt)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[1], shot_events(10, 3, n_pix, rate, 0.0, dt)[1])
    assert len(shot_events(9, 3, n_pix, 0.0, 0.0, dt)[0]) == 0


def test_over_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    out = rng.random((7, 9, 4)).astype(np.float32)
    layer = rng.random((7, 9, 4)).astype(np.float32)
    layer[..., :3] *= layer[..., 3:]
    for ch in (1, 3):
        want = over_reference(out, layer, ch)
        got = out.copy()
        over(got, layer, ch)
        assert np.allclose(got, want, atol=1e-6)


def test_agreement_over_long_quiet_stretches_with_leak_and_noise():
    """Pixels that stay quiet for many intervals exercise the leak-lowered no-crossing bounds."""
    rng = np.random.default_rng(2)
    base = rng.uniform(0.05, 1.0, (6, 7)).astype(np.float32)
    frames, times = [], []
    for k in range(300):
        drift = 1.0 + 0.02 * np.sin(k / 15.0 + np.arange(7))  # slow, small changes
        frames.append(np.clip(base * drift, 0, 1).astype(np.float32))
        times.append(k * 1000.0 + 0.25 * (k % 3))
    for leak, shot in ((40.0, 0.0), (40.0, 60.0), (0.0, 60.0)):
        config = SimulatorConfig(cp=0.2, sigma=0.05, refractory_us=50.0, leak_hz=leak,
                                 shot_noise_hz=shot)
        a, _ = _run("numba", frames, times, config, 5)
        b, _ = _run("numpy", frames, times, config, 5)
        assert sum(len(e) for e in a) > 50
        _assert_same(a, b)


def test_leak_over_many_quiet_intervals_matches_reference():
    """The leak lowers the band's upper edge lazily (from the time the edge was set): over many
    intervals of a mostly static scene every leak event must still be found, as the reference
    (which takes every pixel every interval) finds it; shot pixels inside their band skip the
    logarithms and must still leak and emit exactly as the reference."""
    rng = np.random.default_rng(5)
    base = rng.uniform(0.05, 0.9, (6, 9)).astype(np.float32)
    frames = []
    for k in range(160):
        f = base.copy()
        f[2, 3] = 0.05 + 0.8 * (k % 40) / 40  # one pixel keeps moving, the rest only leak
        frames.append(f)
    times = np.cumsum(rng.uniform(300.0, 3000.0, 160))
    config = SimulatorConfig(cp=0.2, sigma=0.03, leak_hz=250.0, shot_noise_hz=40.0, refractory_us=0)
    a, _ = _run("numba", frames, times, config, 3)
    b, _ = _run("numpy", frames, times, config, 3)
    assert sum(len(e) for e in a) > 200
    _assert_same(a, b)

