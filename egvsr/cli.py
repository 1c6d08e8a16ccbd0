"""`egvsr` command line: argument parsing only; each subcommand calls one library function.

Errors raised as `EgvsrError` are printed as a single `egvsr: error: ...` line (exit status 2);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from egvsr.errors import ConfigError, EgvsrError
from egvsr.process import one_line


def _size(text: str) -> tuple[int, int]:
    """Parse `HxW` (e.g. 260x346) into (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HxW, e.g. 260x346") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be at least 1 pixel")
    return h, w


def _hot_factor(text: str) -> float:
    """A hot-pixel factor, by the library's rule (`hot_pixels.check_factor`: a finite number > 1)."""
    from egvsr.events.io.hot_pixels import check_factor

    try:
        return check_factor(float(text), repr(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number > 1 (e.g. 5)") from None


class _HelpFormatter(argparse.HelpFormatter):
    """`--help` shows every option's default (unless its text already names one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.option_strings and "default" not in text and _has_default(action.default):
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def _has_default(default: object) -> bool:
    """Whether `--help` should show `default`: not for an unset option or flag (None, False, an empty list,
    SUPPRESS), but for 0 and 0.0, which are values (`0 in (None, False)` is true in Python)."""
    return not (default is None or default is False or default is argparse.SUPPRESS
                or (isinstance(default, list) and not default))


def _progress(a: argparse.Namespace) -> bool:
    """Progress bars: not with --no-progress, and only when stderr is a terminal."""
    from egvsr.progress import wanted

    return wanted(getattr(a, "no_progress", False))


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    if v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite positive number")
    return v


NO_PROGRESS = "no progress bars (they show only when stderr is a terminal)"
OVERWRITE = "replace an existing output"
DEVICE = "auto | cpu | cuda | cuda:N"


# ---- events: info / convert ----------------------------------------------
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="describe an event recording (layout, size, events, frames)")
    p.add_argument("file", help="recording: our .h5, E2VID/DSEC .h5, CED folder, .aedat4, .raw, .dat")
    p.add_argument("--sensor-size", type=_size, metavar="HxW",
                   help="sensor size when the file does not record it (e.g. 480x640)")
    p.set_defaults(run=_run_info)


def _run_info(a) -> None:
    from egvsr.events.io.info import check_report, describe

    text, problems = describe(a.file, sensor_size=a.sensor_size, with_problems=True)
    print(text, flush=True)
    check_report(a.file, problems)  # a file with problems: one error line, exit status 2


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert any supported recording to the egvsr HDF5 layout")
    p.add_argument("input")
    p.add_argument("output", help="output .h5 (egvsr layout)")
    p.add_argument("--sort", action="store_true", help="sort events by time (stable) while converting")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--sensor-size", type=_size, metavar="HxW",
                   help="sensor size when the input does not record it (e.g. 480x640)")
    p.add_argument("--drop-hot-pixels", type=_hot_factor, nargs="?", const=5.0, metavar="FACTOR",
                   help="leave out the events of pixels that fire more than FACTOR (default 5) times their "
                        "neighbours' mean plus 50 over the recording (hot pixels)")
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_convert)


def _run_convert(a) -> None:
    from egvsr.events.io import convert

    out = convert(
        a.input, a.output, sort=a.sort, overwrite=a.overwrite, progress=_progress(a),
        sensor_size=a.sensor_size, drop_hot_pixels=a.drop_hot_pixels,
    )
    if a.drop_hot_pixels is not None:
        import h5py

        with h5py.File(out, "r") as f:
            pixels, events = int(f.attrs["hot_pixels_dropped"]), int(f.attrs["hot_pixel_events_dropped"])
        print(f"dropped {pixels} hot pixel{'s' * (pixels != 1)} ({events} events)")
    print(f"wrote {one_line(out)}")


# ---- events: voxelize ----------------------------------------------
def _add_voxelize(sub) -> None:
    p = sub.add_parser("voxelize", help="event tensors (voxel grids or EGVSR moments) for a recording")
    p.add_argument("input")
    p.add_argument("output", help="output .h5 with the tensors and their window times")
    from egvsr.events.represent.registry import representation_names
    from egvsr.events.represent.validation import NORMALIZATIONS, POLARITIES

    p.add_argument("--repr", choices=representation_names(), default="voxel",
                   help="a registered representation")
    p.add_argument("--bins", type=int, default=5, help="time bins per window (moments for --repr moments)")
    w = p.add_mutually_exclusive_group(required=True)
    w.add_argument("--between-frames", action="store_true", help="one window per inter-frame interval")
    w.add_argument("--window-ms", type=_positive_float, help="fixed windows of W milliseconds")
    p.add_argument("--size", type=_size, help="target HxW (e.g. the LR size); default the sensor size")
    p.add_argument("--polarity", choices=POLARITIES, default=None,
                   help="default: the representation's own (signed for voxel and frames, split for moments "
                        "and timesurface); one it does not take is refused")
    p.add_argument("--normalize", choices=NORMALIZATIONS, default="none",
                   help="per window: none, standard (E2VID, non-zero entries), percentile (EvTexture q98)")
    p.add_argument("--tau-ms", type=_positive_float, default=None,
                   help="time-surface decay (default: window / bins); only for representations that "
                        "take it (timesurface)")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    p.add_argument("--max-output-gb", type=_positive_float, default=16.0,
                   help="refuse, before any work, an output larger than this (default 16; also the free space)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_voxelize)


def _run_voxelize(a) -> None:
    from egvsr.events.represent import voxelize_file

    voxelize_file(
        a.input, a.output, representation=a.repr, bins=a.bins,
        between_frames=a.between_frames, window_ms=a.window_ms, size=a.size,
        polarity=a.polarity, normalize=a.normalize, threads=a.threads,
        overwrite=a.overwrite, progress=_progress(a), tau_ms=a.tau_ms, max_output_gb=a.max_output_gb,
    )
    print(f"wrote {one_line(a.output)}")


# ---- events: simulate / make-sample --------------------------------------
def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="turn a video or frame folder into an aligned event recording")
    p.add_argument("input", help="video file, or folder of frames (optionally with timestamps.txt)")
    p.add_argument("output", help="output .h5 (egvsr layout with frames)")
    p.add_argument("--fps", type=_positive_float,
                   help="frame rate: needed when the input has no timestamps, and overrides stored ones")
    p.add_argument("--size", type=_size, help="resize frames to HxW before simulating")
    from egvsr.events.simulate.thresholds import knob_flag, simulator_knobs

    for knob in simulator_knobs():  # SimulatorConfig is the one list of the simulator's knobs
        opts = {k: v for k, v in knob.metadata.items() if k in ("help", "nargs", "metavar")}
        if "default" not in opts.get("help", ""):  # argparse's default is None (the config decides): say its value
            value = " ".join(f"{v:g}" for v in knob.default) if isinstance(knob.default, tuple) else f"{knob.default:g}"
            opts["help"] = f"{opts.get('help', '')} (default {value})".strip()
        if knob.metadata.get("cli", True):
            p.add_argument(knob_flag(knob.name), dest=knob.name, type=float, default=None, **opts)
    p.add_argument("--max-subframes", type=int, default=None,
                   help="cap on interpolated sub-frames per pair (default: none)")
    p.add_argument("--interpolation", choices=["flow", "linear", "none"], default="flow",
                   help="sub-frames between frames: optical flow (default), linear blending, or none")
    p.add_argument("--seed", type=int, default=0, help="random seed (thresholds, noise)")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_simulate)


def _run_simulate(a) -> None:
    from egvsr.events.simulate import simulate_video
    from egvsr.events.simulate.thresholds import simulator_knobs

    knobs = {k.name: getattr(a, k.name) for k in simulator_knobs() if hasattr(a, k.name)}
    simulate_video(
        a.input, a.output, fps=a.fps, size=a.size, max_subframes=a.max_subframes,
        interpolation=a.interpolation, seed=a.seed, overwrite=a.overwrite, progress=_progress(a),
        threads=a.threads, **knobs,
    )
    print(f"wrote {one_line(a.output)}")


def _add_make_sample(sub) -> None:
    p = sub.add_parser("make-sample", help="render the embedded sample recording (frames, events, GT)")
    p.add_argument("output", help="output .h5 (egvsr layout)")
    p.add_argument("--seed", type=int, default=0, help="random seed (scene, motion, sensor)")
    p.add_argument("--seconds", type=_positive_float, default=2.0, help="length of the recording")
    p.add_argument("--size", type=_size, default=(260, 346), metavar="HxW", help="frame size (default 260x346, CED's sensor)")
    p.add_argument("--fps", type=_positive_float, default=25.0, help="input frame rate")
    p.add_argument("--gt-per-interval", type=int, default=3,
                   help="ground-truth frames rendered between consecutive input frames")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_make_sample)


def _run_make_sample(a) -> None:
    from egvsr.events.simulate import make_sample

    make_sample(
        a.output, seed=a.seed, seconds=a.seconds, size=a.size, fps=a.fps,
        gt_per_interval=a.gt_per_interval, overwrite=a.overwrite, progress=_progress(a),
        threads=a.threads,
    )
    print(f"wrote {one_line(a.output)}")


# ---- models -----------------------------------------------------------------
def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the registered models and their parameter counts")
    p.set_defaults(run=_run_models)


def _run_models(a) -> None:
    from egvsr.models import models_table

    print(models_table(), end="")


# ---- training and evaluation -----------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) an experiment from a YAML config")
    p.add_argument("config", help="YAML experiment config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume an experiment even though its config changed (the differing keys are listed)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an experiment folder that holds another run's files but no "
                        "checkpoints/last.pt, replacing its config.yaml, best.pt and logs")
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_train)


def _run_train(a) -> None:
    from egvsr.engine.train import train

    train(a.config, a.overrides, progress=_progress(a), allow_config_change=a.allow_config_change,
          overwrite=a.overwrite)


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="PSNR/SSIM of a checkpoint (and bicubic) at several scales")
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="checkpoint to score (default: the shipped weights, egvsr/data/egvsr-sample.pt)")
    p.add_argument("--data", nargs="+", action="extend", required=True,
                   help="recordings to evaluate on (paths, or sample:SEED for generated sample clips: 2 s "
                        "each, made once and kept in ./experiments/_samples/); repeating --data adds recordings")
    p.add_argument("--config", help="evaluation preset YAML (protocol, scales, queries), e.g. configs/eval/ours.yaml")
    p.add_argument("--scales", type=_positive_float, nargs="+", action="extend",
                   help="scales to score (default: the checkpoint's eval.scales, else 2 4); repeating --scales "
                        "adds scales")
    p.add_argument("--protocol", help="ours | egvsr | evtexture | videoinr "
                                      "(default: the checkpoint's eval.protocol, else ours)")
    p.add_argument("--queries", choices=["middle", "gt"],
                   help="middle: frames at input times (video SR, default); gt: ground truth between frames")
    p.add_argument("--output", help="folder for results.md, results.csv and psnr_vs_scale.png")
    p.add_argument("--device", default="auto", help=DEVICE)
    p.add_argument("--limit", type=int, help="evaluate at most this many samples per scale, spread evenly over the recordings")
    p.add_argument("--no-bicubic", action="store_true", help="skip the bicubic baseline")
    p.add_argument("--overwrite", action="store_true", help="replace the result files in --output")
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_eval)


def _run_eval(a) -> None:
    from egvsr.engine.checkpoint_file import check_device
    from egvsr.engine.config_datasets import check_recording_paths
    from egvsr.engine.evaluation import DATA, checkpoint_eval_section, evaluate_checkpoint, eval_options
    from egvsr.engine.tables import fmt_scale

    check_device(a.device)  # before the settings line: a device this machine lacks prints only its error
    check_recording_paths(a.data, DATA)  # so does a missing recording
    where = f"checkpoint {a.checkpoint}: eval" if a.checkpoint else "the shipped weights' eval"
    opts = eval_options(a.config, checkpoint_eval=checkpoint_eval_section(a.checkpoint), checkpoint_where=where,
                        protocol=a.protocol, scales=a.scales, queries=a.queries)
    print(f"protocol {opts['protocol']}, scales {' '.join(fmt_scale(s) for s in opts['scales'])}, "
          f"queries {opts['queries']}")
    evaluate_checkpoint(a.checkpoint, a.data, opts["scales"], protocol=opts["protocol"], queries=opts["queries"],
                        output=a.output, device=a.device, limit=a.limit, overwrite=a.overwrite,
                        with_bicubic=not a.no_bicubic, progress=_progress(a), scales_where=opts["scales_where"])


# ---- rendering, demo and pictures ------------------------------------------
def _add_render(sub) -> None:
    p = sub.add_parser("render", help="super-resolved video at any scale and frame rate (PNG frames / MP4)")
    p.add_argument("input", help="recording (any supported layout), or a folder of frames (with --events "
                                 "FILE, or alone for frames-only models)")
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="trained checkpoint (.pt); default: the shipped weights, egvsr/data/egvsr-sample.pt")
    p.add_argument("--scale", type=_positive_float, required=True,
                   help="any positive real up to the model's cap (max_scale), e.g. 6.5")
    p.add_argument("--events", help="events file for a frame-folder INPUT")
    p.add_argument("--fps", type=_positive_float, help="frame rate of a frame folder without timestamps")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--fps-factor", type=int, help="F: the input frames plus F-1 evenly spaced times "
                                                    "between consecutive frames (default 1)")
    when.add_argument("--times", nargs="+", action="extend", metavar="T",
                      help="explicit output times after the first input frame: seconds, or with a unit "
                           "(0.04, 40ms, 40000us); repeating --times adds times")
    p.add_argument("--first-frame", type=int, help="first input frame index (with --fps-factor; default: the first)")
    p.add_argument("--last-frame", type=int,
                   help="last input frame index, inclusive (with --fps-factor; default: the last)")
    p.add_argument("--roi", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                   help="region of interest in input pixels; the output is that box at --scale")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--as-is", dest="degrade", action="store_false",
                      help="the input frames are the LR video (default; no downscaling)")
    mode.add_argument("--degrade", "--input-is-hr", dest="degrade", action="store_true",
                      help="the input frames are HR: downscale them by --scale first, as evaluation does, "
                           "so ground truth exists (side-by-side third panel, --score)")
    p.add_argument("--png", metavar="DIR", help="write PNG frames (+ timestamps.txt, render.json) to DIR")
    p.add_argument("--mp4", metavar="FILE", help="write an MP4 video (OpenCV, mp4v)")
    p.add_argument("--side-by-side", metavar="FILE", help="write an MP4 of bicubic | ours | ground truth")
    p.add_argument("--video-fps", type=_positive_float, help="video frame rate (default: input rate x factor)")
    p.add_argument("--score", action="store_true", help="print PSNR/SSIM against ground truth (--degrade)")
    p.add_argument("--model", dest="expect_model", metavar="NAME",
                   help="refuse a checkpoint that does not hold this model or a model of this family "
                        "(e.g. egvsr: any EGVSR preset; see `egvsr models`)")
    p.add_argument("--chunk-size", type=int, default=65536, help="output pixels decoded at a time")
    p.add_argument("--window-size", type=int, default=None, metavar="S",
                   help="EGVSR: attention in S x S LR-pixel windows instead of the checkpoint's own (0: strips); "
                        "faster, numbers change slightly (docs/render.md)")
    p.add_argument("--tile", type=int, default=0,
                   help="encode the LR input in tiles of this many LR pixels (0 = whole frame)")
    p.add_argument("--context", type=int, default=16,
                   help="LR context margin around tiles and the ROI (default 16; at least 2, what decoding reads)")
    p.add_argument("--max-output-gb", type=_positive_float, default=16.0,
                   help="refuse renders whose uncompressed output exceeds this (default 16)")
    p.add_argument("--max-memory-gb", type=_positive_float, default=None,
                   help="refuse renders that need more memory at once than this (the model call, its "
                        "inputs and output frames; default: 80%% of the device's memory)")
    p.add_argument("--device", default="auto", help=DEVICE)
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_render, degrade=False)


def _run_render(a) -> None:
    from egvsr.render.plan import RenderOptions
    from egvsr.render.run import render

    options = RenderOptions(
        scale=a.scale, events=a.events, fps=a.fps, fps_factor=a.fps_factor, times=a.times,
        first_frame=a.first_frame, last_frame=a.last_frame, roi=a.roi, degrade=a.degrade, png=a.png, mp4=a.mp4,
        side_by_side=a.side_by_side, video_fps=a.video_fps, chunk_size=a.chunk_size, tile=a.tile,
        context=a.context, device=a.device, max_output_gb=a.max_output_gb, max_memory_gb=a.max_memory_gb,
        expect_model=a.expect_model, window_size=a.window_size, overwrite=a.overwrite,
    )
    report = render(a.input, a.checkpoint, options, progress=_progress(a), score="ours" if a.score else None)
    if a.score:
        from egvsr.engine.tables import scores_table, summarize_scores

        if not report.scores:
            print("score: no output time has ground truth (use --degrade on a recording with frames/GT)")
        else:
            print(scores_table(summarize_scores(report.scores, report.scale)), end="")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="sample recording -> x4 and x6.5 at twice the frame rate, PSNR table, "
                                    "figure and videos")
    p.add_argument("--output", default="demo_output", help="output folder (default demo_output/)")
    p.add_argument("--checkpoint", help="use this checkpoint instead of the shipped one")
    p.add_argument("--seconds", type=_positive_float, default=0.32, help="sample length (default 0.32)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample recording")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail if the shipped checkpoint is missing instead of training a tiny model")
    p.add_argument("--fallback-minutes", type=_positive_float, default=1.0,
                   help="training time of the fallback model")
    p.add_argument("--device", default="auto", help=DEVICE)
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo folder")
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    p.set_defaults(run=_run_demo)


def _run_demo(a) -> None:
    from egvsr.render.demo import run_demo

    run_demo(a.output, a.checkpoint, seconds=a.seconds, seed=a.seed, fallback=not a.no_fallback,
             fallback_minutes=a.fallback_minutes, device=a.device, overwrite=a.overwrite,
             progress=_progress(a))


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="preview picture of a recording: first frame, events, event rate")
    p.add_argument("file", help="any recording the readers support")
    p.add_argument("--out", help="output picture, .png, .jpg/.jpeg, .pdf or .svg: the format follows the name "
                                 "(default <name>.preview.png in the current folder; for a folder FILE, "
                                 "<folder name>.preview.png beside it)")
    p.add_argument("--stretch", action="store_true",
                   help="stretch the first frame's contrast to its own min..max (default: shown as stored)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    p.set_defaults(run=_run_show)


def _run_show(a) -> None:
    from egvsr.plots.show import show_recording

    print(f"wrote {one_line(show_recording(a.file, a.out, overwrite=a.overwrite, stretch=a.stretch))}")


# ---- official checkpoints ---------------------------------------------------------
def _add_import_checkpoint(sub) -> None:
    p = sub.add_parser("import-checkpoint", help="convert an official EGVSR / VideoINR checkpoint into an "
                                                 "egvsr checkpoint (official-compatible model)")
    p.add_argument("source", help="official checkpoint: EGVSR trainer dict or VideoINR latest_G.pth")
    p.add_argument("output", help="output .pt for egvsr render / eval")
    p.add_argument("--from", dest="kind", choices=["egvsr-official", "videoinr-official"],
                   help="checkpoint kind (default: detected from its keys)")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="model option the weights do not fix, e.g. --set tf_half_width=0.0125 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(run=_run_import_checkpoint)


def _run_import_checkpoint(a) -> None:
    import json

    from egvsr.engine.import_official import import_checkpoint

    options = {}
    for item in a.options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. tf_half_width=0.0125")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    done = import_checkpoint(a.source, a.output, kind=a.kind, overwrite=a.overwrite, options=options)
    print(f"wrote {one_line(a.output)}: model {done.name!r}, {len(done.state_dict)} weights; "
          f"official keys unused by its forward: {len(done.unused)}")


COMMANDS: list[Callable] = [
    _add_info, _add_convert, _add_voxelize, _add_simulate, _add_make_sample, _add_models,
    _add_train, _add_eval, _add_render, _add_demo, _add_show, _add_import_checkpoint,
]


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported as one line that starts `egvsr: error:` like every other
    error and names the command (the usage is one `--help` away). A value that starts with a minus and a
    digit (`--times -1us`, `-40ms`, `-1e-3`) is a value, never an option (no option of ours starts so), as
    argparse reads it from Python 3.13 on; before, only a bare negative number was."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        command = self.prog.removeprefix("egvsr").strip()
        given = [a for a in getattr(self, "_given", ()) if a != "--"]
        if not command and given and "required: COMMAND" in message:
            # no command, only options egvsr does not know (a positional would have been the COMMAND):
            # name them, as a command names those it does not take
            message = f"unrecognized arguments: {' '.join(given)}"
        message = one_line(message)
        self.exit(2, f"egvsr: error: {command + ': ' if command else ''}{message} (see `{self.prog} --help`)\n")

    def _print_message(self, message: str, file=None) -> None:
        """`--help` and `--version` on stdout: written and flushed here, so that a stdout that takes no
        text (`egvsr --help > /dev/full`) ends in the one error line of any other output, not in exit status
        0 (argparse drops the failure); messages for stderr as argparse writes them."""
        if message and file is not None and file is sys.stdout:
            file.write(message)
            file.flush()
            return
        super()._print_message(message, file)


def build_parser() -> argparse.ArgumentParser:
    from egvsr import __version__

    parser = _Parser(
        prog="egvsr", description="Event-camera guided video super-resolution toolkit.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"egvsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parser = sub.add_parser
    sub.add_parser = lambda *args, **kwargs: add_parser(*args, formatter_class=_HelpFormatter, **kwargs)
    for add in COMMANDS:
        add(sub)
    parser.set_defaults(commands=sub.choices)
    for command in sub.choices.values():  # options without a help text still show their default
        for action in command._actions:
            if action.help is None and action.option_strings and _has_default(action.default):
                action.help = "(default: %(default)s)"
    return parser


#: per command: (input arguments, file output arguments, folder output arguments); an output that is
#: an input, or a folder output holding one, is refused before any work (egvsr.fsutil)
PATH_ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "convert": (("input",), ("output",), ()),
    "voxelize": (("input",), ("output",), ()),
    "simulate": (("input",), ("output",), ()),
    "show": (("file",), ("out",), ()),  # `out` defaults to show's default_preview_path, checked like a given one
    "make-sample": ((), ("output",), ()),
    "import-checkpoint": (("source",), ("output",), ()),
    # render: `plan_render` runs the same check for the CLI and every library caller
    "demo": (("checkpoint",), (), ("output",)),
}


def _paths(args: argparse.Namespace, names: tuple[str, ...]) -> list:
    """The values of `names` in `args`, lists (`--data A B`) flattened."""
    out: list = []
    for k in names:
        v = getattr(args, k, None)
        out.extend(v if isinstance(v, (list, tuple)) else [v])
    return out


#: per command: the arguments that name files or folders ("" would name the current folder)
EMPTY_PATH_ARGS: dict[str, tuple[str, ...]] = {
    "info": ("file",), "make-sample": ("output",), "train": ("config",),
    "eval": ("checkpoint", "data", "config", "output"),
    "render": ("input", "checkpoint", "events", "png", "mp4", "side_by_side"),
    "demo": ("output", "checkpoint"),
}


def _refuse_empty_paths(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """Refuse, as a usage mistake naming the argument, a file or folder given as "" (`Path("")` is the
    current folder: an output there would be refused as a folder, or written in it), or holding a NUL
    byte (no file can be named so; `main(argv)` from Python can pass one, a shell cannot)."""
    ins, outs, folders = PATH_ARGS.get(args.command, ((), (), ()))
    for name in (*ins, *outs, *folders, *EMPTY_PATH_ARGS.get(args.command, ())):
        values = _paths(args, (name,))
        if "" in values:
            command.error(f"argument {_flags(command).get(name, name)}: the path is empty; expected the name "
                          "of a file or folder")
        if any(isinstance(v, str) and "\0" in v for v in values):
            command.error(f"argument {_flags(command).get(name, name)}: the path holds a NUL byte, which no "
                          "file name can; expected the name of a file or folder")


def _refuse_inputs_as_outputs(args: argparse.Namespace) -> None:
    from egvsr.datasets.opening import input_folder_members
    from egvsr.fsutil import refuse_inputs_as_outputs

    if args.command == "eval":  # its output folder gets three named files, the only paths it replaces
        from egvsr.engine.evaluation import refuse_results_over_inputs

        if getattr(args, "output", None) is not None:
            refuse_results_over_inputs(Path(args.output), _paths(args, ("checkpoint", "data", "config")))
        return
    if args.command == "show" and args.out is None:
        from egvsr.plots.show import default_preview_path

        args.out = str(default_preview_path(args.file))
    ins, outs, folders = PATH_ARGS.get(args.command, ((), (), ()))
    refuse_inputs_as_outputs(_paths(args, ins), _paths(args, outs), _paths(args, folders), members=input_folder_members)


def _flags(command: argparse.ArgumentParser) -> dict[str, str]:
    """Option dest -> the flag that sets it (`side_by_side` -> --side-by-side, `expect_model` -> --model)."""
    flags: dict[str, str] = {}
    for action in command._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest != "help":
            named = "--" + action.dest.replace("_", "-")
            if named in longs or action.dest not in flags:
                flags[action.dest] = named if named in longs else longs[0]
    return flags


def flag_message(message: str, command: argparse.ArgumentParser | None) -> str:
    """A library message names a parameter as `name` (backquoted); show the command's flag instead."""
    if command is None:
        return message
    flags = _flags(command)
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: flags.get(m.group(1), m.group(0)), message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one egvsr command (`argv` default: `sys.argv[1:]`). What running as the whole process changes
    (threads, signals, exit) is done by `egvsr.process.run_console`, not here."""
    from egvsr.process import report_interrupt, stderr_line

    command = None
    try:
        args, unknown = build_parser().parse_known_args(argv)
        command = args.commands[args.command]
        if unknown:  # named by the command that did not take them (`egvsr voxelize --help` lists its options)
            command.error(f"unrecognized arguments: {' '.join(unknown)}")
        _refuse_empty_paths(args, command)
        _refuse_inputs_as_outputs(args)
        args.run(args)
    except EgvsrError as exc:
        stderr_line(f"egvsr: error: {one_line(flag_message(str(exc), command))}")
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (egvsr.process)
        return report_interrupt(exc)
    return 0


def console_main() -> int:
    """`main` as the whole process's job (egvsr.process: thread environment before torch loads, signals,
    a quiet exit), for scripts that import this module; the `egvsr` console script and `python -m egvsr`
    use `egvsr.__main__.console_main`, which imports this module only once the process is prepared."""
    from egvsr.process import run_console

    return run_console(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
