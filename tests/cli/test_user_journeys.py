"""A new user's journeys through the docs, end to end on tiny CED-style recordings (docs/datasets.md): what
each step says when a setting does not fit the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from egvsr.cli import main
from tests.datasets.test_files import write_ced

H, W = 32, 40


def _ced_root(root: Path, names=("clipA", "clipB", "clipC"), frames: int = 6) -> Path:
    """A dataset root of CED folders (25 fps frames on a unix ns clock, random events) and split files."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        t0 = 1_600_000_000_000_000 + i * 1_000_000
        ft = t0 + 40_000 * np.arange(frames)
        yy, xx = np.mgrid[0:H, 0:W]
        imgs = np.stack([np.stack([(xx * 5 + 7 * k + c * 30) % 256 for c in range(3)], -1) for k in range(frames)])
        n = 800
        t = np.sort(rng.integers(int(ft[0]), int(ft[-1]), n))
        write_ced(root / name, imgs.astype(np.uint8), ft,
                  (rng.integers(0, W, n), rng.integers(0, H, n), t, rng.choice([-1, 1], n)))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("clipA\nclipB\n")
    (root / "splits" / "val.txt").write_text("clipC\n")
    return root


def _config(tmp_path: Path, root: Path, extra: str = "") -> Path:
    cfg = tmp_path / "ced.yaml"
    cfg.write_text(f"""name: ced-tiny
output_root: {tmp_path / 'experiments'}
model: {{name: egvsr-tiny}}
data:
  train: {{root: {root}, split: train, bins: 8, patch_size: 8, scale_range: [1, 4]{extra}}}
  val: {{root: {root}, split: val, bins: 8, scale: 4}}
train: {{iterations: 2, batch_size: 2, threads: 1, val_every: 2, checkpoint_every: 2}}
""")
    return cfg


