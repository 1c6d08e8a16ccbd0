"""Synthetic clips rendered once into a cache folder, named by everything that determines them.

A config names clips as `synthetic:SPLIT:A-B` (or `synthetic:SPLIT:I`); the files live in
`<cache>/synthetic-v<version>-seed<seed>-<H>x<W>-f<frames>/<split>-<index>.h5`, are written
atomically, and are rendered only when missing, in parallel processes when there are many.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from egvsr.datasets.synthetic.clip import GENERATOR_VERSION, SPLIT_IDS, render_clip
from egvsr.errors import ConfigError

MAX_CLIPS = 100_000


def parse_entry(entry: str, where: str) -> tuple[str, list[int]]:
    """`synthetic:SPLIT:A-B` -> (split, [A..B]); one clear error naming the entry otherwise."""
    parts = entry.split(":")
    usage = f"{where}: {entry!r} should be synthetic:SPLIT:INDEX or synthetic:SPLIT:FIRST-LAST " \
            f"with SPLIT one of {sorted(SPLIT_IDS)}"
    if len(parts) != 3 or parts[1] not in SPLIT_IDS:
        raise ConfigError(usage)
    try:
        lo, _, hi = parts[2].partition("-")
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise ConfigError(usage) from None
    if first < 0 or last < first or last - first >= MAX_CLIPS:
        raise ConfigError(f"{usage}; FIRST <= LAST, at most {MAX_CLIPS} clips")
    return parts[1], list(range(first, last + 1))


def clip_folder(cache: Path, seed: int, size: tuple[int, int], frames: int) -> Path:
    return Path(cache) / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-{size[0]}x{size[1]}-f{frames}"


def _render(args) -> str:
    path, seed, split, index, size, frames = args
    render_clip(path, seed, split, index, size, frames)
    return path


def ensure_clips(cache: Path, seed: int, split: str, indices: list[int], size: tuple[int, int] = (128, 160),
                 frames: int = 5, progress: bool = True, workers: int | None = None) -> list[str]:
    """Paths of the clips, rendering the missing ones (in `workers` processes when there are many)."""
    folder = clip_folder(cache, seed, size, frames)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"{split}-{i:05d}.h5") for i in indices]
    todo = [(p, seed, split, i, size, frames) for p, i in zip(paths, indices) if not os.path.exists(p)]
    if not todo:
        return paths
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=f"synthetic {split} clips", disable=not progress, unit="clip")
    workers = workers or min(len(todo) // 8 + 1, os.cpu_count() or 1)
    if workers <= 1:
        for job in todo:
            _render(job)
            bar.update(1)
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_render, todo, chunksize=4):
                bar.update(1)
    bar.close()
    return paths
