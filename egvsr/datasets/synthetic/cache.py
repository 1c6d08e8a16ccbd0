"""Synthetic clips rendered once into a cache folder, named by everything that determines them.

A config names clips as `synthetic:SPLIT:A-B` (or `synthetic:SPLIT:I`); the files live in
`<cache>/synthetic-v<version>-seed<seed>-<H>x<W>-f<frames>/<split>-<index>.h5`, are written
atomically, and are rendered only when missing, in parallel processes when there are many. The ranks of a
`torchrun` job split the clips (`rank_order`): each renders its own share first, then helps with the
others' from their ends, and the ranks on one machine share its cores and memory. Processes that share a
cache (where ranks meet, or two trainings) may still render the same clip at once: each renders into a
temporary of its own and publishes it only while the clip is absent, so the first one wins and the others
keep its clip (a clip is fully determined by its folder and file name). A clip already there is
checked against its name (its header: generator version, seed, split, index, size, frame counts) and refused,
naming the file, when it is unreadable (truncated, damaged) or another clip, so nothing else is read as it. The memory
of one clip's rendering and the disk of the missing clips are checked before the folder is made, and a
folder made by a run that fails before any clip is written is removed again.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from itertools import zip_longest
from pathlib import Path

from egvsr.datasets.synthetic.clip import (
    GENERATOR, GENERATOR_VERSION, GT_PER_INTERVAL, SPLIT_IDS, check_clip_id, render_clip,
)
from egvsr.datasets.synthetic.limits import check_clip_shape
from egvsr.datasets.synthetic.scene import background_photo_pixels
from egvsr.errors import ConfigError, InputFileError, OutputError
from egvsr.events.checks import is_integer
from egvsr.events.simulate.budget import memory_budget
from egvsr.fsutil import (
    TEMP_MARK, check_flag, fmt_size, free_bytes, publish_new, remove_made_folders, remove_stale_partials, temp_prefix,
)
from egvsr.process import PLANNED_MEMORY_SHARE, handled_signals, held_signals
from egvsr.progress import bar as progress_bar

MAX_CLIPS = 100_000
#: Peak bytes per pixel of rendering one clip besides its frames and events: the scene (a background of
#: 2.08 times the clip's sides, RGBA float32), its float32 renders and the simulator's state (all of it
#: measured at 370 per pixel at 512x640 with 5 frames and about 2 events per pixel)
SCENE_BYTES_PER_PIXEL = 400
#: Bytes of each pixel of the background photograph scaled up for a clip (float32 RGB): on top of the scene's
#: bytes per clip pixel, as a clip much wider than tall scales a photo up to a square of its long side (about
#: 1 GB for a 16x4096 clip; docs/datasets.md, Limits)
PHOTO_BYTES_PER_PIXEL = 12
#: Bytes a rendering process holds besides its clips: the simulator's compiled kernels and the bundled
#: photographs it has loaded (all of them), with room above what was measured
PROCESS_BYTES = 160 << 20
#: Bytes per pixel of each frame and ground-truth frame while a clip renders: the frame and its stacked copy
FRAME_BYTES_PER_PIXEL = 6
#: Events per pixel and frame interval the memory check allows for: above the most measured (13.8 over 300
#: clips at 48x64, 10.8 over 150 clips at 128x160; the median is 0.8)
EVENTS_PER_PIXEL_INTERVAL = 20
#: Bytes per event held at once: every step's events (x, y uint16, t int64, p int8), their concatenation,
#: the time sort's order and the sorted copy
EVENT_BYTES = 50
#: Bytes per frame pixel a cached clip takes on disk at least: its gzip-compressed frames alone took 0.49
#: to 2 per pixel of each frame and ground-truth frame over 120 clips (events come on top)
DISK_BYTES_PER_FRAME_PIXEL = 0.4


def parse_entry(entry: str, where: str) -> tuple[str, list[int]]:
    """`synthetic:SPLIT:A-B` -> (split, [A..B]); one clear error naming the entry otherwise."""
    parts = entry.split(":")
    usage = f"{where}: {entry!r} should be synthetic:SPLIT:INDEX or synthetic:SPLIT:FIRST-LAST " \
            f"with SPLIT one of {sorted(SPLIT_IDS)}"
    # plain ASCII digits only: int() also takes " 1", "+1", "1_0" and other scripts' digits, and "5-" read as 5
    numbers = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", parts[2]) if len(parts) == 3 else None
    if numbers is None or parts[1] not in SPLIT_IDS:
        raise ConfigError(usage)
    first, last = int(numbers[1]), int(numbers[2] or numbers[1])
    if first < 0 or last < first or last - first >= MAX_CLIPS:
        raise ConfigError(f"{usage}; FIRST <= LAST, at most {MAX_CLIPS} clips")
    return parts[1], list(range(first, last + 1))


def clip_folder(cache: Path, seed: int, size: tuple[int, int], frames: int) -> Path:
    return Path(cache) / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-{size[0]}x{size[1]}-f{frames}"


def stored_frames(frames: int) -> int:
    """Frames plus ground-truth frames of a clip of `frames` input frames."""
    return frames + GT_PER_INTERVAL * (frames - 1)


def clip_memory_bytes(size: tuple[int, int], frames: int) -> int:
    """Peak bytes of a process rendering one clip of `size` and `frames` frames, estimated from above."""
    per_pixel = (SCENE_BYTES_PER_PIXEL + stored_frames(frames) * FRAME_BYTES_PER_PIXEL
                 + EVENTS_PER_PIXEL_INTERVAL * (frames - 1) * EVENT_BYTES)
    return size[0] * size[1] * per_pixel + background_photo_pixels(*size) * PHOTO_BYTES_PER_PIXEL + PROCESS_BYTES


def clip_disk_bytes(size: tuple[int, int], frames: int) -> int:
    """Bytes one cached clip takes on disk at least (its compressed frames)."""
    return int(size[0] * size[1] * stored_frames(frames) * DISK_BYTES_PER_FRAME_PIXEL)


def torchrun_ranks() -> tuple[int, int, int]:
    """(rank, world size, ranks on this machine) of the `torchrun` job this process is in, from the
    variables torchrun sets (RANK, WORLD_SIZE, LOCAL_WORLD_SIZE); (0, 1, 1) outside one, or where they
    do not make sense."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1, 1
    if not 0 <= rank < world:
        return 0, 1, 1
    return rank, world, min(max(local, 1), world)


