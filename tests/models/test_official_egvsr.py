"""EGVSR in official-compatible mode against numbers from the authors' code (fixture README)."""

from __future__ import annotations

import torch

from egvsr.models import build_model, count_parameters
from egvsr.models.checkpoint_import import convert
from egvsr.models.egvsr_official import corner_coords, official_out_size
from egvsr.models.sampling import sample_points
from tests._official_fixtures import assert_close, load_fixture, official_shapes, official_weights


def _imported(fixture):
    imported = convert(official_weights(fixture))
    model = build_model(imported.name, **imported.options)
    model.load_state_dict(imported.state_dict)
    return model.eval(), imported


def _run(model, fx):
    size = official_out_size(tuple(fx["input.image"].shape[-2:]), float(fx["meta.scale"]))
    assert size == (int(fx["meta.out_h"]), int(fx["meta.out_w"]))
    with torch.no_grad():
        return model(fx["input.image"], torch.zeros(1, 1), size, events=fx["input.event"])[:, 0]


def test_small_output_and_intermediates_match_official():
    fx = load_fixture("egvsr_official_small.pt")
    model, imported = _imported(fx)
    assert imported.options["n_feats"] == 16 and imported.options["inr_channels"] == 8
    assert_close(_run(model, fx), fx["output.sr_images"], "egvsr small output.sr_images")
    image, events, stf = fx["input.image"], fx["input.event"], model.stf
    with torch.no_grad():
        fi = stf.image_head(image.flatten(1, 2))
        fe = stf.event_head(events.flatten(1, 2))
        assert_close(fi, fx["inter.image_head"], "inter.image_head")
        assert_close(fe, fx["inter.event_head"], "inter.event_head")
        fi, fe = stf.image_shallow(fi), stf.event_shallow(fe)
        fused = stf.shallow_fusion(torch.cat([fi, fe], 1))
        assert_close(fused, fx["inter.shallow_fusion"], "inter.shallow_fusion")
        n = fi.shape[1]
        deep = stf.deep_fusion(torch.cat([stf.image_deep(fi + fused[:, :n]), stf.event_deep(fe + fused[:, n:])], 1))
        assert_close(deep, fx["inter.deep_fusion"], "inter.deep_fusion")
        assert_close(stf.to_volume(deep), fx["inter.latent_feature"], "inter.latent_feature")
        # TF feature at the corner-aligned output grid
        big_h, big_w = fx["output.sr_images"].shape[-2:]
        h, w = image.shape[-2:]
        coords = corner_coords(torch.arange(big_h * big_w), (big_h, big_w), (h, w)).unsqueeze(0)
        t = torch.zeros(1)
        tf = model.tf.after_first(sample_points(model.tf.project(model.tf.prepare(events, t)), coords))
        tf = tf.transpose(1, 2).reshape(1, -1, big_h, big_w)
        assert_close(tf, fx["inter.event_residual_feature"], "inter.event_residual_feature")
    # the grid itself: our centre-convention coordinates name the official corner-aligned positions
    lr = torch.tensor([w, h], dtype=torch.float32)
    corner = ((coords[0] + 1) * lr - 1) / (lr - 1) - 1  # LR pixel index p -> 2p/(n-1) - 1
    official = fx["inter.coord"][0, 0, ..., 1:].reshape(-1, 2)
    assert_close(corner, official, "inter.coord (x, y)")
    assert float(fx["inter.coord"][..., 0].abs().max()) == 0.0  # output time t = 0


def test_small_chunked_render_equals_forward():
    fx = load_fixture("egvsr_official_small.pt")
    model, _ = _imported(fx)
    size = tuple(fx["output.sr_images"].shape[-2:])
    out = model.render(fx["input.image"], torch.zeros(1, 1), size, events=fx["input.event"], chunk_size=1000)
    assert_close(out[:, 0], fx["output.sr_images"], "egvsr small render(chunk_size=1000)")


def test_paper_output_matches_official():
    fx = load_fixture("egvsr_official_paper.pt")
    model, imported = _imported(fx)
    assert imported.options["n_feats"] == 32 and imported.options["inr_channels"] == 32
    assert_close(_run(model, fx), fx["output.sr_images"], "egvsr paper output.sr_images")


def test_paper_keys_all_convert_to_the_preset():
    fx = load_fixture("egvsr_official_paper_keys.pt")
    shapes = official_shapes(fx)
    assert len(shapes) == 892
    imported = convert(shapes, "egvsr-official")
    preset = build_model("egvsr-official")
    defaults = {k: v for k, v in preset.config.items() if k in imported.options}
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in imported.options.items()} == defaults
    preset.load_state_dict(imported.state_dict)  # strict: every weight filled, every shape fits
    # the official count includes the 32 ARFB `weight1` scales its forward never uses
    assert len(imported.unused) == 32 and all(k.endswith(".weight1.scale") for k in imported.unused)
    unused = sum(shapes[k].numel() for k in imported.unused)
    assert int(fx["meta.n_params"]) == 2_589_589
    assert count_parameters("egvsr-official") == 2_589_589 - unused


def test_official_mode_runs_at_any_lr_size_and_time():
    """At an LR size and scale the released code never saw: the chunked render is the forward, each
    query time gets its own frame, and the ReLU output is never negative."""
    torch.manual_seed(0)
    model = build_model("egvsr-official", n_feats=16, inr_channels=8, moments=4).eval()
    lr = torch.rand(1, 3, 3, 13, 18)
    events = torch.rand(1, 4, 2, 13, 18)
    times = torch.tensor([[-0.6, 0.3]])
    with torch.no_grad():
        out = model(lr, times, (29, 41), events=events)
    assert out.shape == (1, 2, 3, 29, 41) and float(out.min()) >= 0
    torch.testing.assert_close(model.render(lr, times, (29, 41), events=events, chunk_size=97), out,
                               rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[:, 0], out[:, 1], atol=1e-3)
