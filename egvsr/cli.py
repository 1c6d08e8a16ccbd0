"""`egvsr` command line: argument parsing only; each subcommand calls one library function.

Errors raised as `EgvsrError` are printed as a single `egvsr: error: ...` line (exit status 2);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from egvsr.errors import ConfigError, EgvsrError


def _size(text: str) -> tuple[int, int]:
    """Parse `HxW` (e.g. 260x346) into (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected HxW, e.g. 260x346") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"--size {text!r}: both sides must be at least 1 pixel")
    return h, w


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return v


# ---- events: info / convert (issue: event I/O) ----------------------------------------------
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="describe an event recording (layout, size, events, frames)")
    p.add_argument("file", help="recording: our .h5, E2VID/DSEC .h5, CED folder, .aedat4, .raw, .dat")
    p.add_argument("--sensor-size", type=_size, metavar="HxW",
                   help="sensor size when the file does not record it (e.g. 480x640)")
    p.set_defaults(run=_run_info)


def _run_info(a) -> None:
    from egvsr.events.io import describe

    print(describe(a.file, sensor_size=a.sensor_size))


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert any supported recording to the egvsr HDF5 layout")
    p.add_argument("input")
    p.add_argument("output", help="output .h5 (egvsr layout)")
    p.add_argument("--sort", action="store_true", help="sort events by time (stable) while converting")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--sensor-size", type=_size, metavar="HxW",
                   help="sensor size when the input does not record it (e.g. 480x640)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_convert)


def _run_convert(a) -> None:
    from egvsr.events.io import convert

    out = convert(
        a.input, a.output, sort=a.sort, overwrite=a.overwrite, progress=not a.no_progress,
        sensor_size=a.sensor_size,
    )
    print(f"wrote {out}")


# ---- events: voxelize (issue: representations) ----------------------------------------------
def _add_voxelize(sub) -> None:
    p = sub.add_parser("voxelize", help="event tensors (voxel grids or EGVSR moments) for a recording")
    p.add_argument("input")
    p.add_argument("output", help="output .h5 with the tensors and their window times")
    p.add_argument("--repr", choices=["voxel", "moments", "frames", "timesurface"], default="voxel")
    p.add_argument("--bins", type=int, default=5, help="time bins per window (moments for --repr moments)")
    w = p.add_mutually_exclusive_group(required=True)
    w.add_argument("--between-frames", action="store_true", help="one window per inter-frame interval")
    w.add_argument("--window-ms", type=_positive_float, help="fixed windows of W milliseconds")
    p.add_argument("--size", type=_size, help="target HxW (e.g. the LR size); default the sensor size")
    p.add_argument("--polarity", choices=["signed", "split"], default="signed")
    p.add_argument("--normalize", choices=["none", "standard", "percentile"], default="none",
                   help="per window: none, standard (E2VID, non-zero entries), percentile (EvTexture q98)")
    p.add_argument("--tau-ms", type=_positive_float, default=None,
                   help="time-surface decay (default: window / bins)")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_voxelize)


def _run_voxelize(a) -> None:
    from egvsr.events.represent import voxelize_file

    voxelize_file(
        a.input, a.output, representation=a.repr, bins=a.bins,
        between_frames=a.between_frames, window_ms=a.window_ms, size=a.size,
        polarity=a.polarity, normalize=a.normalize, threads=a.threads,
        overwrite=a.overwrite, progress=not a.no_progress, tau_ms=a.tau_ms,
    )


