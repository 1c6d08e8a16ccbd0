"""A fuzz of the Python API (README's and docs/*.md's public names), in the spirit of
tests/cli/test_fuzz_commands.py: each public function is called with valid, tiny arguments in which one
argument is replaced by a wrong-typed or out-of-range value (None, a bool for an int, -1, 0, NaN, inf,
huge ints, numpy scalars and arrays of the wrong shape, bytes, an empty or NUL-holding path, an empty
list, an object). The contract of every call:

- it returns, or raises the project's own error (`egvsr.errors`), a ValueError or a TypeError, raised by
  egvsr's code (never a bare numpy/torch/h5py/pathlib exception from deep inside), in one non-empty line;
- it writes nothing into the current folder but what a relative path it was given names.

The suite runs a few derandomized examples per function; `EGVSR_FUZZ_EXAMPLES=N` runs N random ones.
Also here: every public function has type hints and a docstring, and `from egvsr... import *` gives the
public names. Then one test per finding of the fuzz, each with the exact input it found.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from egvsr.errors import ConfigError, EgvsrError, EventValidationError
from tests._reliability import fuzz_settings, watchdog

PACKAGE = Path(__file__).resolve().parents[1] / "egvsr"

#: the packages whose public names (`__all__`) README.md and docs/*.md present as the Python API
API_PACKAGES = ["egvsr", "egvsr.events", "egvsr.events.io", "egvsr.events.represent", "egvsr.events.simulate",
                "egvsr.datasets", "egvsr.models", "egvsr.render"]

BAD = [None, True, False, -1, 0, float("nan"), float("inf"), -float("inf"), 2**70, -2**70, 1.5, -0.5, 1e308,
       "", "\x00", "abc", b"bytes", [], (), {}, np.float32(1.5), np.int64(3), np.uint8(2), np.bool_(True),
       np.array([1, 2]), np.array([[1.0]]), np.array(1.5), Path("nope"), object(), complex(1, 1)]


# ---- the tiny inputs, made once ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """rec.h5 (make-sample, 3 frames 32x24 with GT), vox.h5 (its voxel grids), tiny.pt (egvsr-tiny), frames/
    (2 PNGs), its EventStream and an out() of fresh output paths."""
    import cv2

    import egvsr.events as ev
    from egvsr.render.model import save_untrained

    root = tmp_path_factory.mktemp("api-fuzz")
    rec = root / "rec.h5"
    ev.make_sample(rec, seed=3, seconds=0.08, size=(24, 32), fps=25.0, gt_per_interval=1, progress=False)
    ev.voxelize_file(rec, root / "vox.h5", bins=2, between_frames=True, progress=False)
    save_untrained("egvsr-tiny", root / "tiny.pt")
    (root / "frames").mkdir()
    for i in range(2):
        cv2.imwrite(str(root / "frames" / f"{i:06d}.png"), np.full((16, 16, 3), 40 * i + 10, np.uint8))
    stream = ev.read_events(rec)
    counter = iter(range(10**9))

    class Env:
        pass

    e = Env()
    e.root, e.rec, e.stream = root, rec, stream
    e.t0, e.t1 = int(stream.t[0]), int(stream.t[-1]) + 1
    e.out = lambda name: root / "out" / f"{next(counter)}-{name}"
    (root / "out").mkdir()
    return e


def _cases():
    """name -> (the function, valid keyword arguments of an `env`); every argument of each is fuzzed."""
    import egvsr.datasets as ds
    import egvsr.events as ev
    import egvsr.models as md
    import egvsr.render as rd
    from egvsr.engine import evaluation, import_official, metrics

    frames = lambda: ev.Frames(np.zeros((2, 16, 16, 3), np.uint8), np.array([0, 40000]))  # noqa: E731
    win = lambda e: np.array([[e.t0, e.t1]])  # noqa: E731
    lr = torch.rand(1, 2, 3, 6, 8)
    return {
        "read_events": (ev.read_events, lambda e: dict(path=e.rec, t0=e.t0, t1=e.t1, sensor_size=None)),
        "open_events": (ev.open_events, lambda e: dict(path=e.rec, sensor_size=None, layout=None)),
        "detect_layout": (ev.detect_layout, lambda e: dict(path=e.rec)),
        "describe": (ev.describe, lambda e: dict(path=e.rec, sensor_size=None, with_problems=False)),
        "write_events": (ev.write_events, lambda e: dict(path=e.out("w.h5"), stream=e.stream, frames=None,
                                                         gt_frames=None, overwrite=False, attrs=None)),
        "convert": (ev.convert, lambda e: dict(src=e.rec, dst=e.out("c.h5"), sort=False, overwrite=False,
                                               progress=False, sensor_size=None, chunk_events=4096)),
        "voxel_grid": (ev.voxel_grid, lambda e: dict(stream=e.stream, bins=2, t_start=e.t0, t_end=e.t1, height=12,
                                                     width=16, polarity="signed", normalize="none", threads=1)),
        "event_moments_batch": (ev.event_moments_batch, lambda e: dict(
            stream=e.stream, moments=2, boundaries=win(e), height=12, width=16, normalize="none", threads=1)),
        "time_surface": (ev.time_surface, lambda e: dict(stream=e.stream, bins=2, t_start=e.t0, t_end=e.t1,
                                                         tau_us=1000.0, height=12, width=16, threads=1)),
        "normalize": (ev.normalize, lambda e: dict(tensor=np.ones((2, 3, 4), np.float32), mode="standard")),
        "voxelize_file": (ev.voxelize_file, lambda e: dict(
            src=e.rec, dst=e.out("v.h5"), representation="voxel", bins=2, between_frames=True, size=(12, 16),
            normalize="none", threads=1, overwrite=False, progress=False)),
        "read_tensors": (ev.read_tensors, lambda e: dict(path=e.root / "vox.h5")),
        "simulate_frames": (ev.simulate_frames, lambda e: dict(frames=frames(), max_subframes=2, seed=0, threads=1)),
        "simulate_video": (ev.simulate_video, lambda e: dict(src=e.root / "frames", dst=e.out("sim.h5"), fps=25.0,
                                                             max_subframes=2, seed=0, progress=False)),
        "make_sample": (ev.make_sample, lambda e: dict(dst=e.out("s.h5"), seed=0, seconds=0.04, size=(16, 16),
                                                       gt_per_interval=0, progress=False, threads=1)),
        "polarity_to_signed": (ev.polarity_to_signed, lambda e: dict(p=np.array([0, 1, 1], np.int8),
                                                                     encoding="auto")),
        "EventStream": (ev.EventStream, lambda e: dict(x=np.array([1], np.uint16), y=np.array([1], np.uint16),
                                                       t=np.array([5]), p=np.array([1], np.int8), width=4,
                                                       height=4, validate=True)),
        "Frames": (ev.Frames, lambda e: dict(images=np.zeros((1, 4, 4, 3), np.uint8), t=np.array([0]))),
        "open_recording": (ds.open_recording, lambda e: dict(path=e.rec, fps=None, hr_path=None)),
        "DatasetRoot": (ds.DatasetRoot, lambda e: dict(path=e.root)),
        "EventVSRDataset": (ds.EventVSRDataset, lambda e: dict(recordings=[str(e.rec)], mode="eval", num_frames=2,
                                                               scale=2.0, bins=2)),
        "ScaleBatchSampler": (ds.ScaleBatchSampler, lambda e: dict(num_items=4, batch_size=2, scale_range=(1.0, 2.0),
                                                                   shuffle=True, drop_last=False, seed=0)),
        "downscale": (ds.downscale, lambda e: dict(hr=torch.rand(3, 8, 8), size=(4, 4), quantize=True)),
        "hr_size": (ds.hr_size, lambda e: dict(h=6, w=8, scale=2.0)),
        "query_grid": (ds.query_grid, lambda e: dict(H=3, W=4)),
        "build_model": (lambda name_or_config: md.build_model(name_or_config),
                        lambda e: dict(name_or_config="videoinr-tiny")),
        "model.render": (md.build_model("videoinr-tiny").render, lambda e: dict(
            lr=lr, times=torch.zeros(1, 1), out_size=(8, 10), events=None, frame_times=None, chunk_size=64)),
        "load_render_model": (rd.load_render_model, lambda e: dict(checkpoint=e.root / "tiny.pt", device="cpu",
                                                                   expect_model=None, overrides=None)),
        "render": (rd.render, lambda e: dict(
            source=e.rec, checkpoint=e.root / "tiny.pt", progress=False, log=None,
            options=rd.RenderOptions(scale=2.0, png=e.out("png"), first_frame=0, last_frame=1))),
        "psnr": (metrics.psnr, lambda e: dict(pred=np.zeros((4, 4, 3), np.float32),
                                              gt=np.full((4, 4, 3), 0.5, np.float32), crop_border=0, y_channel=False)),
        "evaluate_checkpoint": (evaluation.evaluate_checkpoint, lambda e: dict(
            checkpoint=e.root / "tiny.pt", data=[str(e.rec)], scales=[2.0], output=e.out("eval"), device="cpu",
            limit=1, progress=False, log=None)),
        "import_checkpoint": (import_official.import_checkpoint, lambda e: dict(src=e.root / "tiny.pt",
                                                                                out=e.out("imp.pt"))),
    }


CASES = _cases()
#: heavy calls (a whole evaluation or render when the value is accepted): fewer examples
SLOW = {"evaluate_checkpoint", "render", "simulate_video", "make_sample", "voxelize_file"}


def _raised_in_egvsr(exc: BaseException) -> bool:
    """Whether the innermost frame of `exc`'s traceback is egvsr's own code (the raise of a checked error)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE)


