"""VideoINR in official-compatible mode and our DCN against numbers from the authors' code."""

from __future__ import annotations

import pytest
import torch

from egvsr.models import build_model, count_parameters
from egvsr.models.checkpoint_import import convert
from egvsr.models.deform_conv import DeformConvPack
from egvsr.models.validate import check_inputs
from egvsr.models.videoinr_official import official_decode
from tests._official_fixtures import assert_close, load_fixture, official_shapes, official_weights


def _imported(fixture, **overrides):
    imported = convert(official_weights(fixture))
    model = build_model(imported.name, **{**imported.options, **overrides})
    model.load_state_dict(imported.state_dict)
    return model.eval()


def _times(fx) -> torch.Tensor:
    """Official times in [0, 1] between the two frames -> ours in [-1, 1]."""
    return torch.tensor([[2 * float(fx[f"input.times.{k}"]) - 1 for k in range(int(fx["meta.n_times"]))]])


@pytest.fixture(scope="module")
def small():
    return load_fixture("videoinr_official_small.pt")


def test_small_test_path_matches_official(small):
    model = _imported(small)
    assert model.options.decoder == "official"
    x, size = small["input.x"], tuple(small["input.scale"].tolist())
    with torch.no_grad():
        assert_close(model.encoder(x), small["inter.feat"].flatten(1, 2), "videoinr inter.feat")
        out = model(x, _times(small), size)
        batch = check_inputs(model, x, _times(small), size, None, None)
        state = model.encode(batch)
        for k in range(out.shape[1]):
            assert_close(out[:, k], small[f"output.pred.{k}"], f"videoinr output.pred.{k}")
            _, flows = official_decode(model.decoder, model.prepare_time(state, batch, k), torch.arange(size[0] * size[1]))
            assert_close(flows[0].T.reshape(4, *size), small[f"inter.flow_pred.{k}"][0], f"inter.flow_pred.{k}")


def test_small_train_path_matches_official(small):
    model = _imported(small, decoder="official-train")
    with torch.no_grad():
        out = model(small["input.x"], _times(small), tuple(small["input.scale"].tolist()))
    for k in range(out.shape[1]):
        assert_close(out[:, k], small[f"output.train_pred.{k}"], f"videoinr output.train_pred.{k}")


def test_small_chunked_render_equals_official(small):
    model = _imported(small)
    out = model.render(small["input.x"], _times(small)[:, 1:2], tuple(small["input.scale"].tolist()), chunk_size=777)
    assert_close(out[:, 0], small["output.pred.1"], "videoinr render(chunk_size=777) pred.1")


def test_official_decoder_runs_at_any_size_scale_and_time():
    torch.manual_seed(0)
    model = build_model("videoinr-official", nf=8, groups=2, front_blocks=1, back_blocks=1,
                        spatial_hidden=[16], spatial_out=8, flow_hidden=[16], rgb_hidden=[16]).eval()
    lr, times = torch.rand(1, 2, 3, 13, 18), torch.tensor([[-0.2, 0.9]])
    # LR 13x18 (not a multiple of 4, which the released code needs), scale 2.3
    out = model.render(lr, times, (30, 41), chunk_size=500)
    with torch.no_grad():
        whole = model(lr, times, (30, 41))
    assert out.shape == (1, 2, 3, 30, 41)
    torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-5)  # chunks of 500 pixels == the whole frame
    assert not torch.allclose(out[:, 0], out[:, 1], atol=1e-4)  # each query time gets its own frame


def test_dcn_matches_official_dcn_sep():
    fx = load_fixture("videoinr_official_dcn_sep_unit.pt")
    groups = int(fx["meta.deformable_groups"])
    dcn = DeformConvPack(int(fx["meta.in_channels"]), int(fx["meta.out_channels"]), 16, groups,
                         int(fx["meta.kernel_size"]))
    dcn.load_state_dict({"weight": fx["weight.weight"], "bias": fx["weight.bias"],
                         "offset_mask.weight": fx["weight.conv_offset_mask.weight"],
                         "offset_mask.bias": fx["weight.conv_offset_mask.bias"]})
    with torch.no_grad():
        om = dcn.offset_mask(fx["input.fea"])
        n = 2 * groups * 9
        assert_close(om[:, :n], fx["inter.offset"], "DCN_sep inter.offset")
        assert_close(torch.sigmoid(om[:, n:]), fx["inter.mask"], "DCN_sep inter.mask")
        assert_close(dcn(fx["input.input"], fx["input.fea"]), fx["output.out"], "DCN_sep output.out")


def test_paper_keys_all_convert_to_the_preset():
    fx = load_fixture("videoinr_official_paper_keys.pt")
    shapes = official_shapes(fx)
    assert len(shapes) == 442
    imported = convert(shapes)
    assert imported.name == "videoinr-official"
    preset = build_model("videoinr-official")
    defaults = {k: v for k, v in preset.config.items() if k in imported.options}
    assert imported.options == defaults
    preset.load_state_dict(imported.state_dict)  # strict: every weight filled, every shape fits
    assert sorted({k.split(".")[0] for k in imported.unused}) == ["HRconv", "conv_last", "upconv1", "upconv2"]
    unused = sum(shapes[k].numel() for k in imported.unused)
    assert int(fx["meta.n_params"]) == 11_312_698
    assert count_parameters("videoinr-official") == 11_312_698 - unused == 10_978_615
