"""STIR of EGVSR: the latent volume read at (x, y, t), fused with the TF feature, decoded to RGB.

The volume (B, T, C, h, w) is linearly interpolated to the query time once at LR (its T bins sit at
linspace(-1, 1, T)), then read per output pixel either bilinearly (official trilinear sampling,
separated) or, with `local_ensemble`, LIIF-style: the 4 nearest latent vectors, each decoded with its
relative offset and the output cell size, blended by the opposite rectangle areas.
f = w_inr * latent + w_ev * TF feature, decoded by a pointwise MLP (1x1 convs in the original).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from egvsr.models.blocks_lcb import Scale
from egvsr.models.egvsr_tf import pointwise_mlp
from egvsr.models.rows import mlp_channels_first
from egvsr.models.sampling import index_centers, nearest_index, sample_points, temporal_sample


def gather_points(image: Tensor, iy: Tensor, ix: Tensor) -> Tensor:
    """Values of `image` (B, C, h, w) at integer pixels (B, Q) -> (B, Q, C)."""
    b, c, _, w = image.shape
    idx = (iy * w + ix).unsqueeze(1).expand(b, c, -1)
    return image.flatten(2).gather(2, idx).transpose(1, 2)


class STIR(nn.Module):
    """Spatial-temporal implicit representation: sample, fuse with TF, decode RGB (before activation)."""

    def __init__(self, channels: int, decoder_layers: int, w_inr: float, w_ev: float,
                 local_ensemble: bool, activation: str = "relu") -> None:
        super().__init__()
        self.local_ensemble = local_ensemble
        self.w_inr, self.w_ev = Scale(w_inr), Scale(w_ev)
        extra = 4 if local_ensemble else 0
        self.decoder = pointwise_mlp(channels + extra, channels, 3, decoder_layers, activation)

    @staticmethod
    def at_time(volume: Tensor, t: Tensor) -> Tensor:
        """Volume (B, T, C, h, w) linearly interpolated at times t (B,) -> latent map (B, C, h, w)."""
        return temporal_sample(volume, t.unsqueeze(1), align_corners=True)[:, 0]

    def decode_channels_first(self, latent: Tensor, tf_feature: Tensor) -> Tensor:
        """`forward` without the ensemble on features already read at the pixels, channels-first:
        latent (B, C, Q) and TF feature (B, C, Q) -> RGB (B, 3, Q)."""
        f = self.w_inr(latent) + self.w_ev(tf_feature)
        return mlp_channels_first(self.decoder, f)

    def forward(self, latent: Tensor, tf_feature: Tensor, coords: Tensor, out_size: tuple[int, int]) -> Tensor:
        """RGB (B, Q, 3) at normalized points `coords` (B, Q, 2) of an `out_size` output."""
        event_part = self.w_ev(tf_feature)
        if not self.local_ensemble:
            return self.decoder(self.w_inr(sample_points(latent, coords)) + event_part)
        h, w = latent.shape[-2:]
        scale = coords.new_tensor([w, h])
        cell = coords.new_tensor([2 * w / out_size[1], 2 * h / out_size[0]]).expand_as(coords)
        preds, areas = [], []
        eps = 1e-6
        for vy in (-1, 1):
            for vx in (-1, 1):
                shift = coords.new_tensor([vx / w + eps, vy / h + eps])
                iy, ix = nearest_index((coords + shift).clamp(-1 + eps, 1 - eps), h, w)
                rel = (coords - index_centers(iy, ix, h, w, coords.dtype)) * scale
                f = self.w_inr(gather_points(latent, iy, ix)) + event_part
                preds.append(self.decoder(torch.cat([f, rel.to(f.dtype), cell.to(f.dtype)], dim=-1)))
                areas.append((rel[..., 0] * rel[..., 1]).abs().unsqueeze(-1) + 1e-9)
        total = areas[0] + areas[1] + areas[2] + areas[3]
        # each prediction is weighted by the area of the rectangle opposite its latent vector
        return sum(p * (a / total).to(p.dtype) for p, a in zip(preds, reversed(areas)))
