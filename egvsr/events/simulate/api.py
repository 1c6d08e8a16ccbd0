"""Public entry points: `simulate_frames` (in memory) and `simulate_video` (file in, our HDF5 out)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.frames import Frames
from egvsr.events.io.arguments import check_path
from egvsr.events.simulate import pipeline
from egvsr.events.simulate.budget import (
    BYTES_PER_PIXEL, ClipSpan, check_frame_memory, check_noise_disk, check_noise_memory, noise_checked,
)
from egvsr.events.simulate.simulator import EventSimulator, check_seed
from egvsr.events.simulate.thresholds import SimulatorConfig, check_knob_max, knob_flag, simulator_knobs
from egvsr.events.simulate.upsample import Upsampler
from egvsr.events.simulate.video_input import check_video_args, folder_members, open_video
from egvsr.events.stream import EventStream
from egvsr.fsutil import check_flag, check_output_path, listed_members, refuse_inputs_as_outputs, shown
from egvsr.progress import bar as progress_bar

FRAME_BATCH = 16  # frames buffered before each write


def _config(config: SimulatorConfig | None, knobs: dict) -> SimulatorConfig:
    """The simulator settings: `config`, or one built from `knobs` (`SimulatorConfig`'s fields)."""
    known = {f.name: f for f in simulator_knobs()}
    unknown = sorted(set(knobs) - set(known))
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a simulator option; expected one of {', '.join(known)}")
    if config is not None:
        if not isinstance(config, SimulatorConfig):
            raise ConfigError(f"config: expected a SimulatorConfig, got {type(config).__name__}")
        if knobs:
            raise ConfigError(f"{next(iter(knobs))}: give the simulator options or a config, not both")
        return config
    for name, v in knobs.items():
        check_knob_max(knob_flag(name), name, v)
    return SimulatorConfig(**knobs)


def simulate_frames(
    frames: Frames,
    *,
    config: SimulatorConfig | None = None,
    max_subframes: int | None = None,
    interpolation: str = "flow",
    max_px_per_step: float = 1.0,
    seed: int = 0,
    backend: str = "numba",
    threads: int | None = None,
    **knobs: Any,
) -> EventStream:
    """Events of `frames` (uint8 RGB or gray, int64 µs times) as one EventStream.

    Frame pairs are upsampled (`interpolation` "flow", "linear", or "none" for frames that are
    already dense) so motion per sub-step stays near `max_px_per_step`; the simulator settings are
    `config`, or the `SimulatorConfig` fields given as keywords (`knobs`: cp, cn_ratio, sigma, ...;
    defaults: Cp ~ U(0.05, 0.5) per clip, Cn = Cp * N(1, 0.1), sigma 0.03, refractory 100 µs, no
    leak or shot noise). Deterministic for a given `seed`, whatever
    the number of `threads` (None: numba's current setting).
    """
    if not isinstance(frames, Frames):
        raise ConfigError(f"frames: expected an egvsr Frames object, got {type(frames).__name__}")
    config = _config(config, knobs)
    up = Upsampler(interpolation, max_px_per_step, max_subframes)
    _check_frame_size(frames.width, frames.height, interpolation, "frames", cli=False)
    check_noise_memory(config, frames.width, frames.height, ClipSpan.of_times(frames.t),
                       frames.width * frames.height * BYTES_PER_PIXEL, keep_all=True)
    sim = EventSimulator(frames.width, frames.height, config, check_seed(seed), backend=backend,
                         threads=threads)
    chunks: list[EventStream] = []
    pipeline.run(zip(frames.t.tolist(), frames.images), sim, up, chunks.append)
    if not chunks:
        return EventStream.empty(frames.width, frames.height)
    return EventStream.concatenate(chunks)


def _check_frame_size(width: int, height: int, interpolation: str, src, cli: bool = True) -> None:
    """Refuse frames the machine cannot hold (before any is read), and frames too small to interpolate:
    sub-frame interpolation measures image gradients, which need two pixels along each side. `cli`:
    the advice names the flags of `egvsr simulate`, else `simulate_frames`' arguments."""
    advice = "pass a smaller --size HxW" if cli else "simulate smaller frames"
    check_frame_memory(width, height, src, advice)
    if interpolation != "none" and min(width, height) < 2:
        method, fix = ((f"--interpolation {interpolation}", "pass --size HxW or --interpolation none") if cli
                       else (f"interpolation={interpolation!r}", 'pass interpolation="none" or larger frames'))
        raise ConfigError(
            f"{src}: frames of {width}x{height} pixels are too small for {method} (it needs at least 2x2); {fix}"
        )


def simulate_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    *,
    config: SimulatorConfig | None = None,
    max_subframes: int | None = None,
    interpolation: str = "flow",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    max_px_per_step: float = 1.0,
    threads: int | None = None,
    **knobs: Any,
) -> Path:
    """Simulate a video file or frame folder into an aligned recording (frames + events) at `dst`.

    Streaming: frame pairs are read, upsampled and simulated one at a time; events and frames are
    appended to an `EventWriter`, so the output is complete or absent. `fps` gives (or overrides)
    the frame times; `size` = (H, W) resizes the frames first; the simulator settings are `config`
    or `SimulatorConfig`'s fields as keywords (`knobs`), as in `simulate_frames`; `threads`: numba threads (None: the
    current setting; the events do not depend on it). Returns the output path.
    """
    from egvsr.events.io import EventWriter

    check_video_args(src, fps, size)
    progress = check_flag(progress, "progress")
    check_path(dst, "dst", "an output file path")
    config = _config(config, knobs)
    up = Upsampler(interpolation, max_px_per_step, max_subframes)
    seed = check_seed(seed)
    check_output_path(dst, overwrite)  # fail before reading any frame
    refuse_inputs_as_outputs([src], [dst], members=lambda folder: listed_members(folder, folder_members))
    video = open_video(src, fps, size)
    _check_frame_size(video.width, video.height, interpolation, src)
    span = (ClipSpan.of_times(video.timestamps_us) if video.timestamps_us is not None
            else ClipSpan.of_rate(video.fps, video.num_frames))
    state_bytes = video.width * video.height * BYTES_PER_PIXEL
    check_noise_memory(config, video.width, video.height, span, state_bytes)
    check_noise_disk(config, video.width, video.height, span, dst)
    sim = EventSimulator(video.width, video.height, config, seed, threads=threads)
    attrs = {
        "generator": "egvsr.simulate", "source": shown(video.path), "seed": seed,
        "sim_cp": sim.thresholds.cp, "sim_cn": sim.thresholds.cn, "sim_interpolation": interpolation,
        "sim_max_px_per_step": float(max_px_per_step), **config.as_attrs(),
    }
    if video.fps is not None:
        attrs["fps"] = float(video.fps)
    bar = progress_bar(video.num_frames, f"simulate {video.path.name}", progress, unit="frame")
    with EventWriter(dst, video.width, video.height, overwrite=overwrite, attrs=attrs) as writer:
        batch_img: list[np.ndarray] = []
        batch_t: list[int] = []

        def flush() -> None:
            if batch_t:
                writer.write_frames(Frames(np.stack(batch_img), np.asarray(batch_t, np.int64)))
                batch_img.clear()
                batch_t.clear()

        def on_frame(t: int, img: np.ndarray, stats: pipeline.RunStats) -> None:
            batch_img.append(img)
            batch_t.append(t)
            if len(batch_t) >= FRAME_BATCH:
                flush()
            bar.update(1)
            bar.set_postfix_str(f"{stats.events:,} events, {stats.subframes:,} sub-frames")

        try:
            frames = noise_checked(video.frames(), config, video.width, video.height, span.longest_s, state_bytes)
            pipeline.run(frames, sim, up, writer.append, on_frame)
            flush()
        finally:
            bar.close()
    return Path(dst)