def _call_once(env, tmp_path, name, param, bad):
    fn, good = CASES[name]
    kwargs = good(env)
    kwargs[param] = bad
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with watchdog():
            try:
                fn(**kwargs)
            except (EgvsrError, ValueError, TypeError) as exc:
                where = traceback.format_exception(exc)[-3:]
                assert isinstance(exc, EgvsrError) or _raised_in_egvsr(exc), f"{name}({param}={bad!r:.60}) raised from outside egvsr: {where}"
                msg = str(exc)
                assert msg.strip() and "\n" not in msg, f"{name}({param}={bad!r:.60}): message {msg!r}"
            # any other exception propagates: a bug
    finally:
        os.chdir(before)
    allowed = {os.fspath(bad)} if isinstance(bad, (str, Path)) and os.fspath(bad) else set()
    left = {p.name for p in cwd.iterdir()} - allowed
    assert not left, f"{name}({param}={bad!r:.60}) wrote {sorted(left)} into the current folder"
    for p in cwd.iterdir():  # what a relative path asked for; the next example starts empty
        if p.is_dir():
            import shutil
            shutil.rmtree(p)
        else:
            p.unlink()


@pytest.mark.parametrize("name", sorted(CASES))
def test_public_function_refuses_bad_arguments_in_its_own_words(env, tmp_path, name):
    torch.set_num_threads(1)
    params = list(CASES[name][1](env))

    @fuzz_settings(3 if name in SLOW else 8, deadline_s=60.0)
    @given(param=st.sampled_from(params), bad=st.sampled_from(BAD))
    def run(param, bad):
        _call_once(env, tmp_path, name, param, bad)

    run()


