"""Issue 16, the rest: files are not trusted, outputs are sized before writing, a full disk is one line.

Every CLI row asserts the exit status, one `error:` line with its fragment, no traceback, and every file
that existed before (inputs, unrelated files) byte-identical afterwards, with no temporary left behind.
Rows that need a process of their own (a file size limit, an address-space cap, a plugin hidden) run the
CLI as a subprocess; the others call `main` in process.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.errors import EgvsrError, FormatError, InputFileError
from tests._reliability import cli, cli_env, fuzz_settings

I64 = np.iinfo(np.int64)


# ---- helpers ---------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def check_refusal(rc: int, err: str, expect: str, before: dict, folder: Path) -> None:
    """Exit 2, one `error:` line holding `expect`, no traceback, the folder exactly as it was."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len([line for line in lines if "error: " in line]) == 1, err[-3000:]
    assert "error: " in lines[-1] and expect in lines[-1], f"expected {expect!r} in: {lines[-1]}"
    assert snapshot(folder) == before, "a file that existed before was changed, or a new one was left"


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def write_events_raw(path: Path, t, *, t_dtype=np.int64, width=64, height=48, index=None, t0_us=None,
                     frames_t=None, chunks=None, compression=None, **filters) -> Path:
    """A file of our layout written with h5py directly (so it can be damaged on purpose)."""
    t = np.asarray(t, dtype=t_dtype)
    n = len(t)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "egvsr", "version": 1, "width": width, "height": height})
        cols = {"x": np.arange(n) % width, "y": np.arange(n) % height, "t": t,
                "p": np.where(np.arange(n) % 2, 1, -1)}
        for k, v in cols.items():
            dtype = {"x": np.uint16, "y": np.uint16, "t": t_dtype, "p": np.int8}[k]
            f.create_dataset(f"events/{k}", data=np.asarray(v, dtype), chunks=chunks, compression=compression)
        if index is not None:
            f.create_dataset("events/ms_to_idx", data=np.asarray(index, np.uint64))
            f["events/ms_to_idx"].attrs["t0_us"] = t0_us
        if frames_t is not None:
            f.create_dataset("frames/images", data=np.zeros((len(frames_t), height, width, 3), np.uint8))
            f.create_dataset("frames/t", data=frames_t)
    return path


def ms_index(t: np.ndarray, t0: int) -> np.ndarray:
    """The correct `ms_to_idx` of sorted times `t` from origin t0 (with the closing sentinel)."""
    k_last = (int(t[-1]) - t0) // 1000
    bounds = t0 + 1000 * np.arange(k_last + 1, dtype=np.int64)
    return np.append(np.searchsorted(t, bounds, side="left"), len(t)).astype(np.uint64)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("untrusted")
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(1000, 301_000, 30_000)).astype(np.int64)  # 0.3 s, about 100 events per ms
    f: dict[str, Path] = {"dir": d, "t": t}
    f["good"] = write_events_raw(d / "good.h5", t, index=ms_index(t, 1000), t0_us=1000)
    bad = ms_index(t, 1000)
    bad[50:] = bad[50:] // 2  # every entry after 50 ms points far too early
    f["bad_index"] = write_events_raw(d / "bad_index.h5", t, index=bad, t0_us=1000)
    f["bad_t0"] = write_events_raw(d / "bad_t0.h5", t, index=ms_index(t, 1000), t0_us=1000 + 7000)
    f["t0_text"] = write_events_raw(d / "t0_text.h5", t, index=ms_index(t, 1000), t0_us="soon")
    big = np.array([0, 10, 20, 2**63 + 5], np.uint64)
    f["uint64_t"] = write_events_raw(d / "uint64_t.h5", big, t_dtype=np.uint64)
    f["frames_t_text"] = write_events_raw(d / "frames_t_text.h5", t[:10], frames_t=np.array([b"0", b"50"]))
    f["span_int64"] = write_events_raw(d / "span_int64.h5", [0, 5, I64.max - 5])
    with h5py.File(d / "dsec.h5", "w") as h:  # DSEC layout, t_offset 100 µs below the int64 limit
        for k, v in (("x", np.array([1, 2], np.uint16)), ("y", np.array([1, 2], np.uint16)),
                     ("t", np.array([0, 10], np.uint32)), ("p", np.array([0, 1], np.uint8))):
            h.create_dataset(f"events/{k}", data=v)
        h["t_offset"] = np.int64(I64.max - 100)
        h["ms_to_idx"] = np.array([0, 2], np.uint64)
    f["dsec_offset"] = d / "dsec.h5"
    (d / "unrelated.txt").write_text("keep me\n")
    return f


