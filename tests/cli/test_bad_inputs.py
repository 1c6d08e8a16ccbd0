"""The bad-input catalogue: one row per bad input tried, with its command and the message expected.

Each row is (id, command line or call, expected message fragment). A command line runs `egvsr` in
process; it must exit with status 2 and end with one `... error: ...` line containing the fragment,
with no traceback (argparse rejects malformed arguments the same way, `egvsr CMD: error: ...`). A
call row runs a library call that must raise an `EgvsrError` whose one-line message contains it.
Placeholders `{name}` in a command are files of the `bad` fixture below (`{tmp}`: its folder).

Related rows live next to the code they exercise (tests/events/io/test_errors.py,
tests/render/test_errors.py, tests/events/represent/test_errors.py, ...); the reliability suite adds:
tests/events/io/test_fuzz_readers.py and tests/events/test_fuzz_kernels.py (random damaged files and
extreme streams), tests/cli/test_interrupt.py (kill -9 during convert / voxelize / simulate / render /
train; train also in tests/engine/test_train.py), and tests/engine/test_untrusted_checkpoints.py
(crafted pickles against every loading entry point).
"""

from __future__ import annotations

import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import torch
import yaml

from egvsr.cli import main
from egvsr.errors import EgvsrError
from tests._reliability import check_message


@dataclass(frozen=True)
class Row:
    """One bad input: `argv` for the CLI, or `call(files)` for the library; `expect` in the message."""

    id: str
    expect: str
    argv: tuple[str, ...] = ()
    call: Callable[[dict], object] | None = None
    what: str = ""  # the call, in words (call rows)

    def __str__(self) -> str:
        return " ".join(("egvsr", *self.argv)) if self.argv else self.what


def cli(id: str, expect: str, *argv: str) -> Row:
    return Row(id, expect, argv=tuple(argv))


def call(id: str, expect: str, what: str, fn: Callable[[dict], object]) -> Row:
    return Row(id, expect, call=fn, what=what)


# ---- library calls of the call rows -----------------------------------------------------------------
def _stream(t, x=(0, 0), width=4, height=3, p=(1, 1)):
    from egvsr.events import EventStream

    return EventStream(np.asarray(x, np.uint16), np.zeros(len(x), np.uint16), np.asarray(t, np.int64),
                       np.asarray(p, np.int8), width, height)


def _voxel(stream_kw: dict, *args):
    from egvsr.events.represent import voxel_grid

    return voxel_grid(_stream(**stream_kw), *args)


def _frames(images, t):
    from egvsr.events.frames import Frames

    return Frames(images, np.asarray(t))


def _sim_feed(frames):
    from egvsr.events.simulate import EventSimulator

    sim = EventSimulator(4, 3)
    for t, f in enumerate(frames):
        sim.feed(f, t * 1000)


def _model_call(lr_size, out_size, fill: float = 0.0):
    from egvsr.models import build_model

    m = build_model("videoinr-tiny")
    return m.render(torch.full((1, 2, 3, *lr_size), fill), torch.zeros(1, 1), out_size)


I64 = np.iinfo(np.int64)