# ---- the names themselves ------------------------------------------------------------------------------
def _public_objects():
    for module_name in API_PACKAGES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield f"{module_name}.{name}", getattr(module, name)


def _own_callables():
    """(label, function) of every public function, public class's `__init__` and public method defined in egvsr."""
    for label, obj in _public_objects():
        if inspect.isfunction(obj):
            yield label, obj
        elif inspect.isclass(obj) and obj.__module__.startswith("egvsr") and not issubclass(obj, BaseException):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                f = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                if inspect.isfunction(f) and f.__module__.startswith("egvsr"):
                    yield f"{label}.{attr}", f


def test_every_public_function_has_type_hints_and_a_docstring():
    missing = []
    for label, f in _own_callables():
        if not inspect.getdoc(f) and not label.endswith(".__init__"):
            missing.append(f"{label}: no docstring")
        sig = inspect.signature(f)
        unhinted = [p for p in sig.parameters if p not in ("self", "cls")
                    and sig.parameters[p].annotation is inspect.Parameter.empty]
        if unhinted:
            missing.append(f"{label}: no type hint for {', '.join(unhinted)}")
        if sig.return_annotation is inspect.Signature.empty:
            missing.append(f"{label}: no return type")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("module_name", API_PACKAGES)
def test_star_import_gives_the_public_names(module_name):
    """The lazy packages name their exports in `__all__`: without it `from egvsr import *` would take only what
    the module has loaded (`annotations`, `lazy_exports`), none of the public names."""
    module = importlib.import_module(module_name)
    names: dict = {}
    exec(f"from {module_name} import *", names)  # noqa: S102
    public = set(module.__all__)
    assert public <= set(names), sorted(public - set(names))
    assert "lazy_exports" not in names and "annotations" not in names


