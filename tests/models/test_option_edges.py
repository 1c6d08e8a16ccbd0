"""Model options at their edges: refused in one ConfigError line before anything is sized or built."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.errors import ConfigError
from egvsr.models import build_model


@pytest.mark.parametrize("name, option, value, message", [
    # an integer-valued float too large for any tensor size (a config's 1e300): its size estimate's message
    # used to fail formatting it (OverflowError)
    ("egvsr-tiny", "n_feats", 1e300, "expected an integer within int64's range"),
    ("egvsr-tiny", "inr_channels", -10 ** 30, "expected an integer within int64's range"),
    ("videoinr-tiny", "nf", 1e300, "expected an integer within int64's range"),
    ("videoinr-tiny", "spatial_hidden", [10 ** 400], "each within int64's range"),
    # floats that float32 weights (and the numbers computed with them) cannot hold: inf, then NaN outputs
    ("egvsr-tiny", "w_inr_init", 1e300, "within float32's range"),
    ("egvsr-tiny", "w_ev_init", -1e39, "within float32's range"),
    ("egvsr-tiny", "tf_half_width", 1e300, "within float32's range"),
    ("videoinr-tiny", "w0", 1e39, "within float32's range"),
    ("egvsr-tiny", "tf_half_width", float("nan"), "within float32's range"),
    # bools are no numbers, whatever their type
    ("egvsr-tiny", "n_feats", np.bool_(True), "expected an integer"),
    ("egvsr-tiny", "tf_half_width", np.bool_(False), "expected a number"),
])
def test_out_of_range_options_are_one_config_error(name, option, value, message):
    with pytest.raises(ConfigError) as err:
        build_model(name, **{option: value})
    text = str(err.value)
    assert text.startswith(f"model {name!r}: option {option!r}: ") and message in text
    assert "\n" not in text and len(text) < 400


def test_numpy_scalars_are_options_and_the_config_holds_python_values():
    """A NumPy integer, float or bool (from an array, or a sweep) is taken as its Python value, as
    `chunk_size` takes a NumPy integer; the config stays plain (YAML, JSON, weights_only checkpoints)."""
    model = build_model("egvsr-tiny", n_feats=np.int64(8), tf_half_width=np.float32(0.25),
                        local_ensemble=np.bool_(True))
    cfg = model.config
    assert cfg["n_feats"] == 8 and type(cfg["n_feats"]) is int
    assert cfg["tf_half_width"] == 0.25 and type(cfg["tf_half_width"]) is float
    assert cfg["local_ensemble"] is True
    v = build_model("videoinr-tiny", spatial_hidden=np.array([8, 8]))
    assert v.config["spatial_hidden"] == [8, 8] and all(type(x) is int for x in v.config["spatial_hidden"])


def test_values_at_float32s_edge_still_build():
    import torch

    model = build_model("egvsr-tiny", tf_half_width=3e38, max_scale=3e38)
    assert model.config["tf_half_width"] == 3e38 and model.config["max_scale"] == 3e38  # kept, not clipped
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no weight overflowed to inf


@pytest.mark.parametrize("name", ["egvsr-tiny", "egvsr-official"])
def test_options_that_leave_a_layer_zero_wide_are_refused(name):
    """n_feats 1 with 1x1 patches: the fusion MLP (a quarter of the 2-channel tokens) had 0 units, a
    weight of shape (0, 2) that torch only warns about and that computes nothing."""
    with pytest.raises(ConfigError, match=r"2\*n_feats\*patch_size\^2 = 2 channels leave their MLP 0 units wide"):
        build_model(name, n_feats=1, patch_size=1, heads=1)
    build_model(name, n_feats=2, patch_size=1, heads=1)  # 4 channels: one unit