ROWS: list = [  # Row, or pytest.param(Row, marks=xfail) for a known defect
    # ---- egvsr info ------------------------------------------------------------------------------
    cli("info-missing-file", "nope.h5: no such file", "info", "{tmp}/nope.h5"),
    cli("info-empty-file", "file is empty; expected an event recording", "info", "{empty}"),
    cli("info-text-file", "not a recognised event recording", "info", "{text}"),
    cli("info-truncated-hdf5", "truncated", "info", "{truncated}"),
    cli("info-hdf5-unknown-layout", "HDF5 file of an unknown layout (top-level keys ['voxels'])", "info",
        "{unknown_h5}"),
    cli("info-missing-size-attr", "missing root attribute 'width'", "info", "{no_width}"),
    cli("info-zero-width-attr", "the egvsr file gives a sensor of 0x260 (W x H); expected 1..65535", "info",
        "{zero_width}"),
    cli("info-text-width-attr", "root attribute 'width' = 'wide', expected an integer", "info",
        "{text_width}"),
    cli("info-newer-version", "is not supported; expected version <= 1 (written by a newer egvsr?", "info",
        "{newer}"),
    cli("info-newer-version-number", "egvsr layout version 7 is not supported", "info", "{newer}"),
    cli("info-num-events-mismatch", "attribute num_events = 99 but the event arrays hold 10", "info",
        "{num_events}"),
    cli("info-mismatched-lengths", "mismatched lengths", "info", "{lengths}"),
    cli("info-float-x", "'events/x' has dtype float64, expected integers", "info", "{float_x}"),
    cli("info-2d-t", "'events/t' has shape (10, 2), expected 1-D", "info", "{t_2d}"),
    cli("info-missing-key", "missing key 'events/p' required by the egvsr layout", "info", "{no_p}"),
    cli("info-bad-frames", "'frames/images' has shape (2, 3, 4) dtype float32, expected uint8", "info",
        "{bad_frames}"),
    cli("info-frame-times-not-increasing", "'frames/t' must strictly increase; fails at index 1", "info",
        "{frame_times}"),
    cli("info-sensor-size-argument", "argument --sensor-size: '0x5': both sides must be at least 1 pixel", "info",
        "{good}", "--sensor-size", "0x5"),
    cli("info-evt3-header-without-size", "names no sensor size", "info", "{evt3_nosize}"),
    cli("info-prophesee-zero-size", "header gives a sensor size of (0, 0)", "info", "{evt3_zero}"),
    cli("info-ced-bad-packet", "packet has shape (3, 3) dtype float64, expected (N, 4)", "info", "{ced_shape}"),
    cli("info-ced-nan-time", "column 0 (t_ns) of event 0 is nan, expected a finite time", "info", "{ced_nan}"),
    cli("info-e2vid-nan-time", "events/ts[0] = nan, expected finite seconds", "info", "{e2vid_nan}"),
    cli("info-e2vid-nan-frame-time", "attribute 'timestamp' is nan, expected finite seconds", "info",
        "{e2vid_nan_frame}"),
    cli("info-aedat4-garbage", "not a readable AEDAT4 file", "info", "{aedat_junk}"),
    cli("info-dat-unterminated-header", "the dat file ends inside a '%' header line", "info", "{dat_hang}"),
    cli("info-aedat4-header-panics-the-decoder", "not a readable AEDAT4 file (PanicException: range start index",
        "info", "{aedat_panic}"),
    cli("info-hdf5-signature-garbage", "not a readable HDF5 file", "info", "{sig_junk}"),
    # ---- egvsr convert ---------------------------------------------------------------------------
    cli("convert-missing-input", "nope.h5: no such file", "convert", "{tmp}/nope.h5", "{tmp}/out.h5"),
    cli("convert-output-exists", "output already exists; choose another path or pass --overwrite",
        "convert", "{good}", "{exists}"),
    cli("convert-onto-its-input", "output is the input file", "convert", "{good}", "{good}", "--overwrite"),
    cli("convert-unsorted", "timestamps in events/t decrease at index 5", "convert", "{unsorted}", "{tmp}/o1.h5"),
    cli("convert-outside-sensor", "events/x[3] = 500 is outside the 346x260 sensor", "convert", "{outside}",
        "{tmp}/o2.h5"),
    cli("convert-bad-polarity", "events/p[2] = 0, expected -1 or +1", "convert", "{bad_p}", "{tmp}/o3.h5"),
    cli("convert-e2vid-nan", "events/ts[0] = nan", "convert", "{e2vid_nan}", "{tmp}/o4.h5"),
    cli("convert-sensor-size-text", "argument --sensor-size: 'big': expected HxW", "convert", "{good}", "{tmp}/o5.h5",
        "--sensor-size", "big"),
    # ---- egvsr voxelize --------------------------------------------------------------------------
    cli("voxelize-no-window-choice", "one of the arguments --between-frames --window-ms is required",
        "voxelize", "{good}", "{tmp}/v.h5"),
    cli("voxelize-zero-bins", "--bins: expected an integer >= 1, got 0", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "10", "--bins", "0"),
    cli("voxelize-negative-window", "'-5': expected a positive number", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "-5"),
    cli("voxelize-window-below-1us", "--window-ms: 0.0001 ms is shorter than 1 µs", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "0.0001"),
    cli("voxelize-between-frames-without-frames", "--between-frames needs at least 2 frame timestamps",
        "voxelize", "{events_only}", "{tmp}/v.h5", "--between-frames"),
    cli("voxelize-empty-recording", "has no events to place --window-ms windows on", "voxelize", "{empty_rec}",
        "{tmp}/v.h5", "--window-ms", "10"),
    cli("voxelize-size-malformed", "argument --size: '10x': expected HxW", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "10", "--size", "10x"),
    cli("voxelize-size-too-large", "--size height: expected at most 65535 pixels", "voxelize", "{good}",
        "{tmp}/v.h5", "--window-ms", "10", "--size", "70000x5"),
    cli("voxelize-threads-zero", "--threads: expected an integer in 1..", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "10", "--threads", "0"),
    cli("voxelize-tau-negative", "'-1': expected a positive number", "voxelize", "{good}", "{tmp}/v.h5",
        "--window-ms", "10", "--repr", "timesurface", "--tau-ms", "-1"),
    cli("voxelize-tau-for-voxels", "--tau-ms 5.0: representation 'voxel' does not use this option (only timesurface "
        "does)", "voxelize", "{good}", "{tmp}/v.h5", "--window-ms", "10", "--repr", "voxel", "--tau-ms", "5"),
    cli("voxelize-signed-moments", "--polarity 'signed': representation 'moments' takes only 'split'", "voxelize",
        "{good}", "{tmp}/v.h5", "--window-ms", "10", "--repr", "moments", "--polarity", "signed"),
    cli("voxelize-output-exists", "output already exists", "voxelize", "{good}", "{exists}", "--window-ms", "10"),
    cli("voxelize-unsorted-input", "timestamps in events/t decrease at index 5", "voxelize", "{unsorted}",
        "{tmp}/v.h5", "--window-ms", "1"),
    # ---- egvsr simulate --------------------------------------------------------------------------
    cli("simulate-missing-input", "nope: no such file or folder", "simulate", "{tmp}/nope", "{tmp}/s.h5",
        "--fps", "25"),
    cli("simulate-text-as-video", "cannot read this file as a video", "simulate", "{text}", "{tmp}/s.h5", "--fps",
        "25"),
    cli("simulate-empty-folder", "no images", "simulate", "{empty_dir}", "{tmp}/s.h5", "--fps", "25"),
    cli("simulate-folder-without-times", "pass --fps", "simulate", "{frames_dir}", "{tmp}/s.h5"),
    cli("simulate-corrupt-image", "cannot read this image", "simulate", "{corrupt_png_dir}", "{tmp}/s.h5",
        "--fps", "25"),
    cli("simulate-negative-threshold", "contrast thresholds must be at least 0.01", "simulate", "{frames_dir}",
        "{tmp}/s.h5", "--fps", "25", "--cp", "-0.1"),
    cli("simulate-threshold-range-reversed", "range LO HI must have LO <= HI", "simulate", "{frames_dir}",
        "{tmp}/s.h5", "--fps", "25", "--cp", "0.5", "0.1"),
    cli("simulate-sigma-nan", "sigma: expected a finite number", "simulate", "{frames_dir}", "{tmp}/s.h5",
        "--fps", "25", "--sigma", "nan"),
    cli("simulate-cn-ratio-negative", "expected a positive mean and a non-negative std", "simulate",
        "{frames_dir}", "{tmp}/s.h5", "--fps", "25", "--cn-ratio", "-1", "0.1"),
    cli("simulate-seed-negative", "seed: expected an integer in 0..2**63-1", "simulate", "{frames_dir}",
        "{tmp}/s.h5", "--fps", "25", "--seed", "-3"),
    cli("simulate-output-exists", "output already exists", "simulate", "{frames_dir}", "{exists}", "--fps", "25"),
    cli("simulate-threads-zero", "--threads: expected an integer in 1..", "simulate", "{frames_dir}", "{tmp}/s.h5",
        "--fps", "25", "--threads", "0"),
    # ---- egvsr make-sample -----------------------------------------------------------------------
    cli("make-sample-zero-size", "argument --size: '0x10': both sides must be at least 1 pixel", "make-sample",
        "{tmp}/m.h5", "--size", "0x10"),
    cli("make-sample-negative-seconds", "'-1': expected a positive number", "make-sample", "{tmp}/m.h5",
        "--seconds", "-1"),
    cli("make-sample-negative-gt", "--gt-per-interval", "make-sample", "{tmp}/m.h5", "--gt-per-interval", "-2"),
    cli("make-sample-output-exists", "output already exists", "make-sample", "{exists}"),
    cli("make-sample-threads-zero", "--threads: expected an integer in 1..", "make-sample", "{tmp}/m.h5",
        "--threads", "0"),
    # the messages name the options as flags (`size` -> --size), and --fps beside --seconds
    cli("make-sample-size-tiny", "--size 1x1: expected sides between 16 and 4096 pixels", "make-sample",
        "{tmp}/m.h5", "--size", "1x1"),
    cli("make-sample-seconds-short", "--seconds 0.01 at --fps 25: shorter than one frame interval", "make-sample",
        "{tmp}/m.h5", "--seconds", "0.01"),
    # a folder that takes no file is said as such, not as one without free space (/proc: 0 bytes free)
    cli("make-sample-in-proc", "/proc/m.h5: cannot create the output in /proc (", "make-sample", "/proc/m.h5"),
    cli("info-sensor-size-huge", "--sensor-size: expected (height, width) in 1..65535", "info", "{good}",
        "--sensor-size", "70000x70000"),
    # ---- egvsr train -----------------------------------------------------------------------------
    cli("train-missing-config", "config file not found", "train", "{tmp}/nope.yaml"),
    cli("train-unknown-key", "unknown config key 'train.lrr' (did you mean 'lr'?)", "train", "{cfg_typo}"),
    cli("train-yaml-syntax", "bad.yaml: not valid YAML (line 2, column 1:", "train", "{cfg_syntax}"),
    cli("train-override-without-value", "expected key=value", "train", "{cfg_ok}", "--set", "train.lr"),
    cli("train-override-out-of-range", "train.batch_size", "train", "{cfg_ok}", "--set", "train.batch_size=0"),
    cli("train-missing-recording", "missing.h5", "train", "{cfg_missing_data}"),
    # ---- egvsr eval ------------------------------------------------------------------------------
    cli("eval-missing-checkpoint", "checkpoint not found", "eval", "{tmp}/nope.pt", "--data", "sample:1"),
    cli("eval-junk-checkpoint", "not a checkpoint file (neither a PyTorch zip archive nor a pickle)", "eval",
        "{junk_ck}", "--data", "sample:1"),
    cli("eval-empty-checkpoint", "not a checkpoint file (neither a PyTorch zip archive nor a pickle, it is empty)",
        "eval", "{empty}", "--data", "sample:1"),
    cli("eval-truncated-checkpoint", "not a complete checkpoint file: the end of its zip archive is missing (truncated", "eval",
        "{truncated_ck}", "--data", "sample:1"),
    cli("eval-malicious-checkpoint", "refused to load: the checkpoint contains objects other than tensors and "
        "plain values (it could run code when unpickled); only egvsr checkpoints are accepted (it references "
        "'exec')", "eval", "{evil_ck}", "--data", "sample:1"),
    cli("eval-negative-scale", "'-2': expected a positive number", "eval", "{ck}", "--data", "sample:1",
        "--scales", "-2"),
    cli("eval-scale-below-one", "--scales 0.5: expected a finite scale >= 1", "eval", "{ck}", "--data",
        "sample:1", "--scales", "0.5"),
    cli("eval-scale-above-cap", "--scales 20: above the cap of model", "eval", "{ck}", "--data", "sample:1",
        "--scales", "2", "20"),
    cli("eval-sample-seed-huge", "the seed must be an integer in 0..2**63-1", "eval", "{ck}", "--data",
        "sample:99999999999999999999999"),
    cli("make-sample-seed-huge", "seed: expected an integer in 0..2**63-1", "make-sample", "{tmp}/m.h5", "--seed",
        "99999999999999999999999"),
    cli("eval-checkpoint-is-a-folder", "is a folder; expected a checkpoint file (.pt)", "eval", "{tmp}", "--data",
        "sample:1"),
    cli("eval-config-is-a-folder", "is a folder; expected the evaluation config (a YAML file)", "eval", "{ck}",
        "--data", "sample:1", "--config", "{tmp}"),
    cli("eval-unknown-protocol", "nope", "eval", "{ck}", "--data", "sample:1", "--protocol", "nope"),
    cli("eval-missing-data", "nope.h5", "eval", "{ck}", "--data", "{tmp}/nope.h5", "--scales", "2"),
    cli("eval-config-yaml-syntax", "bad.yaml: not valid YAML (line 2, column 1: expected ',' or ']'", "eval",
        "{ck}", "--data", "sample:1", "--config", "{cfg_syntax}"),
    cli("eval-config-not-a-mapping", "expected a mapping of ['protocol', 'queries', 'scales'], got list", "eval",
        "{ck}", "--data", "sample:1", "--config", "{eval_list}"),
    cli("eval-config-scale-text", "eval_scale_text.yaml: scales: 'big' is not a number", "eval", "{ck}", "--data",
        "sample:1", "--config", "{eval_scale_text}"),
    cli("eval-config-protocol-list", "eval_proto_list.yaml: protocol ['ours']: unknown protocol", "eval", "{ck}",
        "--data", "sample:1", "--config", "{eval_proto_list}"),
    cli("eval-config-scales-scalar", "eval_scale_scalar.yaml: scales 4: expected a list of scales", "eval", "{ck}",
        "--data", "sample:1", "--config", "{eval_scale_scalar}"),
    cli("eval-config-scales-bool", "eval_scale_bool.yaml: scales: True is not a number", "eval", "{ck}",
        "--data", "sample:1", "--config", "{eval_scale_bool}"),
    cli("eval-scales-twice", "--scales: scale 2 is given twice", "eval", "{ck}", "--data", "sample:1",
        "--scales", "2", "2"),
    cli("eval-data-twice", "is given twice", "eval", "{ck}", "--data", "{good}", "{good}", "--scales", "2"),
    cli("eval-config-unknown-key", "unknown key 'scale'", "eval", "{ck}", "--data", "sample:1", "--config",
        "{eval_typo}"),
    # ---- egvsr render ----------------------------------------------------------------------------
    cli("render-no-output", "give at least one output", "render", "{good}", "{ck}", "--scale", "2"),
    cli("render-missing-input", "input not found", "render", "{tmp}/nope.h5", "{ck}", "--scale", "2",
        "--png", "{tmp}/r"),
    cli("render-scale-above-cap", "above the cap of model 'egvsr-tiny'", "render", "{good}", "{ck}",
        "--scale", "1000", "--png", "{tmp}/r"),
    cli("render-scale-zero", "'0': expected a positive number", "render", "{good}", "{ck}", "--scale", "0",
        "--png", "{tmp}/r"),
    cli("render-roi-outside", "--roi 20 0 50 10: the box x 20..70", "render", "{good}", "{ck}", "--scale", "2",
        "--roi", "20", "0", "50", "10", "--png", "{tmp}/r"),
    cli("render-tile-too-small", "--tile 3: expected 0 (no tiling) or a tile side of at least 8", "render",
        "{good}", "{ck}", "--scale", "2", "--tile", "3", "--png", "{tmp}/r"),
    cli("render-degrade-below-1", "--degrade downscales by the scale, so it must be >= 1", "render", "{good}",
        "{ck}", "--scale", "0.5", "--degrade", "--png", "{tmp}/r"),
    cli("render-same-output-twice", "the same path is given for two outputs", "render", "{good}", "{ck}",
        "--scale", "2", "--mp4", "{tmp}/v.mp4", "--side-by-side", "{tmp}/v.mp4"),
    cli("render-output-exists", "output already exists", "render", "{good}", "{ck}", "--scale", "2",
        "--mp4", "{exists}"),
    cli("render-output-budget", "above --max-output-gb 1e-09", "render", "{good}", "{ck}", "--scale", "2",
        "--png", "{tmp}/r", "--max-output-gb", "1e-9"),
    cli("render-memory-budget", "of memory at once for 112x80 output frames", "render", "{good}", "{ck}",
        "--scale", "2", "--png", "{tmp}/r", "--max-memory-gb", "3e-4"),
    cli("render-input-frames-memory-budget", "good.h5: its 56x40 frames need about 197 KB of memory at once, "
        "above the budget of 1 KB (--max-memory-gb 1e-06); downscale its frames first", "render", "{good}",
        "{ck}", "--scale", "2", "--png", "{tmp}/r", "--max-memory-gb", "1e-6"),
    cli("render-chunk-size-zero", "--chunk-size 0: expected a positive number of output pixels", "render",
        "{good}", "{ck}", "--scale", "2", "--png", "{tmp}/r", "--chunk-size", "0"),
    cli("render-wrong-model", "holds model 'egvsr-tiny', expected 'videoinr'", "render", "{good}", "{ck}",
        "--scale", "2", "--png", "{tmp}/r", "--model", "videoinr"),
    cli("render-foreign-torch-file", "not an egvsr checkpoint", "render", "{good}", "{foreign_ck}", "--scale",
        "2", "--png", "{tmp}/r"),
    cli("render-nan-weights", "expected finite weights", "render", "{good}", "{nan_ck}", "--scale", "2",
        "--png", "{tmp}/r"),
    cli("render-malicious-checkpoint", "could run code when unpickled", "render", "{good}", "{evil_ck}",
        "--scale", "2", "--png", "{tmp}/r"),
    cli("render-events-only-recording", "rendering needs frames", "render", "{events_only}", "{ck}", "--scale",
        "2", "--png", "{tmp}/r"),
    cli("render-times-outside", "--times", "render", "{good}", "{ck}", "--scale", "2", "--times", "99s",
        "--png", "{tmp}/r"),
    cli("render-times-not-a-time", "--times", "render", "{good}", "{ck}", "--scale", "2", "--times", "soon",
        "--png", "{tmp}/r"),
    cli("render-last-frame-out-of-range", "--last-frame", "render", "{good}", "{ck}", "--scale", "2",
        "--last-frame", "500", "--png", "{tmp}/r"),
    # ---- egvsr demo / show -------------------------------------------------------------------------
    cli("demo-output-exists", "output exists and is not a folder; expected a folder path for demo", "demo",
        "--output", "{exists}"),
    cli("demo-missing-checkpoint", "checkpoint not found", "demo", "--checkpoint", "{tmp}/nope.pt",
        "--output", "{tmp}/demo"),
    cli("demo-malicious-checkpoint", "refused to load", "demo", "--checkpoint", "{evil_ck}", "--output",
        "{tmp}/demo"),
    cli("demo-negative-seconds", "'-1': expected a positive number", "demo", "--seconds", "-1"),
    cli("show-missing-file", "nope.h5: no such file", "show", "{tmp}/nope.h5", "--out", "{tmp}/p.png"),
    cli("show-text-file", "not a recognised event recording", "show", "{text}", "--out", "{tmp}/p.png"),
    cli("show-output-exists", "already exists", "show", "{good}", "--out", "{exists}"),
    cli("show-truncated-hdf5", "truncated", "show", "{truncated}", "--out", "{tmp}/p.png"),
    cli("unknown-command", "invalid choice: 'frobnicate'", "frobnicate"),
    # ---- numeric arguments and config values (issue 16) -----------------------------------------------
    cli("render-scale-nan", "'nan': expected a positive number", "render", "{good}", "{ck}", "--scale", "nan",
        "--png", "{tmp}/r"),
    cli("render-scale-inf", "'inf': expected a finite positive number", "render", "{good}", "{ck}", "--scale",
        "inf", "--png", "{tmp}/r"),
    cli("render-scale-negative", "'-1': expected a positive number", "render", "{good}", "{ck}", "--scale", "-1",
        "--png", "{tmp}/r"),
    cli("render-video-fps-tiny", "--video-fps 1e-300: expected a frame rate from 0.01 to 65535", "render",
        "{good}", "{ck}", "--scale", "2", "--mp4", "{tmp}/v.mp4", "--video-fps", "1e-300"),
    cli("render-fps-factor-bomb", "--fps-factor 1000000000: gives 3,000,000,001 output frames, expected at most",
        "render", "{good}", "{ck}", "--scale", "2", "--png", "{tmp}/r", "--fps-factor", "1000000000"),
    cli("render-fps-factor-finer-than-1us", "input frames are too close in time for 99999 distinct microsecond",
        "render", "{good}", "{ck}", "--scale", "2", "--png", "{tmp}/r", "--fps-factor", "100000"),
    cli("eval-limit-zero", "--limit 0: expected a positive number of samples per scale", "eval", "{ck}",
        "--data", "{good}", "--limit", "0"),
    cli("eval-limit-negative", "--limit -5: expected a positive number of samples per scale", "eval", "{ck}",
        "--data", "{good}", "--limit", "-5"),
    cli("make-sample-seconds-bomb", "1e+14 frames, expected at most 100,000", "make-sample", "{tmp}/m.h5",
        "--seconds", "1e12"),
    cli("make-sample-seconds-inf", "'inf': expected a finite positive number", "make-sample", "{tmp}/m.h5",
        "--seconds", "inf"),
    cli("simulate-size-bomb", "frames of 60000x60000 pixels need about 922 GB to simulate", "simulate",
        "{frames_dir}", "{tmp}/s.h5", "--fps", "25", "--size", "60000x60000"),
    cli("simulate-shot-noise-bomb", "--shot-noise-hz 1e+12: expected at most 100000 events per pixel per second",
        "simulate", "{frames_dir}", "{tmp}/s.h5", "--fps", "25", "--shot-noise-hz", "1e12"),
    cli("simulate-fps-tiny", "--fps 1e-300: ", "simulate", "{frames_dir}", "{tmp}/s.h5", "--fps", "1e-300"),
    cli("simulate-fps-huge", "--fps 1e+308: expected at most 1,000,000 frames per second", "simulate",
        "{frames_dir}", "{tmp}/s.h5", "--fps", "1e308"),
    cli("train-betas-scalar", "train.betas: expected two numbers in [0, 1), e.g. [0.9, 0.99], got 0.9", "train",
        "{cfg_ok}", "--set", "train.betas=0.9"),
    cli("train-lr-nan", "train.lr: expected a positive finite number, got nan", "train", "{cfg_ok}", "--set",
        "train.lr=.nan"),
    cli("train-lr-inf", "train.lr: expected a positive finite number, got inf", "train", "{cfg_ok}", "--set",
        "train.lr=.inf"),
    cli("train-num-workers-negative", "train.num_workers: expected an integer >= 0, got -1", "train", "{cfg_ok}",
        "--set", "train.num_workers=-1"),
    cli("train-seed-beyond-int64", "seed: expected an integer in 0..2**63-1, got 1180591620717411303424", "train",
        "{cfg_ok}", "--set", "seed=1180591620717411303424"),
    cli("train-output-root-number", "output_root: expected a folder path (text), got 5", "train", "{cfg_ok}",
        "--set", "output_root=5"),
    cli("train-name-number", "name: 123 must be a text of letters", "train", "{cfg_ok}", "--set", "name=123"),
    cli("train-name-empty", "name: None must be a text of letters", "train", "{cfg_ok}", "--set", "name="),
    cli("train-threads-huge", "train.threads: expected an integer in 0..1024", "train", "{cfg_ok}", "--set",
        "train.threads=1000000000"),
    cli("train-protocol-unknown", "eval.protocol: expected one of", "train", "{cfg_ok}", "--set",
        "eval.protocol=foo"),
    cli("train-data-frames-for-another-model", "data.train.num_frames: 2 input frames, but model 'egvsr-tiny' takes "
        "num_frames=3", "train", "{cfg_ok}", "--set", "data.train.num_frames=2", "--set", "data.train.scale_range=[1.5,2]"),
    cli("train-data-bins-for-another-model", "data.train: its event tensor has 5 time bins x 2 polarity channels",
        "train", "{cfg_ok}", "--set", "data.train.bins=5", "--set", "data.train.scale_range=[1.5,2]"),
    cli("train-sample-seconds-text", "data.train.sample_seconds: expected a positive number of seconds, at most 1000",
        "train",
        "{cfg_ok}", "--set", "data.train.recordings=[sample:1]", "--set", "data.train.sample_seconds=abc"),
    cli("train-sample-size-one-side", "data.train.sample_size: expected [height, width] in pixels", "train",
        "{cfg_ok}", "--set", "data.train.recordings=[sample:1]", "--set", "data.train.sample_size=[40]"),
    cli("train-synthetic-size-text", "data.train.synthetic_size: expected [height, width] in pixels", "train",
        "{cfg_ok}", "--set", "data.train.recordings=[synthetic:train:0-1]", "--set", "data.train.synthetic_size=abc"),
    cli("train-synthetic-frames-zero", "data.train.synthetic_frames: expected an integer from 2 to 1000", "train",
        "{cfg_ok}", "--set", "data.train.recordings=[synthetic:train:0-1]", "--set", "data.train.synthetic_frames=0"),
    cli("train-config-int-key", "config key train.1: keys must be names (text), got a YAML number", "train",
        "{cfg_int_key}"),
    cli("train-options-int-key", "config key model.options.1: keys must be names (text)", "train", "{cfg_ok}",
        "--set", "model.options={{1: 2}}"),
    cli("train-data-flips-text", "data.train.flips: expected true or false, got 'maybe'", "train", "{cfg_ok}",
        "--set", "data.train.flips=maybe"),
    cli("train-data-mode-eval", "data.train.mode: data.train is always read with mode 'train'", "train",
        "{cfg_ok}", "--set", "data.train.mode=eval"),
    cli("train-data-fps-negative", "data.train.fps: expected a positive frame rate or null, got -5", "train",
        "{cfg_ok}", "--set", "data.train.fps=-5"),
    cli("train-data-fps-with-frame-times", "states its frames' times (egvsr layout); data.train.fps applies only "
        "to recordings without timestamps", "train", "{cfg_ok}", "--set", "data.train.fps=1000"),
    cli("train-data-include-frames-off-middle", "data.train.include_frames: turned off, it keeps only the "
        "ground-truth frames as targets, which only data.train.queries 'gt' draws", "train", "{cfg_ok}",
        "--set", "data.train.include_frames=false"),
    cli("train-data-recordings-and-root", "data.train: give either 'recordings' or 'root'", "train", "{cfg_ok}",
        "--set", "data.train.root={tmp}"),
    cli("train-data-split-without-root", "data.train.split: a split needs data.train.root", "train", "{cfg_ok}",
        "--set", "data.train.split=mine"),
    cli("train-val-scale-text", "data.val.scale: expected one number >= 1 (the fixed scale) or null, got 'abc'",
        "train", "{cfg_ok}", "--set", "data.val.scale=abc"),
    cli("train-root-empty", "no_frames: dataset root holds no recordings", "train", "{cfg_ok}",
        "--set", "data.train.recordings=null", "--set", "data.train.root={empty_dir}"),
    cli("train-split-not-utf8", "splits/bin.txt: split file is not UTF-8 text", "train", "{cfg_ok}",
        "--set", "data.train.recordings=null", "--set", "data.train.root={split_root}", "--set",
        "data.train.split=bin"),
    cli("eval-data-symlink-loop", "loop.h5 is a symlink loop (following its links leads back to it)", "eval", "{ck}", "--data",
        "{tmp}/loop.h5", "--scales", "2"),
    cli("train-loss-unknown", "train.loss: expected charbonnier or charbonnier_rgb, got 'l7'", "train",
        "{cfg_ok}", "--set", "train.loss=l7"),
    cli("train-amp-string", "train.amp: expected true or false, got 'no'", "train", "{cfg_ok}", "--set",
        "train.amp='no'"),
    cli("train-override-nested-too-deeply", "YAML nested too deeply to read", "train", "{cfg_ok}", "--set",
        "train.lr=" + "[" * 10000),
    cli("train-config-nested-too-deeply", "deep.yaml: YAML nested too deeply to read", "train", "{cfg_deep}"),
    cli("train-config-latin1", "latin1.yaml: not valid YAML (byte 9: invalid continuation byte; expected UTF-8", "train",
        "{cfg_latin1}"),
    cli("train-config-utf16-is-read", "unknown config key 'train.lrr'", "train", "{cfg_utf16}"),
    cli("eval-config-nested-too-deeply", "deep.yaml: YAML nested too deeply to read", "eval", "{ck}", "--data",
        "sample:1", "--config", "{cfg_deep}"),
    cli("info-declared-frames-never-written", "'frames/images' declares 21,600,000,000 bytes (shape (2, 60000, "
        "60000, 3)) but the file stores only 0; it was never written", "info", "{declared_frames}"),
    cli("convert-declared-frames-never-written", "'frames/images' declares 21,600,000,000 bytes", "convert",
        "{declared_frames}", "{tmp}/o6.h5"),
    cli("info-declared-events-never-written", "'events/x' declares 8,796,093,022,208 bytes", "info",
        "{declared_events}"),
    cli("convert-declared-events-never-written", "'events/x' declares 8,796,093,022,208 bytes", "convert",
        "{declared_events}", "{tmp}/o7.h5"),
    cli("info-virtual-dataset", "'events/t' is a virtual dataset (its data lives in other files)", "info",
        "{virtual}"),
    # ---- library calls -----------------------------------------------------------------------------
    call("stream-unsorted", "events.t: timestamps decrease at index 1 (5 -> 3 µs)",
         "EventStream(t=[5, 3])", lambda f: _stream([5, 3])),
    call("stream-outside-sensor", "events.x: coordinate 9 at index 1 is outside the sensor",
         "EventStream(x=[0, 9], width=4)", lambda f: _stream([1, 2], x=(0, 9))),
    call("stream-polarity-zero", "events.p: expected polarity -1/+1, found 0 at index 0",
         "EventStream(p=[0, 1])", lambda f: _stream([1, 2], p=(0, 1))),
    call("read-window-nan", "t0: expected a finite time in microseconds, got nan",
         "read_events(good, t0=nan)", lambda f: __import__("egvsr.events.io", fromlist=["x"]).read_events(
             f["good"], t0=float("nan"))),
    call("voxel-window-beyond-int64", "is outside the int64 microsecond range",
         "voxel_grid(t_start=0, t_end=2**63)", lambda f: _voxel({"t": [1, 2]}, 5, 0, 2**63)),
    call("voxel-window-overflows-int64", "a span of 18446744073709551615 us",
         "voxel_grid(t_start=int64 min, t_end=int64 max)", lambda f: _voxel({"t": [1, 2]}, 5, I64.min, I64.max)),
    call("voxel-empty-window", "expected t_end > t_start", "voxel_grid(t_start=10, t_end=10)",
         lambda f: _voxel({"t": [1, 2]}, 5, 10, 10)),
    call("frames-float-images", "frames.images: expected uint8, got dtype float32",
         "Frames(float32 images)", lambda f: _frames(np.zeros((2, 3, 4, 3), np.float32), [0, 1])),
    call("frames-duplicate-times", "frames.t: timestamps must strictly increase; duplicated at index 1",
         "Frames(t=[0, 0])", lambda f: _frames(np.zeros((2, 3, 4, 3), np.uint8), [0, 0])),
    call("simulator-nan-frame", "frame 1: value nan at row 0, column 0",
         "EventSimulator.feed(NaN frame)", lambda f: _sim_feed([np.zeros((3, 4)), np.full((3, 4), np.nan)])),
    call("simulator-time-beyond-2**53", "beyond +-2**53 µs",
         "EventSimulator.feed(t=2**60)", lambda f: __import__("egvsr.events.simulate", fromlist=["x"])
         .EventSimulator(4, 3).feed(np.zeros((3, 4)), 2**60)),
    call("evtexture-nan-voxel", "voxels_f/000000[1, 2, 3] (bin, row, column) is nan",
         "open_recording(EvTexture clip).read_voxels(0)", lambda f: __import__(
             "egvsr.datasets", fromlist=["x"]).open_recording(f["evtexture_nan"]).read_voxels(0)),
    call("tensors-file-nan", "'tensors'[1, 0, 2, 3] (window, ...) is nan",
         "read_tensors(damaged voxelize output)", lambda f: __import__(
             "egvsr.events.represent", fromlist=["x"]).read_tensors(f["tensors_nan"])),
    call("model-nan-input", "lr: value nan at index (0, 0, 0, 0, 0); expected finite values",
         "videoinr-tiny.render(lr full of NaN)", lambda f: _model_call((4, 4), (8, 8), fill=float("nan"))),
    call("model-output-size-beyond-cap", "exceeds max_scale",
         "videoinr-tiny.render(out_size far above max_scale)", lambda f: _model_call((4, 4), (4000, 4000))),
]