# ---- the findings, each with its input ------------------------------------------------------------------
def test_an_empty_path_is_refused_not_read_as_the_current_folder(env, tmp_path, monkeypatch):
    """Path("") is ".", which nobody means by an empty path: `read_events("")` must not read the current
    folder (as a CED folder), `DatasetRoot("")` list it, nor `evaluate_checkpoint(output="")` write into it."""
    import egvsr.events as ev
    from egvsr.datasets import DatasetRoot, open_recording
    from egvsr.engine.evaluation import evaluate_checkpoint

    monkeypatch.chdir(tmp_path)
    calls = {
        "path": [lambda: ev.read_events(""), lambda: ev.detect_layout(""), lambda: open_recording(""),
                 lambda: DatasetRoot("")],
        "dst": [lambda: ev.make_sample("", seconds=0.04, size=(16, 16), progress=False)],
        "`output`": [lambda: evaluate_checkpoint(env.root / "tiny.pt", [str(env.rec)], [2.0], output="",
                                                 device="cpu", limit=1, progress=False, log=None)],
        "`data`": [lambda: evaluate_checkpoint(env.root / "tiny.pt", [""], [2.0], device="cpu", log=None)],
    }
    for what, fns in calls.items():
        for fn in fns:
            with pytest.raises(ConfigError, match=f"^{what}: the path is empty"):
                fn()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [b"/x.pt", 3, "a\x00b"])
def test_a_path_of_the_wrong_kind_is_named(env, bad):
    """bytes, a number or a NUL byte as a checkpoint, output or destination is one ConfigError naming the
    argument, not pathlib's or tempfile's bare TypeError/ValueError ('embedded null byte')."""
    import egvsr.events as ev
    from egvsr.engine.evaluation import evaluate_checkpoint
    from egvsr.engine.import_official import import_checkpoint
    from egvsr.render import load_render_model, render, run_demo

    calls = [
        ("checkpoint", lambda: load_render_model(bad)),
        ("CHECKPOINT", lambda: render(env.rec, bad, png=env.out("p"), scale=2.0, log=None)),
        ("CHECKPOINT", lambda: evaluate_checkpoint(bad, [str(env.rec)], [2.0], device="cpu", log=None)),
        ("`output`", lambda: evaluate_checkpoint(env.root / "tiny.pt", [str(env.rec)], [2.0], output=bad,
                                                 device="cpu", log=None)),
        ("dst", lambda: ev.make_sample(bad, seconds=0.04, size=(16, 16), progress=False)),
        ("output", lambda: run_demo(bad)),
        ("src", lambda: import_checkpoint(bad, env.out("i.pt"))),
    ]
    if isinstance(bad, str):
        calls.append(("src", lambda: ev.simulate_video(bad, env.out("s.h5"), fps=25.0, progress=False)))
    for what, fn in calls:
        with pytest.raises(ConfigError, match=f"^{what}"):
            fn()


def test_evaluate_checkpoint_data_must_be_a_list_of_recordings(env):
    """`data` as bytes or a string is no list of recordings (it would be iterated as ints or letters)."""
    from egvsr.engine.evaluation import evaluate_checkpoint

    for bad in (b"rec.h5", str(env.rec), np.array([1, 2])):
        with pytest.raises(ConfigError, match="^`data`: expected a list of recordings"):
            evaluate_checkpoint(env.root / "tiny.pt", bad, [2.0], device="cpu", log=None)


def test_render_refuses_options_and_a_job_of_the_wrong_type(env):
    """`render(src, ck, options=2)` names `options` (not AttributeError: no attribute 'has_output')."""
    from egvsr.render import render, run_render

    with pytest.raises(ConfigError, match="^options: expected an egvsr.render.RenderOptions, got dict"):
        render(env.rec, env.root / "tiny.pt", options={"scale": 2})
    with pytest.raises(ConfigError, match="^job: expected an egvsr.render.RenderJob"):
        run_render("job")
    with pytest.raises(ConfigError, match="^`progress` 'no': expected True or False"):
        render(env.rec, env.root / "tiny.pt", scale=2.0, png=env.out("p"), progress="no", log=None)


def test_load_render_model_refuses_overrides_that_are_not_a_mapping(env):
    """overrides=True names `overrides` before the checkpoint loader iterates it (a bare TypeError there)."""
    from egvsr.render import load_render_model

    with pytest.raises(ConfigError, match="^overrides: expected a mapping"):
        load_render_model(env.root / "tiny.pt", overrides=True)


