"""Numeric promises of docs/models.md that hold across inputs: a sample of a batch of four renders what it
renders alone (whatever the other samples' frames, events, times and frame times), at edge sizes too."""

from __future__ import annotations

import math

import pytest
import torch

from egvsr.models import build_model
from tests._model_helpers import give_residual_head_weights

VARIANTS = [
    ("egvsr-tiny", {}),
    ("egvsr-tiny", {"event_norm": "nonzero_mean", "residual_base": "linear"}),
    ("egvsr-tiny", {"event_norm": "rms", "window_size": 3}),
    ("egvsr-tiny", {"local_ensemble": True, "tf_mode": "naive"}),
    ("egvsr-tiny", {"ignore_events": True}),
    ("videoinr-tiny", {}),
    ("bicubic", {"blend": "linear"}),
]


def perturbed(name: str, options: dict):
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model(name, **options)).eval() if name != "bicubic" \
        else build_model(name, **options).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def batch_of_four(model, h: int, w: int):
    """Four different samples: colour, gray, zero events, dense events; own times and frame times."""
    k = model.num_frames or 2
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(4, k, 3, h, w, generator=g)
    lr[1] = lr[1, :, :1].expand(-1, 3, -1, -1)  # a gray sample (its output is made gray)
    m, p = model.event_shape if model.uses_events else (1, 1)
    events = torch.randn(4, m, p, h, w, generator=g) * torch.tensor([1.0, 0.1, 0.0, 30.0]).view(4, 1, 1, 1, 1)
    times = torch.tensor([[-1.0, 0.25], [0.0, 1.0], [-0.6, 0.6], [0.9, -0.3]])
    frame_times = torch.linspace(-1, 1, k).repeat(4, 1)
    frame_times[2, 1:-1] += 0.2 / k  # uneven spacing in one sample
    return lr, events, times, frame_times


@pytest.mark.parametrize("name, options", VARIANTS)
@pytest.mark.parametrize("lr_size, scale", [((5, 7), 2.6), ((1, 6), 6.5), ((3, 3), 1.0)])
def test_a_sample_of_a_batch_of_four_renders_what_it_renders_alone(name, options, lr_size, scale):
    model = perturbed(name, options)
    lr, events, times, ft = batch_of_four(model, *lr_size)
    out = (math.floor(scale * lr_size[0]), math.floor(scale * lr_size[1]))
    ev = events if model.uses_events else None
    together = model.render(lr, times, out, events=ev, frame_times=ft, chunk_size=11)
    with torch.no_grad():
        assert torch.allclose(model(lr, times, out, events=ev, frame_times=ft), together, rtol=0, atol=2e-5)
    for i in range(4):
        alone = model.render(lr[i:i + 1], times[i:i + 1], out, events=None if ev is None else ev[i:i + 1],
                             frame_times=ft[i:i + 1])
        torch.testing.assert_close(together[i:i + 1], alone, rtol=0, atol=2e-5, msg=f"sample {i}")
    assert torch.equal(together[1, :, 0], together[1, :, 1]) and torch.equal(together[1, :, 0], together[1, :, 2])


@pytest.mark.parametrize("grad", [False, True])
def test_fused_residual_units_and_arfbs_compute_the_weighted_sums(grad):
    """docs/render.md: the branch weight folded into the last convolution and the skip fused in one
    addcmul give w_skip * x + w_body * branch(x) (to float rounding), with and without autograd."""
    from egvsr.models.blocks_lcb import ARFB, ResidualUnit

    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 7)
    unit, block = ResidualUnit(8), ARFB(8)
    with torch.no_grad():
        for module in (unit, block):
            for p in module.parameters():
                p.add_(0.3 * torch.randn_like(p))
    with torch.set_grad_enabled(grad):
        want = unit.w_skip.value * x + unit.w_body.value * unit.body(x)
        torch.testing.assert_close(unit(x), want, rtol=1e-5, atol=1e-5)
        x1 = block.ru1(x)
        branch = block.out(block.attention(block.fuse(torch.cat([block.ru2(x1), x1], dim=1))))
        torch.testing.assert_close(block(x), block.w_skip.value * x + block.w_body.value * branch, rtol=1e-5, atol=1e-5)



@pytest.mark.parametrize("tokens, sizes", [(16, [4] * 4), (23, [5] * 4 + [3]), (4, [1] * 4), (6, [1] * 6),
                                           (11, [2] * 5 + [1])])
def test_official_attention_windows_are_n_over_4_tokens_and_the_rest(tokens, sizes):
    """The released attention splits the N tokens in pieces of N // 4 (docs/models.md): four, a short fifth
    from 16 tokens, more below that (the smallest official map, 2x2, is 4 windows of one token)."""
    from egvsr.models.fusion_transformer import PatchTransformer

    block = PatchTransformer(2, heads=2, official=True)
    parts = block.split(torch.zeros(1, tokens, 18))
    assert [p.shape[1] for p in parts] == sizes and block.windows(tokens) == len(sizes)


@pytest.mark.parametrize("name, options", [("egvsr-tiny", {}), ("egvsr-tiny", {"tf_mode": "naive", "window_size": 2}),
                                           ("bicubic", {})])
def test_one_image_plane_at_every_scale(name, options):
    """Pixel convention (docs/models.md): output centres at (2i + 1)/H - 1 on one continuous plane, and the
    encoder sees only the LR input, so an output pixel of x3 or x5 whose centre is an LR pixel centre has
    exactly the value of that pixel at x1 (EGVSR without the ensemble, whose cell input depends on the scale)."""
    model = perturbed(name, dict(options, output_activation="none"))
    lr, events, times, _ = batch_of_four(model, 5, 7)
    ev = events if model.uses_events else None
    base = model.render(lr, times, (5, 7), events=ev)
    for s in (3, 5):
        out = model.render(lr, times, (5 * s, 7 * s), events=ev, chunk_size=4 * 7 * s)
        torch.testing.assert_close(out[..., s // 2::s, s // 2::s], base, rtol=0, atol=1e-6)