# ---- the files the rows refer to ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    import cv2

    from egvsr.engine.checkpoint_file import save_checkpoint
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample
    from tests.datasets.test_files import write_evtexture
    from tests.events.io.test_errors import _write_ours
    from tests.events.io.test_layouts import write_aedat4, write_e2vid, write_evt3
    from tests.engine.test_untrusted_checkpoints import _Exec

    d = tmp_path_factory.mktemp("bad-inputs")
    f: dict[str, Path] = {"tmp": d}
    f["good"] = make_sample(d / "good.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False)
    f["ck"] = save_untrained("egvsr-tiny", d / "tiny.pt")
    (d / "exists").write_text("a previous output\n")
    f["exists"] = d / "exists"
    (d / "empty.h5").write_bytes(b"")
    f["empty"] = d / "empty.h5"
    (d / "notes.h5").write_text("these are not events\n")
    f["text"] = d / "notes.h5"
    data = f["good"].read_bytes()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    f["truncated"] = d / "truncated.h5"
    with h5py.File(d / "unknown.h5", "w") as h:
        h.create_dataset("voxels/000000", data=np.zeros((2, 3)))
    f["unknown_h5"] = d / "unknown.h5"
    n = 10
    x, y, t, p = np.arange(n) % 346, np.arange(n) % 260, np.arange(n) * 10, np.where(np.arange(n) % 2, 1, -1)
    f["no_width"] = _write_ours(d / "no_width.h5", x, y, t, p)
    with h5py.File(f["no_width"], "r+") as h:
        del h.attrs["width"]
    f["newer"] = _write_ours(d / "newer.h5", x, y, t, p, attrs={"version": 7})
    f["zero_width"] = _write_ours(d / "zero_width.h5", x * 0, y, t, p, attrs={"width": 0})
    f["text_width"] = _write_ours(d / "text_width.h5", x, y, t, p, attrs={"width": "wide"})
    f["num_events"] = _write_ours(d / "num_events.h5", x, y, t, p, attrs={"num_events": 99})
    f["lengths"] = _write_ours(d / "lengths.h5", x, y[:5], t, p)
    f["float_x"] = _write_ours(d / "float_x.h5", None, y, t, p, events__x=np.zeros(n))
    f["t_2d"] = _write_ours(d / "t_2d.h5", x, y, None, p, events__t=np.zeros((n, 2), np.int64))
    f["no_p"] = _write_ours(d / "no_p.h5", x, y, t, None)
    f["bad_frames"] = _write_ours(d / "bad_frames.h5", x, y, t, p, frames__images=np.zeros((2, 3, 4), np.float32),
                            frames__t=np.array([0, 1]))
    f["frame_times"] = _write_ours(d / "frame_times.h5", x, y, t, p, frames__images=np.zeros((2, 260, 346, 3), np.uint8),
                             frames__t=np.array([5, 5]))
    f["unsorted"] = _write_ours(d / "unsorted.h5", x, y, np.array([0, 1, 2, 3, 4, 2, 6, 7, 8, 9]), p)
    f["outside"] = _write_ours(d / "outside.h5", np.array([0, 1, 2, 500, 4, 5, 6, 7, 8, 9]), y, t, p)
    f["bad_p"] = _write_ours(d / "bad_p.h5", x, y, t, np.array([1, -1, 0, 1, 1, 1, 1, 1, 1, 1]))
    f["events_only"] = _write_ours(d / "events_only.h5", x, y, t, p)
    f["empty_rec"] = _write_ours(d / "empty_rec.h5", [], [], [], [])
    (d / "nosize.raw").write_bytes(b"% evt 3.0\n% end\n" + bytes(8))
    f["evt3_nosize"] = d / "nosize.raw"
    write_evt3(d / "zero.raw", [1], [1], [5], [True], 0, 0)
    f["evt3_zero"] = d / "zero.raw"
    ced = d / "ced_shape"
    ced.mkdir()
    np.save(ced / "1000.npy", np.zeros((3, 3)))
    f["ced_shape"] = ced
    ced = d / "ced_nan"
    ced.mkdir()
    np.save(ced / "1000.npy", np.array([[np.nan, 1, 1, 1], [2000.0, 1, 1, 0]]))
    f["ced_nan"] = ced
    write_e2vid(d / "e2vid_nan.h5", [1, 2], [1, 2], [np.nan, 10.0], [True, False], sensor_resolution=(8, 8))
    f["e2vid_nan"] = d / "e2vid_nan.h5"
    write_e2vid(d / "e2vid_nan_frame.h5", [1, 2], [1, 2], [1.0, 10.0], [True, False],
                frames=[(np.zeros((8, 8), np.uint8), 0.0, "greyscale")])
    with h5py.File(d / "e2vid_nan_frame.h5", "r+") as h:
        h["images/image000000000"].attrs["timestamp"] = np.nan
    f["e2vid_nan_frame"] = d / "e2vid_nan_frame.h5"
    (d / "junk.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + bytes(range(50)))
    f["aedat_junk"] = d / "junk.aedat4"
    write_aedat4(d / "panic.aedat4", [([1, 2], [1, 2], [1, 2], [True, False])], 8, 8)
    data = bytearray((d / "panic.aedat4").read_bytes())
    data[18] = 0xFF  # an IOHeader offset pointing far outside the header: the Rust decoder panics
    (d / "panic.aedat4").write_bytes(bytes(data))
    f["aedat_panic"] = d / "panic.aedat4"
    (d / "hang.dat").write_bytes(b"% Data file containing CD events.\n% Height 24\n% Width 32\n%")  # hung expelliarmus
    f["dat_hang"] = d / "hang.dat"
    (d / "sig.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(200)))
    f["sig_junk"] = d / "sig.h5"
    # frames for simulate
    f["empty_dir"] = d / "no_frames"
    f["empty_dir"].mkdir()
    f["frames_dir"] = d / "frames"
    f["frames_dir"].mkdir()
    for i in range(3):
        cv2.imwrite(str(f["frames_dir"] / f"{i:03d}.png"), np.full((8, 10), 40 * i, np.uint8))
    f["corrupt_png_dir"] = d / "corrupt_frames"
    shutil.copytree(f["frames_dir"], f["corrupt_png_dir"])
    (f["corrupt_png_dir"] / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    # configs
    base = {"name": "x", "device": "cpu", "output_root": str(d / "exp"), "model": {"name": "egvsr-tiny"},
            "data": {"train": {"recordings": [str(f["good"])], "patch_size": 12, "bins": 8}, "val": {}},
            "train": {"iterations": 1, "batch_size": 1}}
    for name, cfg in (("cfg_ok", base), ("cfg_typo", {**base, "train": {"lrr": 0.1}}),
                      ("cfg_missing_data", {**base, "data": {"train": {"recordings": [str(d / "missing.h5")]},
                                                             "val": {}}})):
        (d / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        f[name] = d / f"{name}.yaml"
    f["declared_frames"] = _write_ours(d / "declared_frames.h5", x, y, t, p)
    with h5py.File(f["declared_frames"], "r+") as h:  # 21.6 GB of frames declared, none written
        h.create_dataset("frames/images", shape=(2, 60000, 60000, 3), dtype=np.uint8, chunks=(1, 1000, 1000, 3),
                         compression="gzip")
        h["frames/t"] = np.array([0, 50])
    f["declared_events"] = _write_ours(d / "declared_events.h5", x, y, t, None)
    with h5py.File(f["declared_events"], "r+") as h:  # 2**40 events declared, 10 written
        for k, v in (("x", x), ("y", y), ("t", t), ("p", p)):
            if k in h["events"]:
                del h[f"events/{k}"]
            ds = h.create_dataset(f"events/{k}", shape=(2**40,), dtype=np.asarray(v).dtype, chunks=(4096,))
            ds[:n] = v
    f["virtual"] = _write_ours(d / "virtual.h5", x, y, t, p)
    with h5py.File(f["virtual"], "r+") as h:
        layout = h5py.VirtualLayout(shape=(n,), dtype=np.int64)
        layout[:] = h5py.VirtualSource(f["good"], "events/t", shape=(n,))
        del h["events/t"]
        h.create_virtual_dataset("events/t", layout)
    (d / "int_key.yaml").write_text("train: {1: 2}\n")
    f["cfg_int_key"] = d / "int_key.yaml"
    f["split_root"] = d / "split_root"
    (f["split_root"] / "splits").mkdir(parents=True)
    shutil.copy(f["good"], f["split_root"] / "a.h5")
    (f["split_root"] / "splits" / "bin.txt").write_bytes(b"\xff\xfe\x00a")
    (d / "loop.h5").symlink_to("loop.h5")
    (d / "deep.yaml").write_text("[" * 10000)
    f["cfg_deep"] = d / "deep.yaml"
    (d / "latin1.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    f["cfg_latin1"] = d / "latin1.yaml"
    (d / "utf16.yaml").write_text("train: {lrr: 1}\n", encoding="utf-16")
    f["cfg_utf16"] = d / "utf16.yaml"
    (d / "bad.yaml").write_text("train: [unclosed\n")
    f["cfg_syntax"] = d / "bad.yaml"
    for name, text in (("eval_list", "- 2\n- 4\n"), ("eval_scale_text", "scales: [big]\n"),
                       ("eval_typo", "scale: [2]\n"), ("eval_proto_list", "protocol: [ours]\n"),
                       ("eval_scale_scalar", "scales: 4\n"), ("eval_scale_bool", "scales: [true]\n")):
        (d / f"{name}.yaml").write_text(text)
        f[name] = d / f"{name}.yaml"
    # checkpoints
    (d / "junk.pt").write_bytes(b"hello world")
    f["junk_ck"] = d / "junk.pt"
    ck = f["ck"].read_bytes()
    (d / "truncated.pt").write_bytes(ck[: len(ck) // 2])
    f["truncated_ck"] = d / "truncated.pt"
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    f["foreign_ck"] = d / "foreign.pt"
    (d / "evil.pt").write_bytes(pickle.dumps(_Exec(d / "PWNED"), protocol=2))
    f["evil_ck"] = d / "evil.pt"
    from egvsr.engine.checkpoint_file import load_checkpoint

    state = load_checkpoint(f["ck"])
    state["state_dict"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                           for k, v in state["state_dict"].items()}
    f["nan_ck"] = save_checkpoint(d / "nan.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    # float data files
    hr = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    _, lr = write_evtexture(d / "evtexture", "clip", hr, 2)
    with h5py.File(lr, "r+") as h:
        v = h["voxels_f/000000"][()]
        v[1, 2, 3] = np.nan
        h["voxels_f/000000"][...] = v
    f["evtexture_nan"] = lr
    with h5py.File(d / "tensors.h5", "w") as h:
        h.attrs["format"] = "egvsr-tensors"
        tensors = np.zeros((2, 1, 4, 5), np.float32)
        tensors[1, 0, 2, 3] = np.nan
        h["tensors"], h["t_start"], h["t_end"] = tensors, np.array([0, 10]), np.array([10, 20])
    f["tensors_nan"] = d / "tensors.h5"
    return f


def _row(entry) -> Row:
    return entry.values[0] if hasattr(entry, "values") else entry


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("row", ROWS, ids=[_row(r).id for r in ROWS])
def test_bad_input(row: Row, bad: dict, capsys) -> None:
    if row.call is not None:
        with pytest.raises(EgvsrError) as err:
            row.call(bad)
        check_message(err.value, row.expect)
        return
    argv = [a.format(**bad) for a in row.argv]
    try:
        rc = main(argv + (["--no-progress"] if argv[0] in NO_PROGRESS else []))
    except SystemExit as exc:  # argparse: usage line plus "egvsr CMD: error: ..."
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, f"{row}: exit status {rc}\n{err}"
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert "error: " in line and row.expect in line, f"{row}\nexpected {row.expect!r} in: {line}"
    assert not (bad["tmp"] / "PWNED").exists(), "a crafted checkpoint ran code"
    if argv[0] == "train":  # a run refused at start-up leaves no experiment folder
        assert not (bad["tmp"] / "exp" / "x").exists(), "a refused train run left its experiment folder"
    if row.expect.startswith("output already exists") or "exists" in row.id:
        assert bad["exists"].read_text() == "a previous output\n", "an existing output was touched"


NO_PROGRESS = {"convert", "voxelize", "simulate", "make-sample", "train", "render", "demo"}


def test_catalogue_has_one_row_per_bad_input():
    rows = [_row(r) for r in ROWS]
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)), "duplicate row ids"
    assert all(r.expect for r in rows)
    commands = {r.argv[0] for r in rows if r.argv}
    assert {"info", "convert", "voxelize", "simulate", "make-sample", "train", "eval", "render", "demo",
            "show"} <= commands


# ---- resource guards: the memory a render needs is estimated before anything is written -------------
def test_render_memory_estimate_and_default_budget(bad, monkeypatch, tmp_path):
    import egvsr.render.plan as R

    h, w = 80, 112
    one = R.estimate_memory_bytes((h, w), 1, 1, False)
    assert one == h * w * 3 * 4 + 2 * h * w * 3  # one float32 frame, and the 8-bit copies
    assert R.estimate_memory_bytes((h, w), 4, 2, True, 3) == 4 * 2 * 2 * h * w * 12 + 5 * h * w * 3
    budget, share = R.memory_budget_bytes("cpu")
    assert budget > 0 and "of memory" in share
    # a machine too small for one frame: refused with the figures, before any output exists; the input
    # frames (decoded, and held as float32 tensors: 3-frame windows) first, then the whole render
    frames = 56 * 40 * (4 + 12 * 7)
    inputs = frames + 2 * 4 * 16 * 56 * 40  # and the window's event tensor (8 bins x 2), twice
    out = tmp_path / "frames"
    for budget, needles in ((1000, ("good.h5: its 56x40 frames need about 197 KB of memory at once",
                                    "downscale its frames first")),
                            (frames + 1000, ("needs about", "of memory at once for 112x80 output frames",
                                             "for model 'egvsr-tiny' on 56x40 LR pixels",
                                             "484 KB of 56x40 input frames and events", "choose a smaller `scale`"))):
        monkeypatch.setattr(R, "memory_budget_bytes", lambda dev: (budget, "80% of this machine's 1.2 KB of memory"))
        with pytest.raises(EgvsrError) as err:
            R.plan_render(bad["good"], bad["ck"], R.RenderOptions(scale=2, png=out, device="cpu"))
        check_message(err.value, *needles, "`max_memory_gb` default: 80% of this machine's 1.2 KB of memory",
                      "raise `max_memory_gb`")
        assert not out.exists()
    # ... and the override lifts it; a smaller budget also means fewer output times per model call
    options = R.RenderOptions(scale=2, png=out, device="cpu", fps_factor=3, max_memory_gb=1.0)
    job = R.plan_render(bad["good"], bad["ck"], options)
    tiles = R.plan_tiles(job.layout.lr_size, job.layout.core, job.layout.out_size)
    call = R.encoder_memory_bytes(job.rm.model, tiles, options.chunk_size)  # the model's activations
    tight = R.plan_render(bad["good"], bad["ck"],
                          replace(options, max_memory_gb=(3 * h * w * 12 * 2 + inputs + call) / 1e9))
    try:
        assert job.times_per_call == len(job.times) > tight.times_per_call >= 1
        assert job.memory_bytes == R.estimate_memory_bytes((h, w), job.times_per_call, 1, False) + inputs + call
        assert inputs == R.input_memory_bytes(56, 40, job.layout, job.rm.num_frames, 16)
        assert frames == R.input_memory_bytes(56, 40, job.layout, job.rm.num_frames)
        assert "in memory at once" in job.describe()
    finally:
        job.rec.close()
        tight.rec.close()
    assert not out.exists()
