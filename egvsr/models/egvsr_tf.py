"""TF (temporal filter) of EGVSR: the event tensor sampled at 2N+1 times around each query time, mixed by an MLP.

"separable" (default) interpolates in time once per query time at LR and applies the MLP's first linear
layer there, so each output pixel reads its pre-activation with one bilinear sample; "naive" does the
official 2N+1 trilinear samples per pixel. Both give the same numbers (tested).
`moments_at_corners=True` places the M moments at linspace(-1, 1, M) as the official code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egvsr.models.sampling import sample_points, temporal_sample


MLP_ACTIVATIONS = ("relu", "leaky_relu")
LEAKY_SLOPE = 0.1


def activation_module(name: str) -> nn.Module:
    """The hidden activation of the pointwise MLPs: ReLU (official) or LeakyReLU, whose units cannot
    die (a dead ReLU layer passes no gradient, docs/models.md)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
    raise ValueError(f"mlp_activation {name!r}: expected one of {MLP_ACTIVATIONS}")


def pointwise_mlp(in_dim: int, hidden: int, out_dim: int, layers: int, activation: str = "relu") -> nn.Sequential:
    """`layers` Linear layers (in -> hidden ... -> out) with `activation` between them, none at the end."""
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    mods: list[nn.Module] = []
    for i in range(layers):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < layers - 1:
            mods.append(activation_module(activation))
    return nn.Sequential(*mods)


class TemporalFilter(nn.Module):
    """Events near the query time, sampled at output pixels and mixed by a pointwise MLP."""

    def __init__(self, polarities: int, samples: int, half_width: float, hidden: int, layers: int,
                 out_channels: int, mode: str = "separable", moments_at_corners: bool = False,
                 activation: str = "relu") -> None:
        super().__init__()
        self.samples, self.half_width, self.mode = samples, half_width, mode
        self.moments_at_corners = moments_at_corners
        self.mlp = pointwise_mlp((2 * samples + 1) * polarities, hidden, out_channels, layers, activation)

    def sample_times(self, t: Tensor) -> Tensor:
        """(B,) query times -> (B, 2N+1) sample times inside [-1, 1]."""
        n = self.samples
        steps = torch.arange(-n, n + 1, device=t.device, dtype=t.dtype)
        offsets = steps * (self.half_width / n) if n > 0 else steps
        return (t.unsqueeze(1) + offsets).clamp(-1, 1)

    def prepare(self, events: Tensor, t: Tensor) -> Tensor:
        """Separable step at LR: events (B, M, P, h, w) at the sample times -> (B, (2N+1)*P, h, w)."""
        stack = temporal_sample(events, self.sample_times(t), align_corners=self.moments_at_corners)
        return stack.flatten(1, 2)

    def samples_separable(self, prepared: Tensor, coords: Tensor) -> Tensor:
        """Bilinear read of the prepared LR stack at normalized points (B, Q, 2) -> (B, Q, (2N+1)*P)."""
        return sample_points(prepared, coords)

    def project(self, prepared: Tensor) -> Tensor:
        """The MLP's first (linear) layer applied at LR to the prepared stack -> (B, width, h, w)."""
        first = self.mlp[0]
        return F.conv2d(prepared, first.weight[:, :, None, None].to(prepared.dtype), first.bias.to(prepared.dtype))

    def after_first(self, z: Tensor) -> Tensor:
        """The rest of the MLP given the first layer's output (B, Q, width) -> (B, Q, out_channels)."""
        return self.mlp[1:](z)

    def samples_naive(self, events: Tensor, t: Tensor, coords: Tensor) -> Tensor:
        """Reference: one trilinear 3-D `grid_sample` per sample time at every point -> (B, Q, (2N+1)*P)."""
        volume = events.transpose(1, 2)  # (B, P, M, h, w): depth axis = time
        times = self.sample_times(t)
        if self.moments_at_corners:  # the same moment index in the bin-centre convention used below
            m = events.shape[1]
            times = (times + 1) * (m - 1) / m + 1 / m - 1 if m > 1 else torch.zeros_like(times)
        out = []
        for tau in times.unbind(1):
            z = tau.view(-1, 1, 1).expand(-1, coords.shape[1], 1).to(coords.dtype)
            grid = torch.cat([coords, z], dim=-1).view(coords.shape[0], 1, 1, -1, 3)
            s = F.grid_sample(volume, grid.to(volume.dtype), mode="bilinear", padding_mode="border",
                              align_corners=False)
            out.append(s.view(s.shape[0], s.shape[1], -1).transpose(1, 2))
        return torch.stack(out, dim=2).flatten(2)

    def forward(self, samples: Tensor) -> Tensor:
        """Mix samples (B, Q, (2N+1)*P) into the 2-D feature (B, Q, out_channels)."""
        return self.mlp(samples)
