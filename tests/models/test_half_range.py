"""Inputs beyond a half-precision model's range (fp16: +-65504): an event tensor the model normalizes itself
(`event_norm`) is taken (a hot pixel's count is no reason to refuse it), anything else is refused naming the
value as given and the dtype, not the inf the cast made of it."""

from __future__ import annotations

import pytest
import torch

from egvsr.errors import EventValidationError
from egvsr.models import build_model
from egvsr.models.validate import fit_range


def _model(event_norm: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("egvsr-tiny", event_norm=event_norm).eval()
    with torch.no_grad():  # the residual head starts at zero: give the events a path to the output
        model.stir.decoder[-1].weight.normal_(0, 0.1)
    return model


def _inputs(h: int = 6, w: int = 7):
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, 3, 3, h, w, generator=g)
    ev = torch.rand(1, 8, 2, h, w, generator=g) * 4
    return lr, torch.tensor([[-0.4, 0.0, 0.7]]), ev


@pytest.mark.parametrize("event_norm", ["nonzero_mean", "rms"])
def test_normalized_events_beyond_float16_render_as_the_same_events_in_range(event_norm):
    half = _model(event_norm).half()
    lr, t, ev = _inputs()
    ev[0, :, 0, 2, 3] = 3e5  # a hot pixel: far beyond float16's range
    big = ev * 2.0**40       # and the whole tensor scaled up: the model divides each sample by its own scale
    ref = half.render(lr, t, (12, 14), events=(ev / 2.0**5).half())  # within range: nothing to fit
    for events in (ev, big, big.double()):
        out = half.render(lr, t, (12, 14), events=events)
        assert torch.isfinite(out).all()
        assert torch.equal(out, ref)  # scaling by a power of two is exact, and the normalization undoes it
    # the float32 model's numbers, to half precision
    full = _model(event_norm)
    torch.testing.assert_close(out.float(), full.render(lr, t, (12, 14), events=ev), rtol=0, atol=1e-2)


def test_each_sample_is_fitted_alone():
    half = _model("nonzero_mean").half()
    lr, t, ev = _inputs()
    lr2, ev2 = torch.cat([lr, lr]), torch.cat([ev, ev * 1e6])  # only the second sample is beyond the range
    out = half.render(lr2, t[0], (12, 14), events=ev2)
    assert torch.equal(out[0], half.render(lr, t, (12, 14), events=ev.half())[0])
    assert torch.isfinite(out).all()


def test_fit_range_leaves_what_fits_alone_and_scales_by_powers_of_two():
    ev = torch.tensor([[1.0, -2.0], [7e4, -1e6]])
    out = fit_range(ev, torch.float16)
    assert torch.equal(out[0], ev[0])
    assert out[1].abs().max() <= 2.0**14 and torch.equal(out[1] / ev[1], torch.full((2,), out[1, 0] / ev[1, 0]))
    assert torch.log2(out[1, 0] / ev[1, 0]).item().is_integer()
    assert fit_range(ev, torch.bfloat16) is ev  # bfloat16 holds float32's range
    assert torch.equal(fit_range(ev[:1], torch.float16), ev[:1])


def test_unnormalized_events_or_frames_beyond_float16_are_refused_naming_the_value():
    half = _model("none").half()
    lr, t, ev = _inputs()
    ev[0, 1, 0, 2, 3] = 1e5
    with pytest.raises(EventValidationError, match=r"^events: value 100000\.0 at index \(0, 1, 0, 2, 3\) is beyond "
                                                   r"the range of float16, .*largest 65504"):
        half.render(lr, t, (12, 14), events=ev)
    lr[0, 2, 1, 0, 0] = 7e4  # frames are never rescaled: their values are intensities
    with pytest.raises(EventValidationError, match=r"^lr: value 70000\.0 at index \(0, 2, 1, 0, 0\) is beyond the "
                                                   r"range of float16"):
        _model("nonzero_mean").half().render(lr, t, (12, 14), events=torch.rand(1, 8, 2, 6, 7))


def test_nan_is_still_named_as_nan():
    half = _model("nonzero_mean").half()
    lr, t, ev = _inputs()
    ev[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(EventValidationError, match=r"^events: value nan at index \(0, 0, 0, 0, 0\); expected finite"):
        half.render(lr, t, (12, 14), events=ev)