@pytest.mark.parametrize("call", ["open_events", "voxel_grid_polarity", "voxel_grid_normalize", "dataset_mode",
                                  "dataset_queries", "device"])
def test_a_name_option_given_an_array_is_refused_not_compared_by_element(env, call):
    """An array where a name (str) is expected (layout, polarity, normalize, mode, queries, device) is refused
    naming it, not compared by element (numpy's 'The truth value of an array ... is ambiguous')."""
    import egvsr.events as ev
    from egvsr.datasets import EventVSRDataset
    from egvsr.render import load_render_model

    a = np.array(["signed", "split"])
    calls = {
        "open_events": ("layout", lambda: ev.open_events(env.rec, layout=a)),
        "voxel_grid_polarity": ("polarity", lambda: ev.voxel_grid(env.stream, 2, env.t0, env.t1, polarity=a)),
        "voxel_grid_normalize": ("normalize", lambda: ev.voxel_grid(env.stream, 2, env.t0, env.t1, normalize=a)),
        "dataset_mode": ("mode", lambda: EventVSRDataset([str(env.rec)], mode=a)),
        "dataset_queries": ("queries", lambda: EventVSRDataset([str(env.rec)], mode="eval", queries=a)),
        "device": ("`device`", lambda: load_render_model(env.root / "tiny.pt", device=a)),
    }
    what, fn = calls[call]
    with pytest.raises(ConfigError, match=f"^{what}"):
        fn()


@pytest.mark.parametrize("bad", [True, 1, 1.5, np.int64(3), np.array(1.0)])
def test_polarity_to_signed_refuses_a_scalar(bad):
    """A scalar polarity is no list of events: refused by its shape (not numpy's IndexError, nor True
    returned as a 0-d array as if it were an event)."""
    from egvsr.events import polarity_to_signed

    with pytest.raises(EventValidationError, match=r"^events.p: expected a 1-D array of polarities, got shape \(\)"):
        polarity_to_signed(bad)


@pytest.mark.parametrize("call, what", [
    (lambda ds: ds.hr_size(math.inf, 8, 2.0), "h inf"), (lambda ds: ds.hr_size(6, True, 2.0), "w True"),
    (lambda ds: ds.hr_size(6, 8, math.nan), "scale nan"), (lambda ds: ds.hr_size(6, 8, -1.0), "scale -1.0"),
    (lambda ds: ds.query_grid(3, 1 + 1j), r"W \(1\+1j\)"), (lambda ds: ds.query_grid(0, 4), "H 0"),
    (lambda ds: ds.downscale(None, (4, 4)), "downscale hr"), (lambda ds: ds.downscale(np.zeros((3, 8, 8)), (4, 4)),
                                                               "downscale hr"),
    (lambda ds: ds.downscale(torch.rand(3, 8, 8), ()), r"downscale size \(\)"),
    (lambda ds: ds.downscale(torch.rand(3, 8, 8), (4.7, 4)), "downscale size h 4.7"),
    (lambda ds: ds.downscale(torch.rand(3, 8, 8), (4, 4), "no"), "`quantize` 'no'"),
])
def test_dataset_geometry_functions_check_their_arguments(call, what):
    """Sides are whole numbers >= 1 and the scale a finite number > 0, else one ConfigError naming the
    argument: no OverflowError (inf), fractions' ValueError (nan), True or 1+1j taken as a side, AttributeError
    for a non-tensor image, or a float side truncated (4.7 -> 4)."""
    import egvsr.datasets as ds

    with pytest.raises(ConfigError, match=f"^{what}"):
        call(ds)


@pytest.mark.parametrize("call", ["stream", "psnr"])
def test_flags_take_only_a_bool(call):
    """A flag is True or False: validate="no" (truthy) or y_channel=np.array([1, 2]) (numpy's ambiguous truth)
    is refused naming it."""
    from egvsr.engine.metrics import psnr
    from egvsr.events import EventStream

    one = np.array([1])
    fns = {"stream": ("validate", lambda: EventStream(one.astype(np.uint16), one.astype(np.uint16), one,
                                                      one.astype(np.int8), 4, 4, validate="no")),
           "psnr": ("y_channel", lambda: psnr(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), y_channel=np.array([1, 2])))}
    what, fn = fns[call]
    with pytest.raises(ConfigError, match=f"^`{what}`"):
        fn()
