"""EGVSR's residual base: the nearest frame jumps at an interval's midpoint, the linear blend does not."""

from __future__ import annotations

import pytest
import torch

from egvsr.models import build_model
from egvsr.models.sampling import frame_at
from tests._model_helpers import give_residual_head_weights

FRAME_TIMES = torch.tensor([[-1.0, 0.0, 1.0]])


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 3, 6, 8, generator=g), torch.rand(1, 8, 2, 6, 8, generator=g)


def _render(model, t: float) -> torch.Tensor:
    lr, events = _inputs()
    with torch.no_grad():
        return model.render(lr, [t], (12, 16), events=events)


@pytest.mark.parametrize("midpoint", [-0.5, 0.5])
def test_linear_base_is_continuous_across_a_midpoint_and_nearest_is_not(midpoint):
    """1e-4 on either side of a midpoint: the linear base moves the output by about 1e-4 of the frame
    difference, the nearest frame by the whole of it (an untrained model, so only the base differs)."""
    eps = 1e-4
    for base, expect_jump in (("nearest", True), ("linear", False)):
        model = build_model("egvsr-tiny", residual_base=base).eval()
        jump = (_render(model, midpoint - eps) - _render(model, midpoint + eps)).abs().max().item()
        assert (jump > 0.05) if expect_jump else (jump < 1e-3), (base, jump)


@pytest.mark.parametrize("t", [-1.0, 0.0, 1.0])
def test_both_bases_agree_at_frame_times(t):
    torch.manual_seed(0)
    near = give_residual_head_weights(build_model("egvsr-tiny")).eval()
    lin = build_model("egvsr-tiny", residual_base="linear").eval()
    lin.load_state_dict(near.state_dict())
    torch.testing.assert_close(_render(near, t), _render(lin, t), rtol=0, atol=1e-6)


def test_linear_base_blends_the_two_frames_around_t():
    lr, _ = _inputs()
    blend = frame_at(lr, FRAME_TIMES, torch.tensor([0.25]), "linear")
    torch.testing.assert_close(blend, 0.75 * lr[:, 1] + 0.25 * lr[:, 2])
    assert torch.equal(frame_at(lr, FRAME_TIMES, torch.tensor([0.25]), "nearest"), lr[:, 1])
    with pytest.raises(ValueError, match="expected one of"):
        frame_at(lr, FRAME_TIMES, torch.tensor([0.25]), "cubic")


def test_an_untrained_linear_model_is_the_linear_bicubic_baseline():
    lr, events = _inputs()
    times = torch.tensor([[0.3]])
    with torch.no_grad():
        ours = build_model("egvsr-tiny", residual_base="linear")(lr, times, (12, 16), events=events)
        ref = build_model("bicubic", blend="linear")(lr, times, (12, 16))
    assert torch.equal(ours, ref)


def test_older_checkpoints_keep_the_nearest_frame():
    """A saved config without the option rebuilds with the nearest frame, as it was trained."""
    config = dict(build_model("egvsr-tiny").config)
    config.pop("residual_base")
    assert build_model(config).options.residual_base == "nearest"
