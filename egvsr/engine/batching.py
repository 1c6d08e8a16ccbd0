"""Which samples form step `s`'s batch, derived from (seed, step) alone.

Deriving every choice (sample indices, the batch's shared scale, each sample's augmentation seed) from the
step number makes three things hold by construction: a resumed run sees exactly the batches the uninterrupted
run would have seen; DataLoader workers need no RNG of their own; and under torchrun each rank takes a
disjoint slice of the same global batch, so N ranks see what one process with the global batch sees.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler

from egvsr.errors import ConfigError


def check_global_batch(global_batch: int, world_size: int) -> None:
    """Refuse a global batch (`train.batch_size`) that the processes of a torchrun job cannot split evenly."""
    if int(global_batch) % world_size:
        raise ConfigError(f"train.batch_size: {global_batch} does not split evenly over the {world_size} processes "
                          f"of this torchrun job; expected a multiple of {world_size} (the global batch)")


class StepBatchSampler(Sampler):
    """Yield, for steps start..total-1, this rank's list of (index, scale, sample_seed) tuples."""

    def __init__(
        self,
        num_items: int,
        global_batch: int,
        scale_range: tuple[float, float],
        seed: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_items < 1:
            raise ConfigError("training data has no samples (check data.train paths and window size)")
        check_global_batch(global_batch, world_size)
        lo, hi = float(scale_range[0]), float(scale_range[1])
        if not 0 < lo <= hi:
            raise ConfigError(f"scale range {scale_range}: expected 0 < low <= high")
        self.num_items, self.global_batch = num_items, global_batch
        self.scale_range = (lo, hi)
        self.seed, self.total_steps, self.start_step = int(seed), int(total_steps), int(start_step)
        self.rank, self.world_size = rank, world_size
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def _permutation(self, epoch: int) -> np.ndarray:
        """Epoch `epoch`'s shuffled order (the last two are kept: a batch spans at most two epochs)."""
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = np.random.default_rng([self.seed, 1, epoch]).permutation(self.num_items)
        return self._perms[epoch]

    def batch(self, step: int) -> list[tuple[int, float, int]]:
        """The whole global batch of `step` (all ranks)."""
        rng = np.random.default_rng([self.seed, 2, step])
        lo, hi = self.scale_range
        scale = float(rng.uniform(lo, hi)) if hi > lo else lo
        seeds = rng.integers(0, 2**62, self.global_batch)
        out = []
        for j in range(self.global_batch):
            epoch, k = divmod(step * self.global_batch + j, self.num_items)
            out.append((int(self._permutation(epoch)[k]), scale, int(seeds[j])))
        return out

    def __iter__(self) -> Iterator[list[tuple[int, float, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)[self.rank :: self.world_size]
