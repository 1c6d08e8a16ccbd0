"""The shared model interface: output shapes at any scale, chunked == whole, gradients, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from egvsr.models import build_model
from tests._model_helpers import give_residual_head_weights

MODELS = ["egvsr-tiny", "videoinr-tiny", "bicubic"]
MOMENTS = 8  # egvsr-tiny's event bins


def inputs(b: int = 1, k: int = 3, h: int = 7, w: int = 9, t: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(b, k, 3, h, w, generator=g)
    events = torch.rand(b, MOMENTS, 2, h, w, generator=g) * 3
    times = torch.rand(b, t, generator=g) * 2 - 1
    return lr, times, events


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: give_residual_head_weights(build_model(name)).eval() for name in MODELS}


@pytest.mark.parametrize("scale", [1, 2, 3.7, 4, 6.5, 8])
def test_output_shape_any_scale_odd_lr(models, scale):
    lr, times, events = inputs(h=7, w=9, t=1)
    size = (math.floor(scale * 7), math.floor(scale * 9))
    for name, model in models.items():
        out = model.render(lr, times, size, events=events)
        assert out.shape == (1, 1, 3, *size), name
        assert torch.isfinite(out).all(), name
        assert out.min() >= 0 and out.max() <= 1, name  # default output activation is bounded
    if scale == 1:  # bicubic at scale 1 gives back the frame nearest the query time
        nearest = (times[0, 0] - torch.linspace(-1, 1, lr.shape[1])).abs().argmin()
        torch.testing.assert_close(models["bicubic"].render(lr, times, size)[:, 0], lr[:, nearest],
                                   rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_chunked_render_equals_whole_forward(models, name):
    model = models[name]
    lr, times, events = inputs(b=2, h=5, w=7, t=2, seed=1)
    size = (23, 31)  # x4.6 / x4.4: anisotropic, non-integer
    with torch.no_grad():
        whole = model(lr, times, size, events=events)
    for chunk in (1 + 23 * 31, 97, 13):
        chunked = model.render(lr, times, size, events=events, chunk_size=chunk)
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("overrides", [
    {"local_ensemble": True},
    {"fold": "sum", "output_activation": "relu", "residual_bicubic": False},
    {"output_activation": "sigmoid", "residual_bicubic": False, "time_bins": 4},
    {"tf_mode": "naive", "polarities": 1},
])
def test_egvsr_variants_chunked_equals_whole(overrides):
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model("egvsr-tiny", **overrides))
    lr, times, events = inputs(b=1, h=6, w=5, t=2, seed=2)
    events = events[:, :, : model.event_shape[1]]
    with torch.no_grad():
        whole = model(lr, times, (17, 14), events=events)
    chunked = model.render(lr, times, (17, 14), events=events, chunk_size=29)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
@pytest.mark.parametrize("overrides", [{}, {"output_activation": "none"}])
def test_backward_reaches_every_parameter(name, overrides):
    if name == "egvsr-tiny" and not overrides:
        overrides = {"local_ensemble": True}
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model(name, **overrides))
    lr, times, events = inputs(b=2, h=6, w=7, t=2, seed=3)
    out = model(lr, times, (13, 15), events=events)
    target = torch.rand_like(out)
    ((out - target) ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached: {missing}"


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_output(name):
    lr, times, events = inputs(seed=4)
    outs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        # (EGVSR's residual head starts at zero, so its untrained output is bicubic whatever the seed)
        opts = {"residual_bicubic": False} if name.startswith("egvsr") else {}
        outs.append(build_model(name, output_activation="none", **opts)(lr, times, (14, 18), events=events))
    assert torch.equal(outs[0], outs[1])
    if name != "bicubic":  # a learned model's output depends on its initialization
        assert not torch.equal(outs[0], outs[2])


def test_render_has_no_grad_and_forward_has(models):
    lr, times, events = inputs()
    model = models["egvsr-tiny"]
    assert not model.render(lr, times, (14, 18), events=events).requires_grad
    assert model(lr, times, (14, 18), events=events).requires_grad


def test_time_query_anywhere_in_window_changes_output(models):
    """EGVSR answers any query time, not only t = 0: outputs differ across t and are continuous."""
    lr, _, events = inputs(seed=5)
    torch.manual_seed(0)
    model = build_model("egvsr-tiny", residual_bicubic=False, output_activation="none")
    times = torch.tensor([[-0.9, 0.0, 0.6, 0.6001]])
    out = model.render(lr, times, (14, 18), events=events)
    assert not torch.allclose(out[:, 0], out[:, 1])
    assert (out[:, 2] - out[:, 3]).abs().max() < 1e-2


def test_times_as_1d_and_frame_times_default():
    torch.manual_seed(0)
    model = build_model("bicubic")
    lr, _, _ = inputs(b=2)
    a = model.render(lr, torch.tensor([0.1, -0.7]), (14, 18))
    b = model.render(lr, torch.tensor([[0.1, -0.7]] * 2), (14, 18), frame_times=torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(a, b)


def test_cpu_autocast_bfloat16_gives_the_float32_picture(models):
    """bfloat16 autocast returns float32 pixels within bfloat16 rounding of the float32 render."""
    lr, times, events = inputs(h=6, w=6)
    for name, model in models.items():
        exact = model.render(lr, times, (15, 15), events=events)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model.render(lr, times, (15, 15), events=events)
        assert out.dtype == torch.float32, name
        torch.testing.assert_close(out, exact, rtol=0, atol=0.02, msg=name)


def test_egvsr_separable_tf_equals_naive_tf_end_to_end():
    """Same weights, official 2N+1 full-resolution 3-D sampling vs temporal-at-LR + first layer at LR."""
    torch.manual_seed(0)
    fast = give_residual_head_weights(build_model("egvsr-tiny", tf_half_width=0.2, output_activation="none"))
    naive = build_model(dict(fast.config, tf_mode="naive"))
    naive.load_state_dict(fast.state_dict())
    lr, times, events = inputs(b=2, h=5, w=6, t=3, seed=6)
    times[0, 0] = 1.0
    torch.testing.assert_close(fast.render(lr, times, (17, 23), events=events),
                               naive.render(lr, times, (17, 23), events=events), rtol=1e-5, atol=1e-5)