# ---- trust nothing in a file -------------------------------------------------------------------------------
ROWS = [
    ("uint64-t-info", ["info", "{uint64_t}"], "events/t[3] = 9223372036854775813 is beyond the int64 microsecond"),
    ("uint64-t-convert", ["convert", "{uint64_t}", "{dir}/o.h5"], "events/t[3] = 9223372036854775813"),
    ("dsec-t-offset-near-int64", ["info", "{dsec_offset}"], "'t_offset' = 9223372036854775707 is too close to "
     "the int64 limit"),
    ("frames-t-strings", ["info", "{frames_t_text}"], "'frames/t' has dtype |S2, expected integer microseconds"),
    ("index-t0-text", ["convert", "{t0_text}", "{dir}/o.h5"], "'events/ms_to_idx' attribute 't0_us' = 'soon', "
     "expected integer microseconds"),
    ("voxelize-span-int64-windows", ["voxelize", "{span_int64}", "{dir}/v.h5", "--window-ms", "10"],
     "voxelize would write 922,337,203,685,478 windows of 5x48x64 float32"),
    ("voxelize-span-int64-end", ["voxelize", "{span_int64}", "{dir}/v.h5", "--window-ms", "1e12", "--size", "1x1",
                                 "--bins", "1"], "end at 9.22e+18 µs, beyond the int64 microsecond range"),
    ("voxelize-output-over-limit", ["voxelize", "{good}", "{dir}/v.h5", "--window-ms", "0.001",
                                    "--max-output-gb", "1"], "above --max-output-gb 1; choose longer windows"),
]


@pytest.mark.parametrize("argv, expect", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_refused_in_one_line(files, argv, expect, capsys):
    before = snapshot(files["dir"])
    args = [a.format(**files) for a in argv]
    rc, err = run_main(args + (["--no-progress"] if args[0] in ("convert", "voxelize") else []), capsys)
    check_refusal(rc, err, expect, before, files["dir"])


def test_voxelize_refuses_more_than_the_free_space(files, capsys, monkeypatch):
    import egvsr.events.represent.voxelize as V

    monkeypatch.setattr(V, "free_bytes", lambda folder: 10**6)
    before = snapshot(files["dir"])
    rc, err = run_main(["voxelize", str(files["good"]), str(files["dir"] / "v.h5"), "--window-ms", "1",
                        "--no-progress"], capsys)
    check_refusal(rc, err, f"more than the 1 MB free in {files['dir']}", before, files["dir"])


def test_voxelize_output_size_estimate_is_the_file_size(files, tmp_path):
    from egvsr.events.represent import voxelize_file
    from egvsr.events.represent.voxelize import output_bytes

    out = voxelize_file(files["good"], tmp_path / "v.h5", window_ms=10, bins=3, progress=False)
    with h5py.File(out) as f:
        count, shape = f["tensors"].shape[0], f["tensors"].shape[1:]
    assert count == 30 and shape == (3, 48, 64)
    size = out.stat().st_size
    assert output_bytes(count, shape) - (1 << 20) <= size <= output_bytes(count, shape)


@pytest.mark.parametrize("name", ["bad_index", "bad_t0"])
def test_damaged_index_gives_the_right_windows(files, name, tmp_path):
    from egvsr.events.io import open_events
    from egvsr.events.represent import read_tensors, voxelize_file

    t = files["t"]
    with open_events(files[name]) as src:
        for t0 in range(0, 310_000, 7_000):
            want = (int(np.searchsorted(t, t0)), int(np.searchsorted(t, t0 + 3000)))
            assert src.index_range(t0, t0 + 3000) == want, t0
    before = snapshot(files["dir"])
    ref = read_tensors(voxelize_file(files["good"], tmp_path / "ref.h5", window_ms=10, progress=False))[0]
    got = read_tensors(voxelize_file(files[name], tmp_path / "got.h5", window_ms=10, progress=False))[0]
    assert np.array_equal(ref, got)
    assert snapshot(files["dir"]) == before


@given(data=st.data())
@fuzz_settings(25)
def test_any_index_damage_gives_the_right_windows(files, tmp_path_factory, data):
    """Whatever an index says (random entries, a shifted origin), windows are those of the timestamps."""
    from egvsr.events.io import open_events

    t = files["t"]
    index = ms_index(t, 1000).astype(np.int64)
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(index) - 1), st.integers(0, 2 * len(t))), max_size=8))
    for k, v in edits:
        index[k] = v
    shift = data.draw(st.integers(-20_000, 20_000))
    path = write_events_raw(tmp_path_factory.mktemp("idx") / "f.h5", t, index=index, t0_us=1000 + shift)
    windows = data.draw(st.lists(st.tuples(st.integers(-5_000, 320_000), st.integers(1, 50_000)), min_size=1,
                                 max_size=6))
    with open_events(path) as src:
        for t0, length in windows:
            want = (int(np.searchsorted(t, t0)), max(int(np.searchsorted(t, t0)), int(np.searchsorted(t, t0 + length))))
            assert src.index_range(t0, t0 + length) == want