# ---- events: simulate / make-sample (issue: simulator) --------------------------------------
def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="turn a video or frame folder into an aligned event recording")
    p.add_argument("input", help="video file, or folder of frames (optionally with timestamps.txt)")
    p.add_argument("output", help="output .h5 (egvsr layout with frames)")
    p.add_argument("--fps", type=_positive_float, help="frame rate when the input has no timestamps")
    p.add_argument("--size", type=_size, help="resize frames to HxW before simulating")
    p.add_argument("--cp", type=float, nargs="+", default=None,
                   help="ON threshold, or a range LO HI to draw it from per clip (default 0.05 0.5)")
    p.add_argument("--cn-ratio", type=float, nargs=2, default=None, metavar=("MEAN", "STD"),
                   help="Cn = Cp * N(MEAN, STD) (default 1.0 0.1)")
    p.add_argument("--sigma", type=float, default=None, help="per-pixel threshold mismatch (default 0.03)")
    p.add_argument("--refractory-us", type=float, default=None, help="refractory period (default 100)")
    p.add_argument("--leak-hz", type=float, default=0.0)
    p.add_argument("--shot-noise-hz", type=float, default=0.0)
    p.add_argument("--max-subframes", type=int, default=None, help="cap on interpolated sub-frames per pair")
    p.add_argument("--interpolation", choices=["flow", "linear", "none"], default="flow",
                   help="sub-frames between frames: optical flow (default), linear blending, or none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_simulate)


def _run_simulate(a) -> None:
    from egvsr.events.simulate import simulate_video

    simulate_video(
        a.input, a.output, fps=a.fps, size=a.size, cp=a.cp, cn_ratio=a.cn_ratio, sigma=a.sigma,
        refractory_us=a.refractory_us, leak_hz=a.leak_hz, shot_noise_hz=a.shot_noise_hz,
        max_subframes=a.max_subframes, interpolation=a.interpolation, seed=a.seed,
        overwrite=a.overwrite, progress=not a.no_progress,
    )


def _add_make_sample(sub) -> None:
    p = sub.add_parser("make-sample", help="render the embedded sample recording (frames, events, GT)")
    p.add_argument("output", help="output .h5 (egvsr layout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=_positive_float, default=2.0)
    p.add_argument("--size", type=_size, default=(260, 346), help="HxW (default 260x346, CED's sensor)")
    p.add_argument("--fps", type=_positive_float, default=25.0, help="input frame rate")
    p.add_argument("--gt-per-interval", type=int, default=3,
                   help="ground-truth frames rendered between consecutive input frames")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_make_sample)


def _run_make_sample(a) -> None:
    from egvsr.events.simulate import make_sample

    make_sample(
        a.output, seed=a.seed, seconds=a.seconds, size=a.size, fps=a.fps,
        gt_per_interval=a.gt_per_interval, overwrite=a.overwrite, progress=not a.no_progress,
    )


# ---- models (issue: models) -----------------------------------------------------------------
def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the registered models and their parameter counts")
    p.set_defaults(run=_run_models)


def _run_models(a) -> None:
    from egvsr.models import list_models

    rows = list_models()
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  {'params':>10}  description")
    for name, params, text in rows:
        print(f"{name:<{width}}  {params / 1e6:>9.3f}M  {text}")


# ---- training and evaluation (issue: training) -----------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) an experiment from a YAML config")
    p.add_argument("config", help="YAML experiment config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_train)


def _run_train(a) -> None:
    from egvsr.engine.train import train

    folder = train(a.config, a.overrides, progress=not a.no_progress)
    print(f"experiment: {folder}")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="PSNR/SSIM of a checkpoint (and bicubic) at several scales")
    p.add_argument("checkpoint")
    p.add_argument("--data", nargs="+", required=True,
                   help="recordings to evaluate on (paths, or sample:SEED for generated sample clips)")
    p.add_argument("--scales", type=_positive_float, nargs="+", default=[2.0, 4.0])
    p.add_argument("--protocol", default="ours", help="ours | egvsr | evtexture | videoinr")
    p.add_argument("--queries", choices=["middle", "gt"], default="middle",
                   help="middle: frames at input times (video SR); gt: ground truth between frames")
    p.add_argument("--output", help="folder for results.md, results.csv and psnr_vs_scale.png")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, help="evaluate at most this many samples per scale")
    p.add_argument("--no-bicubic", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_run_eval)


def _run_eval(a) -> None:
    from egvsr.engine.eval_run import evaluate_checkpoint

    evaluate_checkpoint(a.checkpoint, a.data, a.scales, protocol=a.protocol, queries=a.queries,
                        output=a.output, device=a.device, limit=a.limit, overwrite=a.overwrite,
                        with_bicubic=not a.no_bicubic)


COMMANDS: list[Callable] = [
    _add_info, _add_convert, _add_voxelize, _add_simulate, _add_make_sample, _add_models,
    _add_train, _add_eval,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="egvsr", description="Event-camera guided video super-resolution toolkit."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `egvsr` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except EgvsrError as exc:
        print(f"egvsr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("egvsr: interrupted; no partial output was left under the final name", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
