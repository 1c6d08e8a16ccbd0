"""VideoINR encoder (Zooming-SlowMo style, docs/models.md#videoinr), with the deformable conv in plain PyTorch.

Two frames -> per-frame features (conv + residual blocks) -> 3-level pyramid -> PCD alignment in both
directions synthesizes a middle feature -> bidirectional deformable ConvLSTM over [F0, Fmid, F1]
(state aligned to each input by its own PCD modules, shared weights both ways) -> residual trunk per
time step -> concatenated (B, 3*nf, h, w) LR feature used for every query time.
Works at any LR size: pyramid levels are upsampled to the exact size of the finer level (the
original needs multiples of 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egvsr.models.deform_conv import DeformConvPack


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.1)


def _up_to(x: Tensor, ref: Tensor) -> Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class ResBlock(nn.Module):
    """Conv-ReLU-Conv with identity skip, no normalization, weights scaled by 0.1 at init."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(nf, nf, 3, padding=1), nn.Conv2d(nf, nf, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            with torch.no_grad():
                conv.weight.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class Pyramid(nn.Module):
    """Levels L1 (input), L2 (1/2) and L3 (1/4): two 3x3 convs each, the first with stride 2."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.l2 = nn.ModuleList([nn.Conv2d(nf, nf, 3, 2, 1), nn.Conv2d(nf, nf, 3, 1, 1)])
        self.l3 = nn.ModuleList([nn.Conv2d(nf, nf, 3, 2, 1), nn.Conv2d(nf, nf, 3, 1, 1)])

    def forward(self, x: Tensor) -> list[Tensor]:
        l2 = _lrelu(self.l2[1](_lrelu(self.l2[0](x))))
        l3 = _lrelu(self.l3[1](_lrelu(self.l3[0](l2))))
        return [x, l2, l3]


class PCDDirection(nn.Module):
    """Cascading pyramid alignment of `src` towards `ref` (deformable conv per level, coarse to fine)."""

    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        c = lambda i, o: nn.Conv2d(i, o, 3, 1, 1)  # noqa: E731
        self.l3_offset = nn.ModuleList([c(2 * nf, nf), c(nf, nf)])
        self.l3_dcn = DeformConvPack(nf, nf, nf, groups)
        self.offset = nn.ModuleList(nn.ModuleList([c(2 * nf, nf), c(2 * nf, nf), c(nf, nf)]) for _ in range(2))
        self.dcn = nn.ModuleList(DeformConvPack(nf, nf, nf, groups) for _ in range(2))
        self.fea = nn.ModuleList(c(2 * nf, nf) for _ in range(2))

    def forward(self, src: list[Tensor], ref: list[Tensor]) -> Tensor:
        off = _lrelu(self.l3_offset[1](_lrelu(self.l3_offset[0](torch.cat([src[2], ref[2]], 1)))))
        fea = _lrelu(self.l3_dcn(src[2], off))
        for i, level in enumerate((1, 0)):
            convs = self.offset[i]
            o = _lrelu(convs[0](torch.cat([src[level], ref[level]], 1)))
            o = _lrelu(convs[1](torch.cat([o, _up_to(off, o) * 2], 1)))
            o = _lrelu(convs[2](o))
            f = self.dcn[i](src[level], o)
            f = self.fea[i](torch.cat([f, _up_to(fea, f)], 1))
            off, fea = o, (_lrelu(f) if level else f)
        return fea


class PCDAlign(nn.Module):
    """Both alignment directions (a towards b, b towards a) fused by a 1x1 conv."""

    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        self.forward_dir, self.backward_dir = PCDDirection(nf, groups), PCDDirection(nf, groups)
        self.fusion = nn.Conv2d(2 * nf, nf, 1)

    def forward(self, a: list[Tensor], b: list[Tensor]) -> Tensor:
        return self.fusion(torch.cat([self.forward_dir(a, b), self.backward_dir(b, a)], 1))


class EasyPCD(nn.Module):
    """PCD alignment of two single-level maps: builds their pyramids with its own convs first."""

    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        self.pyramid, self.align = Pyramid(nf), PCDAlign(nf, groups)

    def forward(self, f1: Tensor, f2: Tensor) -> Tensor:
        levels = self.pyramid(torch.cat([f1, f2], 0))
        n = f1.shape[0]
        return self.align([lv[:n] for lv in levels], [lv[n:] for lv in levels])


class BiDeformableConvLSTM(nn.Module):
    """ConvLSTM whose hidden and cell states are PCD-aligned to each input; run forwards and
    backwards with the same weights, the two outputs fused per step by a 1x1 conv."""

    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        self.pcd_h, self.pcd_c = EasyPCD(nf, groups), EasyPCD(nf, groups)
        self.cell = nn.Conv2d(2 * nf, 4 * nf, 3, 1, 1)
        self.fuse = nn.Conv2d(2 * nf, nf, 1)

    def _run(self, seq: list[Tensor]) -> list[Tensor]:
        h = torch.zeros_like(seq[0])
        c = torch.zeros_like(seq[0])
        out = []
        for x in seq:
            h_al, c_al = self.pcd_h(x, h), self.pcd_c(x, c)
            i, f, o, g = self.cell(torch.cat([x, h_al], 1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c_al + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return out

    def forward(self, seq: list[Tensor]) -> list[Tensor]:
        fwd = self._run(seq)
        bwd = self._run(seq[::-1])[::-1]
        return [self.fuse(torch.cat([a, b], 1)) for a, b in zip(fwd, bwd)]


class VideoINREncoder(nn.Module):
    """Two LR frames (B, 2, 3, h, w) -> LR feature (B, 3*nf, h, w) for frame 0, middle, frame 1."""

    def __init__(self, nf: int, groups: int, front_blocks: int, back_blocks: int) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, nf, 3, 1, 1)
        self.front = nn.Sequential(*(ResBlock(nf) for _ in range(front_blocks)))
        self.pyramid = Pyramid(nf)
        self.interpolate = PCDAlign(nf, groups)
        self.lstm = BiDeformableConvLSTM(nf, groups)
        self.trunk = nn.Sequential(*(ResBlock(nf) for _ in range(back_blocks)))

    def forward(self, pair: Tensor) -> Tensor:
        b, _, _, h, w = pair.shape
        levels = self.pyramid(self.front(_lrelu(self.head(pair.flatten(0, 1)))))
        first = [lv.view(b, 2, *lv.shape[1:])[:, 0] for lv in levels]
        second = [lv.view(b, 2, *lv.shape[1:])[:, 1] for lv in levels]
        seq = self.lstm([first[0], self.interpolate(first, second), second[0]])
        feats = self.trunk(torch.stack(seq, 1).flatten(0, 1))
        return feats.view(b, -1, h, w)