@given(values=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
@fuzz_settings(40)
def test_uint64_timestamps_read_exactly_or_are_refused_by_index(files, tmp_path_factory, values):
    from egvsr.events.io import open_events

    t = np.sort(np.array(values, np.uint64))
    path = write_events_raw(tmp_path_factory.mktemp("u64") / "f.h5", t, t_dtype=np.uint64)
    with open_events(path) as src:
        if int(t[-1]) < 2**63:
            assert np.array_equal(src.read_index(0, len(t)).t, t.astype(np.int64))
            return
        first = int(np.flatnonzero(t >= np.uint64(2**63))[0])
        with pytest.raises(FormatError, match=rf"events/t\[{first}\] = {int(t[first])} is beyond the int64"):
            src.read_index(0, len(t))


def test_input_truncated_while_mapped_is_an_error_not_sigbus(tmp_path):
    """Chunks served as views of the file: a file cut short after opening is reported, not a SIGBUS."""
    from egvsr.events import EventStream
    from egvsr.events.io import EventWriter, open_events

    n = 1 << 18
    t = np.arange(n, dtype=np.int64) * 3
    stream = EventStream(np.zeros(n, np.uint16), np.zeros(n, np.uint16), t, np.ones(n, np.int8), 8, 8)
    path = tmp_path / "plain.h5"
    with EventWriter(path, 8, 8, compression={}) as w:
        w.append(stream)
    with open_events(path) as src:
        assert src.reads_in_place
        os.truncate(path, path.stat().st_size // 2)
        with pytest.raises(InputFileError, match="truncated"):
            for _ in src.iter_chunks(1 << 16, reuse=4):
                pass


# ---- a missing compression plugin is named --------------------------------------------------------------------
@pytest.mark.parametrize("fid, name", [(32026, "Blosc2"), (307, "BZip2"), (32024, "SZ3")])
def test_missing_plugin_is_named(tmp_path, fid, name):
    t = np.arange(10, dtype=np.int64) * 10
    path = write_events_raw(tmp_path / "filtered.h5", t)
    with h5py.File(path, "r+") as f:  # events/t re-created with the plugin's filter (its bytes never decoded)
        del f["events/t"]
        ds = f.create_dataset("events/t", shape=(10,), dtype=np.int64, chunks=(10,), compression=fid,
                              allow_unknown_filter=True)
        ds.id.write_direct_chunk((0,), t.tobytes())
    stub = tmp_path / "stub" / "hdf5plugin"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('hdf5plugin hidden by the test')\n")
    env = cli_env()
    env["PYTHONPATH"] = str(stub.parent) + os.pathsep + env["PYTHONPATH"]
    before = snapshot(tmp_path)
    res = subprocess.run(cli("info", path), env=env, capture_output=True, text=True, timeout=120)
    check_refusal(res.returncode, res.stderr, f"'events/t' is compressed with {name} (HDF5 filter {fid}), which "
                  "h5py cannot decode without the 'hdf5plugin' package: pip install hdf5plugin", before, tmp_path)


# ---- a full disk or file size limit is one line, and no temporary stays -----------------------------------------
def _file_limit(limit: int):
    def apply() -> None:  # SIGXFSZ left at its default (kill): the entry point must ignore it itself
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("limit", [4_000, 50_000])
@pytest.mark.parametrize("command", ["voxelize", "convert"])
def test_file_size_limit_is_one_line(files, tmp_path, command, limit):
    folder = tmp_path / "w"
    folder.mkdir()
    src = folder / "in.h5"
    src.write_bytes(files["good"].read_bytes())
    extra = ["--window-ms", "1"] if command == "voxelize" else []
    # numba's caches written first, without the limit: on a fresh clone the first compile would hit the limit
    # writing its cache files (a failure outside the output this test is about)
    subprocess.run(cli(command, src, tmp_path / "warm.h5", *extra, "--no-progress"), env=cli_env(),
                   capture_output=True, timeout=300, check=True)
    before = snapshot(folder)
    res = subprocess.run(cli(command, src, folder / "out.h5", *extra, "--no-progress"), env=cli_env(),
                         capture_output=True, text=True, timeout=300, preexec_fn=_file_limit(limit))
    check_refusal(res.returncode, res.stderr, "out.h5: cannot write the output (the file size limit is reached "
                  "(ulimit -f)); nothing was written under this name", before, folder)


# ---- model options are sized before the model is built --------------------------------------------------------------
CAP_BYTES = 6 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


@pytest.fixture(scope="module")
def bomb_checkpoints(tmp_path_factory) -> dict[str, Path]:
    from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("model-bombs")
    out = {"dir": d, "rec": make_sample(d / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0,
                                        progress=False)}
    ck = save_untrained("egvsr-tiny", d / "tiny.pt")
    for name, change in (("deep", {"lcb_depth": 100000}), ("wide", {"n_feats": 200000, "heads": 1})):
        state = load_checkpoint(ck)
        state["model"]["config"].update(change)
        kept = {k: v for k, v in state.items() if k not in ("format", "version")}
        out[name] = save_checkpoint(d / f"{name}.pt", kept)
    ck.unlink()
    return out


@pytest.mark.parametrize("name, expect", [
    ("deep", "checkpoint 'model.config': model 'egvsr-tiny': the options give 3,470,498,269 parameters (13.9 GB) and "
     "about 369 GB of activations"),
    ("wide", "checkpoint 'model.config': model 'egvsr-tiny': the options give 78,740,122,250,909 parameters (315 TB)"),
], ids=["lcb_depth-100000", "n_feats-200000"])
def test_checkpoint_model_bomb_refused_fast_and_small(bomb_checkpoints, name, expect):
    d = bomb_checkpoints["dir"]
    before = snapshot(d)
    started = time.monotonic()
    res = subprocess.run(cli("render", bomb_checkpoints["rec"], bomb_checkpoints[name], "--scale", "2", "--png",
                             d / "r", "--device", "cpu", "--no-progress"), env=cli_env(), capture_output=True,
                         text=True, timeout=120, preexec_fn=_capped)
    assert time.monotonic() - started < 60
    check_refusal(res.returncode, res.stderr, expect, before, d)
    assert "above the limit of 32 GB" in res.stderr and "EGVSR_MAX_MODEL_GB" in res.stderr


def test_model_size_limit_and_layers(monkeypatch):
    from egvsr.models import build_model
    from egvsr.models.size_estimate import LIMIT_ENV

    started = time.monotonic()
    with pytest.raises(EgvsrError, match="the options give .* parameters"):
        build_model("egvsr", lcb_depth=100000)
    with pytest.raises(EgvsrError, match="layers, expected at most 100,000"):
        build_model("egvsr", tf_layers=10**6, tf_hidden=1)
    assert time.monotonic() - started < 5
    monkeypatch.setenv(LIMIT_ENV, "0.001")
    with pytest.raises(EgvsrError, match="above the limit of 0.001 GB"):
        build_model("egvsr-tiny")
    monkeypatch.setenv(LIMIT_ENV, "lots")
    with pytest.raises(EgvsrError, match="EGVSR_MAX_MODEL_GB='lots': expected a positive number of GB"):
        build_model("egvsr-tiny")
