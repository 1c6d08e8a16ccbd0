"""VideoINR specifics: frame-pair selection, warping without the full map, odd sizes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import ConfigError
from egvsr.models import build_model
from egvsr.models.sampling import AxisGrid, Region, pixel_cells
from egvsr.models.videoinr_decoder import unique_inverse


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("videoinr-tiny", output_activation="none").eval()


def test_pairs_are_grouped_per_query(model):
    """K = 3 frames, per-sample times needing different pairs == running each pair on its own."""
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(2, 3, 3, 5, 7, generator=g)
    frame_times = torch.tensor([[-1.0, 0.2, 1.0], [-1.0, -0.5, 1.0]])
    times = torch.tensor([[-0.6, 0.2, 0.9], [0.0, -0.75, -1.0]])
    out = model.render(lr, times, (11, 16), frame_times=frame_times)
    for b in range(2):
        for j in range(3):
            t = float(times[b, j])
            ft = frame_times[b].tolist()
            p = 0 if t < ft[1] else 1
            u = (t - ft[p]) / (ft[p + 1] - ft[p])
            single = model.render(lr[b : b + 1, p : p + 2], torch.tensor([[2 * u - 1]]), (11, 16))
            torch.testing.assert_close(out[b, j], single[0, 0], rtol=1e-5, atol=1e-5)


def test_query_at_a_frame_time_uses_that_pair(model):
    lr = torch.rand(1, 3, 3, 4, 5)
    state = model.encode(__import__("egvsr.models.validate", fromlist=["check_inputs"]).check_inputs(
        model, lr, torch.tensor([[-1.0, 0.0, 1.0]]), (8, 10), None, None))
    assert state["pair"].tolist() == [[0, 1, 1]]
    assert state["u"].tolist() == [[0.0, 0.0, 1.0]]
    assert sorted(state["feats"]) == [0, 1]


def test_pointwise_warp_equals_full_map_reference(model):
    """Reading the spatial map at warped points via on-demand neighbours == materialize + grid_sample."""
    lr = torch.rand(2, 2, 3, 5, 6)
    times = torch.tensor([[-0.3, 0.8], [1.0, -1.0]])
    with torch.no_grad():  # make the flows large so warps leave the image and cross many pixels
        model.decoder.flow.layers[-1].bias.copy_(torch.tensor([3.5, -2.25, -7.0, 40.0]))
    try:
        ref = model.reference_forward(lr, times, (13, 17))
        got = model.render(lr, times, (13, 17), chunk_size=50)
    finally:
        with torch.no_grad():
            model.decoder.flow.layers[-1].bias.zero_()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_zero_flow_reads_the_pixel_itself(model):
    feat = torch.rand(1, model.decoder.spatial.layers[0].in_features - 9, 3, 4)
    ctx = model.decoder.context(feat, torch.rand(1, 6, 3, 4), torch.tensor([0.3]), (6, 8))
    pix = torch.arange(48)
    y = pix // 8
    targets = torch.stack([pix - y * 8, y], -1).float().view(1, -1, 1, 2)
    warped = model.decoder.warped_spatial(ctx, targets)[:, :, 0]
    direct = model.decoder.spatial_at(ctx, pix).unsqueeze(0)
    torch.testing.assert_close(warped, direct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (6, 9)])
def test_any_lr_size(model, size):
    lr = torch.rand(1, 2, 3, *size)
    out = model.render(lr, torch.tensor([[0.1]]), (2 * size[0] + 1, 3 * size[1]))
    assert out.shape == (1, 1, 3, 2 * size[0] + 1, 3 * size[1]) and torch.isfinite(out).all()
    chunked = model.render(lr, torch.tensor([[0.1]]), (2 * size[0] + 1, 3 * size[1]), chunk_size=7)
    torch.testing.assert_close(chunked, out, rtol=1e-5, atol=1e-6)  # odd sizes cut into odd chunks


def test_frames_only_model_ignores_events(model):
    lr = torch.rand(1, 2, 3, 4, 4)
    a = model.render(lr, torch.tensor([[0.0]]), (8, 8))
    b = model.render(lr, torch.tensor([[0.0]]), (8, 8), events=torch.rand(1, 5, 2, 9, 9))
    assert torch.equal(a, b) and model.uses_events is False


def test_unique_inverse_matches_torch_unique():
    ids = torch.randint(0, 40, (3, 50, 2, 4))
    got, inv = unique_inverse(ids)
    ref, ref_inv = torch.unique(ids, return_inverse=True)
    assert torch.equal(got, ref) and torch.equal(inv, ref_inv) and torch.equal(got[inv], ids)


@pytest.mark.parametrize("lr_size, out_size", [((20, 24), (50, 60)), ((24, 32), (60, 80)), ((6, 10), (15, 25))])
def test_region_equals_whole_render_where_centres_fall_on_cell_borders(model, lr_size, out_size):
    """At 24 -> 60 every 5th output centre lies on an LR cell border. The nearest cell was chosen from
    float coordinates, which the region path computes another way: a region's pixels picked the other
    cell on those rows/columns and, through the warped reads, differed all over (0.6 on a perturbed model)."""
    torch.manual_seed(3)
    perturbed = build_model("videoinr-tiny", output_activation="none").eval()
    with torch.no_grad():
        for p in perturbed.parameters():
            p.add_(0.05 * torch.randn_like(p))
    lr, times = torch.rand(1, 2, 3, *lr_size), torch.tensor([[-0.2, 0.7]])
    (h, w), (big_h, big_w) = lr_size, out_size
    whole = perturbed.render(lr, times, out_size)
    region = Region(AxisGrid(3, 0, h, big_h, h), AxisGrid(5, 0, w, big_w, w))
    part = perturbed.render(lr, times, (big_h - 6, big_w - 9), region=region)
    torch.testing.assert_close(part, whole[..., 3:big_h - 3, 5:big_w - 4], atol=1e-4, rtol=0)


@settings(max_examples=60, deadline=None)
@given(lr=st.integers(1, 40), out=st.integers(1, 200), first=st.integers(0, 50), start=st.integers(0, 5))
def test_pixel_cells_are_the_exact_cell_of_each_centre(lr, out, first, start):
    """Centre of output pixel i lies at LR position (i + 1/2) lr / out: its cell is floor of that, in
    integers (a border centre takes the later cell), on the whole grid and in any region alike."""
    pix = torch.arange(out)
    iy, ix = pixel_cells(pix, 1, out, 1, lr)
    assert iy.tolist() == [0] * out and ix.tolist() == [(2 * i + 1) * lr // (2 * out) for i in range(out)]
    axis = AxisGrid(first, start, lr, out + first, lr + start)
    assert axis.cells(pix).tolist() == [start + (2 * (first + i) + 1) * lr // (2 * (out + first)) for i in range(out)]


def test_a_time_outside_the_frames_is_refused_not_rendered_at_the_nearest_frame(model):
    """frame_times need not span [-1, 1]; a time past the last frame used to be clamped to it silently
    (the output at 0.9 was the output at 0.5)."""
    lr = torch.rand(2, 2, 3, 4, 5)
    ft = torch.tensor([[-1.0, 1.0], [-0.5, 0.5]])
    with pytest.raises(ConfigError, match=r"times: time 0\.9 \(sample 1, query 1\) lies outside the input frames' "
                                          r"times \[-0\.5, 0\.5\]"):
        model.render(lr, torch.tensor([0.0, 0.9]), (8, 10), frame_times=ft)
    with pytest.raises(ConfigError, match=r"time -0\.7 \(sample 1, query 0\)"):
        model(lr, torch.tensor([[-0.7], [-0.7]]), (8, 10), frame_times=ft)
    inside = model.render(lr, torch.tensor([[-1.0, 1.0], [-0.5, 0.5]]), (8, 10), frame_times=ft)  # both frames' ends
    assert inside.shape == (2, 2, 3, 8, 10)
