"""SIREN MLP (sine activations, omega_0 = 30) used by VideoINR's three implicit decoders.

Layers: Linear + sin(w0 * .) for every hidden width, then a plain Linear. Initialization: first layer
weights U(-1/in, 1/in), later layers (the final linear too) U(-sqrt(6/in)/w0, +sqrt(6/in)/w0).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Siren(nn.Module):
    """Pointwise MLP on the last axis: in_dim -> hidden (sine) ... -> out_dim (linear)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, w0: float = 30.0) -> None:
        super().__init__()
        self.w0 = w0
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                bound = 1 / layer.in_features if i == 0 else math.sqrt(6 / layer.in_features) / w0
                layer.weight.uniform_(-bound, bound)

    @property
    def first(self) -> nn.Linear:
        """The first linear layer (callers may apply it in parts, see `after_first`)."""
        return self.layers[0]

    def after_first(self, z: Tensor) -> Tensor:
        """The rest of the network given the first layer's pre-activation z = first(x)."""
        if len(self.layers) == 1:
            return z
        # sin(w0 * (W x + b)) computed as sin((w0 W) x + w0 b): one pass less over the activations
        x = z.mul_(self.w0).sin_() if not torch.is_grad_enabled() else torch.sin(self.w0 * z)
        for layer in self.layers[1:-1]:
            x = torch.sin(F.linear(x, layer.weight * self.w0, layer.bias * self.w0))
        return self.layers[-1](x)

    def forward(self, x: Tensor) -> Tensor:
        return self.after_first(self.first(x))
