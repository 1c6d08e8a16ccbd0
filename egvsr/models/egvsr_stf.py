"""STF (spatial-temporal fusion) of EGVSR: frame and event branches fused into a latent volume.

Frames (B, K, 3, h, w) and events (B, M, P, h, w) each get a 3x3 head, a shallow LCB, a shared
transformer fusion added back to both branches, a deep LCB, and a final fusion whose 1x1 projection
is reshaped into a volume (B, T, C, h, w): C = inr_channels features at T = time_bins times spread
corner-aligned over the window (T = 3: at -1, 0, +1). There is no 3-D convolution (docs/models.md, EGVSR options).
`official=True` builds the released blocks and attention exactly (see blocks_lcb, fusion_transformer).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from egvsr.models.blocks_lcb import LCB
from egvsr.models.fusion_transformer import PatchTransformer


def time_bin_matrix(old_bins: int, new_bins: int) -> Tensor:
    """(new, old) weights that give latents at linspace(-1, 1, new_bins) as the linear interpolation
    of latents at linspace(-1, 1, old_bins): applied to the volume projection, a model with more time
    bins starts as the same function of t when every old bin time is a new one, i.e. when
    (new_bins - 1) is a multiple of (old_bins - 1) (3 -> 5, 3 -> 9); the new bins then learn freely."""
    if old_bins == 1:
        return torch.ones(new_bins, 1)
    pos = torch.linspace(0, old_bins - 1, new_bins, dtype=torch.float64)
    i0 = pos.floor().long().clamp(max=old_bins - 2)
    w = pos - i0
    m = torch.zeros(new_bins, old_bins, dtype=torch.float64)
    m[torch.arange(new_bins), i0] = 1 - w
    m[torch.arange(new_bins), i0 + 1] += w
    return m.float()


def exact_time_bins(old_bins: int, new_bins: int) -> bool:
    """Whether `new_bins` bins (`time_bin_matrix`) give the same latent as `old_bins` at every t: the same
    count, or more with every old bin time a new one ((new_bins - 1) a multiple of (old_bins - 1)); one
    old bin is constant in t, so any count >= 1 repeats it. Fewer bins than before never do."""
    if old_bins == 1:
        return new_bins >= 1
    return new_bins >= old_bins and (new_bins - 1) % (old_bins - 1) == 0


def resample_time_bins(state: dict[str, Tensor], old_bins: int, new_bins: int,
                       prefix: str = "stf.to_volume.") -> dict[str, Tensor]:
    """A copy of model weights `state` whose volume projection gives `new_bins` time bins
    (`time_bin_matrix`); every other tensor is unchanged."""
    m = time_bin_matrix(old_bins, new_bins)
    out = dict(state)
    for key in (prefix + "weight", prefix + "bias"):
        v = state[key]
        grouped = v.float().reshape(old_bins, -1)
        out[key] = (m.to(grouped.device) @ grouped).reshape(new_bins * v.shape[0] // old_bins, *v.shape[1:]).to(v.dtype)
    return out


class STF(nn.Module):
    """Two-branch LCB encoder with transformer cross-fusion -> latent volume (B, T, C, h, w)."""

    def __init__(self, num_frames: int, moments: int, polarities: int, n_feats: int, inr_channels: int,
                 time_bins: int, lcb_depth: int, patch: int, heads: int, window_tokens: int,
                 fold: str, attention: str = "sdpa", official: bool = False, window_size: int = 0) -> None:
        super().__init__()
        self.time_bins, self.inr_channels = time_bins, inr_channels
        self.image_head = nn.Conv2d(3 * num_frames, n_feats, 3, padding=1)
        self.event_head = nn.Conv2d(moments * polarities, n_feats, 3, padding=1)
        self.image_shallow, self.event_shallow = (LCB(n_feats, lcb_depth, official) for _ in range(2))
        self.image_deep, self.event_deep = (LCB(n_feats, lcb_depth, official) for _ in range(2))
        args = dict(patch=patch, heads=heads, window_tokens=window_tokens, fold=fold, kernel=attention,
                    official=official, window_size=window_size)
        self.shallow_fusion = PatchTransformer(2 * n_feats, **args)
        self.deep_fusion = PatchTransformer(2 * n_feats, **args)
        self.to_volume = nn.Conv2d(2 * n_feats, time_bins * inr_channels, 1)

    def forward(self, lr: Tensor, events: Tensor) -> Tensor:
        b, _, _, h, w = lr.shape
        fi = self.image_shallow(self.image_head(lr.reshape(b, -1, h, w)))
        fe = self.event_shallow(self.event_head(events.reshape(b, -1, h, w)))
        fused = self.shallow_fusion(torch.cat([fi, fe], dim=1))
        n = fi.shape[1]
        fi = self.image_deep(fi + fused[:, :n])
        fe = self.event_deep(fe + fused[:, n:])
        volume = self.to_volume(self.deep_fusion(torch.cat([fi, fe], dim=1)))
        return volume.view(b, self.time_bins, self.inr_channels, h, w)

