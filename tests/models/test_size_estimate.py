"""Model size by formula (egvsr/models/size_estimate.py): exact against the built models, every family."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from egvsr.errors import ConfigError
from egvsr.models import PRESETS, build_model
from egvsr.models.options import make_options
from egvsr.models.registry import FAMILIES
from tests._reliability import fuzz_settings


def built(name: str, **options) -> tuple[int, int]:
    """(parameters, conv/linear layers) of the model built on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_model(name, **options)
    layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    return sum(p.numel() for p in model.parameters()), layers


def estimated(name: str, **options) -> tuple[int, int]:
    preset = PRESETS[name]
    family = FAMILIES[preset.family]
    size = family.estimate(make_options(family.options, name, {**preset.options, **options}))
    return size.parameters, size.layers


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_counted_exactly(name):
    assert estimated(name) == built(name)


@given(data=st.data())
@fuzz_settings(30)
def test_random_egvsr_options_are_counted_exactly(data):
    name = data.draw(st.sampled_from(["egvsr-tiny", "egvsr-official"]))
    heads = data.draw(st.sampled_from([1, 2, 3]))
    options = dict(
        n_feats=data.draw(st.integers(1, 20)) * heads, heads=heads, patch_size=data.draw(st.sampled_from([1, 3])),
        num_frames=data.draw(st.integers(2, 4)), moments=data.draw(st.integers(1, 6)),
        polarities=data.draw(st.integers(1, 2)), inr_channels=data.draw(st.integers(1, 12)),
        time_bins=data.draw(st.integers(1, 4)), lcb_depth=data.draw(st.integers(1, 3)),
        tf_samples=data.draw(st.integers(0, 3)), tf_hidden=data.draw(st.integers(1, 9)),
        tf_layers=data.draw(st.integers(1, 4)), decoder_layers=data.draw(st.integers(1, 4)),
    )
    if name == "egvsr-tiny":
        options["local_ensemble"] = data.draw(st.booleans())
    try:
        want = built(name, **options)
    except ConfigError:  # an invalid combination: refused by the options check, not by the estimate
        return
    assert estimated(name, **options) == want


@given(data=st.data())
@fuzz_settings(20)
def test_random_videoinr_options_are_counted_exactly(data):
    groups = data.draw(st.integers(1, 3))
    widths = st.lists(st.integers(1, 12), min_size=1, max_size=3)
    options = dict(nf=groups * data.draw(st.integers(1, 5)), groups=groups, front_blocks=data.draw(st.integers(0, 2)),
                   back_blocks=data.draw(st.integers(0, 3)), spatial_hidden=data.draw(widths),
                   spatial_out=data.draw(st.integers(1, 9)), flow_hidden=data.draw(widths),
                   rgb_hidden=data.draw(widths))
    assert estimated("videoinr-tiny", **options) == built("videoinr-tiny", **options)


def test_bombs_are_estimated_without_building():
    deep = estimated("egvsr", lcb_depth=100000)
    assert deep[0] > 5e10 and deep[1] > 10**7
    wide = estimated("egvsr", n_feats=200000, heads=1)
    assert wide[0] > 1e12


def test_activations_at_any_lr_size():
    """Per LR pixel for the feature maps; 'math' attention's scores per window (one strip at a time, or
    the official quarters of the map, which grow with the square of the pixels); sdpa has none. The
    render plan sizes its encoder with this (measured: a tiny official model at 128x128, 299 MB peak vs
    303 MB estimated; egvsr-small rendering 640x480 LR frames, 1.02 GB above the process vs 1.29 GB)."""
    from egvsr.models.fusion_transformer import WINDOW_BATCH_TOKENS as FUSION_BATCH
    from egvsr.models.registry import estimate_size
    from egvsr.models.size_estimate import REFERENCE_LR, WINDOW_BATCH_TOKENS

    assert WINDOW_BATCH_TOKENS == FUSION_BATCH
    small = estimate_size("egvsr-small")
    assert small.scores is None and small.pixel_bytes > 0
    assert small.activations_at((480, 640)) == 480 * 640 * small.pixel_bytes
    assert small.activations_at(REFERENCE_LR) == small.activation_bytes
    strips = estimate_size("egvsr-small", attention="math")
    one_window = 2 * 4 * 4 * 1400 ** 2  # scores and softmax, 4 heads, 1400 tokens
    assert strips.activations_at((480, 640)) == 480 * 640 * strips.pixel_bytes + one_window
    squares = estimate_size("egvsr-small", attention="math", window_size=16)
    assert squares.scores.bytes_at(480 * 640) == 2 * 4 * 4 * 256 * WINDOW_BATCH_TOKENS
    official = estimate_size("egvsr-official")
    quarter = 260 * 346 // 4
    assert official.activations_at((260, 346)) == 260 * 346 * official.pixel_bytes + 2 * 4 * 8 * quarter ** 2
    assert official.activations_at((520, 692)) > 10 * official.activations_at((260, 346))
    bicubic = estimate_size("bicubic")
    assert bicubic.activations_at((100, 100)) == 100 * 100 * 6 * 4


@pytest.mark.parametrize("name, options, named", [
    ("videoinr", {"rgb_hidden": [10 ** 9]}, "rgb_hidden"),
    ("videoinr", {"back_blocks": 10 ** 6}, "back_blocks"),
    ("videoinr-tiny", {"nf": 40_000, "groups": 1}, "nf"),
    ("egvsr", {"lcb_depth": 100_000}, "lcb_depth"),
])
def test_an_oversized_model_is_told_to_check_its_own_options(name, options, named):
    """The refusal names the family's own options that grew: VideoINR has no n_feats or lcb_depth."""
    with pytest.raises(ConfigError) as err:
        build_model(name, **options)
    hint = str(err.value).split("(check ", 1)[1]
    assert hint.startswith(named + ";") or hint.startswith(named + ")")
    if name.startswith("videoinr"):
        assert "n_feats" not in str(err.value) and "lcb_depth" not in str(err.value)