_NONE = object()  # what zip_longest pads the shorter shares with


def rank_order(items: list, rank: int, world: int) -> list:
    """`items` in the order rank `rank` of `world` processes that each need them all works through them: its
    own share (every `world`-th, from its rank) first, then the other shares from their ends, one item of
    each in turn (the next rank's first). Each item is done by its owner unless the owner is slow, and a
    rank done early takes the items owners reach last, so ranks of equal speed do each item once, up to
    where they meet; every rank still ends with all of them (one that fails or is slow is covered)."""
    if world <= 1:
        return list(items)
    others = [list(items[(rank + j) % world::world])[::-1] for j in range(1, world)]
    return list(items[rank::world]) + [x for turn in zip_longest(*others, fillvalue=_NONE) for x in turn
                                       if x is not _NONE]


def plan_workers(folder: Path, count: int, size: tuple[int, int], frames: int, workers: int,
                 keys: tuple[str, str] = ("size", "frames"), ranks_here: int = 1) -> int:
    """Processes to render `count` missing clips in: refuses, before anything is made, a clip whose
    rendering needs more than the memory budget, or clips that need more than the free disk of
    `folder`; fewer than `workers` when their clips do not fit in memory side by side, with the
    `ranks_here` processes of a job on this machine each rendering as many."""
    what = f"synthetic clips of {size[0]}x{size[1]} pixels and {frames} frames"
    one, budget = clip_memory_bytes(size, frames), memory_budget()
    if one > budget:
        raise ConfigError(
            f"{keys[0]}, {keys[1]}: {what} need up to about {fmt_size(one)} of memory each to render, more than "
            f"{PLANNED_MEMORY_SHARE:.0%} of this machine's memory ({fmt_size(budget)}); use a smaller {keys[0]} "
            f"or fewer {keys[1]}")
    need, free = count * clip_disk_bytes(size, frames), free_bytes(folder)
    if free is not None and need > free:
        raise OutputError(
            f"{folder}: {count:,} {what} need at least about {fmt_size(need)} on disk, more than the "
            f"{fmt_size(free)} free there; render fewer or smaller clips, or cache them elsewhere")
    return max(1, min(workers, budget // (one * max(1, int(ranks_here)))))


def cached_clip_problem(path: str, seed: int, split: str, index: int, size: tuple[int, int],
                        frames: int) -> str | None:
    """Why the file at clip `index`'s name is not that clip (None when its header says it is): not a regular
    file, unreadable (truncated or damaged), or a clip of other settings. Reads the header only."""
    from egvsr.events.io.h5util import header_mismatch

    want = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "seed": seed, "split": split,
            "index": index, "height": size[0], "width": size[1]}
    return header_mismatch(path, want, {"frames/t": frames, "gt/t": GT_PER_INTERVAL * (frames - 1)}, "clip")


def check_cached(jobs: list[tuple]) -> None:
    """Refuse, naming the file, a file at the name of a clip of `jobs` ((path, seed, split, index, size,
    frames) each) that is not that clip (see `cached_clip_problem`)."""
    for path, *clip in jobs:
        if os.path.lexists(path):
            why = cached_clip_problem(path, *clip)
            if why is not None:
                raise InputFileError(f"{path}: the cached synthetic clip is {why}; delete it and it is rendered "
                                     "again")


def _make_folder(folder: Path) -> list[Path]:
    """Create `folder` and the folders above it that are missing; returns those it made, deepest first."""
    made = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_made_folders(made)
        blocker = next((p for p in (folder, *folder.parents) if os.path.lexists(p) and not p.is_dir()), None)
        if blocker is not None:
            raise OutputError(f"{blocker}: is a file, expected a folder (the synthetic clip cache)") from None
        raise OutputError(f"{folder}: cannot create the synthetic clip cache ({exc.strerror or exc})") from None
    return made


def _publish(tmp: Path, out: Path) -> None:
    """Give the rendered clip `tmp` the name `out` unless a clip has appeared there meanwhile (another
    process that rendered the same clip finished first: its clip is the same, so it is kept)."""
    try:
        publish_new(tmp, out)  # never replaces a clip another process published
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the synthetic clip ({exc.strerror or exc})") from None


def _render(args) -> str:
    """Render one clip into a temporary of this process, then publish it if no other process has."""
    path, seed, split, index, size, frames = args
    out = Path(path)
    if os.path.exists(out):
        return path
    remove_stale_partials(out)  # temporaries of killed renderers of this clip
    with tempfile.TemporaryDirectory(prefix=f"{temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                     dir=out.parent) as tmp:
        render_clip(Path(tmp) / out.name, seed, split, index, size, frames)
        _publish(Path(tmp) / out.name, out)
    return path


def ensure_clips(cache: Path, seed: int, split: str, indices: list[int], size: tuple[int, int] = (128, 160),
                 frames: int = 5, progress: bool = True, workers: int | None = None,
                 keys: tuple[str, str] = ("size", "frames")) -> list[str]:
    """Paths of the clips, rendering the missing ones (in `workers` processes when there are many);
    `keys` name the size and frame count in errors (a config's keys). Every argument is checked first, in one
    line naming it."""
    if not isinstance(cache, (str, os.PathLike)):
        raise ConfigError(f"cache {cache!r}: expected a folder path (str or os.PathLike)")
    size = check_clip_shape(size, frames, *keys)
    if not isinstance(indices, (list, tuple, range)):
        raise ConfigError(f"indices {indices!r:.80}: expected a list of clip numbers")
    seed, split = check_clip_id(seed, split, 0)[:2]
    indices = [check_clip_id(seed, split, i)[2] for i in indices]
    progress = check_flag(progress, "progress")
    if workers is not None and (not is_integer(workers) or workers < 1):
        raise ConfigError(f"workers {workers!r}: expected an integer >= 1 or None")
    folder = clip_folder(cache, seed, size, frames)
    paths = [str(folder / f"{split}-{i:05d}.h5") for i in indices]
    jobs = [(p, seed, split, i, size, frames) for p, i in zip(paths, indices)]
    check_cached(jobs)
    rank, world, here = torchrun_ranks()
    # the shares are cut from all the clips, which every rank lists alike, before the present ones are dropped
    todo = [job for job in rank_order(jobs, rank, world) if not os.path.lexists(job[0])]
    if not todo:
        return paths
    workers = plan_workers(folder, len(todo), size, frames,
                           workers or min(len(todo) // 8 + 1, max(1, (os.cpu_count() or 1) // here)), keys, here)
    made = _make_folder(folder)
    try:
        _render_all(todo, workers, f"synthetic {split} clips", progress)
    except BaseException:
        remove_made_folders(made)
        raise
    return paths


def _render_all(todo: list[tuple], workers: int, desc: str, progress: bool) -> None:
    """Render the clips of `todo` in `workers` processes, with a progress bar when `progress`."""
    bar = progress_bar(len(todo), desc, progress, unit="clip")
    if workers <= 1:
        for job in todo:
            _render(job)
            bar.update(1)
    else:
        _render_in_pool(todo, workers, bar)
    bar.close()


def _render_in_pool(todo: list[tuple], workers: int, bar) -> None:
    """Render `todo` in `workers` processes, a few clips queued at a time, so Ctrl-C or SIGTERM (once or twice)
    ends the run in about a clip's time: nothing else is queued, and the clips rendering finish (the workers
    ignore those signals: one unwinding a worker could leave it stuck in the pool's queues). The signals are
    held over the pool's calls, whose locks a signal's exception could leave taken."""
    jobs, running = iter(todo), set()
    pool = ProcessPoolExecutor(workers, initializer=_ignore_signals)
    try:
        while True:
            with held_signals():
                while len(running) < 2 * workers and (job := next(jobs, None)) is not None:
                    running.add(pool.submit(_render, job))
                if not running:
                    break
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a worker's error, raised here
            bar.update(len(done))
    finally:
        with held_signals():
            pool.shutdown(wait=True, cancel_futures=True)


def _ignore_signals() -> None:
    """In a rendering process: ignore the signals the main process handles (see `_render_in_pool`)."""
    for sig in handled_signals():
        signal.signal(sig, signal.SIG_IGN)
