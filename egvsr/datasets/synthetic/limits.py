"""The sizes a synthetic clip may have: checked by the renderer and by a config's keys (cheap to import)."""

from __future__ import annotations

import numpy as np

from egvsr.errors import ConfigError

#: Sides of a clip in pixels: below 4 the scene's layers and crops have no pixel (ZeroDivisionError, cv2
#: errors); 16 (make-sample's floor too) was rendered over 1000 clips (16x16 to 16x200 and 200x16).
MIN_SIDE, MAX_SIDE = 16, 4096
#: Input frames of a clip: every frame and ground-truth frame of a clip is held in memory while it renders,
#: and a longer clip adds nothing that more clips do not (a sample reads a window of a few frames).
MIN_FRAMES, MAX_FRAMES = 2, 1000
#: Ground-truth frames between two frames of a clip: at least one (a clip's layout has ground truth), and few
#: enough that each falls on its own microsecond at the highest frame rate drawn (50 fps: 20,000 µs apart).
MIN_GT_PER_INTERVAL, MAX_GT_PER_INTERVAL = 1, 100


def check_clip_shape(size: object, num_frames: object, size_name: str = "size", frames_name: str = "num_frames") -> tuple[int, int]:
    """(height, width) of a clip of `size` and `num_frames` frames, or one line naming the argument (or
    config key) out of `MIN_SIDE`..`MAX_SIDE` / `MIN_FRAMES`..`MAX_FRAMES`: checked before anything renders."""
    ok = isinstance(size, (list, tuple)) and len(size) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and MIN_SIDE <= v <= MAX_SIDE for v in size)
    if not ok:
        raise ConfigError(f"{size_name}: expected [height, width] with sides of {MIN_SIDE} to {MAX_SIDE} pixels, "
                          f"got {size!r:.80}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) \
            or not MIN_FRAMES <= num_frames <= MAX_FRAMES:
        raise ConfigError(f"{frames_name}: expected an integer from {MIN_FRAMES} to {MAX_FRAMES} (frames of a "
                          f"clip), got {num_frames!r:.80}")
    return int(size[0]), int(size[1])


def check_gt_per_interval(gt_per_interval: object, name: str = "gt_per_interval") -> int:
    """Ground-truth frames per frame interval, or one line naming the argument out of
    `MIN_GT_PER_INTERVAL`..`MAX_GT_PER_INTERVAL`: checked before anything renders."""
    if isinstance(gt_per_interval, bool) or not isinstance(gt_per_interval, (int, np.integer)) \
            or not MIN_GT_PER_INTERVAL <= gt_per_interval <= MAX_GT_PER_INTERVAL:
        raise ConfigError(f"{name}: expected an integer from {MIN_GT_PER_INTERVAL} to {MAX_GT_PER_INTERVAL} "
                          f"(ground-truth frames between two frames), got {gt_per_interval!r:.80}")
    return int(gt_per_interval)
