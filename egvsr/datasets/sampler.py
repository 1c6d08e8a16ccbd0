"""One scale per batch: a batch sampler that draws the scale, and a collate that enforces it.

The sampler yields lists of `SampleKey(index, scale, seed)`; `EventVSRDataset[key]` builds the sample
at that scale with its random choices (crop, flips, reversal, query times) drawn from `seed`. Every
choice derives from (sampler seed, epoch), so an epoch is reproducible whatever the number of
DataLoader workers.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from egvsr.datasets.geometry import fmt_scale
from egvsr.errors import ConfigError
from egvsr.fsutil import check_flag


class SampleKey(NamedTuple):
    """Which item, at which scale, with which random seed (a plain tuple works too)."""

    index: int
    scale: float
    seed: int


def check_integer(value: Any, name: str, lo: int) -> int:
    """`value` as an int when it is an integer >= `lo` (Python's or NumPy's); a bool, float or str is
    refused up front rather than truncated, or failing later inside a DataLoader."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < lo:
        raise ConfigError(f"{name} {value!r}: expected an integer >= {lo}")
    return int(value)


def check_numbers(values: Any, name: str) -> list[float]:
    """`values` (a list, tuple or array of real numbers) as floats; a string is not a sequence of
    numbers ("23" is not [2, 3]), nor are bools or numeric strings."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) \
            or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in values):
        raise ConfigError(f"{name} {values!r}: expected a list of numbers")
    return [float(v) for v in values]


def check_scale_range(scale_range: Sequence[float], what: str = "scale_range") -> tuple[float, float]:
    """Validate a (low, high) scale range: 1 <= low <= high, finite."""
    try:
        lo, hi = check_numbers(scale_range, what)
    except (ConfigError, ValueError):
        raise ConfigError(f"{what} {scale_range!r}: expected (low, high)") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 1.0 <= lo <= hi):
        raise ConfigError(f"{what} ({fmt_scale(lo)}, {fmt_scale(hi)}): expected 1 <= low <= high "
                          "(super-resolution scales)")
    return lo, hi


class ScaleBatchSampler(Sampler):
    """Shuffled batches of `SampleKey`s sharing one scale drawn uniformly from `scale_range`.

    `scales` (a list) draws the batch scale from those values instead. Call `set_epoch(e)` before
    each epoch; the same (seed, epoch) gives the same batches.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        scale_range: Sequence[float] = (1.0, 4.0),
        *,
        scales: Sequence[float] | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        check_integer(num_items, "num_items", 0)
        if num_items < 1:
            raise ConfigError(f"num_items {num_items!r}: the dataset has no samples")
        check_integer(batch_size, "batch_size", 1)
        self.scale_range = check_scale_range(scale_range)
        self.scales = None
        if scales is not None:
            self.scales = check_numbers(scales, "scales")
            lo, hi = self.scale_range
            bad = [s for s in self.scales if not lo <= s <= hi]
            if not self.scales or bad:
                raise ConfigError(
                    f"scales {list(scales)!r}: expected a non-empty list inside scale_range "
                    f"({fmt_scale(lo)}, {fmt_scale(hi)})"
                )
        self.num_items, self.batch_size = int(num_items), int(batch_size)
        self.shuffle, self.drop_last = check_flag(shuffle, "shuffle"), check_flag(drop_last, "drop_last")
        self.seed = check_integer(seed, "seed", 0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches `__iter__` yields (an integer >= 0: NumPy seeds are)."""
        self.epoch = check_integer(epoch, "epoch", 0)

    def __len__(self) -> int:
        n, b = self.num_items, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _scale(self, rng: np.random.Generator) -> float:
        if self.scales is not None:
            return self.scales[int(rng.integers(0, len(self.scales)))]
        lo, hi = self.scale_range
        return float(rng.uniform(lo, hi)) if hi > lo else lo

    def __iter__(self) -> Iterator[list[SampleKey]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.num_items) if self.shuffle else np.arange(self.num_items)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            scale = self._scale(rng)
            seeds = rng.integers(0, 2**62, len(idx))
            yield [SampleKey(int(i), scale, int(s)) for i, s in zip(idx, seeds)]


def collate_samples(samples: list[dict]) -> dict:
    """Stack samples into a batch; all must share the scale and the LR/HR sizes.

    Tensors are stacked along a new batch axis; `scale` becomes a float, `clip`/`index`/`reversed`
    lists. A batch mixing scales raises `ConfigError` (use `ScaleBatchSampler` or batch size 1).
    """
    if not samples:
        raise ConfigError("collate_samples: empty batch")
    bad = next((s for s in samples if not isinstance(s, dict) or "scale" not in s), None)
    if bad is not None:
        raise ConfigError(f"collate_samples: expected samples of EventVSRDataset (dicts with a 'scale'), "
                          f"got {type(bad).__name__}")
    scales = {float(s["scale"]) for s in samples}
    if len(scales) != 1:
        raise ConfigError(
            f"batch mixes scales {sorted(scales)}; one scale per batch is required "
            "(use egvsr.datasets.ScaleBatchSampler)"
        )
    out: dict = {"scale": scales.pop()}
    for key, v in samples[0].items():
        if key == "scale":
            continue
        vals = [s[key] for s in samples]
        if isinstance(v, torch.Tensor):
            shapes = {tuple(x.shape) for x in vals}
            if len(shapes) == 2 and _transposed(*shapes) and _same_crop_size(samples):
                raise ConfigError(
                    f"batch: '{key}' has shapes {sorted(shapes)}, the same sides swapped: 90-degree rotations "
                    "of a non-square patch or frame; use a square patch_size, rotations=False or batch size 1"
                )
            if len(shapes) != 1:
                raise ConfigError(
                    f"batch: '{key}' has different shapes {sorted(shapes)}; samples of one batch need "
                    "the same LR/HR size and number of queries (fixed patch_size, or batch size 1)"
                )
            out[key] = torch.stack(vals)
        else:
            out[key] = vals
    return out


def _transposed(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether shapes `a` and `b` differ only by their last two sides swapped (a 90-degree rotation)."""
    return len(a) >= 2 and a[:-2] == b[:-2] and a[-2:] == b[-1:-3:-1]


def _same_crop_size(samples: list[dict]) -> bool:
    """Whether the samples cut crops of one size from the sensor (`crop` is (y0, x0, H, W), taken before any
    rotation): then sides that differ were swapped by the augmentation, not by the recordings."""
    sizes = {tuple(torch.as_tensor(s["crop"]).tolist()[2:]) for s in samples if "crop" in s}
    return len(sizes) == 1 and all("crop" in s for s in samples)