@pytest.mark.parametrize("extra,key,hint", [
    (", queries: gt, include_frames: false", "data.train.include_frames",
     "has no ground-truth frame, and with data.train.include_frames off only those are targets: turn "
     "data.train.include_frames on"),
    (", queries: gt, num_queries: 4", "data.train.num_queries",
     "has 3 target time(s), fewer than data.train.num_queries 4: set data.train.num_queries to at most 3"),
])
def test_train_names_the_query_key_that_the_recordings_cannot_serve(tmp_path, capsys, extra, key, hint):
    """CED folders hold no ground truth between frames: `queries: gt` with the frames left out, or more query
    times than a window has targets, was refused naming neither key nor a way out (`fewer than
    num_queries=1`, when num_queries was 1 and include_frames the cause)."""
    cfg = _config(tmp_path, _ced_root(tmp_path / "CED"), extra)
    assert main(["train", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"egvsr: error: {key}: ")
    assert hint in err and "CED/clipA" in err
    assert not (tmp_path / "experiments").exists()


def test_dataset_names_the_option_and_the_smallest_window(tmp_path):
    """From Python the error is an OptionError naming the option; the bound is the fewest targets of any
    window (not of the first window found short)."""
    from egvsr.datasets import EventVSRDataset
    from egvsr.datasets.opening import OptionError

    root = _ced_root(tmp_path / "CED", names=("clipA",))
    with pytest.raises(OptionError, match=r"^include_frames: .*clipA: the window starting at frame 0 has no") as e:
        EventVSRDataset([root / "clipA"], queries="gt", include_frames=False, patch_size=8, scale_range=(1, 2))
    assert e.value.option == "include_frames"
    with pytest.raises(OptionError, match=r"^num_queries: .*fewer than num_queries 9: set num_queries to at most 3$"):
        EventVSRDataset([root / "clipA"], queries="gt", num_queries=9, patch_size=8, scale_range=(1, 2))


def _table(path: Path, sep: str = " ", header: str = "") -> Path:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0.1, 0.3, 50))
    rows = [f"{a:.6f}{sep}{rng.integers(W)}{sep}{rng.integers(H)}{sep}{rng.integers(2)}" for a in t]
    path.write_text(header + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("name,make,says", [
    ("events.txt", lambda p: _table(p), "it looks like a table of numbers: write such events to a recording"),
    ("events.csv", lambda p: _table(p, ",", "t,x,y,p\n"), "it looks like a table of numbers"),
    ("events.npz", lambda p: np.savez(p, t=np.arange(3), x=np.arange(3)), "it looks like a NumPy .npz archive"),
    ("events.npy", lambda p: np.save(p, np.zeros((3, 4))), "it looks like a NumPy .npy array"),
    ("1600000000000000000.npy", lambda p: np.save(p, np.zeros((3, 4))),
     "it looks like one packet of a CED folder (<ns>.npy): give the folder that holds it"),
])
def test_events_kept_as_numbers_are_pointed_to_the_recipe(tmp_path, capsys, name, make, says):
    """A user's own events as a text/CSV table or NumPy arrays (no layout: columns, unit and sensor size
    unstated) were refused with the list of layouts only, no word of how to use them."""
    path = tmp_path / name
    make(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    if "CED" not in says:
        assert 'docs/io.md, "Events kept as numbers"' in err
        assert "### Events kept as numbers" in (Path(__file__).parents[2] / "docs" / "io.md").read_text()


def test_other_unknown_files_get_no_numbers_hint(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("hello, these are my notes\nnot events\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a recognised event recording" in err and "looks like" not in err


def test_the_recipe_for_events_kept_as_numbers_makes_a_recording_render_takes(tmp_path, capsys):
    """docs/io.md's recipe, as written there, on a text table: the file it writes is a recording."""
    import re

    block = re.search(r"### Events kept as numbers.*?```python\n(.*?)```", (Path(__file__).parents[2] / "docs" /
                      "io.md").read_text(), re.S).group(1)
    _table(tmp_path / "events.txt")
    block = block.replace("width=640, height=480", f"width={W}, height={H}")
    import os

    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        exec(compile(block, "io.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert main(["info", str(tmp_path / "events.h5")]) == 0
    assert "50" in capsys.readouterr().out


class _Writes:
    """A stderr that records each write call."""

    encoding, errors = "utf-8", "strict"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_an_error_line_is_one_write_so_torchrun_ranks_do_not_run_together(tmp_path, monkeypatch):
    """Under `torchrun --nproc_per_node 2` both ranks refuse a config alike and share stderr; print's separate
    write of the newline let their lines run together (`...(2)egvsr: error: ...(2)` then an empty line)."""
    import sys

    from egvsr.process import report_interrupt, warn

    err = _Writes()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["info", str(tmp_path / "missing.h5")]) == 2
    warn("a warning")
    report_interrupt(KeyboardInterrupt())
    lines = [c for c in err.calls if c]
    assert len(lines) == 3 and all(c.endswith("\n") and c.count("\n") == 1 for c in lines), err.calls
    assert lines[0].startswith("egvsr: error: ") and lines[1] == "egvsr: warning: a warning\n"


def test_results_csv_rows_plot_the_average_curve(tmp_path):
    """A notebook user plotting eval's results.csv as read back got every clip's score and the average at each
    scale in one line, zigzagging through them; the curve is now the average's, as eval draws it, and two rows
    of one model at one scale are refused."""
    import csv

    from egvsr.errors import ConfigError
    from egvsr.plots import plot_metric_vs_scale

    rows = []
    for s, vals in ((2.0, (40.0, 30.0)), (4.0, (34.0, 24.0))):
        rows += [{"model": "m", "scale": s, "clip": c, "psnr": v, "ssim": 0.9, "frames": 8}
                 for c, v in zip(("a", "b"), vals)]
        rows.append({"model": "m", "scale": s, "clip": "average", "psnr": sum(vals) / 2, "ssim": 0.9, "frames": 16})
    with (tmp_path / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    read_back = list(csv.DictReader((tmp_path / "results.csv").open()))
    plot_metric_vs_scale(read_back, tmp_path / "all.png")
    plot_metric_vs_scale([r for r in rows if r["clip"] == "average"], tmp_path / "avg.png")
    assert (tmp_path / "all.png").read_bytes() == (tmp_path / "avg.png").read_bytes()
    with pytest.raises(ConfigError, match=r"^rows: model 'm' has more than one row at scale 2; expected one"):
        plot_metric_vs_scale([{"model": "m", "scale": 2, "psnr": 30}, {"model": "m", "scale": "2.0", "psnr": 31}],
                             tmp_path / "dup.png")
    assert not (tmp_path / "dup.png").exists()


@pytest.mark.parametrize("data,key", [("{recordings: [CED/clipA]}", "data.train.recordings"),
                                      ("{root: CED, split: train}", "data.train.root")])
def test_a_config_beside_its_data_says_relative_paths_are_from_the_current_folder(tmp_path, monkeypatch, capsys,
                                                                                  data, key):
    """A config written beside the data with paths relative to itself, run from another folder, was refused
    with `does not exist` / `is not a folder` alone, no word of where the path was looked for."""
    _ced_root(tmp_path / "CED")
    cfg = tmp_path / "ced.yaml"
    cfg.write_text(f"model: {{name: egvsr-tiny}}\ndata:\n  train: {data}\ntrain: {{iterations: 1}}\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["train", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"egvsr: error: {key}: CED") and err.count("\n") == 1
    assert f"(relative paths in a config are read from the current folder, {tmp_path / 'elsewhere'}, not the " \
           "config file's)" in err


def test_a_dataset_root_or_a_frame_folder_given_as_a_recording_says_what_it_holds(tmp_path, capsys):
    """`eval --data CED` (the folder of a user's CED recordings) and `info frames/` (a frame folder) were refused
    as folders of no known layout, no word that the one holds recordings and the other is read by render."""
    root = _ced_root(tmp_path / "CED")
    assert main(["eval", "--data", str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"it holds recordings (clipA, clipB, clipC): give them one by one (`{root / 'clipA'}` ...)" in err
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        (frames / f"frame_{i}.png").write_bytes((root / "clipA" / sorted(p.name for p in (root / "clipA").glob(
            "*.png"))[i]).read_bytes())
    (frames / "timestamps.txt").write_text("0.0\n0.04\n")
    assert main(["info", str(frames)]) == 2
    err = capsys.readouterr().err
    assert "it looks like a folder of frames, which holds no events: `egvsr render FOLDER --events FILE`" in err
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 2
    assert "(<ns>.npy / <ns>.png); known layouts" in capsys.readouterr().err


def test_resume_takes_the_data_root_spelled_another_way(tmp_path, monkeypatch, capsys):
    """A run trained with `root: /abs/CED` and resumed with `root: CED` (or `./CED/`) from that folder reads the
    same recordings, yet was refused as a changed config (`data.train.root: '/abs/CED' -> 'CED'`)."""
    root = _ced_root(tmp_path / "CED")
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, root)
    base = ["train", str(cfg), "--no-progress", "--set", "train.iterations=1", "--set", "data.val={}"]
    assert main(base) == 0
    capsys.readouterr()
    for spelling in ("CED", "./CED/", f"{root}//"):
        assert main([*base, "--set", f"data.train.root={spelling}"]) == 0, capsys.readouterr().err
        assert "already complete (step 1 of train.iterations 1)" in capsys.readouterr().out
    (tmp_path / "CED2").symlink_to(root)
    assert main([*base, "--set", "data.train.root=CED2"]) == 2  # another name: links are not followed
    assert "data.train.root: " in capsys.readouterr().err


def test_a_torchrun_interrupt_says_which_step_the_same_command_resumes_from(tmp_path, capsys):
    """Ctrl-C of `torchrun ... egvsr train` stops every rank at once; rank 0 said only `interrupted; no partial
    output was left under the final name`, not that last.pt holds an earlier step to resume from. (The rank's
    half of the run is driven here without a process group: a real torchrun job takes longer than a test.)"""
    from types import SimpleNamespace

    from egvsr.engine.train import Trainer
    from egvsr.process import report_interrupt

    def interrupted(rank: int, saved: int | None) -> str:
        fake = SimpleNamespace(info=SimpleNamespace(distributed=True, is_main=rank == 0), step=27,
                               _saved_step=saved, exp=SimpleNamespace(last=tmp_path / "checkpoints" / "last.pt"))
        exc = KeyboardInterrupt()
        Trainer._say_where_interrupted(fake, exc)
        assert report_interrupt(exc) == 130
        return capsys.readouterr().err

    assert interrupted(0, 25) == (f"egvsr: interrupted at step 27 (under torchrun every process stops at once); "
                                  f"{tmp_path / 'checkpoints' / 'last.pt'} holds step 25: run the same command to "
                                  "resume from there\n")
    generic = "egvsr: interrupted; no partial output was left under the final name\n"
    assert interrupted(1, 25) == generic  # rank 0 says it
    assert interrupted(0, None) == generic  # nothing saved yet: a new run starts afresh
