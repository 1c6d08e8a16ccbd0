"""The EMA of the weights against docs/training.md: shadow = decay * shadow + (1 - decay) * weights per step."""

from __future__ import annotations

import pytest
import torch

from egvsr.engine.ema import EMA


@pytest.mark.parametrize("decay", [0.999, 0.9999, 0.99999])
def test_weights_that_stay_put_keep_their_average_equal_to_them(decay):
    """The average of a constant is that constant: float32's rounding of decay (0.9999 is 0.99989998...) must not
    make decay + (1 - decay) differ from 1 and pull every EMA weight off by up to 1e-3 of itself."""
    torch.manual_seed(0)
    model = torch.nn.Linear(32, 32)
    ema = EMA(model, decay)
    for _ in range(500):
        ema.update(model)
    for name, w in model.state_dict().items():
        assert torch.equal(ema.shadow.state_dict()[name], w), name


def test_the_average_follows_the_recursion_in_float64():
    torch.manual_seed(1)
    model, decay = torch.nn.Linear(16, 8), 0.99
    ema = EMA(model, decay)
    ref = {k: v.double().clone() for k, v in model.state_dict().items()}
    for _ in range(200):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 1e-2)
        ema.update(model)
        ref = {k: decay * ref[k] + (1 - decay) * v.double() for k, v in model.state_dict().items()}
    for name, value in ema.shadow.state_dict().items():
        assert torch.allclose(value.double(), ref[name], rtol=0, atol=1e-6), name
